package integration

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/shoal-dev/shoal/devnet"
	"github.com/shoal-dev/shoal/integration/testimage"
)

// A testNet is a private network of test hosts on this machine (see
// package devnet): each host runs its own agent and containerd inside its
// own network namespace.
type testNet struct {
	t testing.TB
	devnet.Network
	hosts int
}

// needPods skips a test unless this machine can run pods: root, containerd
// and the CNI plugins. CI has all three.
func needPods(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to run containerd and make network namespaces")
	}
	if _, err := exec.LookPath("containerd"); err != nil {
		t.Skip("needs containerd (apt-get install -y containerd runc)")
	}
	if _, err := os.Stat("/usr/lib/cni/bridge"); err != nil {
		t.Fatal("needs the CNI plugins: apt-get install -y containernetworking-plugins")
	}
	if err := devnet.Check(); err != nil {
		t.Fatal(err)
	}
}

func newTestNet(t testing.TB) *testNet {
	t.Helper()
	n := &testNet{t: t, Network: devnet.Network{
		Name:   fmt.Sprintf("sht%04x", rand.IntN(0xffff)),
		Subnet: netip.MustParsePrefix(fmt.Sprintf("10.99.%d.0/24", 100+rand.IntN(150))),
		Dir:    t.TempDir(), // removed after Destroy, which unmounts what is under it
	}}
	t.Cleanup(func() {
		if err := n.Destroy(); err != nil {
			t.Errorf("tearing the test hosts down: %v", err)
		}
	})
	if err := n.Create(); err != nil {
		t.Fatal(err)
	}
	return n
}

// host is one test host: its namespace and address.
type host struct {
	devnet.Host
	netns   string
	ip      string
	network *devnet.Network
}

// nsenter runs a command inside the host's network namespace.
func (h host) nsenter(args ...string) *exec.Cmd { return h.Command(args[0], args[1:]...) }

// addHost makes the next host.
func (n *testNet) addHost() host {
	n.t.Helper()
	n.hosts++
	h, err := n.AddHost(n.hosts)
	if err != nil {
		n.t.Fatal(err)
	}
	return host{Host: h, netns: h.NetNS, ip: h.IP.String(), network: &n.Network}
}

// startPodAgent runs an agent that runs pods, with its own containerd, in
// host h, as the host's init would: its data dir on the host's disk, its
// volatile state in the host's RunDir, its containers in the host's
// cgroup.
func startPodAgent(t testing.TB, name string, h host, extra ...string) *agent {
	t.Helper()
	run := h.RunDir()
	args := append([]string{"--containerd", "supervise", "--run-dir", filepath.Join(run, "shoal"),
		"--netns-dir", filepath.Join(run, "netns"), "--cgroup-parent", h.PodCgroupParent()}, extra...)
	a := newAgent(t, name, h.ip, filepath.Join(h.Root, "var", "lib", "shoal"), args...)
	a.logPath = filepath.Join(h.network.Dir, name+".log")
	a.netns, a.host, a.network = h.netns, h.Host, h.network
	a.start()
	return a
}

// powerCut cuts the power of the agent's host: every process of it dies
// at once, containers included, and its link goes down.
func (a *agent) powerCut() {
	a.t.Helper()
	if err := a.host.PowerCut(); err != nil {
		a.t.Fatal(err)
	}
	if a.cmd != nil {
		a.cmd.Wait()
		a.cmd = nil
	}
}

// boot boots the agent's host after a power cut and starts its agent.
func (a *agent) boot() {
	a.t.Helper()
	h, err := a.network.Boot(a.host.Index)
	if err != nil {
		a.t.Fatal(err)
	}
	a.host = h
	a.start()
}

// buildTestImage writes the test image archive and returns its path.
func buildTestImage(t testing.TB) string {
	t.Helper()
	busybox, err := testimage.BusyboxPath()
	if err != nil {
		t.Fatal("the test image needs busybox-static (apt-get install -y busybox-static): " + err.Error())
	}
	archive := filepath.Join(t.TempDir(), "testimage.tar")
	f, err := os.Create(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := testimage.Build(f, busybox); err != nil {
		t.Fatal(err)
	}
	return archive
}

// cli runs the shoal CLI against agent a with the admin credential.
func (a *agent) cli(args ...string) (string, error) {
	flags := []string{"--server", a.url(), "--config", a.adminConf}
	at := len(args)
	for i, arg := range args {
		if arg == "--" {
			at = i
			break
		}
	}
	args = append(append(append([]string{}, args[:at]...), flags...), args[at:]...)
	out, err := exec.Command(shoalBin, args...).CombinedOutput()
	return string(out), err
}
