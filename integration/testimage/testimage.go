// Package testimage builds shoal's own test image, shoal.test/busybox:1, from
// Debian's static busybox binary (package busybox-static), as a tar of an OCI
// image layout that `ctr images import` and `shoal image import` accept.
//
// No registry is reachable from the test machines, so the integration tests
// and `make testimage` build this image locally and import it on each host.
// The image holds one layer: /bin/busybox, a symlink in /bin for each of its
// applets, /etc/passwd and /etc/group with root and nobody, and an empty /tmp
// (mode 1777). There is no /etc/hostname; the runtime provides it. The output
// is deterministic for a given busybox binary (fixed times and owners, sorted
// entries), so the image digest is stable across builds and hosts.
package testimage

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strings"
	"time"
)

// ImageName is the reference the test image is imported under.
const ImageName = "shoal.test/busybox:1"

// Tag is the OCI ref name (org.opencontainers.image.ref.name) in index.json.
const Tag = "1"

// Media types and annotations used in the layout.
const (
	MediaTypeIndex    = "application/vnd.oci.image.index.v1+json"
	MediaTypeManifest = "application/vnd.oci.image.manifest.v1+json"
	MediaTypeConfig   = "application/vnd.oci.image.config.v1+json"
	MediaTypeLayer    = "application/vnd.oci.image.layer.v1.tar+gzip"

	AnnotationRefName        = "org.opencontainers.image.ref.name"
	AnnotationContainerdName = "io.containerd.image.name"
)

// InstallHint tells the user how to get a usable busybox.
const InstallHint = "install it: apt-get install -y busybox-static"

// candidatePaths are where Debian's busybox-static puts the binary.
var candidatePaths = []string{"/bin/busybox", "/usr/bin/busybox"}

// epoch is the modification time of every entry in the archive and the
// creation time in the image config.
var epoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// fallbackApplets is used when `busybox --list` cannot be run (for example a
// binary for another architecture).
var fallbackApplets = []string{
	"[", "awk", "basename", "cat", "chmod", "chown", "cp", "cut", "date", "dd",
	"df", "dirname", "du", "echo", "env", "false", "find", "free", "grep",
	"head", "hostname", "httpd", "id", "ip", "kill", "ln", "ls", "mkdir",
	"mktemp", "mount", "mv", "nc", "nslookup", "ping", "printf", "ps", "pwd",
	"readlink", "rm", "rmdir", "sed", "seq", "sh", "sleep", "sort", "stat",
	"tail", "tee", "test", "timeout", "top", "touch", "tr", "true", "umount",
	"uname", "uniq", "usleep", "wc", "wget", "which", "whoami", "xargs", "yes",
}

// Descriptor is an OCI content descriptor.
type Descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Platform    *Platform         `json:"platform,omitempty"`
}

// Platform is an OCI platform.
type Platform struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
}

// Index is index.json of an OCI layout.
type Index struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Manifests     []Descriptor `json:"manifests"`
}

// Manifest is an OCI image manifest.
type Manifest struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Config        Descriptor   `json:"config"`
	Layers        []Descriptor `json:"layers"`
}

// ImageConfig is the subset of the OCI image config the test image sets.
type ImageConfig struct {
	Created      time.Time `json:"created"`
	Architecture string    `json:"architecture"`
	OS           string    `json:"os"`
	Config       struct {
		Env        []string `json:"Env"`
		Cmd        []string `json:"Cmd"`
		WorkingDir string   `json:"WorkingDir,omitempty"`
	} `json:"config"`
	RootFS struct {
		Type    string   `json:"type"`
		DiffIDs []string `json:"diff_ids"`
	} `json:"rootfs"`
}

// BusyboxPath returns the path of an installed static busybox: /bin/busybox or
// /usr/bin/busybox. It fails with an install hint if none is found, or if the
// one found is dynamically linked (Debian's package busybox, not
// busybox-static), since the image has no libc.
func BusyboxPath() (string, error) {
	var lastErr error
	for _, p := range candidatePaths {
		if _, err := os.Stat(p); err != nil {
			continue
		}
		if err := CheckStatic(p); err != nil {
			lastErr = err
			continue
		}
		return p, nil
	}
	if lastErr != nil {
		return "", fmt.Errorf("no static busybox found (%v); %s", lastErr, InstallHint)
	}
	return "", fmt.Errorf("busybox not found in %s; %s", strings.Join(candidatePaths, " or "), InstallHint)
}

// CheckStatic returns an error unless path is an ELF executable without a
// program interpreter (PT_INTERP), that is, one that runs without a libc.
func CheckStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("%s: not an ELF executable: %w", path, err)
	}
	defer f.Close()
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return fmt.Errorf("%s: ELF type %v is not an executable", path, f.Type)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked (has an ELF interpreter)", path)
		}
	}
	if arch, ok := elfArch(f.Machine, f.Class); ok && arch != runtime.GOARCH {
		return fmt.Errorf("%s is built for %s, not %s", path, arch, runtime.GOARCH)
	}
	return nil
}

func elfArch(m elf.Machine, c elf.Class) (string, bool) {
	switch m {
	case elf.EM_X86_64:
		return "amd64", true
	case elf.EM_AARCH64:
		return "arm64", true
	case elf.EM_386:
		return "386", true
	case elf.EM_ARM:
		return "arm", true
	case elf.EM_RISCV:
		if c == elf.ELFCLASS64 {
			return "riscv64", true
		}
	case elf.EM_S390:
		return "s390x", true
	}
	return "", false
}

// Build writes to w a tar of an OCI image layout holding the test image built
// from the static busybox at busyboxPath. The bytes depend only on the busybox
// binary (and the architecture), so two builds give the same digest.
func Build(w io.Writer, busyboxPath string) error {
	if err := CheckStatic(busyboxPath); err != nil {
		return fmt.Errorf("%w; %s", err, InstallHint)
	}
	bb, err := os.ReadFile(busyboxPath)
	if err != nil {
		return err
	}
	applets := listApplets(busyboxPath)

	layerTar, err := buildLayer(bb, applets)
	if err != nil {
		return fmt.Errorf("layer: %w", err)
	}
	var gz bytes.Buffer
	zw, err := gzip.NewWriterLevel(&gz, gzip.DefaultCompression)
	if err != nil {
		return err
	}
	// The header carries no name and a zero mtime, so it is deterministic.
	if _, err := zw.Write(layerTar); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	layer := gz.Bytes()

	var cfg ImageConfig
	cfg.Created = epoch
	cfg.Architecture = runtime.GOARCH
	cfg.OS = "linux"
	cfg.Config.Env = []string{"PATH=/bin:/usr/bin"}
	cfg.Config.Cmd = []string{"sh"}
	cfg.Config.WorkingDir = "/"
	cfg.RootFS.Type = "layers"
	cfg.RootFS.DiffIDs = []string{digest(layerTar)}
	cfgJSON, err := json.Marshal(cfg)
	if err != nil {
		return err
	}

	man := Manifest{
		SchemaVersion: 2,
		MediaType:     MediaTypeManifest,
		Config:        Descriptor{MediaType: MediaTypeConfig, Digest: digest(cfgJSON), Size: int64(len(cfgJSON))},
		Layers:        []Descriptor{{MediaType: MediaTypeLayer, Digest: digest(layer), Size: int64(len(layer))}},
	}
	manJSON, err := json.Marshal(man)
	if err != nil {
		return err
	}

	idx := Index{
		SchemaVersion: 2,
		MediaType:     MediaTypeIndex,
		Manifests: []Descriptor{{
			MediaType: MediaTypeManifest,
			Digest:    digest(manJSON),
			Size:      int64(len(manJSON)),
			Annotations: map[string]string{
				AnnotationRefName:        Tag,
				AnnotationContainerdName: ImageName,
			},
			Platform: &Platform{Architecture: runtime.GOARCH, OS: "linux"},
		}},
	}
	idxJSON, err := json.Marshal(idx)
	if err != nil {
		return err
	}

	tw := tar.NewWriter(w)
	if err := addDir(tw, "blobs/", 0o755); err != nil {
		return err
	}
	if err := addDir(tw, "blobs/sha256/", 0o755); err != nil {
		return err
	}
	blobs := map[string][]byte{
		man.Config.Digest:       cfgJSON,
		man.Layers[0].Digest:    layer,
		idx.Manifests[0].Digest: manJSON,
	}
	names := make([]string, 0, len(blobs))
	for d := range blobs {
		names = append(names, d)
	}
	sort.Strings(names)
	for _, d := range names {
		if err := addFile(tw, "blobs/sha256/"+strings.TrimPrefix(d, "sha256:"), 0o644, blobs[d]); err != nil {
			return err
		}
	}
	if err := addFile(tw, "index.json", 0o644, idxJSON); err != nil {
		return err
	}
	if err := addFile(tw, "oci-layout", 0o644, []byte(`{"imageLayoutVersion":"1.0.0"}`)); err != nil {
		return err
	}
	return tw.Close()
}

// listApplets runs `busybox --list` and returns the sorted applet names, or
// the fixed fallback list if the binary cannot be run here.
func listApplets(busyboxPath string) []string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, busyboxPath, "--list").Output()
	var names []string
	if err == nil {
		for _, l := range strings.Split(string(out), "\n") {
			l = strings.TrimSpace(l)
			if l == "" || l == "busybox" || l == "." || l == ".." || strings.ContainsAny(l, "/\x00") {
				continue
			}
			names = append(names, l)
		}
	}
	if len(names) == 0 {
		names = append(names, fallbackApplets...)
	}
	seen := map[string]bool{}
	uniq := names[:0]
	for _, n := range names {
		if !seen[n] {
			seen[n] = true
			uniq = append(uniq, n)
		}
	}
	sort.Strings(uniq)
	return uniq
}

// buildLayer returns the uncompressed layer tar.
func buildLayer(bb []byte, applets []string) ([]byte, error) {
	type entry struct {
		hdr  tar.Header
		data []byte
	}
	var entries []entry
	dir := func(name string, mode int64) {
		entries = append(entries, entry{hdr: tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode}})
	}
	file := func(name string, mode int64, data []byte) {
		entries = append(entries, entry{hdr: tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data))}, data: data})
	}
	link := func(name, target string) {
		entries = append(entries, entry{hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, Mode: 0o777}})
	}

	dir("bin", 0o755)
	file("bin/busybox", 0o755, bb)
	for _, a := range applets {
		link("bin/"+a, "busybox")
	}
	dir("etc", 0o755)
	file("etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"))
	file("etc/group", 0o644, []byte("root:x:0:\nnobody:x:65534:\n"))
	dir("root", 0o700)
	dir("tmp", 0o1777)
	dir("usr", 0o755)
	dir("usr/bin", 0o755)
	link("usr/bin/env", "../../bin/busybox") // for #!/usr/bin/env scripts

	sort.SliceStable(entries, func(i, j int) bool { return entries[i].hdr.Name < entries[j].hdr.Name })

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := e.hdr
		h.ModTime = epoch
		h.Uname, h.Gname = "root", "root"
		h.Format = tar.FormatPAX
		if err := tw.WriteHeader(&h); err != nil {
			return nil, err
		}
		if len(e.data) > 0 {
			if _, err := tw.Write(e.data); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func addDir(tw *tar.Writer, name string, mode int64) error {
	return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: mode, ModTime: epoch, Format: tar.FormatPAX})
}

func addFile(tw *tar.Writer, name string, mode int64, data []byte) error {
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data)), ModTime: epoch, Format: tar.FormatPAX}); err != nil {
		return err
	}
	_, err := tw.Write(data)
	return err
}

func digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// ReadIndex reads index.json from an archive written by Build.
func ReadIndex(r io.Reader) (Index, error) {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return Index{}, fmt.Errorf("index.json not found in archive")
		}
		if err != nil {
			return Index{}, err
		}
		if h.Name != "index.json" {
			continue
		}
		var idx Index
		if err := json.NewDecoder(tr).Decode(&idx); err != nil {
			return Index{}, fmt.Errorf("index.json: %w", err)
		}
		return idx, nil
	}
}
