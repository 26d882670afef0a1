package devnet

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// Start starts cmd (made by Command) as one of the host's processes: in
// the host's cgroup, so that PowerCut kills it and everything it starts,
// and Freeze stops it. cmd's other SysProcAttr settings are kept.
func (h Host) Start(cmd *exec.Cmd) error {
	dir, err := h.ensureCgroup()
	if err != nil {
		return err
	}
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("devnet: host %s: %w", h.NetNS, err)
	}
	defer f.Close()
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.UseCgroupFD = true
	cmd.SysProcAttr.CgroupFD = int(f.Fd())
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("devnet: host %s: start %s: %w", h.NetNS, cmd.Path, err)
	}
	return nil
}

// PowerCut does to the host what pulling its plug does. Every process of
// the host (the agent, containerd, the shims and every container) gets
// SIGKILL at once, and its link goes down, so nothing of it answers. What
// lived in its RAM is lost: every mount under its Root (tmpfs volumes, the
// bind mounts of pod network namespaces, overlay root filesystems) and the
// contents of its RunDir. Its disk (the rest of Root) stays as it was.
// Boot brings it back. PowerCut on a host that is off is a no-op.
func (h Host) PowerCut() error {
	// A frozen process dies of SIGKILL too; thawing first only makes the
	// kernel's bookkeeping quicker.
	_ = h.setFrozen(false)
	kerr := h.killAll()
	lerr := run("ip", "link", "set", h.Veth, "down")
	if lerr != nil && strings.Contains(lerr.Error(), "Cannot find device") {
		lerr = nil
	}
	return errors.Join(kerr, lerr, h.dropVolatile())
}

// Boot brings host i up as a machine boots after a power cut: a fresh
// network stack (a new namespace with only its address, so no bridge,
// route or firewall rule of the last boot), an empty RunDir, a fresh
// cgroup, and its disk as the power cut left it. It starts no process:
// start the host's agent with Start, as its init would. It refuses a host
// that still has processes.
func (n *Network) Boot(i int) (Host, error) {
	h := n.Host(i)
	if pids, _ := h.Procs(); len(pids) > 0 {
		return h, fmt.Errorf("devnet: host %s is running (%d processes): cut its power first", h.NetNS, len(pids))
	}
	if err := h.teardown(); err != nil {
		return h, err
	}
	return n.AddHost(i)
}

// Freeze stops every process of the host at once, as SIGSTOP to each of
// them would, and Thaw lets them go on. The host's link stays up, so the
// others see a host that has stopped answering.
func (h Host) Freeze() error { return h.setFrozen(true) }

// Thaw undoes Freeze.
func (h Host) Thaw() error { return h.setFrozen(false) }

// teardown kills the host's processes and removes its mounts, namespace,
// link and cgroups. Its disk stays. Idempotent.
func (h Host) teardown() error {
	_ = h.setFrozen(false)
	errs := []error{h.killAll(), h.dropVolatile()}
	if err := run("ip", "netns", "del", h.NetNS); err != nil && !strings.Contains(err.Error(), "No such file") {
		errs = append(errs, err)
	}
	if err := run("ip", "link", "del", h.Veth); err != nil && !linkGone(err) {
		errs = append(errs, err)
	}
	errs = append(errs, removeCgroups(h.CgroupPath()))
	return errors.Join(errs...)
}

// dropVolatile unmounts everything under the host's Root, deepest first,
// and empties its RunDir.
func (h Host) dropVolatile() error {
	if h.Root == "" {
		return nil
	}
	var errs []error
	for _, m := range MountsUnder(h.Root) {
		if err := syscall.Unmount(m, syscall.MNT_DETACH); err != nil && err != syscall.EINVAL && err != syscall.ENOENT {
			errs = append(errs, fmt.Errorf("devnet: host %s: unmount %s: %w", h.NetNS, m, err))
		}
	}
	if err := os.RemoveAll(h.RunDir()); err != nil {
		errs = append(errs, fmt.Errorf("devnet: host %s: %w", h.NetNS, err))
	}
	if err := os.MkdirAll(h.RunDir(), 0o755); err != nil {
		errs = append(errs, fmt.Errorf("devnet: host %s: %w", h.NetNS, err))
	}
	return errors.Join(errs...)
}

// MountsUnder lists the mount points at or below dir, the most recent
// first, so that unmounting in order takes children before parents. A host
// that was torn down has none under its Root.
func MountsUnder(dir string) []string {
	dir = filepath.Clean(dir)
	b, _ := os.ReadFile("/proc/self/mounts")
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		p := unescapeMount(f[1])
		if p == dir || strings.HasPrefix(p, dir+"/") {
			out = append(out, p)
		}
	}
	slices.Reverse(out)
	return out
}

// unescapeMount undoes /proc/self/mounts' octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var c byte
			if _, err := fmt.Sscanf(s[i+1:i+4], "%03o", &c); err == nil {
				b.WriteByte(c)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
