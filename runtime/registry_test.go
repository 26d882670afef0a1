package runtime_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/remotes/docker"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/integration/testimage"
	"github.com/shoal-dev/shoal/runtime"
)

func TestParseRegistryMirror(t *testing.T) {
	for _, tc := range []struct {
		in, host, url string
	}{
		{"docker.io=http://127.0.0.1:5000", "docker.io", "http://127.0.0.1:5000"},
		{"Docker.IO=https://mirror.example:5000/", "docker.io", "https://mirror.example:5000/"},
		{" ghcr.io = https://mirror.example/ghcr ", "ghcr.io", "https://mirror.example/ghcr"},
		{"127.0.0.1:5000=http://127.0.0.1:5001", "127.0.0.1:5000", "http://127.0.0.1:5001"},
		{"[::1]:5000=http://[::1]:5001", "[::1]:5000", "http://[::1]:5001"},
	} {
		host, url, err := runtime.ParseRegistryMirror(tc.in)
		if err != nil || host != tc.host || url != tc.url {
			t.Errorf("ParseRegistryMirror(%q) = %q, %q, %v; want %q, %q", tc.in, host, url, err, tc.host, tc.url)
		}
	}
	for _, tc := range []struct {
		in, want string
	}{
		{"docker.io", "want HOST=URL"},
		{"=http://127.0.0.1:5000", "registry host is empty"},
		{"https://docker.io=http://127.0.0.1:5000", "not a registry host"},
		{"docker.io/library=http://127.0.0.1:5000", "not a registry host"},
		{"docker io=http://127.0.0.1:5000", "not a registry host"},
		{"127.0.0.1:99999=http://127.0.0.1:5000", "not a number from 1 to 65535"},
		{"docker.io=", "is not http:// or https://"},
		{"docker.io=127.0.0.1:5000", "is not http:// or https://"},
		{"docker.io=ftp://mirror.example", "is not http:// or https://"},
		{"docker.io=http://", "names no host"},
		{"docker.io=https://user:pw@mirror.example", "credentials"},
		{"docker.io=https://mirror.example/?x=1", "query or fragment"},
	} {
		_, _, err := runtime.ParseRegistryMirror(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "registry mirror") {
			t.Errorf("ParseRegistryMirror(%q) = %v, want an error about %q", tc.in, err, tc.want)
		}
	}
}

func TestRegistryConfigValidate(t *testing.T) {
	ok := runtime.RegistryConfig{
		Mirrors:  map[string][]string{"docker.io": {"https://mirror.example:5000"}},
		Insecure: []string{"10.0.0.5:5000", "registry.lan", "[::1]"},
	}
	if err := ok.Validate(); err != nil {
		t.Errorf("Validate(%+v) = %v", ok, err)
	}
	if err := (runtime.RegistryConfig{}).Validate(); err != nil {
		t.Errorf("zero value: %v", err)
	}
	bad := runtime.RegistryConfig{
		Mirrors:  map[string][]string{"docker.io": {"mirror.example:5000"}},
		Insecure: []string{"http://10.0.0.5:5000"},
	}
	err := bad.Validate()
	if err == nil {
		t.Fatal("Validate accepted a mirror without a scheme and an insecure URL")
	}
	for _, want := range []string{`registry mirror "docker.io=mirror.example:5000"`, `insecure registry "http://10.0.0.5:5000"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate = %v, want it to name %s", err, want)
		}
	}
}

func TestRegistryHosts(t *testing.T) {
	const (
		pull    = docker.HostCapabilityPull
		resolve = docker.HostCapabilityResolve
		push    = docker.HostCapabilityPush
	)
	type host struct {
		scheme, host, path string
		caps               docker.HostCapabilities
	}
	cfg := runtime.RegistryConfig{
		Mirrors: map[string][]string{
			"docker.io": {"https://mirror.example:5000", "http://127.0.0.1:5001/hub/"},
		},
		Insecure: []string{"127.0.0.1:5000", "registry.lan"},
	}
	hosts := cfg.Hosts()
	for _, tc := range []struct {
		ref  string
		want []host
	}{
		{"docker.io", []host{
			{"https", "mirror.example:5000", "/v2", pull | resolve},
			{"http", "127.0.0.1:5001", "/hub/v2", pull | resolve},
			{"https", "registry-1.docker.io", "/v2", pull | resolve | push},
		}},
		{"127.0.0.1:5000", []host{{"http", "127.0.0.1:5000", "/v2", pull | resolve | push}}},
		// Insecure names 127.0.0.1:5000, not every port of 127.0.0.1.
		{"127.0.0.1:5001", []host{{"https", "127.0.0.1:5001", "/v2", pull | resolve | push}}},
		// A host without a port is insecure on any port.
		{"registry.lan:8443", []host{{"http", "registry.lan:8443", "/v2", pull | resolve | push}}},
		{"ghcr.io", []host{{"https", "ghcr.io", "/v2", pull | resolve | push}}},
	} {
		got, err := hosts(tc.ref)
		if err != nil {
			t.Errorf("hosts(%s): %v", tc.ref, err)
			continue
		}
		var gotHosts []host
		for _, h := range got {
			gotHosts = append(gotHosts, host{h.Scheme, h.Host, h.Path, h.Capabilities})
			if h.Client == nil || h.Authorizer == nil {
				t.Errorf("hosts(%s): %s has no HTTP client or authorizer", tc.ref, h.Host)
			}
			if h.Client != got[0].Client || h.Authorizer != got[0].Authorizer {
				t.Errorf("hosts(%s): hosts do not share one client and authorizer", tc.ref)
			}
		}
		if len(gotHosts) != len(tc.want) {
			t.Errorf("hosts(%s) = %+v, want %+v", tc.ref, gotHosts, tc.want)
			continue
		}
		for i := range gotHosts {
			if gotHosts[i] != tc.want[i] {
				t.Errorf("hosts(%s)[%d] = %+v, want %+v", tc.ref, i, gotHosts[i], tc.want[i])
			}
		}
	}

	// A mirror URL that never went through ParseRegistryMirror.
	bad := runtime.RegistryConfig{Mirrors: map[string][]string{"docker.io": {"mirror.example"}}}
	if _, err := bad.Hosts()("docker.io"); err == nil || !strings.Contains(err.Error(), "mirror.example") {
		t.Errorf("a mirror without a scheme: err = %v, want one naming it", err)
	}
}

// TestRegistryPull pulls the test image from a registry on loopback, as
// the agent would, into a real containerd (root, containerd and runc).
func TestRegistryPull(t *testing.T) {
	env := startContainerd(t)
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	reg := strings.TrimPrefix(srv.URL, "http://")

	img := layoutImage(t)
	want, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	for _, repo := range []string{"shoal/busybox:1", "library/busybox:1"} {
		ref, err := name.ParseReference(reg+"/"+repo, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(ref, img); err != nil {
			t.Fatalf("push %s: %v", ref, err)
		}
		if d, err := remote.Head(ref); err != nil || d.Digest != want {
			t.Fatalf("the registry holds %s as %v (%v), want %s", ref, d, err, want)
		}
	}

	pull := func(t *testing.T, cfg runtime.RegistryConfig, ref string) (*runtime.Containerd, error) {
		t.Helper()
		c := env.newRuntime(t)
		c.Registry = cfg
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		return c, c.EnsureImage(ctx, ref, api.PullAlways)
	}
	hasImage := func(t *testing.T, c *runtime.Containerd, stored string) {
		t.Helper()
		imgs, err := c.Images(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, i := range imgs {
			if i.Name == stored {
				if i.Digest != want.String() {
					t.Errorf("%s has digest %s, want %s", stored, i.Digest, want)
				}
				return
			}
		}
		t.Errorf("%s not among the images after the pull: %+v", stored, imgs)
	}

	t.Run("PlainHTTPNeedsInsecure", func(t *testing.T) {
		ref := reg + "/shoal/busybox:1"
		_, err := pull(t, runtime.RegistryConfig{}, ref)
		if !errors.Is(err, runtime.ErrImagePull) {
			t.Fatalf("EnsureImage(%s) over https = %v, want ErrImagePull", ref, err)
		}
		for _, s := range []string{ref, "https://" + reg + "/v2", "insecure registry"} {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("error %q does not mention %q", err, s)
			}
		}
	})

	t.Run("Insecure", func(t *testing.T) {
		ref := reg + "/shoal/busybox:1"
		c, err := pull(t, runtime.RegistryConfig{Insecure: []string{reg}}, ref)
		if err != nil {
			t.Fatalf("EnsureImage(%s) with %s insecure: %v", ref, reg, err)
		}
		hasImage(t, c, ref)

		// The pulled image runs.
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		id, err := c.Create(ctx, runtime.ContainerSpec{
			PodUID: "pod-pulled", Name: "app", Image: ref,
			Command: []string{"echo", "pulled-ok"},
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Start(ctx, id); err != nil {
			t.Fatal(err)
		}
		if st := waitExited(t, c, id); st.ExitCode != 0 {
			t.Errorf("status = %+v, want exit 0", st)
		}
		if b, err := os.ReadFile(c.LogPath(id)); err != nil || !strings.Contains(string(b), "pulled-ok") {
			t.Errorf("log = %q, %v; want pulled-ok", b, err)
		}
	})

	t.Run("MirrorOfDockerHub", func(t *testing.T) {
		cfg := runtime.RegistryConfig{Mirrors: map[string][]string{"docker.io": {"http://" + reg}}}
		// Only the mirror may answer: never fall through to Docker Hub.
		hosts, err := cfg.Hosts()("docker.io")
		if err != nil || len(hosts) == 0 || hosts[0].Host != reg || hosts[0].Scheme != "http" ||
			!hosts[0].Capabilities.Has(docker.HostCapabilityResolve) {
			t.Fatalf("hosts(docker.io) = %+v, %v; want the loopback mirror first, able to resolve", hosts, err)
		}
		c, err := pull(t, cfg, "busybox:1")
		if err != nil {
			t.Fatalf("EnsureImage(busybox:1) through mirror %s: %v", reg, err)
		}
		hasImage(t, c, "docker.io/library/busybox:1")
	})

	t.Run("Missing", func(t *testing.T) {
		ref := reg + "/shoal/missing:1"
		_, err := pull(t, runtime.RegistryConfig{Insecure: []string{"127.0.0.1"}}, ref)
		if !errors.Is(err, runtime.ErrImagePull) || !strings.Contains(err.Error(), ref) {
			t.Fatalf("EnsureImage(%s) = %v, want ErrImagePull naming it", ref, err)
		}
		if !strings.Contains(err.Error(), "http://"+reg+"/v2") {
			t.Errorf("error %q does not name the endpoint tried", err)
		}
	})
}

// layoutImage builds the test image and reads it back from its OCI
// layout, as a go-containerregistry image.
func layoutImage(t *testing.T) v1.Image {
	t.Helper()
	bb, err := testimage.BusyboxPath()
	if err != nil {
		t.Fatal(err)
	}
	var archive bytes.Buffer
	if err := testimage.Build(&archive, bb); err != nil {
		t.Fatalf("build the test image: %v", err)
	}
	dir := t.TempDir()
	tr := tar.NewReader(&archive)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, filepath.FromSlash(h.Name))
		if !strings.HasPrefix(p, dir+string(filepath.Separator)) {
			t.Fatalf("archive entry %q escapes the layout", h.Name)
		}
		switch h.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(p, 0o755)
		case tar.TypeReg:
			var b []byte
			if b, err = io.ReadAll(tr); err == nil {
				err = os.WriteFile(p, b, 0o644)
			}
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Manifests) != 1 {
		t.Fatalf("the test image's index lists %d manifests, want 1", len(m.Manifests))
	}
	img, err := idx.Image(m.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	return img
}
