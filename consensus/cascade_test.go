package consensus

import (
	"testing"

	"github.com/shoal-dev/shoal/api"
)

func owned(ns, name, ownerUID string) *api.ConfigMap {
	c := stConfigMap(ns, name)
	c.OwnerReferences = []api.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: "owner", UID: ownerUID}}
	return c
}

// Deleting an owner deletes what it owns, recursively, in the same command
// and at the same index; unrelated objects stay.
func TestCascadingDelete(t *testing.T) {
	s := NewStore()
	owner := stConfigMap("default", "owner")
	owner.UID = "uid-owner"
	child := owned("default", "child", "uid-owner")
	child.UID = "uid-child"
	grandchild := owned("default", "grandchild", "uid-child")
	stApply(t, s, 1, stOp(t, OpCreate, owner), stOp(t, OpCreate, child), stOp(t, OpCreate, grandchild), stOp(t, OpCreate, stConfigMap("default", "bystander")))
	res := stApply(t, s, 2, stDelete("ConfigMap", "default", "owner"))
	if len(res.Objects) != 3 {
		t.Fatalf("delete returned %d objects, want the owner and its two dependents", len(res.Objects))
	}
	objs, _ := s.List("ConfigMap", "default")
	if len(objs) != 1 || objs[0].GetObjectMeta().Name != "bystander" {
		t.Fatalf("after the cascade: %v", objs)
	}
	// The owner index forgets deleted objects: a new object with the old
	// owner's uid owns nothing.
	again := stConfigMap("default", "owner")
	again.UID = "uid-owner"
	stApply(t, s, 3, stOp(t, OpCreate, again))
	if res := stApply(t, s, 4, stDelete("ConfigMap", "default", "owner")); len(res.Objects) != 1 {
		t.Fatalf("second delete removed %d objects", len(res.Objects))
	}
}

// Deleting a namespace deletes everything in it.
func TestNamespaceDeleteCascades(t *testing.T) {
	s := NewStore()
	stApply(t, s, 1, stOp(t, OpCreate, stNamespace("team", "")), stOp(t, OpCreate, stConfigMap("team", "a")), stOp(t, OpCreate, stConfigMap("team", "b")), stOp(t, OpCreate, stConfigMap("other", "c")))
	res := stApply(t, s, 2, stDelete("Namespace", "", "team"))
	if len(res.Objects) != 3 {
		t.Fatalf("namespace delete removed %d objects, want 3", len(res.Objects))
	}
	if objs, _ := s.List("ConfigMap", ""); len(objs) != 1 {
		t.Fatalf("left %d config maps, want only the one in another namespace", len(objs))
	}
}

// OpCheck makes a command depend on an object without changing it.
func TestOpCheck(t *testing.T) {
	s := NewStore()
	check := Op{Type: OpCheck, Key: api.Key{Kind: "Namespace", Name: "team"}}
	res := s.Apply(1, WriteCommand{Ops: []Op{stOp(t, OpCreate, stConfigMap("team", "a")), check}})
	if !api.IsNotFound(res.Err) {
		t.Fatalf("create in a missing namespace: %v", res.Err)
	}
	if objs, _ := s.List("ConfigMap", ""); len(objs) != 0 {
		t.Fatal("the failed command left an object")
	}
	stApply(t, s, 2, stOp(t, OpCreate, stNamespace("team", "")))
	stApply(t, s, 3, stOp(t, OpCreate, stConfigMap("team", "a")), check)
	stale := check
	stale.ExpectVersion = 1
	if res := s.Apply(4, WriteCommand{Ops: []Op{stOp(t, OpCreate, stConfigMap("team", "b")), stale}}); !api.IsConflict(res.Err) {
		t.Fatalf("check with a stale version: %v", res.Err)
	}
}
