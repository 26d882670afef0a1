package runtime

import (
	"context"
	"fmt"
	"sort"
)

// ImageInfo describes one image on this node.
type ImageInfo struct {
	Name   string `json:"name"`
	Digest string `json:"digest"`
	Size   int64  `json:"size"`
}

// Images lists the images in shoal's namespace, sorted by name.
func (c *Containerd) Images(ctx context.Context) ([]ImageInfo, error) {
	imgs, err := c.client.ListImages(ctx)
	if err != nil {
		return nil, fmt.Errorf("runtime: list images: %w", err)
	}
	out := make([]ImageInfo, 0, len(imgs))
	for _, img := range imgs {
		size, _ := img.Size(ctx)
		out = append(out, ImageInfo{Name: img.Name(), Digest: img.Target().Digest.String(), Size: size})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
