package devnet

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func newNet(t *testing.T) *Network {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to make network namespaces and cgroups")
	}
	if err := Check(); err != nil {
		t.Fatal(err) // root, but the tools are missing: CI installs them
	}
	n := &Network{Name: fmt.Sprintf("sdm%04x", rand.IntN(0xffff)),
		Subnet: netip.MustParsePrefix(fmt.Sprintf("10.97.%d.0/24", rand.IntN(250))),
		Dir:    t.TempDir()}
	t.Cleanup(func() {
		if err := n.Destroy(); err != nil {
			t.Error(err)
		}
	})
	if err := n.Create(); err != nil {
		t.Fatal(err)
	}
	return n
}

func alive(pid int) bool {
	// A zombie still answers kill 0; look at its state instead.
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	return err == nil && !zombie(b)
}

// A power cut kills the whole process tree of a host at once, even a
// process that left its parent's session and process group, takes its
// link down and loses what was in RAM; a boot brings up a fresh network
// stack with the disk as it was.
func TestPowerCutAndBoot(t *testing.T) {
	n := newNet(t)
	h1, err := n.AddHost(1)
	if err != nil {
		t.Fatal(err)
	}
	h2, err := n.AddHost(2)
	if err != nil {
		t.Fatal(err)
	}
	// A server, and a grandchild that escapes into its own session, as a
	// container's process does under its shim.
	www := filepath.Join(h1.Root, "www")
	os.MkdirAll(www, 0o755)
	os.WriteFile(filepath.Join(www, "ok"), []byte("ok\n"), 0o644)
	srv := h1.Command("busybox", "sh", "-c", "busybox setsid busybox sleep 1000 & exec busybox httpd -f -p 8080 -h "+www)
	if err := h1.Start(srv); err != nil {
		t.Fatal(err)
	}
	go srv.Wait()
	tmpfs := filepath.Join(h1.Root, "var", "volume")
	os.MkdirAll(tmpfs, 0o755)
	if err := syscall.Mount("tmpfs", tmpfs, "tmpfs", 0, ""); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(h1.RunDir(), "pid"), []byte("1"), 0o644)
	os.WriteFile(filepath.Join(h1.Root, "disk"), []byte("kept"), 0o644)
	if err := h1.Command("iptables", "-w", "-N", "BOOT-TEST").Run(); err != nil {
		t.Fatal(err)
	}

	get := func() error {
		return h2.Command("busybox", "wget", "-q", "-O", "/dev/null", "http://"+h1.IP.String()+":8080/ok").Run()
	}
	var pids []int
	for deadline := time.Now().Add(10 * time.Second); ; {
		pids, _ = h1.Procs()
		if len(pids) >= 2 && get() == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the host's server never answered (processes %v)", pids)
		}
		time.Sleep(50 * time.Millisecond)
	}

	if err := h1.PowerCut(); err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("process %d of the host survived the power cut", pid)
		}
	}
	if left, _ := h1.Procs(); len(left) > 0 {
		t.Errorf("the host's cgroup still holds %v", left)
	}
	if h2.Command("busybox", "ping", "-c1", "-W1", h1.IP.String()).Run() == nil {
		t.Error("the host still answers ping after its power cut")
	}
	if m := MountsUnder(h1.Root); len(m) > 0 {
		t.Errorf("mounts survived the power cut: %v", m)
	}
	if _, err := os.Stat(filepath.Join(h1.RunDir(), "pid")); err == nil {
		t.Error("the run directory kept its contents")
	}
	if err := h1.PowerCut(); err != nil {
		t.Errorf("a second power cut: %v", err)
	}

	h1, err = n.Boot(1)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(h1.Root, "disk")); string(b) != "kept" {
		t.Errorf("the disk lost its file: %q", b)
	}
	if h1.Command("iptables", "-w", "-L", "BOOT-TEST").Run() == nil {
		t.Error("a firewall chain of the last boot survived the boot")
	}
	if err := h2.Command("busybox", "ping", "-c1", "-W2", h1.IP.String()).Run(); err != nil {
		t.Errorf("the booted host does not answer ping: %v", err)
	}
}

// Freeze stops every process of a host until Thaw.
func TestFreezeAndThaw(t *testing.T) {
	n := newNet(t)
	h, err := n.AddHost(1)
	if err != nil {
		t.Fatal(err)
	}
	tick := filepath.Join(h.Root, "tick")
	p := h.Command("busybox", "sh", "-c", "while :; do busybox date +%s%N > "+tick+"; busybox usleep 10000; done")
	if err := h.Start(p); err != nil {
		t.Fatal(err)
	}
	go p.Wait()
	read := func() string { b, _ := os.ReadFile(tick); return string(b) }
	for deadline := time.Now().Add(5 * time.Second); read() == ""; {
		if time.Now().After(deadline) {
			t.Fatal("the process never ran")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := h.Freeze(); err != nil {
		t.Fatal(err)
	}
	before := read()
	time.Sleep(200 * time.Millisecond) // long enough for 20 ticks, were it running
	if after := read(); after != before {
		t.Fatalf("a frozen process kept running: %q then %q", before, after)
	}
	if err := h.Thaw(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); read() == before; {
		if time.Now().After(deadline) {
			t.Fatal("the process did not run again after the thaw")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Destroy (in Cleanup) kills it, frozen or not.
	if err := h.Freeze(); err != nil {
		t.Fatal(err)
	}
}

// Destroy leaves nothing: no namespace, link, cgroup, mount or process.
func TestDestroyLeavesNothing(t *testing.T) {
	n := newNet(t)
	var pids []int
	for i := 1; i <= 2; i++ {
		h, err := n.AddHost(i)
		if err != nil {
			t.Fatal(err)
		}
		p := h.Command("busybox", "sleep", "1000")
		if err := h.Start(p); err != nil {
			t.Fatal(err)
		}
		go p.Wait()
		pids = append(pids, p.Process.Pid)
		m := filepath.Join(h.Root, "m")
		os.MkdirAll(m, 0o755)
		if err := syscall.Mount("tmpfs", m, "tmpfs", 0, ""); err != nil {
			t.Fatal(err)
		}
	}
	if left := n.Leftovers(); len(left) < 2+2+2+2 {
		t.Fatalf("Leftovers sees too little of two running hosts (processes, mounts, namespaces, links): %v", left)
	}
	if err := n.Destroy(); err != nil {
		t.Fatal(err)
	}
	if left := n.Leftovers(); len(left) > 0 {
		t.Errorf("left after Destroy: %v", left)
	}
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("process %d survived Destroy", pid)
		}
	}
	out, _ := exec.Command("ip", "-o", "link").Output()
	if strings.Contains(string(out), n.Name) {
		t.Errorf("links left:\n%s", out)
	}
	out, _ = exec.Command("ip", "netns", "list").Output()
	if strings.Contains(string(out), n.Name) {
		t.Errorf("namespaces left:\n%s", out)
	}
	if m := MountsUnder(n.Dir); len(m) > 0 {
		t.Errorf("mounts left: %v", m)
	}
	root, _ := cgroup2Mount()
	if _, err := os.Stat(filepath.Join(root, n.Name)); err == nil {
		t.Errorf("cgroup %s left", filepath.Join(root, n.Name))
	}
}
