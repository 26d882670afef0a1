package placement_test

import (
	"context"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/clock"
	"github.com/shoal-dev/shoal/leader"
	"github.com/shoal-dev/shoal/placement"
	"github.com/shoal-dev/shoal/placement/placementtest"
	"github.com/shoal-dev/shoal/state"
)

// fakeState is a placement.Reader over a map; it serves the unit tests only.
type fakeState map[api.Key]api.Object

func (f fakeState) Get(k api.Key) (api.Object, error) {
	if o, ok := f[k]; ok {
		return o, nil
	}
	return nil, api.NewError(api.ReasonNotFound, "%s not found", k)
}

func (f fakeState) List(kind, ns string) ([]api.Object, uint64) {
	var out []api.Object
	for k, o := range f {
		if k.Kind == kind && (ns == "" || k.Namespace == ns) {
			out = append(out, o)
		}
	}
	state.SortObjects(out)
	return out, 0
}

// The indexed lookups of the fakes scan, as state.Scan does.
func (f fakeState) ListOwnedBy(kind, uid string) []api.Object {
	return state.Scan{Lister: f}.ListOwnedBy(kind, uid)
}
func (f fakeState) PodsOnNode(node string) []api.Object {
	return state.Scan{Lister: f}.PodsOnNode(node)
}
func (f fakeState) PodNodes() []string { return state.Scan{Lister: f}.PodNodes() }
func (f fakeState) ListSelected(kind, ns string, sel api.Selector) ([]api.Object, uint64) {
	return state.Scan{Lister: f}.ListSelected(kind, ns, sel)
}
func (r *nodeRig) ListOwnedBy(kind, uid string) []api.Object {
	return state.Scan{Lister: r}.ListOwnedBy(kind, uid)
}
func (r *nodeRig) PodsOnNode(node string) []api.Object { return state.Scan{Lister: r}.PodsOnNode(node) }
func (r *nodeRig) PodNodes() []string                  { return state.Scan{Lister: r}.PodNodes() }
func (r *nodeRig) ListSelected(kind, ns string, sel api.Selector) ([]api.Object, uint64) {
	return state.Scan{Lister: r}.ListSelected(kind, ns, sel)
}

func (f fakeState) apply(changes []placement.Change) {
	for _, c := range changes {
		if c.Delete != nil {
			delete(f, *c.Delete)
		} else {
			f[api.KeyOf(c.Put)] = c.Put
		}
	}
}

func TestPlanNodes(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	st := fakeState{}
	members := []placement.Member{
		{Name: "n1", ID: "id1", Address: "10.0.0.1", Alive: true, CPUMillis: 2000, MemoryBytes: 4 << 30,
			Labels: map[string]string{"topology.kubernetes.io/zone": "a"}, Resources: map[string]int64{"nvidia.com/gpu": 4}},
		{Name: "n2", ID: "id2", Address: "10.0.0.2", Alive: true, CPUMillis: 1000, MemoryBytes: 1 << 30},
	}
	changes := placement.PlanNodes(now, members, st, netip.Prefix{}, 0)
	if len(changes) != 2 {
		t.Fatalf("first pass: %d changes, want a Node per member", len(changes))
	}
	st.apply(changes)
	n1 := st[api.Key{Kind: "Node", Name: "n1"}].(*api.Node)
	gpu := n1.Status.Capacity["nvidia.com/gpu"]
	if gpu.Value() != 4 || n1.Status.Capacity.Cpu().MilliValue() != 2000 || n1.Labels["topology.kubernetes.io/zone"] != "a" {
		t.Fatalf("n1 = %+v", n1.Status)
	}
	if c := placement.PlanNodes(now.Add(time.Minute), members, st, netip.Prefix{}, 0); len(c) != 0 {
		t.Fatalf("a second pass with nothing new changed %d nodes", len(c))
	}
	members[1].Alive = false
	changes = placement.PlanNodes(now.Add(2*time.Minute), members, st, netip.Prefix{}, 0)
	if len(changes) != 1 {
		t.Fatalf("a failed member: %d changes", len(changes))
	}
	st.apply(changes)
	ready := st[api.Key{Kind: "Node", Name: "n2"}].(*api.Node).Status.Conditions[0]
	if ready.Status != "Unknown" || !ready.LastTransitionTime.Equal(now.Add(2*time.Minute)) {
		t.Fatalf("n2 Ready = %+v", ready)
	}
	members[1].Left = true
	st.apply(placement.PlanNodes(now.Add(3*time.Minute), members, st, netip.Prefix{}, 0))
	if _, ok := st[api.Key{Kind: "Node", Name: "n2"}]; ok {
		t.Fatal("the Node of a member that left was kept")
	}
}

func TestFakeStateMeetsReaderContract(t *testing.T) {
	placementtest.ReaderContract(t, func(t *testing.T, objs ...api.Object) placement.Reader {
		f := fakeState{}
		for _, o := range objs {
			f[api.KeyOf(o)] = o
		}
		return f
	})
}

// TestPlanNodesGrace: a member failed for less than grace keeps its Ready
// condition; at grace it turns Unknown; zero grace turns it Unknown at
// once, and a member alive again is Ready with a new transition time.
func TestPlanNodesGrace(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	members := []placement.Member{{Name: "n1", ID: "id1", Address: "10.0.0.1", Alive: true, Since: t0}}
	for _, grace := range []time.Duration{0, 2 * time.Second} {
		st := fakeState{}
		st.apply(placement.PlanNodes(t0, members, st, netip.Prefix{}, grace))
		failed := []placement.Member{members[0]}
		failed[0].Alive, failed[0].Since = false, t0.Add(time.Second)
		if grace > 0 {
			st.apply(placement.PlanNodes(t0.Add(time.Second+grace-time.Nanosecond), failed, st, netip.Prefix{}, grace))
			if got := readyOf(t, st, "n1"); got.Status != "True" || !got.LastTransitionTime.Equal(t0) {
				t.Fatalf("grace %s: failed for just under its grace, Ready = %+v", grace, got)
			}
		}
		at := t0.Add(time.Second + grace)
		st.apply(placement.PlanNodes(at, failed, st, netip.Prefix{}, grace))
		if got := readyOf(t, st, "n1"); got.Status != "Unknown" || !got.LastTransitionTime.Equal(at) {
			t.Fatalf("grace %s: failed for its grace, Ready = %+v, want Unknown since %s", grace, got, at)
		}
		back := at.Add(time.Second)
		st.apply(placement.PlanNodes(back, members, st, netip.Prefix{}, grace))
		if got := readyOf(t, st, "n1"); got.Status != "True" || !got.LastTransitionTime.Equal(back) {
			t.Fatalf("grace %s: alive again, Ready = %+v, want True since %s", grace, got, back)
		}
	}
}

func readyOf(t *testing.T, st placement.Reader, name string) api.NodeCondition {
	t.Helper()
	o, err := st.Get(api.Key{Kind: "Node", Name: name})
	if err != nil {
		t.Fatalf("Node %s: %v", name, err)
	}
	for _, c := range o.(*api.Node).Status.Conditions {
		if c.Type == "Ready" {
			return c
		}
	}
	t.Fatalf("Node %s has no Ready condition", name)
	return api.NodeCondition{}
}

// nodeRig runs a NodeController on a fake clock over members the test
// sets, with a state that commits apply to.
type nodeRig struct {
	mu      sync.Mutex
	st      fakeState
	members []placement.Member
	passes  int // calls of Members, one per pass
	clock   *clock.Fake
	trigger chan struct{}
}

func (r *nodeRig) Get(k api.Key) (api.Object, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.st.Get(k)
}

func (r *nodeRig) List(kind, ns string) ([]api.Object, uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.st.List(kind, ns)
}

func (r *nodeRig) Commit(_ context.Context, changes []placement.Change) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.st.apply(changes)
	return nil
}

func (r *nodeRig) Members() []placement.Member {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.passes++
	return slices.Clone(r.members)
}

func (r *nodeRig) numPasses() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.passes
}

// set changes member i and starts a pass, as a gossip event would; it
// returns the number of passes before it.
func (r *nodeRig) set(i int, alive bool) int {
	r.mu.Lock()
	r.members[i].Alive, r.members[i].Since = alive, r.clock.Now()
	n := r.passes
	r.mu.Unlock()
	r.trigger <- struct{}{}
	return n
}

func startNodeRig(t *testing.T, grace time.Duration) *nodeRig {
	t.Helper()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r := &nodeRig{
		st:      fakeState{},
		clock:   clock.NewFake(t0),
		trigger: make(chan struct{}),
		members: []placement.Member{
			{Name: "n1", ID: "id1", Address: "10.0.0.1", Alive: true, Since: t0},
			{Name: "n2", ID: "id2", Address: "10.0.0.2", Alive: true, Since: t0},
		},
	}
	c := &placement.NodeController{Members: r.Members, State: r, Writer: r, Grace: grace}
	l := &leader.Loop{
		Name: "nodes", Pass: c.Pass, IsLeader: func() bool { return true },
		Clock: r.clock, Logger: slog.New(slog.DiscardHandler), Interval: time.Hour, Trigger: r.trigger,
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	r.waitFor(t, "the first pass to create both Nodes", func() bool { return len(r.st) == 2 })
	return r
}

// waitFor polls cond under the rig's lock; the deadline is a safety net.
func (r *nodeRig) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r.mu.Lock()
		ok := cond()
		r.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// With no grace left to wait, the pass a failure triggers makes its Node
// NotReady, and arms no timer.
func TestNodeControllerNotReadyOnFailure(t *testing.T) {
	r := startNodeRig(t, 0)
	failedAt := r.clock.Now()
	r.set(1, false)
	r.waitFor(t, "n2 Unknown", func() bool { return readyOf(t, r.st, "n2").Status == "Unknown" })
	if got := readyOf(t, r, "n2"); !got.LastTransitionTime.Equal(failedAt) {
		t.Errorf("n2 Ready = %+v, want Unknown since the failure at %s", got, failedAt)
	}
	if n := r.clock.Waiters(); n != 1 {
		t.Errorf("%d timers pending, want only the ticker", n)
	}
	if got := readyOf(t, r, "n1"); got.Status != "True" {
		t.Errorf("n1 Ready = %+v", got)
	}
}

// A failed member's Node turns NotReady when its grace ends, not at the
// next tick; a member that is alive again before then keeps Ready.
func TestNodeControllerWakesWhenGraceEnds(t *testing.T) {
	const grace = 2 * time.Second
	r := startNodeRig(t, grace)
	t0 := r.clock.Now()
	n := r.set(1, false)
	r.waitFor(t, "the pass the failure triggers", func() bool { return r.passes > n })
	r.waitFor(t, "a timer for the end of the grace", func() bool { return r.clock.Waiters() == 2 })
	r.clock.Advance(grace - time.Millisecond)
	if got := readyOf(t, r, "n2"); got.Status != "True" {
		t.Fatalf("n2 failed for less than its grace: Ready = %+v", got)
	}
	r.clock.Advance(time.Millisecond)
	r.waitFor(t, "n2 Unknown at the end of its grace", func() bool { return readyOf(t, r.st, "n2").Status == "Unknown" })
	if got := readyOf(t, r, "n2"); !got.LastTransitionTime.Equal(t0.Add(grace)) {
		t.Errorf("n2 Ready = %+v, want Unknown since %s", got, t0.Add(grace))
	}

	// A blip: n1 fails and is alive again within its grace.
	n = r.set(0, false)
	r.waitFor(t, "the pass the failure triggers", func() bool { return r.passes > n })
	r.clock.Advance(grace / 2)
	n = r.set(0, true)
	r.waitFor(t, "the pass the recovery triggers", func() bool { return r.passes > n })
	n = r.numPasses()
	r.clock.Advance(grace)
	r.clock.Advance(time.Hour) // the ticker, for a pass after the grace
	r.waitFor(t, "a pass after the grace", func() bool { return r.passes > n })
	if got := readyOf(t, r, "n1"); got.Status != "True" || !got.LastTransitionTime.Equal(t0) {
		t.Errorf("n1 was failed for less than its grace: Ready = %+v, want True since %s", got, t0)
	}
}
