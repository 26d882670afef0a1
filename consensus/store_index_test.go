package consensus

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/state"
)

// The store's indexed lookups return what a scan of the same store returns,
// after every command of a random history of creates, updates (moving pods
// between nodes, relabelling, changing owners), status writes, deletes that
// cascade, and a snapshot restore.
func TestIndexesMatchScan(t *testing.T) {
	for seed := range uint64(20) {
		r := rand.New(rand.NewPCG(seed, 7))
		s := NewStore()
		stApply(t, s, 1, stOp(t, OpCreate, stNamespace("a", "")), stOp(t, OpCreate, stNamespace("b", "")))
		owners := []string{"u1", "u2", "u3"}
		nodes := []string{"", "n1", "n2", "n3"}
		random := func() api.Object {
			ns := []string{"a", "b"}[r.IntN(2)]
			meta := api.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("o%d", r.IntN(12))}
			if r.IntN(3) > 0 {
				meta.Labels = map[string]string{"app": []string{"web", "db", "cache"}[r.IntN(3)]}
				if r.IntN(2) == 0 {
					meta.Labels["tier"] = []string{"front", "back"}[r.IntN(2)]
				}
			}
			for _, u := range owners {
				if r.IntN(3) == 0 {
					meta.OwnerReferences = append(meta.OwnerReferences, api.OwnerReference{Kind: "ReplicaSet", Name: u, UID: u})
				}
			}
			if r.IntN(2) == 0 {
				return &api.ConfigMap{TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}, ObjectMeta: meta}
			}
			p := &api.Pod{TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "Pod"}, ObjectMeta: meta}
			p.Spec.NodeName = nodes[r.IntN(len(nodes))]
			p.Spec.Containers = []api.Container{{Name: "c", Image: "busybox"}}
			return p
		}
		for i := uint64(2); i < 300; i++ {
			obj := random()
			var op Op
			switch r.IntN(5) {
			case 0:
				op = Op{Type: OpDelete, Key: api.KeyOf(obj)}
			case 1:
				op = stOp(t, OpStatus, obj)
			default:
				op = stOp(t, OpPut, obj)
			}
			s.Apply(i, WriteCommand{Time: stTime, Ops: []Op{op}}) // a failed command changes nothing
			if i%50 == 0 {
				var buf bytes.Buffer
				if _, err := s.Snapshot().WriteTo(&buf); err != nil {
					t.Fatal(err)
				}
				restored := NewStore()
				if err := restored.Restore(&buf); err != nil {
					t.Fatal(err)
				}
				s = restored
			}
			checkIndexes(t, s, owners, nodes)
		}
	}
}

func checkIndexes(t *testing.T, s *Store, owners, nodes []string) {
	t.Helper()
	scan := state.Scan{Lister: s}
	keys := func(objs []api.Object) []string {
		out := make([]string, len(objs))
		for i, o := range objs {
			out[i] = api.KeyOf(o).String()
		}
		return out
	}
	same := func(what string, got, want []api.Object) {
		t.Helper()
		if g, w := keys(got), keys(want); !slices.Equal(g, w) {
			t.Fatalf("at index %d, %s: the index gives %v, a scan %v", s.Index(), what, g, w)
		}
	}
	for _, kind := range []string{"Pod", "ConfigMap", "Namespace", "Secret"} {
		for _, ns := range []string{"", "a", "b", "c"} {
			// The kind's order against the objects by key, sorted.
			var want []api.Object
			for n, names := range s.objects[kind] {
				for _, o := range names {
					if ns == "" || n == ns {
						want = append(want, o)
					}
				}
			}
			state.SortObjects(want)
			got, _ := s.List(kind, ns)
			same(fmt.Sprintf("list of %s in %q", kind, ns), got, want)
		}
	}
	for _, kind := range []string{"Pod", "ConfigMap"} {
		for _, u := range append(owners, "nobody") {
			same("owned by "+u, s.ListOwnedBy(kind, u), scan.ListOwnedBy(kind, u))
		}
		for _, sel := range []string{"app=web", "app in (web,db)", "app=db,tier=back", "tier!=front", "app", "!tier", "app=none", ""} {
			ps, err := api.ParseSelector(sel)
			if err != nil {
				t.Fatal(err)
			}
			for _, ns := range []string{"", "a"} {
				got, _ := s.ListSelected(kind, ns, ps)
				want, _ := scan.ListSelected(kind, ns, ps)
				same(fmt.Sprintf("%s %q in %q", kind, sel, ns), got, want)
			}
		}
	}
	for _, n := range nodes {
		same("pods on "+n, s.PodsOnNode(n), scan.PodsOnNode(n))
	}
	if got, want := s.PodNodes(), scan.PodNodes(); !slices.Equal(got, want) {
		t.Fatalf("at index %d: the node index has pods on %q, a scan on %q", s.Index(), got, want)
	}
}
