package placement_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/placement"
)

func TestPodCIDRsAreHandedOutOncePerNode(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cluster := netip.MustParsePrefix("10.9.0.0/22") // room for four nodes
	st := fakeState{}
	var members []placement.Member
	for _, n := range []string{"c", "a", "b"} {
		members = append(members, placement.Member{Name: n, ID: "id-" + n, Address: "10.0.0.1", Alive: true})
	}
	st.apply(placement.PlanNodes(now, members, st, cluster, 0))
	cidr := func(name string) string { return st[api.Key{Kind: "Node", Name: name}].(*api.Node).Spec.PodCIDR }
	if cidr("a") != "10.9.0.0/24" || cidr("b") != "10.9.1.0/24" || cidr("c") != "10.9.2.0/24" {
		t.Fatalf("pod CIDRs a=%s b=%s c=%s, want the lowest free /24s in name order", cidr("a"), cidr("b"), cidr("c"))
	}
	// A later pass, or a member going down, never moves a pod CIDR.
	members[0].Alive = false // c
	st.apply(placement.PlanNodes(now.Add(time.Minute), members, st, cluster, 0))
	if cidr("c") != "10.9.2.0/24" {
		t.Fatalf("c's pod CIDR moved to %s", cidr("c"))
	}
	// b leaves: its /24 goes to the next node; once every /24 is taken a new
	// node gets none rather than a duplicate.
	members[2].Left = true // b
	st.apply(placement.PlanNodes(now.Add(2*time.Minute), members, st, cluster, 0))
	members = append(members,
		placement.Member{Name: "d", ID: "id-d", Alive: true},
		placement.Member{Name: "e", ID: "id-e", Alive: true},
		placement.Member{Name: "f", ID: "id-f", Alive: true})
	st.apply(placement.PlanNodes(now.Add(3*time.Minute), members, st, cluster, 0))
	if cidr("d") != "10.9.1.0/24" || cidr("e") != "10.9.3.0/24" || cidr("f") != "" {
		t.Fatalf("after b left: d=%s e=%s f=%q", cidr("d"), cidr("e"), cidr("f"))
	}
}

func TestCheckClusterCIDR(t *testing.T) {
	for in, ok := range map[string]bool{"10.244.0.0/16": true, "10.0.0.0/24": true, "10.0.0.0/25": false, "fd00::/64": false} {
		if err := placement.CheckClusterCIDR(netip.MustParsePrefix(in)); (err == nil) != ok {
			t.Errorf("CheckClusterCIDR(%s) = %v", in, err)
		}
	}
}
