package runtime

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/shoal-dev/shoal/api"
)

// A pod's directory, Reconciler.Dir/<uid>, holds:
//
//	etc/hosts, etc/resolv.conf, etc/hostname  mounted into every container
//	volumes/<name>                            emptyDir, configMap and secret volumes
//
// Memory-backed emptyDirs and secret volumes are tmpfs mounts, so secrets
// never touch the node's disk. ConfigMap and secret volumes are written
// the way the kubelet writes them: files live in a timestamped directory
// that the symlink ..data points at, and each key is a symlink through
// ..data, so an update swaps ..data in one rename and containers see it in
// place, whole.

const dataLink = "..data"

// writeFiles brings the pod's generated files and volumes up to date. It
// is idempotent, and rewrites a configMap or secret volume only when its
// content changed. Errors name the volume and say what is missing.
func (w *podWorker) writeFiles(pod *api.Pod, podIP string, gateway netip.Addr) error {
	dir := w.r.podDir(pod.UID)
	etc := filepath.Join(dir, "etc")
	if err := os.MkdirAll(etc, 0o755); err != nil {
		return err
	}
	hostname := podHostname(pod)
	hosts := fmt.Sprintf("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n%s\t%s\n", podIP, hostname)
	if fqdn := podFQDN(pod, w.r.DNS.ClusterDomain); fqdn != "" {
		hosts = fmt.Sprintf("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n%s\t%s %s\n", podIP, fqdn, hostname)
	}
	for name, content := range map[string]string{
		"hosts":       hosts,
		"hostname":    hostname + "\n",
		"resolv.conf": w.resolvConf(pod, gateway),
	} {
		if err := writeIfChanged(filepath.Join(etc, name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	for _, v := range pod.Spec.Volumes {
		if err := w.writeVolume(pod, v); err != nil {
			return fmt.Errorf("volume %q: %w", v.Name, err)
		}
	}
	return nil
}

// resolvConf is the pod's /etc/resolv.conf: the node's DNS (DNS.Nameserver,
// or the pod's gateway) with the Kubernetes search path, or the node's own
// file for dnsPolicy Default.
func (w *podWorker) resolvConf(pod *api.Pod, gateway netip.Addr) string {
	if pod.Spec.DNSPolicy == api.DNSDefault {
		if b, err := os.ReadFile("/etc/resolv.conf"); err == nil {
			return string(b)
		}
	}
	d := w.r.DNS.ClusterDomain
	ns := w.r.DNS.Nameserver
	if ns == "" && gateway.IsValid() {
		ns = gateway.String()
	}
	return fmt.Sprintf("nameserver %s\nsearch %s.svc.%s svc.%s %s\noptions ndots:5\n", ns, pod.Namespace, d, d, d)
}

func podHostname(pod *api.Pod) string {
	if pod.Spec.Hostname != "" {
		return pod.Spec.Hostname
	}
	return pod.Name
}

// podFQDN is <hostname>.<subdomain>.<ns>.svc.<domain> when the pod sets a
// subdomain.
func podFQDN(pod *api.Pod, domain string) string {
	if pod.Spec.Subdomain == "" {
		return ""
	}
	return fmt.Sprintf("%s.%s.%s.svc.%s", podHostname(pod), pod.Spec.Subdomain, pod.Namespace, domain)
}

func (w *podWorker) volumeDir(uid, name string) string {
	return filepath.Join(w.r.podDir(uid), "volumes", name)
}

func (w *podWorker) writeVolume(pod *api.Pod, v api.Volume) error {
	dir := w.volumeDir(pod.UID, v.Name)
	switch {
	case v.EmptyDir != nil:
		if err := os.MkdirAll(dir, 0o777); err != nil {
			return err
		}
		if v.EmptyDir.Medium == api.StorageMediumMemory {
			opts := ""
			if v.EmptyDir.SizeLimit != nil {
				opts = fmt.Sprintf("size=%d", v.EmptyDir.SizeLimit.Value())
			}
			return ensureTmpfs(dir, opts)
		}
		return nil
	case v.HostPath != nil:
		return checkHostPath(v.HostPath)
	case v.ConfigMap != nil:
		cm, err := w.r.Pods.ConfigMap(pod.Namespace, v.ConfigMap.Name)
		if err != nil {
			if api.IsNotFound(err) && v.ConfigMap.Optional != nil && *v.ConfigMap.Optional {
				return writeProjection(dir, nil, 0o644)
			}
			return fmt.Errorf("configmap %q not found in namespace %s: create it, or mark the volume optional", v.ConfigMap.Name, pod.Namespace)
		}
		data := map[string][]byte{}
		for k, s := range cm.Data {
			data[k] = []byte(s)
		}
		for k, b := range cm.BinaryData {
			data[k] = b
		}
		files, err := project(data, v.ConfigMap.Items, v.ConfigMap.Optional)
		if err != nil {
			return fmt.Errorf("configmap %q: %w", v.ConfigMap.Name, err)
		}
		return writeProjection(dir, files, mode(v.ConfigMap.DefaultMode, 0o644))
	case v.Secret != nil:
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		if err := ensureTmpfs(dir, "mode=0755"); err != nil {
			return err
		}
		s, err := w.r.Pods.Secret(pod.Namespace, v.Secret.SecretName)
		if err != nil {
			if api.IsNotFound(err) && v.Secret.Optional != nil && *v.Secret.Optional {
				return writeProjection(dir, nil, 0o644)
			}
			return fmt.Errorf("secret %q not found in namespace %s: create it, or mark the volume optional", v.Secret.SecretName, pod.Namespace)
		}
		files, err := project(s.Data, v.Secret.Items, v.Secret.Optional)
		if err != nil {
			return fmt.Errorf("secret %q: %w", v.Secret.SecretName, err)
		}
		return writeProjection(dir, files, mode(v.Secret.DefaultMode, 0o644))
	}
	return fmt.Errorf("this kind of volume is not supported; use emptyDir, hostPath, configMap or secret")
}

func mode(m *int32, def os.FileMode) os.FileMode {
	if m != nil {
		return os.FileMode(*m) & 0o777
	}
	return def
}

// project picks the files of a configMap or secret volume: every key, or
// only items (path -> key).
func project(data map[string][]byte, items []api.KeyToPath, optional *bool) (map[string][]byte, error) {
	if len(items) == 0 {
		return data, nil
	}
	out := map[string][]byte{}
	for _, it := range items {
		b, ok := data[it.Key]
		if !ok {
			if optional != nil && *optional {
				continue
			}
			return nil, fmt.Errorf("items: key %q is not in it", it.Key)
		}
		out[it.Path] = b
	}
	return out, nil
}

// writeProjection makes dir hold exactly files, through the ..data symlink,
// and changes nothing when they are already there.
func writeProjection(dir string, files map[string][]byte, perm os.FileMode) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if same(dir, files) {
		return nil
	}
	tmp, err := os.MkdirTemp(dir, "..gen-")
	if err != nil {
		return err
	}
	for p, b := range files {
		if strings.Contains(p, "..") || filepath.IsAbs(p) {
			return fmt.Errorf("file path %q must be relative and must not contain '..'", p)
		}
		full := filepath.Join(tmp, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(full, b, perm); err != nil {
			return err
		}
	}
	old, _ := os.Readlink(filepath.Join(dir, dataLink))
	link := filepath.Join(dir, "..data_tmp")
	os.Remove(link)
	if err := os.Symlink(filepath.Base(tmp), link); err != nil {
		return err
	}
	if err := os.Rename(link, filepath.Join(dir, dataLink)); err != nil {
		return err
	}
	// Top-level names point through ..data; names no longer there go.
	want := map[string]bool{}
	for p := range files {
		top := strings.SplitN(p, "/", 2)[0]
		want[top] = true
		target := filepath.Join(dataLink, top)
		if cur, err := os.Readlink(filepath.Join(dir, top)); err != nil || cur != target {
			os.Remove(filepath.Join(dir, top))
			if err := os.Symlink(target, filepath.Join(dir, top)); err != nil {
				return err
			}
		}
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		n := e.Name()
		if !strings.HasPrefix(n, "..") && !want[n] {
			os.Remove(filepath.Join(dir, n))
		}
	}
	if old != "" && old != filepath.Base(tmp) {
		os.RemoveAll(filepath.Join(dir, old))
	}
	return nil
}

// same reports whether dir/..data holds exactly files.
func same(dir string, files map[string][]byte) bool {
	data := filepath.Join(dir, dataLink)
	if _, err := os.Stat(data); err != nil {
		return false
	}
	var have []string
	filepath.WalkDir(data+"/", func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(data, p)
			have = append(have, rel)
		}
		return nil
	})
	if len(have) != len(files) {
		return false
	}
	sort.Strings(have)
	for _, p := range have {
		b, err := os.ReadFile(filepath.Join(data, p))
		if want, ok := files[p]; !ok || err != nil || !bytes.Equal(b, want) {
			return false
		}
	}
	return true
}

func writeIfChanged(path string, b []byte, perm os.FileMode) error {
	if cur, err := os.ReadFile(path); err == nil && bytes.Equal(cur, b) {
		return nil
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, perm); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// ensureTmpfs mounts a tmpfs on dir unless one is there.
func ensureTmpfs(dir, opts string) error {
	var st, parent unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return err
	}
	if err := unix.Stat(filepath.Dir(dir), &parent); err != nil {
		return err
	}
	if st.Dev != parent.Dev {
		return nil // already a mount point
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
		return fmt.Errorf("mount tmpfs on %s: %w (the agent must run as root)", dir, err)
	}
	return nil
}

func checkHostPath(h *api.HostPathVolumeSource) error {
	t := api.HostPathUnset
	if h.Type != nil {
		t = *h.Type
	}
	fi, err := os.Stat(h.Path)
	switch t {
	case api.HostPathUnset:
		return nil
	case api.HostPathDirectoryOrCreate:
		if errors.Is(err, os.ErrNotExist) {
			return os.MkdirAll(h.Path, 0o755)
		}
	case api.HostPathFileOrCreate:
		if errors.Is(err, os.ErrNotExist) {
			if err := os.MkdirAll(filepath.Dir(h.Path), 0o755); err != nil {
				return err
			}
			f, err := os.OpenFile(h.Path, os.O_CREATE|os.O_WRONLY, 0o644)
			if err != nil {
				return err
			}
			return f.Close()
		}
	}
	if err != nil {
		return fmt.Errorf("hostPath %s: %w", h.Path, err)
	}
	ok := map[api.HostPathType]bool{
		api.HostPathDirectoryOrCreate: fi.IsDir(), api.HostPathDirectory: fi.IsDir(),
		api.HostPathFileOrCreate: fi.Mode().IsRegular(), api.HostPathFile: fi.Mode().IsRegular(),
		api.HostPathSocket: fi.Mode()&os.ModeSocket != 0, api.HostPathCharDev: fi.Mode()&os.ModeCharDevice != 0,
		api.HostPathBlockDev: fi.Mode()&os.ModeDevice != 0 && fi.Mode()&os.ModeCharDevice == 0,
	}[t]
	if !ok {
		return fmt.Errorf("hostPath %s is not a %s", h.Path, t)
	}
	return nil
}

// removePodDir unmounts the tmpfs volumes of a pod and removes its
// directory.
func removePodDir(dir string) error {
	vols, _ := os.ReadDir(filepath.Join(dir, "volumes"))
	for _, v := range vols {
		p := filepath.Join(dir, "volumes", v.Name())
		if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("unmount %s: %w", p, err)
		}
	}
	return os.RemoveAll(dir)
}
