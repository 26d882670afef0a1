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

// OpStatus replaces only the status, and is skipped for an object that is
// gone or was replaced, without failing the rest of the command.
func TestOpStatus(t *testing.T) {
	s := NewStore()
	pod := func(name, uid, phase string) *api.Pod {
		p := &api.Pod{TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "Pod"}}
		p.Name, p.Namespace, p.UID = name, "default", uid
		p.Spec.Containers = []api.Container{{Name: "c", Image: "img"}}
		p.Spec.NodeName = "n1"
		p.Status.Phase = api.PodPhase(phase)
		return p
	}
	stApply(t, s, 1, stOp(t, OpCreate, pod("a", "uid-a", "")), stOp(t, OpCreate, pod("b", "uid-b", "")))
	report := pod("a", "uid-a", "Running")
	report.Spec.NodeName = "elsewhere" // a status report never changes the spec
	stApply(t, s, 2,
		stOp(t, OpStatus, report),
		stOp(t, OpStatus, pod("b", "uid-old", "Failed")),   // b was replaced
		stOp(t, OpStatus, pod("gone", "uid-g", "Running")), // deleted
	)
	a, _ := s.Get(api.Key{Kind: "Pod", Namespace: "default", Name: "a"})
	if p := a.(*api.Pod); p.Status.Phase != api.PodRunning || p.Spec.NodeName != "n1" || p.ResourceVersion != "2" || p.Generation != 1 {
		t.Fatalf("a after a status report: phase %q node %q rv %s gen %d", p.Status.Phase, p.Spec.NodeName, p.ResourceVersion, p.Generation)
	}
	b, _ := s.Get(api.Key{Kind: "Pod", Namespace: "default", Name: "b"})
	if p := b.(*api.Pod); p.Status.Phase != "" || p.ResourceVersion != "1" {
		t.Fatalf("the report for b's old uid changed it: %+v", p.Status)
	}
	if _, err := s.Get(api.Key{Kind: "Pod", Namespace: "default", Name: "gone"}); !api.IsNotFound(err) {
		t.Fatalf("a status report created a pod: %v", err)
	}
}
