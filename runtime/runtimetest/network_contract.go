package runtimetest

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"

	"github.com/shoal-dev/shoal/runtime"
)

// NetControls lets the network contract do what the PodNetwork interface
// cannot: give a network its pod CIDR, and restart the agent.
type NetControls interface {
	// PodCIDR is a prefix, /24 to /28, that the suite may hand out; the
	// suite uses it or its first /29.
	PodCIDR() netip.Prefix
	// SetPodCIDR gives net (the network under test, or one that Reopen
	// returned) the node's pod CIDR.
	SetPodCIDR(net runtime.PodNetwork, cidr netip.Prefix) error
	// Reopen returns a new PodNetwork over the same node state and with no
	// pod CIDR, as a restarted agent would get.
	Reopen() (runtime.PodNetwork, error)
}

// NetworkContract runs the suite that every runtime.PodNetwork passes.
// newNet is called once per subtest and must give a network with no pods
// and no pod CIDR; it registers its own cleanup.
func NetworkContract(t *testing.T, newNet func(t *testing.T) (runtime.PodNetwork, NetControls)) {
	ctx := context.Background()
	spec := func(uid string) runtime.PodNetSpec {
		return runtime.PodNetSpec{UID: uid, Namespace: "default", Name: "web-" + uid}
	}
	setCIDR := func(t *testing.T, n runtime.PodNetwork, ctl NetControls, cidr netip.Prefix) {
		t.Helper()
		if err := ctl.SetPodCIDR(n, cidr); err != nil {
			t.Fatalf("SetPodCIDR(%s): %v", cidr, err)
		}
	}
	setup := func(t *testing.T, n runtime.PodNetwork, cidr netip.Prefix, uid string) runtime.PodNetStatus {
		t.Helper()
		st, err := n.Setup(ctx, spec(uid))
		if err != nil {
			t.Fatalf("Setup(%s): %v", uid, err)
		}
		if err := checkStatus(st, cidr); err != nil {
			t.Fatalf("Setup(%s): %v", uid, err)
		}
		return st
	}
	list := func(t *testing.T, n runtime.PodNetwork, want ...string) {
		t.Helper()
		got, err := n.List(ctx)
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		if want == nil {
			want = []string{}
		}
		if got == nil {
			got = []string{}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("List = %q, want %q", got, want)
		}
	}
	teardown := func(t *testing.T, n runtime.PodNetwork, uid string) {
		t.Helper()
		if err := n.Teardown(ctx, uid); err != nil {
			t.Fatalf("Teardown(%s): %v", uid, err)
		}
	}

	t.Run("NoPodCIDR", func(t *testing.T) {
		n, ctl := newNet(t)
		if _, err := n.Setup(ctx, spec("pod-a")); !errors.Is(err, runtime.ErrNoPodCIDR) {
			t.Fatalf("Setup without a pod CIDR = %v, want ErrNoPodCIDR", err)
		}
		if err := ctl.SetPodCIDR(n, netip.MustParsePrefix("fd00:10::/64")); err == nil {
			t.Error("SetPodCIDR accepted an IPv6 prefix")
		}
		if _, err := n.Setup(ctx, spec("pod-a")); !errors.Is(err, runtime.ErrNoPodCIDR) {
			t.Fatalf("Setup after a refused pod CIDR = %v, want ErrNoPodCIDR", err)
		}
		list(t, n)
	})

	t.Run("SetupIsIdempotent", func(t *testing.T) {
		n, ctl := newNet(t)
		cidr := ctl.PodCIDR()
		setCIDR(t, n, ctl, cidr)
		st := setup(t, n, cidr, "pod-a")
		again := spec("pod-a")
		again.Ports = []runtime.PortMapping{{HostPort: 18080, ContainerPort: 80, Protocol: "tcp"}}
		st2, err := n.Setup(ctx, again)
		if err != nil || st2 != st {
			t.Fatalf("second Setup = %+v, %v; want %+v", st2, err, st)
		}
		list(t, n, "pod-a")
		if _, err := n.Setup(ctx, runtime.PodNetSpec{Namespace: "default", Name: "no-uid"}); err == nil {
			t.Error("Setup of a pod without UID succeeded")
		}
	})

	t.Run("PodsGetDifferentIPs", func(t *testing.T) {
		n, ctl := newNet(t)
		cidr := ctl.PodCIDR()
		setCIDR(t, n, ctl, cidr)
		a := setup(t, n, cidr, "pod-a")
		b := setup(t, n, cidr, "pod-b")
		if a.IP == b.IP || a.NetNSPath == b.NetNSPath {
			t.Fatalf("two pods share an IP or a namespace: %+v, %+v", a, b)
		}
	})

	t.Run("ConcurrentSetupMakesOne", func(t *testing.T) {
		n, ctl := newNet(t)
		cidr := ctl.PodCIDR()
		setCIDR(t, n, ctl, cidr)
		const workers = 6
		var wg sync.WaitGroup
		sts := make([]runtime.PodNetStatus, workers)
		errs := make([]error, workers)
		for i := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sts[i], errs[i] = n.Setup(ctx, spec("pod-a"))
			}()
		}
		wg.Wait()
		for i := range workers {
			if errs[i] != nil || sts[i] != sts[0] {
				t.Fatalf("Setup %d = %+v, %v; Setup 0 = %+v", i, sts[i], errs[i], sts[0])
			}
		}
		if err := checkStatus(sts[0], cidr); err != nil {
			t.Fatal(err)
		}
		list(t, n, "pod-a")
	})

	t.Run("ListAndTeardown", func(t *testing.T) {
		n, ctl := newNet(t)
		cidr := ctl.PodCIDR()
		setCIDR(t, n, ctl, cidr)
		list(t, n)
		for _, uid := range []string{"pod-c", "pod-a", "pod-b"} {
			setup(t, n, cidr, uid)
		}
		list(t, n, "pod-a", "pod-b", "pod-c")
		teardown(t, n, "pod-b")
		list(t, n, "pod-a", "pod-c")
		teardown(t, n, "pod-b")
		teardown(t, n, "never-set-up")
		list(t, n, "pod-a", "pod-c")
		teardown(t, n, "pod-a")
		teardown(t, n, "pod-c")
		list(t, n)
	})

	t.Run("ReopenedNetworkKeepsPods", func(t *testing.T) {
		n, ctl := newNet(t)
		cidr := ctl.PodCIDR()
		setCIDR(t, n, ctl, cidr)
		a := setup(t, n, cidr, "pod-a")
		b := setup(t, n, cidr, "pod-b")

		r, err := ctl.Reopen()
		if err != nil {
			t.Fatalf("Reopen: %v", err)
		}
		list(t, r, "pod-a", "pod-b")
		// Pods set up before the restart need no pod CIDR to be found,
		// nor to be torn down.
		if got, err := r.Setup(ctx, spec("pod-a")); err != nil || got != a {
			t.Fatalf("Setup after Reopen = %+v, %v; want %+v", got, err, a)
		}
		teardown(t, r, "pod-a")
		list(t, r, "pod-b")
		if _, err := r.Setup(ctx, spec("pod-c")); !errors.Is(err, runtime.ErrNoPodCIDR) {
			t.Fatalf("Setup of a new pod after Reopen, before SetPodCIDR = %v, want ErrNoPodCIDR", err)
		}
		setCIDR(t, r, ctl, cidr)
		c := setup(t, r, cidr, "pod-c")
		if c.IP == b.IP {
			t.Fatalf("pod-c got pod-b's IP %s", c.IP)
		}
		list(t, r, "pod-b", "pod-c")
		teardown(t, r, "pod-b")
		teardown(t, r, "pod-c")
		list(t, r)
	})

	t.Run("TeardownReleasesIPs", func(t *testing.T) {
		n, ctl := newNet(t)
		small := netip.PrefixFrom(ctl.PodCIDR().Masked().Addr(), 29) // 5 pod addresses
		setCIDR(t, n, ctl, small)
		seen := map[netip.Addr]bool{}
		prev := ""
		for i := range 12 {
			uid := fmt.Sprintf("pod-%02d", i)
			st := setup(t, n, small, uid)
			seen[st.IP] = true
			if prev != "" {
				teardown(t, n, prev)
			}
			prev = uid
		}
		teardown(t, n, prev)
		list(t, n)
		if len(seen) < 2 {
			t.Errorf("12 pods in turn used only %d address(es): %v", len(seen), seen)
		}
	})
}

// checkStatus says what is wrong with a pod's network status in cidr.
func checkStatus(st runtime.PodNetStatus, cidr netip.Prefix) error {
	switch {
	case st.NetNSPath == "":
		return fmt.Errorf("status %+v has no NetNSPath", st)
	case !cidr.Contains(st.IP):
		return fmt.Errorf("IP %s is not in pod CIDR %s", st.IP, cidr)
	case st.IP == cidr.Masked().Addr() || st.IP == runtime.GatewayAddr(cidr) || st.IP == broadcast(cidr):
		return fmt.Errorf("IP %s is the network, gateway or broadcast address of %s", st.IP, cidr)
	}
	return nil
}

// broadcast is the last address of an IPv4 prefix.
func broadcast(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	for i := range a {
		if hostBits := 32 - p.Bits() - 8*(3-i); hostBits > 0 {
			a[i] |= byte(1<<min(hostBits, 8) - 1)
		}
	}
	return netip.AddrFrom4(a)
}
