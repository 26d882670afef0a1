package runtime_test

import (
	"context"
	"net/netip"
	"testing"

	"github.com/shoal-dev/shoal/runtime"
	"github.com/shoal-dev/shoal/runtime/runtimetest"
)

type fakeNetControls struct{ f *runtime.FakeNetwork }

func (c fakeNetControls) PodCIDR() netip.Prefix { return netip.MustParsePrefix("10.250.0.0/24") }
func (c fakeNetControls) SetPodCIDR(n runtime.PodNetwork, cidr netip.Prefix) error {
	return n.(*runtime.FakeNetwork).SetPodCIDR(cidr)
}
func (c fakeNetControls) Reopen() (runtime.PodNetwork, error) { return c.f.Reopen(), nil }

func TestFakeNetworkContract(t *testing.T) {
	runtimetest.NetworkContract(t, func(t *testing.T) (runtime.PodNetwork, runtimetest.NetControls) {
		f := runtime.NewFakeNetwork()
		return f, fakeNetControls{f}
	})
}

func TestFakeNetworkFillsAndReusesCIDR(t *testing.T) {
	ctx := context.Background()
	f := runtime.NewFakeNetwork()
	if err := f.SetPodCIDR(netip.MustParsePrefix("10.250.0.8/29")); err != nil {
		t.Fatal(err)
	}
	var got []netip.Addr
	for _, uid := range []string{"a", "b", "c", "d", "e"} {
		st, err := f.Setup(ctx, runtime.PodNetSpec{UID: uid})
		if err != nil {
			t.Fatalf("Setup(%s): %v", uid, err)
		}
		got = append(got, st.IP)
	}
	want := []string{"10.250.0.10", "10.250.0.11", "10.250.0.12", "10.250.0.13", "10.250.0.14"}
	for i, w := range want {
		if got[i].String() != w {
			t.Fatalf("addresses = %v, want %v", got, want)
		}
	}
	if _, err := f.Setup(ctx, runtime.PodNetSpec{UID: "f"}); err == nil {
		t.Fatal("Setup in a full pod CIDR succeeded")
	}
	if err := f.Teardown(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	st, err := f.Setup(ctx, runtime.PodNetSpec{UID: "f", Ports: []runtime.PortMapping{{HostPort: 8080, ContainerPort: 80, Protocol: "tcp"}}})
	if err != nil || st.IP.String() != "10.250.0.11" {
		t.Fatalf("Setup after a Teardown = %+v, %v; want b's old address", st, err)
	}
	if spec, ok := f.Spec("f"); !ok || len(spec.Ports) != 1 || spec.Ports[0].HostPort != 8080 {
		t.Errorf("Spec(f) = %+v, %v", spec, ok)
	}
}

func TestGatewayAddr(t *testing.T) {
	for in, want := range map[string]string{
		"10.250.3.0/24":  "10.250.3.1",
		"10.250.3.77/24": "10.250.3.1",
		"10.250.0.8/29":  "10.250.0.9",
	} {
		if got := runtime.GatewayAddr(netip.MustParsePrefix(in)); got.String() != want {
			t.Errorf("GatewayAddr(%s) = %s, want %s", in, got, want)
		}
	}
	if got := runtime.GatewayAddr(netip.Prefix{}); got.IsValid() {
		t.Errorf("GatewayAddr of no prefix = %s", got)
	}
}
