package testimage

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// busybox returns the installed static busybox, skipping the test only when
// no busybox is installed at all; a dynamic one is a failure.
func busybox(t *testing.T) string {
	t.Helper()
	found := false
	for _, p := range candidatePaths {
		if _, err := os.Stat(p); err == nil {
			found = true
		}
	}
	if !found {
		t.Fatalf("no busybox in %v; %s", candidatePaths, InstallHint)
	}
	p, err := BusyboxPath()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func buildFresh(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Build(&buf, busybox(t)); err != nil {
		t.Fatalf("Build: %v", err)
	}
	return buf.Bytes()
}

var (
	builtMu sync.Mutex
	built   []byte
)

// build returns an archive built once per test binary (building is the slow
// part under -race); callers must not modify it.
func build(t *testing.T) []byte {
	t.Helper()
	builtMu.Lock()
	defer builtMu.Unlock()
	if built == nil {
		built = buildFresh(t)
	}
	return built
}

type tarEntry struct {
	hdr  *tar.Header
	data []byte
}

func readTar(t *testing.T, r io.Reader) (map[string]tarEntry, []string) {
	t.Helper()
	m := map[string]tarEntry{}
	var order []string
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return m, order
		}
		if err != nil {
			t.Fatalf("reading tar: %v", err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatalf("reading %s: %v", h.Name, err)
		}
		if _, dup := m[h.Name]; dup {
			t.Errorf("duplicate tar entry %s", h.Name)
		}
		m[h.Name] = tarEntry{h, data}
		order = append(order, h.Name)
	}
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

// blob returns the blob a descriptor points to, checking digest and size.
func blob(t *testing.T, files map[string]tarEntry, d Descriptor) []byte {
	t.Helper()
	name := "blobs/sha256/" + strings.TrimPrefix(d.Digest, "sha256:")
	e, ok := files[name]
	if !ok {
		t.Fatalf("blob %s (%s) missing", d.Digest, d.MediaType)
	}
	if got := int64(len(e.data)); got != d.Size {
		t.Errorf("blob %s: size %d, descriptor says %d", d.Digest, got, d.Size)
	}
	if got := sha(e.data); got != d.Digest {
		t.Errorf("blob %s: content digest %s", d.Digest, got)
	}
	return e.data
}

func TestLayout(t *testing.T) {
	archive := build(t)
	files, _ := readTar(t, bytes.NewReader(archive))

	for _, f := range []string{"oci-layout", "index.json"} {
		if _, ok := files[f]; !ok {
			t.Fatalf("%s missing from archive", f)
		}
	}
	var layout struct {
		ImageLayoutVersion string `json:"imageLayoutVersion"`
	}
	if err := json.Unmarshal(files["oci-layout"].data, &layout); err != nil || layout.ImageLayoutVersion != "1.0.0" {
		t.Errorf("oci-layout = %q (%v)", files["oci-layout"].data, err)
	}

	// Every blob's name is the sha256 of its content.
	nblobs := 0
	for name, e := range files {
		if e.hdr.Typeflag != tar.TypeReg || !strings.HasPrefix(name, "blobs/sha256/") {
			continue
		}
		nblobs++
		if got := sha(e.data); got != "sha256:"+strings.TrimPrefix(name, "blobs/sha256/") {
			t.Errorf("%s has digest %s", name, got)
		}
	}
	if nblobs != 3 {
		t.Errorf("%d blobs, want 3 (config, manifest, layer)", nblobs)
	}

	var idx Index
	if err := json.Unmarshal(files["index.json"].data, &idx); err != nil {
		t.Fatalf("index.json: %v", err)
	}
	if idx.SchemaVersion != 2 || len(idx.Manifests) != 1 {
		t.Fatalf("index.json = %+v, want schemaVersion 2 and one manifest", idx)
	}
	md := idx.Manifests[0]
	if md.MediaType != MediaTypeManifest {
		t.Errorf("index manifest mediaType %q", md.MediaType)
	}
	if got := md.Annotations[AnnotationRefName]; got != "1" {
		t.Errorf("%s = %q, want 1", AnnotationRefName, got)
	}
	if got := md.Annotations[AnnotationContainerdName]; got != "shoal.test/busybox:1" {
		t.Errorf("%s = %q, want shoal.test/busybox:1", AnnotationContainerdName, got)
	}
	if md.Platform == nil || md.Platform.OS != "linux" || md.Platform.Architecture != runtime.GOARCH {
		t.Errorf("index platform = %+v", md.Platform)
	}

	var man Manifest
	if err := json.Unmarshal(blob(t, files, md), &man); err != nil {
		t.Fatalf("manifest: %v", err)
	}
	if man.SchemaVersion != 2 || man.MediaType != MediaTypeManifest {
		t.Errorf("manifest schemaVersion %d mediaType %q", man.SchemaVersion, man.MediaType)
	}
	if man.Config.MediaType != MediaTypeConfig {
		t.Errorf("config mediaType %q", man.Config.MediaType)
	}
	if len(man.Layers) != 1 || man.Layers[0].MediaType != MediaTypeLayer {
		t.Fatalf("layers = %+v, want one %s", man.Layers, MediaTypeLayer)
	}

	var cfg ImageConfig
	if err := json.Unmarshal(blob(t, files, man.Config), &cfg); err != nil {
		t.Fatalf("config: %v", err)
	}
	if cfg.OS != "linux" || cfg.Architecture != runtime.GOARCH {
		t.Errorf("config platform %s/%s", cfg.OS, cfg.Architecture)
	}
	if !slices.Equal(cfg.Config.Env, []string{"PATH=/bin:/usr/bin"}) || !slices.Equal(cfg.Config.Cmd, []string{"sh"}) {
		t.Errorf("config Env %q Cmd %q", cfg.Config.Env, cfg.Config.Cmd)
	}

	gz := blob(t, files, man.Layers[0])
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatalf("layer is not gzip: %v", err)
	}
	layerTar, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("gunzip layer: %v", err)
	}
	if cfg.RootFS.Type != "layers" || !slices.Equal(cfg.RootFS.DiffIDs, []string{sha(layerTar)}) {
		t.Errorf("rootfs = %+v, want diff_ids [%s]", cfg.RootFS, sha(layerTar))
	}
	checkLayer(t, layerTar)
}

func checkLayer(t *testing.T, layerTar []byte) {
	files, order := readTar(t, bytes.NewReader(layerTar))
	if !slices.IsSorted(order) {
		t.Errorf("layer entries are not sorted: %v", order)
	}
	bb, ok := files["bin/busybox"]
	if !ok {
		t.Fatal("bin/busybox missing from layer")
	}
	if bb.hdr.Typeflag != tar.TypeReg || bb.hdr.Mode&0o111 != 0o111 || len(bb.data) == 0 {
		t.Errorf("bin/busybox: type %c mode %o size %d, want an executable file", bb.hdr.Typeflag, bb.hdr.Mode, len(bb.data))
	}
	for _, a := range []string{"sh", "ls", "cat", "echo", "sleep", "wget", "nc", "hostname", "env", "true", "false", "test", "grep"} {
		e, ok := files["bin/"+a]
		if !ok {
			t.Errorf("bin/%s missing", a)
			continue
		}
		if e.hdr.Typeflag != tar.TypeSymlink || e.hdr.Linkname != "busybox" {
			t.Errorf("bin/%s: type %c -> %q, want symlink to busybox", a, e.hdr.Typeflag, e.hdr.Linkname)
		}
	}
	for _, f := range []string{"etc/passwd", "etc/group"} {
		e := files[f]
		for _, u := range []string{"root:x:0:", "nobody:x:65534:"} {
			if !bytes.Contains(e.data, []byte("\n"+u)) && !bytes.HasPrefix(e.data, []byte(u)) {
				t.Errorf("%s lacks %q: %q", f, u, e.data)
			}
		}
	}
	if tmp, ok := files["tmp/"]; !ok || tmp.hdr.Typeflag != tar.TypeDir || tmp.hdr.Mode != 0o1777 {
		t.Errorf("tmp/ = %+v, want a directory with mode 1777", tmp.hdr)
	}
	if _, ok := files["etc/hostname"]; ok {
		t.Error("etc/hostname must be absent")
	}
	for name, e := range files {
		if !e.hdr.ModTime.Equal(epoch) || e.hdr.Uid != 0 || e.hdr.Gid != 0 {
			t.Errorf("%s: mtime %v uid %d gid %d, want fixed", name, e.hdr.ModTime, e.hdr.Uid, e.hdr.Gid)
		}
	}
}

func TestDeterministic(t *testing.T) {
	a, b := build(t), buildFresh(t)
	if !bytes.Equal(a, b) {
		t.Fatal("two builds from the same busybox differ")
	}
	idx, err := ReadIndex(bytes.NewReader(a))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s manifest %s (%d bytes)", ImageName, idx.Manifests[0].Digest, len(a))
}

func TestRejectsDynamicBinary(t *testing.T) {
	for _, p := range []string{"/bin/ls", "/usr/bin/ls", "/bin/sh"} {
		if _, err := os.Stat(p); err != nil {
			continue
		}
		if err := CheckStatic(p); err == nil {
			continue // statically linked on this system; not a useful probe
		}
		if err := Build(io.Discard, p); err == nil || !strings.Contains(err.Error(), "busybox-static") {
			t.Errorf("Build(%s) = %v, want an error naming busybox-static", p, err)
		}
		return
	}
	t.Fatal("no dynamically linked binary (such as /bin/ls) found to probe with")
}

// TestContainerd imports the archive into a private containerd and runs a
// container from it. It needs root and Debian's containerd (and runc).
func TestContainerd(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run a private containerd")
	}
	ctrBin, err1 := exec.LookPath("ctr")
	containerdBin, err2 := exec.LookPath("containerd")
	if err1 != nil || err2 != nil {
		t.Skip("needs the ctr and containerd binaries (apt-get install -y containerd runc)")
	}
	archive := build(t)

	// A short directory: unix socket paths must stay under 108 bytes.
	dir, err := os.MkdirTemp("/tmp", "sti")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			t.Logf("removing %s: %v", dir, err)
		}
	})
	archivePath := filepath.Join(dir, "image.tar")
	if err := os.WriteFile(archivePath, archive, 0o644); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "c.sock")
	cfgPath := filepath.Join(dir, "config.toml")
	cfg := "version = 2\n" +
		"disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n" +
		"[plugins.\"io.containerd.internal.v1.opt\"]\n" +
		"  path = \"" + filepath.Join(dir, "opt") + "\"\n"
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()

	logPath := filepath.Join(dir, "containerd.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cd := exec.Command(containerdBin, "--config", cfgPath,
		"--root", filepath.Join(dir, "root"), "--state", filepath.Join(dir, "state"), "--address", sock)
	cd.Stdout, cd.Stderr = logf, logf
	cd.Env = append(os.Environ(), "PATH="+os.Getenv("PATH")+":/usr/sbin:/sbin:/usr/bin:/bin")
	if err := cd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cd.Wait() }()
	// Registered after the directory's removal, so it runs before it.
	t.Cleanup(func() {
		_ = cd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			if b, err := os.ReadFile(logPath); err == nil {
				t.Logf("containerd log:\n%s", tail(b, 4000))
			}
		}
	})

	// Wait for the socket to accept connections (or containerd to die).
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		c, err := net.Dial("unix", sock)
		if err == nil {
			c.Close()
			break
		}
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("containerd exited before serving: %v", err)
		case <-ctx.Done():
			t.Fatalf("containerd did not listen on %s: %v", sock, err)
		case <-tick.C:
		}
	}

	ctr := func(args ...string) (string, error) {
		all := append([]string{"--address", sock, "-n", "shoal"}, args...)
		cmd := exec.CommandContext(ctx, ctrBin, all...)
		cmd.Env = cd.Env
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		return out.String(), err
	}

	if out, err := ctr("images", "import", "--all-platforms", archivePath); err != nil {
		t.Fatalf("ctr images import: %v\n%s", err, out)
	}
	out, err := ctr("images", "ls", "-q")
	if err != nil {
		t.Fatalf("ctr images ls: %v\n%s", err, out)
	}
	if !slices.Contains(strings.Fields(out), ImageName) {
		t.Fatalf("ctr images ls lists %q, want %s", out, ImageName)
	}

	if !haveRunc() {
		t.Fatal("runc is missing (apt-get install -y runc); containerd cannot run the image without it")
	}
	const id = "shoal-testimage-t1"
	t.Cleanup(func() { // best effort, if the run below failed half-way
		cctx, ccancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer ccancel()
		for _, a := range [][]string{{"tasks", "rm", "-f", id}, {"containers", "rm", id}} {
			_ = exec.CommandContext(cctx, ctrBin, append([]string{"--address", sock, "-n", "shoal"}, a...)...).Run()
		}
	})
	out, err = ctr("run", "--rm", ImageName, id, "/bin/sh", "-c", "echo hello")
	if err != nil {
		t.Fatalf("ctr run: %v\n%s", err, out)
	}
	if strings.TrimSpace(out) != "hello" {
		t.Fatalf("container printed %q, want hello", out)
	}
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

func haveRunc() bool {
	if _, err := exec.LookPath("runc"); err == nil {
		return true
	}
	for _, p := range []string{"/usr/sbin/runc", "/sbin/runc"} {
		if _, err := os.Stat(p); err == nil {
			return true
		}
	}
	return false
}
