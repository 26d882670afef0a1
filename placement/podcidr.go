package placement

import (
	"fmt"
	"net/netip"

	"github.com/shoal-dev/shoal/api"
)

// PodCIDRBits is the size of the pod CIDR each node gets: a /24, room for
// 253 pods besides the bridge's gateway.
const PodCIDRBits = 24

// DefaultClusterCIDR is where pod CIDRs come from unless --cluster-cidr says
// otherwise.
var DefaultClusterCIDR = netip.MustParsePrefix("10.244.0.0/16")

// CheckClusterCIDR says whether cidr can hold pod CIDRs.
func CheckClusterCIDR(cidr netip.Prefix) error {
	if !cidr.IsValid() || !cidr.Addr().Is4() {
		return fmt.Errorf("--cluster-cidr %s: must be an IPv4 prefix such as 10.244.0.0/16", cidr)
	}
	if cidr.Bits() > PodCIDRBits {
		return fmt.Errorf("--cluster-cidr %s: must be at least a /%d, since every node gets a /%d of it", cidr, PodCIDRBits, PodCIDRBits)
	}
	return nil
}

// podCIDRAllocator hands out the free /24s of a cluster CIDR, lowest first.
// It is pure: what is taken comes from the Node objects.
type podCIDRAllocator struct {
	cluster netip.Prefix
	used    map[netip.Prefix]bool
	next    netip.Addr
}

func newPodCIDRAllocator(cluster netip.Prefix, state Reader) *podCIDRAllocator {
	a := &podCIDRAllocator{cluster: cluster.Masked(), used: map[netip.Prefix]bool{}}
	a.next = a.cluster.Addr()
	nodes, _ := state.List("Node", "")
	for _, o := range nodes {
		if p, err := netip.ParsePrefix(o.(*api.Node).Spec.PodCIDR); err == nil {
			a.used[p.Masked()] = true
		}
	}
	return a
}

// take returns the lowest free pod CIDR, or false when all are taken.
func (a *podCIDRAllocator) take() (netip.Prefix, bool) {
	for a.cluster.Contains(a.next) {
		p := netip.PrefixFrom(a.next, PodCIDRBits)
		a.next = nextPrefixAddr(p)
		if !a.used[p] {
			a.used[p] = true
			return p, true
		}
	}
	return netip.Prefix{}, false
}

// nextPrefixAddr is the first address after p.
func nextPrefixAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v += 1 << (32 - p.Bits())
	if v == 0 { // wrapped past 255.255.255.255
		return netip.Addr{}
	}
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}
