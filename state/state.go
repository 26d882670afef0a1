package state

import (
	"slices"
	"strings"

	"github.com/shoal-dev/shoal/api"
)

// Lister is the least a replica answers: one object by key, and the objects
// of a kind with the index they reflect.
type Lister interface {
	// Get returns the object under key, or an api.ReasonNotFound error.
	Get(key api.Key) (api.Object, error)
	// List returns the objects of kind in namespace ("" for all), sorted by
	// namespace then name, and the index the list reflects.
	List(kind, namespace string) ([]api.Object, uint64)
}

// Reader is a read-only view of the replicated state. Objects it returns
// are shared: callers must not mutate them (api.Copy first).
type Reader interface {
	Lister
	// ListOwnedBy returns the objects of kind whose ownerReferences name
	// the uid, sorted by namespace then name.
	ListOwnedBy(kind, ownerUID string) []api.Object
	// PodsOnNode returns the Pods bound to node (spec.nodeName), sorted by
	// namespace then name; node "" gives the Pods not bound yet.
	PodsOnNode(node string) []api.Object
	// PodNodes returns the names of the nodes Pods are bound to, sorted,
	// with "" first when some Pods are not bound yet: with PodsOnNode, a
	// walk over the Pods node by node.
	PodNodes() []string
	// ListSelected returns the objects of kind in namespace ("" for all)
	// whose labels match sel, sorted, and the index the list reflects.
	ListSelected(kind, namespace string, sel api.Selector) ([]api.Object, uint64)
}

// Scan answers Reader's indexed lookups by scanning its Lister. Fakes
// embed it; the store's indexes must agree with it.
type Scan struct{ Lister }

var _ Reader = Scan{}

// ListOwnedBy scans kind for objects owned by ownerUID.
func (s Scan) ListOwnedBy(kind, ownerUID string) []api.Object {
	objs, _ := s.List(kind, "")
	var out []api.Object
	for _, o := range objs {
		for _, r := range o.GetObjectMeta().OwnerReferences {
			if r.UID == ownerUID {
				out = append(out, o)
				break
			}
		}
	}
	return out
}

// PodsOnNode scans the Pods for those bound to node.
func (s Scan) PodsOnNode(node string) []api.Object {
	objs, _ := s.List("Pod", "")
	var out []api.Object
	for _, o := range objs {
		if p, ok := o.(*api.Pod); ok && p.Spec.NodeName == node {
			out = append(out, o)
		}
	}
	return out
}

// PodNodes scans the Pods for the nodes they are bound to.
func (s Scan) PodNodes() []string {
	objs, _ := s.List("Pod", "")
	seen := map[string]bool{}
	var out []string
	for _, o := range objs {
		if p, ok := o.(*api.Pod); ok && !seen[p.Spec.NodeName] {
			seen[p.Spec.NodeName] = true
			out = append(out, p.Spec.NodeName)
		}
	}
	slices.Sort(out)
	return out
}

// ListSelected scans kind in namespace for objects matching sel.
func (s Scan) ListSelected(kind, namespace string, sel api.Selector) ([]api.Object, uint64) {
	objs, idx := s.List(kind, namespace)
	var out []api.Object
	for _, o := range objs {
		if sel.Matches(o.GetObjectMeta().Labels) {
			out = append(out, o)
		}
	}
	return out, idx
}

// SortObjects sorts objects by namespace then name, as Reader returns them.
func SortObjects(objs []api.Object) {
	slices.SortFunc(objs, func(x, y api.Object) int {
		a, b := x.GetObjectMeta(), y.GetObjectMeta()
		if c := strings.Compare(a.Namespace, b.Namespace); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
}
