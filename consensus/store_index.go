package consensus

import (
	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/state"
)

// The store's secondary indexes, kept with every put and delete under mu:
// by owner uid (also what a delete cascades through), by the node a Pod is
// bound to, and by label. They answer state.Reader's lookups without a
// scan of the kind.

var _ state.Reader = (*Store)(nil)

type keySet = map[api.Key]struct{}

// indexes holds the secondary indexes. The zero value is not usable.
type indexes struct {
	// owned is owner uid → keys of the objects whose ownerReferences name it.
	owned map[string]keySet
	// onNode is node name → keys of the Pods bound to it ("" for the
	// Pods not bound yet).
	onNode map[string]keySet
	// labeled is "kind key=value" → keys of the objects of that kind with
	// that label.
	labeled map[string]keySet
}

func newIndexes() indexes {
	return indexes{owned: map[string]keySet{}, onNode: map[string]keySet{}, labeled: map[string]keySet{}}
}

func addTo(m map[string]keySet, k string, key api.Key) {
	set := m[k]
	if set == nil {
		set = keySet{}
		m[k] = set
	}
	set[key] = struct{}{}
}

func removeFrom(m map[string]keySet, k string, key api.Key) {
	delete(m[k], key)
	if len(m[k]) == 0 {
		delete(m, k)
	}
}

func labelTerm(kind, k, v string) string { return kind + " " + k + "=" + v }

// podNode returns the node a Pod is bound to ("" for none), and false for
// an object that is not a Pod.
func podNode(obj api.Object) (string, bool) {
	if p, ok := obj.(*api.Pod); ok {
		return p.Spec.NodeName, true
	}
	return "", false
}

// each calls f with every index entry obj, stored under key, has: the
// index map and the entry's name in it.
func (x *indexes) each(key api.Key, obj api.Object, f func(m map[string]keySet, k string)) {
	m := obj.GetObjectMeta()
	for _, ref := range m.OwnerReferences {
		f(x.owned, ref.UID)
	}
	if n, ok := podNode(obj); ok {
		f(x.onNode, n)
	}
	for k, v := range m.Labels {
		f(x.labeled, labelTerm(key.Kind, k, v))
	}
}

// add indexes obj under key.
func (x *indexes) add(key api.Key, obj api.Object) {
	x.each(key, obj, func(m map[string]keySet, k string) { addTo(m, k, key) })
}

// remove drops obj, stored under key, from the indexes.
func (x *indexes) remove(key api.Key, obj api.Object) {
	x.each(key, obj, func(m map[string]keySet, k string) { removeFrom(m, k, key) })
}

// objectsLocked returns the stored objects of keys, of kind if kind is set
// and in namespace if it is set, sorted. The caller holds mu.
func (s *Store) objectsLocked(keys keySet, kind, namespace string) []api.Object {
	var out []api.Object
	for k := range keys {
		if kind != "" && k.Kind != kind || namespace != "" && k.Namespace != namespace {
			continue
		}
		if obj := s.lookup(k); obj != nil {
			out = append(out, obj)
		}
	}
	state.SortObjects(out)
	return out
}

// ListOwnedBy returns the objects of kind whose ownerReferences name
// ownerUID, from the owner index.
func (s *Store) ListOwnedBy(kind, ownerUID string) []api.Object {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.objectsLocked(s.idx.owned[ownerUID], kind, "")
}

// PodsOnNode returns the Pods bound to node ("" for those not bound yet),
// from the node index.
func (s *Store) PodsOnNode(node string) []api.Object {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.objectsLocked(s.idx.onNode[node], "Pod", "")
}

// ListSelected returns the objects of kind in namespace matching sel. A
// selector with an equality or set requirement starts from the label
// index's smallest candidate set; others scan the kind.
func (s *Store) ListSelected(kind, namespace string, sel api.Selector) ([]api.Object, uint64) {
	s.mu.RLock()
	candidates, ok := s.candidatesLocked(kind, sel)
	if !ok {
		s.mu.RUnlock()
		return state.Scan{Lister: s}.ListSelected(kind, namespace, sel)
	}
	objs, idx := s.objectsLocked(candidates, kind, namespace), s.index
	s.mu.RUnlock()
	out := objs[:0]
	for _, o := range objs {
		if sel.Matches(o.GetObjectMeta().Labels) {
			out = append(out, o)
		}
	}
	return out, idx
}

// candidatesLocked returns the smallest set of keys the label index gives
// for one of sel's requirements that a match must meet (key=value, or key
// in (values)), and false when sel has none.
func (s *Store) candidatesLocked(kind string, sel api.Selector) (keySet, bool) {
	var best keySet
	found := false
	for _, r := range sel.Requirements() {
		var set keySet
		switch r.Operator {
		case api.OpEquals, api.OpDoubleEquals:
			set = s.idx.labeled[labelTerm(kind, r.Key, r.Values[0])]
		case api.OpIn:
			if len(r.Values) == 1 {
				set = s.idx.labeled[labelTerm(kind, r.Key, r.Values[0])]
				break
			}
			set = keySet{}
			for _, v := range r.Values {
				for k := range s.idx.labeled[labelTerm(kind, r.Key, v)] {
					set[k] = struct{}{}
				}
			}
		default:
			continue
		}
		if !found || len(set) < len(best) {
			best, found = set, true
		}
	}
	return best, found
}
