package consensus

import (
	"slices"

	"github.com/google/btree"
	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/state"
)

// The store's secondary indexes, kept with every put and delete under mu:
// by owner uid (also what a delete cascades through), by the node a Pod is
// bound to, and by label. They answer state.Reader's lookups without a
// scan of the kind.

var _ state.Reader = (*Store)(nil)

// keySet is a set of keys in the order Reader returns objects (namespace,
// then name; then kind), so that a lookup returns them sorted without
// sorting: a B-tree, as an index of a database is.
type keySet = *btree.BTreeG[api.Key]

// entry is an object of the store in its kind's order.
type entry struct {
	key api.Key
	obj api.Object
}

func keyLess(a, b api.Key) bool {
	if a.Namespace != b.Namespace {
		return a.Namespace < b.Namespace
	}
	if a.Name != b.Name {
		return a.Name < b.Name
	}
	return a.Kind < b.Kind
}

func entryLess(a, b entry) bool { return keyLess(a.key, b.key) }

// treeDegree keeps the many small sets (a pod's owner has one child) small:
// a node holds up to 2*treeDegree-1 keys.
const treeDegree = 8

// The sets share their free lists of nodes.
var (
	keyNodes   = btree.NewFreeListG[api.Key](btree.DefaultFreeListSize)
	entryNodes = btree.NewFreeListG[entry](btree.DefaultFreeListSize)
)

func newKeySet() keySet { return btree.NewWithFreeListG(treeDegree, keyLess, keyNodes) }

// setLen is the size of a set that may be nil (no entry in its index).
func setLen(s keySet) int {
	if s == nil {
		return 0
	}
	return s.Len()
}

// indexes holds the secondary indexes. The zero value is not usable.
type indexes struct {
	// kinds is kind → its objects, in order: what List reads.
	kinds map[string]*btree.BTreeG[entry]
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
	return indexes{kinds: map[string]*btree.BTreeG[entry]{}, owned: map[string]keySet{}, onNode: map[string]keySet{}, labeled: map[string]keySet{}}
}

func addTo(m map[string]keySet, k string, key api.Key) {
	set := m[k]
	if set == nil {
		set = newKeySet()
		m[k] = set
	}
	set.ReplaceOrInsert(key)
}

func removeFrom(m map[string]keySet, k string, key api.Key) {
	set := m[k]
	if set == nil {
		return
	}
	set.Delete(key)
	if set.Len() == 0 {
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

// add indexes obj under key, in place of what the indexes held for key.
func (x *indexes) add(key api.Key, obj api.Object) {
	kind := x.kinds[key.Kind]
	if kind == nil {
		kind = btree.NewWithFreeListG(treeDegree, entryLess, entryNodes)
		x.kinds[key.Kind] = kind
	}
	kind.ReplaceOrInsert(entry{key, obj})
	x.each(key, obj, func(m map[string]keySet, k string) { addTo(m, k, key) })
}

// remove drops obj, stored under key, from the indexes; with gone, from
// its kind's order too (a put replaces it there instead).
func (x *indexes) remove(key api.Key, obj api.Object, gone bool) {
	if kind := x.kinds[key.Kind]; kind != nil && gone {
		kind.Delete(entry{key: key})
		if kind.Len() == 0 {
			delete(x.kinds, key.Kind)
		}
	}
	x.each(key, obj, func(m map[string]keySet, k string) { removeFrom(m, k, key) })
}

// list returns the objects of kind in namespace ("" for all), in order.
func (x *indexes) list(kind, namespace string) []api.Object {
	t := x.kinds[kind]
	if t == nil {
		return nil
	}
	if namespace == "" {
		out := make([]api.Object, 0, t.Len())
		t.Ascend(func(e entry) bool { out = append(out, e.obj); return true })
		return out
	}
	var out []api.Object
	t.AscendGreaterOrEqual(entry{key: api.Key{Namespace: namespace}}, func(e entry) bool {
		if e.key.Namespace != namespace {
			return false
		}
		out = append(out, e.obj)
		return true
	})
	return out
}

// objectsLocked returns the stored objects of keys, of kind if kind is set
// and in namespace if it is set, sorted. The caller holds mu.
func (s *Store) objectsLocked(keys keySet, kind, namespace string) []api.Object {
	if keys == nil {
		return nil
	}
	var out []api.Object
	keys.Ascend(func(k api.Key) bool {
		if kind != "" && k.Kind != kind || namespace != "" && k.Namespace != namespace {
			return true
		}
		if obj := s.lookup(k); obj != nil {
			out = append(out, obj)
		}
		return true
	})
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

// PodNodes returns the nodes Pods are bound to, from the node index.
func (s *Store) PodNodes() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]string, 0, len(s.idx.onNode))
	for n := range s.idx.onNode {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
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
			set = newKeySet()
			for _, v := range r.Values {
				if vs := s.idx.labeled[labelTerm(kind, r.Key, v)]; vs != nil {
					vs.Ascend(func(k api.Key) bool { set.ReplaceOrInsert(k); return true })
				}
			}
		default:
			continue
		}
		if !found || setLen(set) < setLen(best) {
			best, found = set, true
		}
	}
	return best, found
}
