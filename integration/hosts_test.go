package integration

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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
	}}
	t.Cleanup(func() { n.Destroy() })
	if err := n.Create(); err != nil {
		t.Fatal(err)
	}
	return n
}

// host is one test host: its namespace and address.
type host struct {
	devnet.Host
	netns string
	ip    string
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
	return host{Host: h, netns: h.NetNS, ip: h.IP.String()}
}

// startPodAgent runs an agent that runs pods, with its own containerd, in
// host h.
func startPodAgent(t testing.TB, name string, h host, dataDir string, extra ...string) *agent {
	t.Helper()
	args := append([]string{"--containerd", "supervise"}, extra...)
	a := newAgent(t, name, h.ip, dataDir, args...)
	a.netns, a.host = h.netns, h.Host
	t.Cleanup(a.stopPods)
	a.start()
	return a
}

// stopPods kills what an agent's pods left behind once the agent is gone:
// the containers' shims outlive the agent and containerd on purpose.
func (a *agent) stopPods() {
	out, _ := exec.Command("pgrep", "-f", "containerd-shim.*"+filepath.Join(a.dataDir, "containerd")).Output()
	for _, pid := range strings.Fields(string(out)) {
		exec.Command("kill", "-9", pid).Run()
	}
	// Pod network namespaces and tmpfs volumes are mounts under the data
	// dir or /var/run/netns; unmount what this agent made.
	mounts, _ := os.ReadFile("/proc/self/mounts")
	for _, line := range strings.Split(string(mounts), "\n") {
		f := strings.Fields(line)
		if len(f) > 1 && strings.HasPrefix(f[1], a.dataDir) {
			exec.Command("umount", "-l", f[1]).Run()
		}
	}
	recs, _ := filepath.Glob(filepath.Join(a.dataDir, "cni", "pods", "*.json"))
	for _, r := range recs {
		b, _ := os.ReadFile(r)
		if i := strings.Index(string(b), `"netnsPath":"`); i >= 0 {
			p := string(b[i+len(`"netnsPath":"`):])
			p = p[:strings.IndexByte(p, '"')]
			exec.Command("umount", "-l", p).Run()
			os.Remove(p)
		}
	}
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
