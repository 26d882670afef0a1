package devnet

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// A host's processes live in one cgroup v2 subtree, <cgroup2>/<network>/h<i>:
// its own processes (the agent, containerd, the shims) in the "system" leaf,
// and its containers under "pods" (the agent is told so with
// --cgroup-parent). Writing cgroup.kill there SIGKILLs all of them at once,
// forks in flight included, and cgroup.freeze stops them all as SIGSTOP
// would, without the signal's side effects on their parents.

var (
	cgroup2Once sync.Once
	cgroup2Root string
	cgroup2Err  error
)

// cgroup2Mount finds the cgroup v2 hierarchy: /sys/fs/cgroup on a unified
// machine, or the "unified" mount of a hybrid one.
func cgroup2Mount() (string, error) {
	cgroup2Once.Do(func() {
		b, err := os.ReadFile("/proc/self/mounts")
		if err != nil {
			cgroup2Err = err
			return
		}
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) > 2 && f[2] == "cgroup2" {
				if cgroup2Root == "" || f[1] == "/sys/fs/cgroup" {
					cgroup2Root = f[1]
				}
			}
		}
		if cgroup2Root == "" {
			cgroup2Err = errors.New("devnet: no cgroup v2 hierarchy is mounted; hosts need one (mount -t cgroup2 none /sys/fs/cgroup/unified)")
		}
	})
	return cgroup2Root, cgroup2Err
}

// cgroupMounts lists every cgroup hierarchy (v1 controllers and v2), so a
// host's directories can be removed from all of them: runc makes the
// containers' cgroups in each v1 controller of a hybrid machine.
func cgroupMounts() []string {
	b, _ := os.ReadFile("/proc/self/mounts")
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 2 && (f[2] == "cgroup" || f[2] == "cgroup2") {
			out = append(out, f[1])
		}
	}
	return out
}

// CgroupPath is the host's cgroup, relative to the cgroup v2 root.
func (h Host) CgroupPath() string { return "/" + h.network + "/h" + strconv.Itoa(h.Index) }

// PodCgroupParent is the cgroup under which the host's agent puts its
// containers (its --cgroup-parent).
func (h Host) PodCgroupParent() string { return h.CgroupPath() + "/pods" }

func (h Host) cgroupDir(sub string) (string, error) {
	root, err := cgroup2Mount()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, h.CgroupPath(), sub), nil
}

// ensureCgroup makes the host's cgroup and its system leaf.
func (h Host) ensureCgroup() (string, error) {
	dir, err := h.cgroupDir("system")
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("devnet: host %s: cgroup %s: %w", h.NetNS, dir, err)
	}
	return dir, nil
}

// Procs lists the PIDs of every process of the host, containers included.
func (h Host) Procs() ([]int, error) {
	top, err := h.cgroupDir("")
	if err != nil {
		return nil, err
	}
	var pids []int
	err = filepath.WalkDir(top, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() {
			b, err := os.ReadFile(filepath.Join(p, "cgroup.procs"))
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			for _, s := range strings.Fields(string(b)) {
				if pid, err := strconv.Atoi(s); err == nil {
					pids = append(pids, pid)
				}
			}
		}
		return nil
	})
	return pids, err
}

// killAll SIGKILLs every process of the host at once and waits until the
// kernel has reaped them all (at most 10 s).
func (h Host) killAll() error {
	top, err := h.cgroupDir("")
	if err != nil {
		return err
	}
	if _, err := os.Stat(top); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err := os.WriteFile(filepath.Join(top, "cgroup.kill"), []byte("1"), 0); err != nil {
		return fmt.Errorf("devnet: host %s: cgroup.kill: %w (needs Linux 5.14 or newer)", h.NetNS, err)
	}
	return waitEvent(top, "populated", "0", 10*time.Second)
}

// setFrozen freezes or thaws every process of the host and waits until the
// kernel reports it done.
func (h Host) setFrozen(frozen bool) error {
	top, err := h.cgroupDir("")
	if err != nil {
		return err
	}
	v := "0"
	if frozen {
		v = "1"
	}
	if err := os.WriteFile(filepath.Join(top, "cgroup.freeze"), []byte(v), 0); err != nil {
		return fmt.Errorf("devnet: host %s: cgroup.freeze: %w", h.NetNS, err)
	}
	return waitEvent(top, "frozen", v, 10*time.Second)
}

// waitEvent polls dir/cgroup.events until key has value.
func waitEvent(dir, key, value string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		b, err := os.ReadFile(filepath.Join(dir, "cgroup.events"))
		if err != nil {
			return fmt.Errorf("devnet: %s: %w", dir, err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) == 2 && f[0] == key && f[1] == value {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("devnet: %s: %s did not become %s within %s", dir, key, value, timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// removeCgroups removes the directories at rel (and below) from every
// cgroup hierarchy, deepest first. Their processes must be gone.
func removeCgroups(rel string) error {
	var errs []error
	for _, m := range cgroupMounts() {
		top := filepath.Join(m, rel)
		var dirs []string
		filepath.WalkDir(top, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		slices.Reverse(dirs)
		for _, d := range dirs {
			if err := os.Remove(d); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, fmt.Errorf("devnet: remove cgroup %s: %w", d, err))
			}
		}
	}
	return errors.Join(errs...)
}
