// Command shoal-testimage writes shoal's test image, shoal.test/busybox:1, as
// an OCI image layout archive built from Debian's static busybox:
//
//	go run ./cmd/shoal-testimage -o bin/testimage.tar
//	ctr -n shoal images import bin/testimage.tar
//
// See package integration/testimage.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/shoal-dev/shoal/integration/testimage"
)

func main() {
	out := flag.String("o", "testimage.tar", "output archive `path`")
	bb := flag.String("busybox", "", "static busybox binary `path` (default: /bin/busybox or /usr/bin/busybox)")
	flag.Parse()
	if flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: shoal-testimage [-o FILE] [-busybox PATH]")
		os.Exit(2)
	}
	if err := run(*out, *bb); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run(out, bb string) error {
	if bb == "" {
		p, err := testimage.BusyboxPath()
		if err != nil {
			return err
		}
		bb = p
	} else if _, err := os.Stat(bb); err != nil {
		return fmt.Errorf("busybox: %w; %s", err, testimage.InstallHint)
	}
	var buf bytes.Buffer
	if err := testimage.Build(&buf, bb); err != nil {
		return err
	}
	idx, err := testimage.ReadIndex(bytes.NewReader(buf.Bytes()))
	if err != nil {
		return err
	}
	if dir := filepath.Dir(out); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	tmp := out + ".tmp"
	if err := os.WriteFile(tmp, buf.Bytes(), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, out); err != nil {
		os.Remove(tmp)
		return err
	}
	fmt.Printf("wrote %s: %s from %s, manifest %s\n", out, testimage.ImageName, bb, idx.Manifests[0].Digest)
	return nil
}
