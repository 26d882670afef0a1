package runtime

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"sort"
	"sync"
)

// FakeNetwork is an in-memory PodNetwork for unit tests. It hands out
// addresses from its pod CIDR as host-local does (the gateway, the network
// and broadcast addresses never; otherwise the next free address after the
// last one handed out, wrapping around), and makes no namespaces: NetNSPath
// is the path CNI would use, under DefaultNetNSDir, but nothing is there.
//
// The pods live in a store that Reopen shares with a new FakeNetwork, which
// is how a test simulates an agent restart; the pod CIDR, like CNI's, does
// not survive it. A FakeNetwork is safe for concurrent use.
type FakeNetwork struct {
	s *fakeNetStore

	mu   sync.Mutex
	cidr netip.Prefix
}

type fakeNetStore struct {
	mu   sync.Mutex
	pods map[string]fakeNetPod
	last netip.Addr // the address handed out last
}

type fakeNetPod struct {
	spec   PodNetSpec
	status PodNetStatus
}

var _ PodNetwork = (*FakeNetwork)(nil)

// NewFakeNetwork returns a FakeNetwork with no pods and no pod CIDR.
func NewFakeNetwork() *FakeNetwork {
	return &FakeNetwork{s: &fakeNetStore{pods: map[string]fakeNetPod{}}}
}

// Reopen returns a new FakeNetwork over the same pods, with no pod CIDR, as
// a restarted agent would see the node.
func (f *FakeNetwork) Reopen() *FakeNetwork { return &FakeNetwork{s: f.s} }

// SetPodCIDR sets the pod CIDR that Setup hands addresses out of, with
// CNI.SetPodCIDR's rules.
func (f *FakeNetwork) SetPodCIDR(cidr netip.Prefix) error {
	if err := checkPodCIDR(cidr); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cidr = cidr.Masked()
	return nil
}

// Spec returns what pod uid was set up with, so a test can check the port
// mappings the reconciler asked for.
func (f *FakeNetwork) Spec(uid string) (PodNetSpec, bool) {
	f.s.mu.Lock()
	defer f.s.mu.Unlock()
	p, ok := f.s.pods[uid]
	p.spec.Ports = slices.Clone(p.spec.Ports)
	return p.spec, ok
}

// Setup implements PodNetwork.
func (f *FakeNetwork) Setup(ctx context.Context, pod PodNetSpec) (PodNetStatus, error) {
	if err := ctx.Err(); err != nil {
		return PodNetStatus{}, err
	}
	if !podUIDPattern.MatchString(pod.UID) {
		return PodNetStatus{}, fmt.Errorf("%s: UID %q is not usable (want letters, digits, '-', '_' or '.', at most 128)", podRef(pod), pod.UID)
	}
	f.mu.Lock()
	cidr := f.cidr
	f.mu.Unlock()

	f.s.mu.Lock()
	defer f.s.mu.Unlock()
	if p, ok := f.s.pods[pod.UID]; ok {
		return p.status, nil
	}
	if !cidr.IsValid() {
		return PodNetStatus{}, fmt.Errorf("%s: %w (wait for the leader to assign one)", podRef(pod), ErrNoPodCIDR)
	}
	ip, ok := f.s.allocate(cidr)
	if !ok {
		return PodNetStatus{}, fmt.Errorf("%s: set up network: no free address in pod CIDR %s (fake)", podRef(pod), cidr)
	}
	pod.Ports = slices.Clone(pod.Ports)
	st := PodNetStatus{NetNSPath: filepath.Join(DefaultNetNSDir, netnsName(pod.UID)), IP: ip, Gateway: GatewayAddr(cidr)}
	f.s.pods[pod.UID] = fakeNetPod{spec: pod, status: st}
	return st, nil
}

// allocate returns the next free host address of cidr after the last one
// handed out. The caller holds s.mu.
func (s *fakeNetStore) allocate(cidr netip.Prefix) (netip.Addr, bool) {
	used := map[netip.Addr]bool{}
	for _, p := range s.pods {
		used[p.status.IP] = true
	}
	first := GatewayAddr(cidr).Next()
	bcast := lastAddr(cidr)
	a := s.last
	for range 1 << (32 - cidr.Bits()) {
		a = a.Next()
		if !cidr.Contains(a) || a.Compare(first) < 0 || a == bcast {
			a = first
		}
		if a != bcast && !used[a] {
			s.last = a
			return a, true
		}
	}
	return netip.Addr{}, false
}

// lastAddr is the broadcast address of an IPv4 prefix.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v |= host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// Teardown implements PodNetwork.
func (f *FakeNetwork) Teardown(ctx context.Context, podUID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f.s.mu.Lock()
	defer f.s.mu.Unlock()
	delete(f.s.pods, podUID)
	return nil
}

// List implements PodNetwork.
func (f *FakeNetwork) List(ctx context.Context) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f.s.mu.Lock()
	defer f.s.mu.Unlock()
	uids := make([]string, 0, len(f.s.pods))
	for uid := range f.s.pods {
		uids = append(uids, uid)
	}
	sort.Strings(uids)
	return uids, nil
}
