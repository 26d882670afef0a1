// Package placementtest holds the contract every placement.Reader must
// meet, so the fake state used in unit tests and the real state store are
// held to the same behaviour.
package placementtest

import (
	"testing"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/placement"
)

// ReaderContract checks a Reader built by seed, which must return a Reader
// holding exactly the given objects.
func ReaderContract(t *testing.T, seed func(t *testing.T, objs ...api.Object) placement.Reader) {
	mk := func(ns, name string) *api.ConfigMap {
		return &api.ConfigMap{TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}, ObjectMeta: api.ObjectMeta{Namespace: ns, Name: name}}
	}
	node := &api.Node{TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "Node"}, ObjectMeta: api.ObjectMeta{Name: "n1"}}
	owned := mk("a", "owned")
	owned.Labels = map[string]string{"app": "web"}
	owned.OwnerReferences = []api.OwnerReference{{Kind: "ReplicaSet", Name: "rs", UID: "rs-uid"}}
	pod := &api.Pod{TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "Pod"}, ObjectMeta: api.ObjectMeta{Namespace: "a", Name: "p", Labels: map[string]string{"app": "web"}}}
	pod.Spec.NodeName = "n1"
	r := seed(t, mk("a", "x"), mk("a", "y"), mk("b", "x"), node, owned, pod)
	t.Run("Get finds what exists", func(t *testing.T) {
		o, err := r.Get(api.Key{Kind: "ConfigMap", Namespace: "b", Name: "x"})
		if err != nil || o.GetObjectMeta().Namespace != "b" {
			t.Fatalf("Get = %v, %v", o, err)
		}
		if _, err := r.Get(api.Key{Kind: "Node", Name: "n1"}); err != nil {
			t.Fatalf("Get cluster-scoped: %v", err)
		}
	})
	t.Run("Get of a missing key is NotFound", func(t *testing.T) {
		if _, err := r.Get(api.Key{Kind: "ConfigMap", Namespace: "a", Name: "zz"}); !api.IsNotFound(err) {
			t.Fatalf("Get missing: %v", err)
		}
	})
	t.Run("List filters by kind and namespace", func(t *testing.T) {
		if objs, _ := r.List("ConfigMap", "a"); len(objs) != 3 {
			t.Fatalf("List a: %d", len(objs))
		}
		if objs, _ := r.List("ConfigMap", ""); len(objs) != 4 {
			t.Fatalf("List all: %d", len(objs))
		}
		if objs, _ := r.List("Secret", ""); len(objs) != 0 {
			t.Fatalf("List of an absent kind: %d", len(objs))
		}
	})
	t.Run("indexed lookups find by owner, node and label", func(t *testing.T) {
		if objs := r.ListOwnedBy("ConfigMap", "rs-uid"); len(objs) != 1 || objs[0].GetObjectMeta().Name != "owned" {
			t.Fatalf("ListOwnedBy = %v", objs)
		}
		if objs := r.ListOwnedBy("Pod", "rs-uid"); len(objs) != 0 {
			t.Fatalf("ListOwnedBy of another kind = %v", objs)
		}
		if objs := r.PodsOnNode("n1"); len(objs) != 1 || objs[0].GetObjectMeta().Name != "p" {
			t.Fatalf("PodsOnNode = %v", objs)
		}
		if nodes := r.PodNodes(); len(nodes) != 1 || nodes[0] != "n1" {
			t.Fatalf("PodNodes = %q, want [n1]", nodes)
		}
		sel, _ := api.ParseSelector("app=web")
		if objs, _ := r.ListSelected("ConfigMap", "", sel); len(objs) != 1 {
			t.Fatalf("ListSelected app=web = %v", objs)
		}
		if objs, _ := r.ListSelected("ConfigMap", "b", sel); len(objs) != 0 {
			t.Fatalf("ListSelected in another namespace = %v", objs)
		}
	})
}
