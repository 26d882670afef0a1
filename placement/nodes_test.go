package placement_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/placement"
	"github.com/shoal-dev/shoal/placement/placementtest"
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
	return out, 0
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
