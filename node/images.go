package node

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"sync"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/gossip"
	"github.com/shoal-dev/shoal/runtime"
)

// MaxImageBytes bounds an uploaded image archive.
const MaxImageBytes = 4 << 30

// ImageImportResult is what one node did with an uploaded archive.
type ImageImportResult struct {
	Node   string   `json:"node"`
	Images []string `json:"images,omitempty"`
	Error  string   `json:"error,omitempty"`
}

// handleImageImport imports an OCI or Docker archive into this node's
// containerd, and with ?allNodes=true into every live node's.
func (a *Agent) handleImageImport(w http.ResponseWriter, r *http.Request) {
	f, err := a.spool(r.Body)
	if err != nil {
		writeError(w, err)
		return
	}
	defer os.Remove(f.Name())
	defer f.Close()
	results := []ImageImportResult{a.importLocal(r.Context(), f)}
	if r.URL.Query().Get("allNodes") == "true" {
		results = append(results, a.importEverywhere(r.Context(), f.Name())...)
	}
	sort.Slice(results, func(i, j int) bool { return results[i].Node < results[j].Node })
	writeJSON(w, http.StatusOK, results)
}

// handleImageImportHere imports an archive a peer forwarded.
func (a *Agent) handleImageImportHere(w http.ResponseWriter, r *http.Request) {
	f, err := a.spool(r.Body)
	if err != nil {
		writeError(w, err)
		return
	}
	defer os.Remove(f.Name())
	defer f.Close()
	writeJSON(w, http.StatusOK, []ImageImportResult{a.importLocal(r.Context(), f)})
}

// spool copies an upload to a temporary file so it can be read more than
// once (locally and for each peer).
func (a *Agent) spool(body io.Reader) (*os.File, error) {
	f, err := os.CreateTemp(a.cfg.DataDir, "upload-*.tar")
	if err != nil {
		return nil, err
	}
	n, err := io.Copy(f, io.LimitReader(body, MaxImageBytes+1))
	if err == nil && n > MaxImageBytes {
		err = api.NewError(api.ReasonTooLarge, "the image archive is larger than %d bytes", MaxImageBytes)
	}
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	return f, nil
}

func (a *Agent) importLocal(ctx context.Context, f *os.File) ImageImportResult {
	res := ImageImportResult{Node: a.cfg.Name}
	if a.rt == nil {
		res.Error = errNoRuntime().Error()
		return res
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		res.Error = err.Error()
		return res
	}
	names, err := a.rt.ImportArchive(ctx, f)
	if err != nil {
		res.Error = err.Error()
	}
	res.Images = names
	return res
}

// importEverywhere sends the archive to every other live node, over
// mutual TLS, in parallel.
func (a *Agent) importEverywhere(ctx context.Context, path string) []ImageImportResult {
	var mu sync.Mutex
	var out []ImageImportResult
	var wg sync.WaitGroup
	for _, m := range a.gossip.Members() {
		if m.Meta.ID == a.id || m.State != gossip.StateAlive {
			continue
		}
		wg.Add(1)
		go func(m gossip.Member) {
			defer wg.Done()
			res := []ImageImportResult{{Node: m.Name}}
			f, err := os.Open(path)
			if err == nil {
				defer f.Close()
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, a.scheme()+"://"+m.Meta.APIAddr+"/internal/v1/images", f)
				cl := &api.Client{Base: a.scheme() + "://" + m.Meta.APIAddr, HTTP: &http.Client{Transport: a.client.Transport}}
				_, err = cl.DoRequest(req, &res)
			}
			if err != nil {
				res = []ImageImportResult{{Node: m.Name, Error: fmt.Sprintf("upload to %s: %v", m.Name, err)}}
			}
			mu.Lock()
			out = append(out, res...)
			mu.Unlock()
		}(m)
	}
	wg.Wait()
	return out
}

func (a *Agent) handleImageList(w http.ResponseWriter, r *http.Request) {
	if a.rt == nil {
		writeError(w, api.NewError(api.ReasonBadRequest, "%v", errNoRuntime()))
		return
	}
	imgs, err := a.rt.Images(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	if imgs == nil {
		imgs = []runtime.ImageInfo{}
	}
	writeJSON(w, http.StatusOK, imgs)
}
