package runtime

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// DefaultNetNSDir is where pods' network namespaces are bind-mounted by
// default: the directory iproute2 uses, so `ip netns list` shows them and
// `nsenter --net=/var/run/netns/NAME` enters one.
const DefaultNetNSDir = "/var/run/netns"

// netnsDirMu serialises making a netns directory a shared mount point, so
// two pods set up at once do not stack two bind mounts on it.
var netnsDirMu sync.Mutex

// netnsName is the name of pod uid's network namespace: "shoal-", up to 16
// letters and digits of the UID (so an operator can match `ip netns list`
// to a pod), and 8 hex digits of its SHA-256 (so two UIDs never share one).
func netnsName(uid string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(uid) {
		if b.Len() == 16 {
			break
		}
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	sum := sha256.Sum256([]byte(uid))
	return "shoal-" + b.String() + "-" + hex.EncodeToString(sum[:4])
}

// ensureNetNSDir makes dir exist and be a shared mount point, as iproute2
// does for /var/run/netns: a bind mount of dir onto itself when it is not a
// mount point yet. Shared propagation makes a namespace's later unmount
// reach every mount namespace created in the meantime, so no copy of the
// mount keeps a deleted pod's namespace alive. Idempotent.
func ensureNetNSDir(dir string) error {
	netnsDirMu.Lock()
	defer netnsDirMu.Unlock()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("network namespace directory %s: %w", dir, err)
	}
	err := unix.Mount("", dir, "none", unix.MS_SHARED|unix.MS_REC, "")
	if errors.Is(err, unix.EINVAL) { // not a mount point yet
		if err := unix.Mount(dir, dir, "none", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("network namespace directory %s: bind-mount onto itself: %w", dir, err)
		}
		err = unix.Mount("", dir, "none", unix.MS_SHARED|unix.MS_REC, "")
	}
	if err != nil {
		return fmt.Errorf("network namespace directory %s: make it a shared mount: %w (shoal needs root)", dir, err)
	}
	return nil
}

// createNetNS makes a new, empty network namespace and bind-mounts it at
// dir/name, which must not exist yet. The namespace is made on a locked OS
// thread that then dies with its goroutine, so no goroutine ever runs in it
// by accident. On error nothing is left behind.
func createNetNS(dir, name string) (string, error) {
	if err := ensureNetNSDir(dir); err != nil {
		return "", err
	}
	path := filepath.Join(dir, name)
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return "", fmt.Errorf("network namespace %s: %w", path, err)
	}
	f.Close()

	errc := make(chan error, 1)
	go func() {
		// Never unlocked: once Unshare has run, this thread must not go
		// back to the scheduler, so it exits with the goroutine.
		goruntime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("unshare: %w", err)
			return
		}
		self := fmt.Sprintf("/proc/%d/task/%d/ns/net", os.Getpid(), unix.Gettid())
		if err := unix.Mount(self, path, "none", unix.MS_BIND, ""); err != nil {
			errc <- fmt.Errorf("bind-mount: %w", err)
			return
		}
		errc <- nil
	}()
	if err := <-errc; err != nil {
		os.Remove(path)
		return "", fmt.Errorf("network namespace %s: %w (shoal needs root)", path, err)
	}
	return path, nil
}

// deleteNetNS unmounts (lazily, so a process still inside keeps it until it
// leaves) and removes the namespace at path. A path that is missing or not
// mounted is fine: deleteNetNS is idempotent.
func deleteNetNS(path string) error {
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil &&
		!errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("network namespace %s: unmount: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("network namespace %s: %w", path, err)
	}
	return nil
}

// netnsExists reports whether path is a mounted network namespace (and not
// just the empty file left behind, say, by a reboot that emptied /run).
func netnsExists(path string) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return false
	}
	return st.Type == unix.NSFS_MAGIC || st.Type == unix.PROC_SUPER_MAGIC
}
