package runtime_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/shoal-dev/shoal/runtime"
	"github.com/shoal-dev/shoal/runtime/runtimetest"
)

// The tests below that need root run everything in throwaway network
// namespaces that stand in for the node: the CNI plugins are started from a
// thread inside one, so the bridge, the veths' host ends, portmap's and
// HostNetwork's iptables rules, IP forwarding and routes all live and die
// with it, and the machine's own network is never touched. Pods' namespaces
// are bind-mounted in a temporary directory.

var testSeq atomic.Int32

func needNetRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	if _, err := os.Stat("/usr/lib/cni/bridge"); err != nil {
		// Root, but without what CI installs: a failure, not a skip.
		t.Fatal("CNI plugins missing: apt-get install -y containernetworking-plugins")
	}
}

// inNS runs fn on a thread in ns. The thread is never unlocked, so it ends
// with the goroutine instead of going back to the scheduler in ns.
func inNS(ns netns.NsHandle, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		goruntime.LockOSThread()
		if err := netns.Set(ns); err != nil {
			errc <- fmt.Errorf("enter network namespace: %w", err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// newNodeNS makes a network namespace, with lo up, that lives until the
// test ends.
func newNodeNS(t *testing.T) netns.NsHandle {
	t.Helper()
	type res struct {
		h   netns.NsHandle
		err error
	}
	c := make(chan res, 1)
	go func() {
		goruntime.LockOSThread() // never unlocked: see inNS
		h, err := netns.New()
		if err == nil {
			var lo netlink.Link
			if lo, err = netlink.LinkByName("lo"); err == nil {
				err = netlink.LinkSetUp(lo)
			}
		}
		c <- res{h, err}
	}()
	r := <-c
	if r.err != nil {
		t.Fatalf("make a network namespace: %v", r.err)
	}
	t.Cleanup(func() { r.h.Close() })
	return r.h
}

// netnsDir returns a temporary directory for pods' namespaces, and unmounts
// whatever is left in it (and the directory's own bind mount) at the end.
func netnsDir(t *testing.T) string {
	dir := filepath.Join(t.TempDir(), "netns")
	t.Cleanup(func() {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			unix.Unmount(filepath.Join(dir, e.Name()), unix.MNT_DETACH)
		}
		for unix.Unmount(dir, unix.MNT_DETACH) == nil {
		}
	})
	return dir
}

// nodeNet runs every call of a CNI inside the node's namespace.
type nodeNet struct {
	c    *runtime.CNI
	node netns.NsHandle
}

func (n *nodeNet) Setup(ctx context.Context, pod runtime.PodNetSpec) (st runtime.PodNetStatus, err error) {
	err = inNS(n.node, func() error { st, err = n.c.Setup(ctx, pod); return err })
	return st, err
}

func (n *nodeNet) Teardown(ctx context.Context, uid string) error {
	return inNS(n.node, func() error { return n.c.Teardown(ctx, uid) })
}

func (n *nodeNet) List(ctx context.Context) (uids []string, err error) {
	err = inNS(n.node, func() error { uids, err = n.c.List(ctx); return err })
	return uids, err
}

type cniControls struct {
	cfg  runtime.CNIConfig
	node netns.NsHandle
	cidr netip.Prefix
}

func (c *cniControls) PodCIDR() netip.Prefix { return c.cidr }
func (c *cniControls) SetPodCIDR(n runtime.PodNetwork, cidr netip.Prefix) error {
	return n.(*nodeNet).c.SetPodCIDR(cidr)
}
func (c *cniControls) Reopen() (runtime.PodNetwork, error) {
	cn, err := runtime.NewCNI(c.cfg)
	if err != nil {
		return nil, err
	}
	return &nodeNet{cn, c.node}, nil
}

// newCNINet gives a CNI with its own node namespace, bridge, pod CIDR
// (10.250.N.0/24) and state.
func newCNINet(t *testing.T) (*nodeNet, *cniControls) {
	t.Helper()
	needNetRoot(t)
	n := testSeq.Add(1)
	ctl := &cniControls{
		cfg: runtime.CNIConfig{
			StateDir: t.TempDir(),
			Bridge:   fmt.Sprintf("shoalt%d", n),
			NetNSDir: netnsDir(t),
		},
		node: newNodeNS(t),
		cidr: netip.MustParsePrefix(fmt.Sprintf("10.250.%d.0/24", 100+n%100)),
	}
	c, err := runtime.NewCNI(ctl.cfg)
	if err != nil {
		t.Fatal(err)
	}
	nn := &nodeNet{c, ctl.node}
	t.Cleanup(func() {
		// Tear down what a failed test left, so its namespaces go too.
		uids, _ := nn.List(context.Background())
		for _, uid := range uids {
			if err := nn.Teardown(context.Background(), uid); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
		inNS(ctl.node, func() error {
			if l, err := netlink.LinkByName(ctl.cfg.Bridge); err == nil {
				return netlink.LinkDel(l)
			}
			return nil
		})
	})
	return nn, ctl
}

func TestCNIContract(t *testing.T) {
	runtimetest.NetworkContract(t, func(t *testing.T) (runtime.PodNetwork, runtimetest.NetControls) {
		n, ctl := newCNINet(t)
		return n, ctl
	})
}

// allocatedIPs lists the addresses host-local holds in stateDir.
func allocatedIPs(t *testing.T, stateDir string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(stateDir, "ipam", "shoal"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	var ips []string
	for _, e := range entries {
		if net.ParseIP(e.Name()) != nil {
			ips = append(ips, e.Name())
		}
	}
	return ips
}

// dialEventually connects to addr from inside ns (retrying while the pod's
// interface comes up) and returns the first line the peer sends.
func dialEventually(t *testing.T, ns netns.NsHandle, addr string) string {
	t.Helper()
	var line string
	deadline := time.Now().Add(15 * time.Second)
	err := inNS(ns, func() error {
		for {
			c, err := net.DialTimeout("tcp4", addr, 2*time.Second)
			if err == nil {
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				line, err = bufio.NewReader(c).ReadString('\n')
				return err
			}
			if time.Now().After(deadline) {
				return err
			}
			<-time.After(100 * time.Millisecond)
		}
	})
	if err != nil {
		t.Fatalf("connect to %s: %v", addr, err)
	}
	return strings.TrimSpace(line)
}

// TestCNIPodIsReachable checks that a pod answers on its IP, on lo, and on
// its hostPort. The hostPort is reached at the bridge's address, which is
// one of the node's own: portmap DNATs traffic to any local address except
// 127.0.0.1, which would need route_localnet.
func TestCNIPodIsReachable(t *testing.T) {
	n, ctl := newCNINet(t)
	ctx := context.Background()
	if err := n.c.SetPodCIDR(ctl.cidr); err != nil {
		t.Fatal(err)
	}
	pod := runtime.PodNetSpec{UID: "reach-1", Namespace: "default", Name: "web",
		Ports: []runtime.PortMapping{{HostPort: 30080, ContainerPort: 8080, Protocol: "tcp"}}}
	st, err := n.Setup(ctx, pod)
	if err != nil {
		t.Fatal(err)
	}
	podNS, err := netns.GetFromPath(st.NetNSPath)
	if err != nil {
		t.Fatal(err)
	}
	defer podNS.Close()

	var ln net.Listener
	if err := inNS(podNS, func() (err error) { ln, err = net.Listen("tcp4", ":8080"); return err }); err != nil {
		t.Fatalf("listen in the pod: %v", err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			fmt.Fprintf(c, "hello from %s\n", c.RemoteAddr())
			c.Close()
		}
	}()

	gw := runtime.GatewayAddr(ctl.cidr)
	if got := dialEventually(t, ctl.node, net.JoinHostPort(st.IP.String(), "8080")); !strings.HasPrefix(got, "hello from "+gw.String()+":") {
		t.Errorf("pod IP from the node: got %q, want a greeting to the bridge's address %s", got, gw)
	}
	if got := dialEventually(t, podNS, "127.0.0.1:8080"); !strings.HasPrefix(got, "hello from 127.0.0.1:") {
		t.Errorf("lo in the pod: got %q", got)
	}
	if got := dialEventually(t, ctl.node, net.JoinHostPort(gw.String(), "30080")); !strings.HasPrefix(got, "hello from ") {
		t.Errorf("hostPort from the node: got %q", got)
	}
	if _, err := exec.LookPath("busybox"); err == nil {
		err := inNS(ctl.node, func() error {
			out, err := exec.Command("busybox", "ping", "-c", "1", "-W", "5", st.IP.String()).CombinedOutput()
			if err != nil {
				return fmt.Errorf("%v: %s", err, out)
			}
			return nil
		})
		if err != nil {
			t.Errorf("ping the pod from the node: %v", err)
		}
	}
	if got := allocatedIPs(t, ctl.cfg.StateDir); !slices.Equal(got, []string{st.IP.String()}) {
		t.Errorf("host-local holds %v, want just %s", got, st.IP)
	}

	if err := n.Teardown(ctx, pod.UID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(st.NetNSPath); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the pod's namespace is still at %s (%v)", st.NetNSPath, err)
	}
	if got := allocatedIPs(t, ctl.cfg.StateDir); len(got) != 0 {
		t.Errorf("host-local still holds %v after Teardown", got)
	}
	err = inNS(ctl.node, func() error {
		c, err := net.DialTimeout("tcp4", net.JoinHostPort(gw.String(), "30080"), 2*time.Second)
		if err == nil {
			c.Close()
			return errors.New("connected")
		}
		return nil
	})
	if err != nil {
		t.Errorf("the hostPort still answers after Teardown: %v", err)
	}
}

// TestCNIRecoversLostNamespace: after a reboot /run is empty but the state
// directory is not; Setup must release the old address and start again.
func TestCNIRecoversLostNamespace(t *testing.T) {
	n, ctl := newCNINet(t)
	ctx := context.Background()
	if err := n.c.SetPodCIDR(ctl.cidr); err != nil {
		t.Fatal(err)
	}
	pod := runtime.PodNetSpec{UID: "lost-1", Namespace: "default", Name: "web"}
	st, err := n.Setup(ctx, pod)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Unmount(st.NetNSPath, unix.MNT_DETACH); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(st.NetNSPath); err != nil {
		t.Fatal(err)
	}
	r, err := ctl.Reopen()
	if err != nil {
		t.Fatal(err)
	}
	if uids, err := r.List(ctx); err != nil || !slices.Equal(uids, []string{"lost-1"}) {
		t.Fatalf("List = %v, %v", uids, err)
	}
	if err := ctl.SetPodCIDR(r, ctl.cidr); err != nil {
		t.Fatal(err)
	}
	st2, err := r.Setup(ctx, pod)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(st2.NetNSPath); err != nil {
		t.Fatalf("no namespace after Setup: %v", err)
	}
	if got := allocatedIPs(t, ctl.cfg.StateDir); !slices.Equal(got, []string{st2.IP.String()}) {
		t.Errorf("host-local holds %v, want just %s", got, st2.IP)
	}
	if err := r.Teardown(ctx, pod.UID); err != nil {
		t.Fatal(err)
	}
	if got := allocatedIPs(t, ctl.cfg.StateDir); len(got) != 0 {
		t.Errorf("host-local still holds %v", got)
	}
}

// TestCNIFailedSetupLeavesNothing: a link that is not a bridge (a veth) but
// has the bridge's name makes the bridge plugin fail.
func TestCNIFailedSetupLeavesNothing(t *testing.T) {
	n, ctl := newCNINet(t)
	ctx := context.Background()
	err := inNS(ctl.node, func() error {
		return netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: ctl.cfg.Bridge}, PeerName: "peer0"})
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.c.SetPodCIDR(ctl.cidr); err != nil {
		t.Fatal(err)
	}
	_, err = n.Setup(ctx, runtime.PodNetSpec{UID: "fail-1", Namespace: "default", Name: "web"})
	if err == nil || !strings.Contains(err.Error(), "pod default/web") {
		t.Fatalf("Setup = %v, want an error naming the pod", err)
	}
	if uids, err := n.List(ctx); err != nil || len(uids) != 0 {
		t.Errorf("List = %v, %v; want nothing", uids, err)
	}
	if entries, _ := os.ReadDir(ctl.cfg.NetNSDir); len(entries) != 0 {
		t.Errorf("namespaces left behind: %v", entries)
	}
	if got := allocatedIPs(t, ctl.cfg.StateDir); len(got) != 0 {
		t.Errorf("host-local still holds %v", got)
	}
}

func TestCNIMissingPlugins(t *testing.T) {
	c, err := runtime.NewCNI(runtime.CNIConfig{StateDir: t.TempDir(), PluginDirs: []string{t.TempDir()}, NetNSDir: filepath.Join(t.TempDir(), "netns")})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SetPodCIDR(netip.MustParsePrefix("10.250.1.0/24")); err != nil {
		t.Fatal(err)
	}
	_, err = c.Setup(context.Background(), runtime.PodNetSpec{UID: "u1", Namespace: "default", Name: "web"})
	if err == nil || !strings.Contains(err.Error(), "pod default/web") || !strings.Contains(err.Error(), "containernetworking-plugins") {
		t.Fatalf("Setup = %v, want an error naming the pod and the package to install", err)
	}
	if uids, err := c.List(context.Background()); err != nil || len(uids) != 0 {
		t.Errorf("List = %v, %v", uids, err)
	}
}

func TestNewCNIChecksConfig(t *testing.T) {
	for _, cfg := range []runtime.CNIConfig{
		{},
		{StateDir: "relative/dir"},
		{StateDir: t.TempDir(), Bridge: "a-bridge-name-far-too-long"},
		{StateDir: t.TempDir(), MTU: 100},
	} {
		if _, err := runtime.NewCNI(cfg); err == nil {
			t.Errorf("NewCNI(%+v) succeeded", cfg)
		}
	}
}

// iptablesS is `iptables -S` of the filter and nat tables.
func iptablesS() (string, error) {
	var all strings.Builder
	for _, table := range []string{"filter", "nat"} {
		out, err := exec.Command("iptables", "-w", "-t", table, "-S").CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("iptables -t %s -S: %v: %s", table, err, out)
		}
		all.Write(out)
	}
	return all.String(), nil
}

func TestHostNetworkEnsure(t *testing.T) {
	needNetRoot(t)
	ns := newNodeNS(t)
	n := testSeq.Add(1)
	h := &runtime.HostNetwork{
		ClusterCIDR:  netip.MustParsePrefix("10.250.0.0/16"),
		PodCIDR:      netip.MustParsePrefix("10.250.7.0/24"),
		NATChain:     fmt.Sprintf("SHOALT-POST-%d", n),
		ForwardChain: fmt.Sprintf("SHOALT-FWD-%d", n),
	}
	nat := "-A " + h.NATChain + " -s %s ! -d 10.250.0.0/16 -j MASQUERADE"
	want := []string{
		"-N " + h.ForwardChain,
		"-A FORWARD -j " + h.ForwardChain,
		"-A " + h.ForwardChain + " -s 10.250.0.0/16 -j ACCEPT",
		"-A " + h.ForwardChain + " -d 10.250.0.0/16 -j ACCEPT",
		"-N " + h.NATChain,
		"-A POSTROUTING -j " + h.NATChain,
	}
	has := func(rules, line string) bool { return slices.Contains(strings.Split(rules, "\n"), line) }
	err := inNS(ns, func() error {
		if err := h.Ensure(); err != nil {
			return err
		}
		first, err := iptablesS()
		if err != nil {
			return err
		}
		for _, w := range append(want, fmt.Sprintf(nat, "10.250.7.0/24")) {
			if !has(first, w) {
				return fmt.Errorf("after Ensure, iptables lacks %q:\n%s", w, first)
			}
		}
		if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward"); err != nil || strings.TrimSpace(string(b)) != "1" {
			return fmt.Errorf("ip_forward = %q, %v; want 1", b, err)
		}

		if err := h.Ensure(); err != nil {
			return err
		}
		if again, err := iptablesS(); err != nil || again != first {
			return fmt.Errorf("a second Ensure changed iptables (%v):\n%s\nwas:\n%s", err, again, first)
		}

		// A new pod CIDR replaces the rule; a stray rule in shoal's chain goes.
		if out, err := exec.Command("iptables", "-w", "-t", "nat", "-A", h.NATChain, "-s", "192.0.2.1", "-j", "RETURN").CombinedOutput(); err != nil {
			return fmt.Errorf("add a stray rule: %v: %s", err, out)
		}
		h.PodCIDR = netip.MustParsePrefix("10.250.8.0/24")
		if err := h.Ensure(); err != nil {
			return err
		}
		changed, err := iptablesS()
		if err != nil {
			return err
		}
		for _, w := range append(want, fmt.Sprintf(nat, "10.250.8.0/24")) {
			if !has(changed, w) {
				return fmt.Errorf("after a new PodCIDR, iptables lacks %q:\n%s", w, changed)
			}
		}
		if has(changed, fmt.Sprintf(nat, "10.250.7.0/24")) || strings.Contains(changed, "192.0.2.1") {
			return fmt.Errorf("after a new PodCIDR, old rules remain:\n%s", changed)
		}
		if strings.Count(changed, "-A "+h.NATChain+" ") != 1 || strings.Count(changed, "-j "+h.NATChain) != 1 {
			return fmt.Errorf("after a new PodCIDR, want one rule in and one jump to %s:\n%s", h.NATChain, changed)
		}

		if err := h.Cleanup(); err != nil {
			return err
		}
		if err := h.Cleanup(); err != nil {
			return fmt.Errorf("second Cleanup: %w", err)
		}
		gone, err := iptablesS()
		if err != nil {
			return err
		}
		if strings.Contains(gone, "SHOALT-") {
			return fmt.Errorf("after Cleanup, shoal's chains remain:\n%s", gone)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestHostNetworkRefusesBadCIDRs(t *testing.T) {
	for _, h := range []*runtime.HostNetwork{
		{},
		{ClusterCIDR: netip.MustParsePrefix("fd00:10::/48")},
		{ClusterCIDR: netip.MustParsePrefix("10.250.0.0/16"), PodCIDR: netip.MustParsePrefix("fd00:10::/64")},
		{ClusterCIDR: netip.MustParsePrefix("10.250.0.0/16"), PodCIDR: netip.MustParsePrefix("10.251.1.0/24")},
	} {
		if err := h.Ensure(); err == nil {
			t.Errorf("Ensure with ClusterCIDR %s, PodCIDR %s succeeded", h.ClusterCIDR, h.PodCIDR)
		}
	}
}

func TestHostNetworkSyncRoutes(t *testing.T) {
	needNetRoot(t)
	ns := newNodeNS(t)
	p := netip.MustParsePrefix
	a := netip.MustParseAddr
	routes := func() (map[string]string, error) {
		rs, err := netlink.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Protocol: runtime.DefaultRouteProtocol}, netlink.RT_FILTER_PROTOCOL)
		m := map[string]string{}
		for _, r := range rs {
			m[r.Dst.String()] = r.Gw.String()
		}
		return m, err
	}
	check := func(step string, want map[string]string) error {
		got, err := routes()
		if err != nil {
			return err
		}
		if len(got) != len(want) {
			return fmt.Errorf("%s: shoal's routes = %v, want %v", step, got, want)
		}
		for k, v := range want {
			if got[k] != v {
				return fmt.Errorf("%s: shoal's routes = %v, want %v", step, got, want)
			}
		}
		return nil
	}
	foreign := func() error {
		rs, err := netlink.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Protocol: unix.RTPROT_STATIC}, netlink.RT_FILTER_PROTOCOL)
		if err != nil || len(rs) != 1 || rs[0].Dst.String() != "10.250.9.0/24" || rs[0].Gw.String() != "192.168.77.9" {
			return fmt.Errorf("the static route changed: %v, %v", rs, err)
		}
		return nil
	}
	err := inNS(ns, func() error {
		// The node's link to the others: a veth whose peer stays here too.
		link := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "node0"}, PeerName: "lan0"}
		if err := netlink.LinkAdd(link); err != nil {
			return err
		}
		addr, _ := netlink.ParseAddr("192.168.77.1/24")
		if err := netlink.AddrAdd(link, addr); err != nil {
			return err
		}
		for _, name := range []string{"node0", "lan0"} {
			l, err := netlink.LinkByName(name)
			if err == nil {
				err = netlink.LinkSetUp(l)
			}
			if err != nil {
				return err
			}
		}
		_, dst, _ := net.ParseCIDR("10.250.9.0/24")
		if err := netlink.RouteAdd(&netlink.Route{Dst: dst, Gw: net.ParseIP("192.168.77.9"), Protocol: unix.RTPROT_STATIC}); err != nil {
			return err
		}

		h := &runtime.HostNetwork{ClusterCIDR: p("10.250.0.0/16"), PodCIDR: p("10.250.1.0/24")}
		err := h.SyncRoutes([]runtime.Route{
			{CIDR: p("10.250.2.0/24"), Via: a("192.168.77.2")},
			{CIDR: p("10.250.3.0/24"), Via: a("192.168.77.3")},
			{CIDR: p("10.250.1.0/24"), Via: a("192.168.77.4")}, // this node's own
			{CIDR: p("10.250.9.0/24"), Via: a("192.168.77.5")}, // has a static route
			{CIDR: p("fd00:10:2::/64"), Via: a("fd00::2")},
		})
		if err == nil {
			return errors.New("SyncRoutes took its own pod CIDR, a taken CIDR and IPv6 without error")
		}
		for _, w := range []string{"10.250.1.0/24", "10.250.9.0/24", "fd00:10:2::/64"} {
			if !strings.Contains(err.Error(), w) {
				return fmt.Errorf("SyncRoutes error does not name %s: %v", w, err)
			}
		}
		if err := check("first sync", map[string]string{"10.250.2.0/24": "192.168.77.2", "10.250.3.0/24": "192.168.77.3"}); err != nil {
			return err
		}

		next := []runtime.Route{
			{CIDR: p("10.250.3.0/24"), Via: a("192.168.77.33")},
			{CIDR: p("10.250.4.0/24"), Via: a("192.168.77.4")},
		}
		if err := h.SyncRoutes(next); err != nil {
			return err
		}
		if err := h.SyncRoutes(next); err != nil {
			return err
		}
		if err := check("second sync", map[string]string{"10.250.3.0/24": "192.168.77.33", "10.250.4.0/24": "192.168.77.4"}); err != nil {
			return err
		}

		// A restarted agent knows nothing of the routes, but finds them.
		restarted := &runtime.HostNetwork{ClusterCIDR: p("10.250.0.0/16"), PodCIDR: p("10.250.1.0/24")}
		if err := restarted.SyncRoutes(nil); err != nil {
			return err
		}
		if err := check("empty sync", map[string]string{}); err != nil {
			return err
		}
		return foreign()
	})
	if err != nil {
		t.Fatal(err)
	}
}
