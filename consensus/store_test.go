package consensus

import (
	"bytes"
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
)

// stTime is the proposer's time in test commands.
var stTime = time.Date(2026, 3, 4, 5, 6, 7, 890_000_000, time.UTC)

// stConfigMap returns a ConfigMap with its TypeMeta set, holding kv pairs
// as data.
func stConfigMap(ns, name string, kv ...string) *api.ConfigMap {
	cm := &api.ConfigMap{TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}}
	cm.Name, cm.Namespace = name, ns
	if len(kv) > 0 {
		cm.Data = map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			cm.Data[kv[i]] = kv[i+1]
		}
	}
	return cm
}

func stNamespace(name, phase string) *api.Namespace {
	ns := &api.Namespace{TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "Namespace"}}
	ns.Name = name
	ns.Status.Phase = phase
	return ns
}

// stOp is OpFor that fails the test on error.
func stOp(t testing.TB, typ OpType, obj api.Object) Op {
	t.Helper()
	op, err := OpFor(typ, obj)
	if err != nil {
		t.Fatalf("OpFor(%s, %s): %v", typ, api.KeyOf(obj), err)
	}
	return op
}

// stCAS is stOp with an expected version.
func stCAS(t testing.TB, typ OpType, obj api.Object, version uint64) Op {
	op := stOp(t, typ, obj)
	op.ExpectVersion = version
	return op
}

func stDelete(kind, ns, name string) Op {
	return Op{Type: OpDelete, Key: api.Key{Kind: kind, Namespace: ns, Name: name}}
}

// stApply applies ops at index and fails the test if the command fails.
func stApply(t testing.TB, s *Store, index uint64, ops ...Op) *WriteResult {
	t.Helper()
	res := s.Apply(index, WriteCommand{Time: stTime, Ops: ops})
	if res.Err != nil {
		t.Fatalf("apply at %d: %v", index, res.Err)
	}
	return res
}

// stDump is the store's content as snapshot lines, without the header.
func stDump(t testing.TB, s *Store) string {
	t.Helper()
	var buf bytes.Buffer
	if _, err := s.Snapshot().WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	_, body, _ := strings.Cut(buf.String(), "\n")
	return body
}

func stKey(kind, ns, name string) api.Key { return api.Key{Kind: kind, Namespace: ns, Name: name} }

func TestApplyRules(t *testing.T) {
	cmKey := stKey("ConfigMap", "default", "a")
	newKey := stKey("ConfigMap", "default", "b")
	type check func(t *testing.T, s *Store, res *WriteResult)
	exists := func(k api.Key, rv string) check {
		return func(t *testing.T, s *Store, _ *WriteResult) {
			obj, err := s.Get(k)
			if err != nil {
				t.Fatalf("Get(%s): %v", k, err)
			}
			if got := obj.GetObjectMeta().ResourceVersion; got != rv {
				t.Errorf("%s resourceVersion = %q, want %q", k, got, rv)
			}
		}
	}
	missing := func(k api.Key) check {
		return func(t *testing.T, s *Store, _ *WriteResult) {
			if _, err := s.Get(k); !api.IsNotFound(err) {
				t.Errorf("Get(%s) = %v, want not found", k, err)
			}
		}
	}
	event := func(i int, want EventType) check {
		return func(t *testing.T, s *Store, res *WriteResult) {
			evs := stEventsAt(t, s, res.Index)
			if i >= len(evs) || evs[i].Type != want {
				t.Errorf("events at %d = %v, want %s at position %d", res.Index, evs, want, i)
			}
		}
	}
	badJSON := Op{Type: OpCreate, Key: newKey, Object: []byte(`{"metadata":`)}
	wrongKind := stOp(t, OpCreate, stNamespace("b", ""))
	wrongKind.Key = newKey
	wrongNS := stOp(t, OpCreate, stConfigMap("other", "b"))
	wrongNS.Key = newKey
	wrongName := stOp(t, OpCreate, stConfigMap("default", "c"))
	wrongName.Key = newKey
	noNS := stOp(t, OpCreate, stConfigMap("", "b"))
	nsWithNS := stOp(t, OpCreate, stNamespace("x", ""))
	nsWithNS.Key.Namespace = "default"
	unknownKind := Op{Type: OpCreate, Key: stKey("Gizmo", "", "g"), Object: []byte(`{}`)}
	unknownOp := stOp(t, OpCreate, stConfigMap("default", "b"))
	unknownOp.Type = "upsert"

	tests := []struct {
		name   string
		ops    []Op
		reason api.Reason // "" for success
		msg    []string   // substrings of the error message
		checks []check
	}{
		{name: "create", ops: []Op{stOp(t, OpCreate, stConfigMap("default", "b", "k", "v"))},
			checks: []check{exists(newKey, "2"), event(0, EventAdded)}},
		{name: "create existing", ops: []Op{stOp(t, OpCreate, stConfigMap("default", "a"))},
			reason: api.ReasonAlreadyExists, msg: []string{`configmap "a" already exists in namespace "default"`}},
		{name: "create with version", ops: []Op{stCAS(t, OpCreate, stConfigMap("default", "b"), 1)},
			reason: api.ReasonInvalid, msg: []string{"metadata.resourceVersion"}},
		{name: "update", ops: []Op{stOp(t, OpUpdate, stConfigMap("default", "a", "k", "w"))},
			checks: []check{exists(cmKey, "2"), event(0, EventModified)}},
		{name: "update missing", ops: []Op{stOp(t, OpUpdate, stConfigMap("default", "b"))},
			reason: api.ReasonNotFound, msg: []string{`configmap "b" not found in namespace "default"`}},
		{name: "update CAS ok", ops: []Op{stCAS(t, OpUpdate, stConfigMap("default", "a"), 1)},
			checks: []check{exists(cmKey, "2")}},
		{name: "update CAS conflict", ops: []Op{stCAS(t, OpUpdate, stConfigMap("default", "a"), 7)},
			reason: api.ReasonConflict, msg: []string{`configmap "a" in namespace "default"`, "7", "is 1", "re-read the object and retry"}},
		{name: "put creates", ops: []Op{stOp(t, OpPut, stConfigMap("default", "b"))},
			checks: []check{exists(newKey, "2"), event(0, EventAdded)}},
		{name: "put replaces", ops: []Op{stOp(t, OpPut, stConfigMap("default", "a"))},
			checks: []check{exists(cmKey, "2"), event(0, EventModified)}},
		{name: "put CAS ok", ops: []Op{stCAS(t, OpPut, stConfigMap("default", "a"), 1)},
			checks: []check{exists(cmKey, "2")}},
		{name: "put CAS conflict", ops: []Op{stCAS(t, OpPut, stConfigMap("default", "a"), 2)},
			reason: api.ReasonConflict},
		{name: "put CAS missing", ops: []Op{stCAS(t, OpPut, stConfigMap("default", "b"), 1)},
			reason: api.ReasonNotFound},
		{name: "delete", ops: []Op{stDelete("ConfigMap", "default", "a")},
			checks: []check{missing(cmKey), event(0, EventDeleted)}},
		{name: "delete missing", ops: []Op{stDelete("ConfigMap", "default", "b")},
			reason: api.ReasonNotFound},
		{name: "delete CAS ok", ops: []Op{{Type: OpDelete, Key: cmKey, ExpectVersion: 1}},
			checks: []check{missing(cmKey)}},
		{name: "delete CAS conflict", ops: []Op{{Type: OpDelete, Key: cmKey, ExpectVersion: 3}},
			reason: api.ReasonConflict, msg: []string{"re-read the object and retry"}},
		{name: "bad JSON", ops: []Op{badJSON}, reason: api.ReasonInvalid, msg: []string{"does not decode"}},
		{name: "no object", ops: []Op{{Type: OpUpdate, Key: cmKey}}, reason: api.ReasonInvalid},
		{name: "kind mismatch", ops: []Op{wrongKind}, reason: api.ReasonInvalid, msg: []string{"kind:"}},
		{name: "namespace mismatch", ops: []Op{wrongNS}, reason: api.ReasonInvalid, msg: []string{"metadata.namespace:"}},
		{name: "name mismatch", ops: []Op{wrongName}, reason: api.ReasonInvalid, msg: []string{"metadata.name:"}},
		{name: "namespaced kind without namespace", ops: []Op{noNS}, reason: api.ReasonInvalid, msg: []string{"metadata.namespace: must be set"}},
		{name: "cluster-scoped kind with namespace", ops: []Op{nsWithNS}, reason: api.ReasonInvalid, msg: []string{"cluster-scoped"}},
		{name: "unknown kind", ops: []Op{unknownKind}, reason: api.ReasonInvalid, msg: []string{`unknown kind "Gizmo"`}},
		{name: "unknown op", ops: []Op{unknownOp}, reason: api.ReasonInvalid, msg: []string{`"upsert"`}},
		{name: "empty command", ops: nil},
		{name: "batch all or nothing", ops: []Op{
			stOp(t, OpCreate, stConfigMap("default", "b")),
			stOp(t, OpUpdate, stConfigMap("default", "a", "x", "y")),
			stOp(t, OpUpdate, stConfigMap("default", "nope")),
		}, reason: api.ReasonNotFound, msg: []string{`"nope"`}},
		{name: "batch sees earlier ops", ops: []Op{
			stOp(t, OpCreate, stConfigMap("default", "b")),
			stCAS(t, OpUpdate, stConfigMap("default", "b", "k", "v"), 2),
			stDelete("ConfigMap", "default", "a"),
			stOp(t, OpCreate, stConfigMap("default", "a", "new", "1")),
		}, checks: []check{exists(newKey, "2"), exists(cmKey, "2"),
			event(0, EventAdded), event(1, EventModified), event(2, EventDeleted), event(3, EventAdded)}},
		{name: "batch create twice", ops: []Op{
			stOp(t, OpCreate, stConfigMap("default", "b")),
			stOp(t, OpCreate, stConfigMap("default", "b")),
		}, reason: api.ReasonAlreadyExists},
		{name: "batch create then delete", ops: []Op{
			stOp(t, OpCreate, stConfigMap("default", "b")),
			stDelete("ConfigMap", "default", "b"),
		}, checks: []check{missing(newKey), event(0, EventAdded), event(1, EventDeleted)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewStore()
			stApply(t, s, 1, stOp(t, OpCreate, stConfigMap("default", "a", "k", "v")), stOp(t, OpCreate, stNamespace("prod", "")))
			before := stDump(t, s)
			res := s.Apply(2, WriteCommand{Time: stTime, Ops: tt.ops})
			if res.Index != 2 {
				t.Errorf("result index = %d, want 2", res.Index)
			}
			if s.Index() != 2 {
				t.Errorf("store index = %d, want 2 (it advances even when the command fails)", s.Index())
			}
			if tt.reason == "" {
				if res.Err != nil {
					t.Fatalf("Apply: %v", res.Err)
				}
				if len(res.Objects) != len(tt.ops) {
					t.Fatalf("got %d objects, want %d", len(res.Objects), len(tt.ops))
				}
				for _, c := range tt.checks {
					c(t, s, res)
				}
				return
			}
			var st *api.Status
			if !errors.As(res.Err, &st) || st.Reason != tt.reason {
				t.Fatalf("Apply error = %#v, want reason %s", res.Err, tt.reason)
			}
			for _, m := range tt.msg {
				if !strings.Contains(st.Message, m) {
					t.Errorf("message %q does not contain %q", st.Message, m)
				}
			}
			if res.Objects != nil {
				t.Errorf("failed command returned objects %v", res.Objects)
			}
			if after := stDump(t, s); after != before {
				t.Errorf("failed command changed the store:\nbefore %s\nafter  %s", before, after)
			}
			if evs := stEventsAt(t, s, 2); len(evs) != 0 {
				t.Errorf("failed command produced events %v", evs)
			}
		})
	}
}

// stEventsAt returns the retained events at index.
func stEventsAt(t *testing.T, s *Store, index uint64) []Event {
	t.Helper()
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []Event
	for _, ev := range s.events.after(index-1, "", nil) {
		if ev.Index == index {
			out = append(out, ev)
		}
	}
	return out
}

func TestApplyMetadata(t *testing.T) {
	s := NewStore()
	res := stApply(t, s, 3, stOp(t, OpCreate, stConfigMap("default", "a", "k", "v")))
	created := res.Objects[0].(*api.ConfigMap)
	if created.ResourceVersion != "3" || created.Generation != 1 {
		t.Errorf("created: resourceVersion %q generation %d, want \"3\" and 1", created.ResourceVersion, created.Generation)
	}
	if want := stTime.Truncate(time.Second); created.CreationTimestamp == nil || !created.CreationTimestamp.Equal(want) {
		t.Errorf("creationTimestamp = %v, want %v", created.CreationTimestamp, want)
	}
	if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(created.UID) {
		t.Errorf("uid %q is not UUID-shaped", created.UID)
	}

	// Labels only: metadata, so the generation stays. The uid and creation
	// time sent by the writer are ignored.
	next := stConfigMap("default", "a", "k", "v")
	next.Labels = map[string]string{"app": "web"}
	next.UID = "forged"
	next.CreationTimestamp = api.NewTime(stTime.Add(time.Hour))
	next.Generation = 40
	res = stApply(t, s, 4, stOp(t, OpUpdate, next))
	got := res.Objects[0].(*api.ConfigMap)
	if got.Generation != 1 || got.UID != created.UID || !got.CreationTimestamp.Equal(created.CreationTimestamp.Time) || got.ResourceVersion != "4" {
		t.Errorf("after a label change: generation %d uid %q created %v rv %q; want 1, %q, %v, \"4\"",
			got.Generation, got.UID, got.CreationTimestamp, got.ResourceVersion, created.UID, created.CreationTimestamp)
	}
	// Data: outside metadata and status, so the generation moves.
	res = stApply(t, s, 5, stOp(t, OpPut, stConfigMap("default", "a", "k", "w")))
	if g := res.Objects[0].GetObjectMeta().Generation; g != 2 {
		t.Errorf("generation after a data change = %d, want 2", g)
	}

	// Status changes leave the generation alone.
	stApply(t, s, 6, stOp(t, OpCreate, stNamespace("prod", "")))
	res = stApply(t, s, 7, stOp(t, OpUpdate, stNamespace("prod", "Active")))
	if g := res.Objects[0].GetObjectMeta().Generation; g != 1 {
		t.Errorf("generation after a status change = %d, want 1", g)
	}

	// A writer-chosen uid and creation time are kept on create.
	own := stConfigMap("default", "own")
	own.UID = "my-uid"
	own.CreationTimestamp = api.NewTime(stTime.Add(-time.Hour))
	res = stApply(t, s, 8, stOp(t, OpCreate, own))
	if m := res.Objects[0].GetObjectMeta(); m.UID != "my-uid" || !m.CreationTimestamp.Equal(stTime.Add(-time.Hour).Truncate(time.Second)) {
		t.Errorf("writer's uid and creation time not kept: %q %v", m.UID, m.CreationTimestamp)
	}

	// A delete returns the object as it was, with the delete's version.
	res = stApply(t, s, 9, stDelete("ConfigMap", "default", "a"))
	del := res.Objects[0].(*api.ConfigMap)
	if del.ResourceVersion != "9" || del.Data["k"] != "w" || del.UID != created.UID {
		t.Errorf("deleted object = %+v", del)
	}
}

func TestApplyRefusesOldIndex(t *testing.T) {
	s := NewStore()
	stApply(t, s, 5, stOp(t, OpCreate, stConfigMap("default", "a")))
	before := stDump(t, s)
	for _, idx := range []uint64{5, 4} {
		res := s.Apply(idx, WriteCommand{Ops: []Op{stOp(t, OpCreate, stConfigMap("default", "b"))}})
		if res.Err == nil || api.ReasonOf(res.Err) != api.ReasonInternal {
			t.Errorf("Apply at %d: err = %v, want an internal error", idx, res.Err)
		}
	}
	if s.Index() != 5 || stDump(t, s) != before {
		t.Error("a refused Apply changed the store")
	}
}

func TestUIDDeterminism(t *testing.T) {
	run := func() (*Store, []string) {
		s := NewStore()
		var uids []string
		for i := uint64(1); i <= 20; i++ {
			ns := []string{"a", "b"}[i%2]
			res := stApply(t, s, i,
				stOp(t, OpPut, stConfigMap(ns, "x", "i", string(rune('a'+i)))),
				stOp(t, OpCreate, stConfigMap(ns, "y"+string(rune('a'+i)))))
			for _, o := range res.Objects {
				uids = append(uids, o.GetObjectMeta().UID)
			}
		}
		return s, uids
	}
	s1, u1 := run()
	s2, u2 := run()
	if stDump(t, s1) != stDump(t, s2) {
		t.Error("two stores applying the same commands differ")
	}
	seen := map[string]bool{}
	for i := range u1 {
		if u1[i] != u2[i] {
			t.Fatalf("uid %d differs: %s vs %s", i, u1[i], u2[i])
		}
		if i%2 == 1 && seen[u1[i]] { // creates get fresh uids
			t.Errorf("uid %s derived twice", u1[i])
		}
		seen[u1[i]] = true
	}
	if deriveUID(1, 0, stKey("ConfigMap", "a", "b")) == deriveUID(1, 1, stKey("ConfigMap", "a", "b")) {
		t.Error("uid does not depend on the op position")
	}
}

func TestGetList(t *testing.T) {
	s := NewStore()
	stApply(t, s, 1,
		stOp(t, OpCreate, stConfigMap("zeta", "a")),
		stOp(t, OpCreate, stConfigMap("default", "c")),
		stOp(t, OpCreate, stConfigMap("default", "b")),
		stOp(t, OpCreate, stNamespace("default", "")),
	)
	_, err := s.Get(stKey("ConfigMap", "default", "x"))
	if !api.IsNotFound(err) || err.Error() != `configmap "x" not found in namespace "default"` {
		t.Errorf("Get missing: %v", err)
	}
	if _, err := s.Get(stKey("Namespace", "", "x")); err == nil || err.Error() != `namespace "x" not found` {
		t.Errorf("Get missing namespace: %v", err)
	}
	names := func(objs []api.Object) string {
		var out []string
		for _, o := range objs {
			out = append(out, api.KeyOf(o).String())
		}
		return strings.Join(out, " ")
	}
	objs, idx := s.List("ConfigMap", "")
	if got, want := names(objs), "ConfigMap/default/b ConfigMap/default/c ConfigMap/zeta/a"; got != want || idx != 1 {
		t.Errorf("List all = %q at %d, want %q at 1", got, idx, want)
	}
	objs, _ = s.List("ConfigMap", "default")
	if got, want := names(objs), "ConfigMap/default/b ConfigMap/default/c"; got != want {
		t.Errorf("List default = %q, want %q", got, want)
	}
	if objs, _ = s.List("ConfigMap", "none"); len(objs) != 0 {
		t.Errorf("List of an empty namespace = %v", objs)
	}
	stApply(t, s, 2, stDelete("ConfigMap", "zeta", "a"))
	if objs, idx = s.List("ConfigMap", "zeta"); len(objs) != 0 || idx != 2 {
		t.Errorf("List after delete = %v at %d", objs, idx)
	}
	if _, ok := s.objects["ConfigMap"]["zeta"]; ok {
		t.Error("empty namespace index not dropped")
	}
}

func TestWaitForIndex(t *testing.T) {
	s := NewStore()
	done := make(chan error)
	go func() { done <- s.WaitForIndex(context.Background(), 2) }()
	stApply(t, s, 1)
	select {
	case err := <-done:
		t.Fatalf("WaitForIndex(2) returned at index 1: %v", err)
	case <-time.After(10 * time.Millisecond):
	}
	stApply(t, s, 2)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := s.WaitForIndex(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
	defer cancel()
	if err := s.WaitForIndex(ctx, 3); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitForIndex past deadline = %v", err)
	}
}

// An update with KeepStatus replaces what the user owns and keeps the
// status and system annotations stored when it applies.
func TestApplyKeepStatus(t *testing.T) {
	s := NewStore()
	svc := &api.Service{TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "Service"}}
	svc.Name, svc.Namespace = "web", "default"
	svc.Spec.Ports = []api.ServicePort{{Port: 80}}
	stApply(t, s, 1, stOp(t, OpCreate, stNamespace("default", "")), stOp(t, OpCreate, svc))
	withStatus := api.Copy(svc)
	withStatus.Status.Conditions = []api.Condition{{Type: "Probed", Status: api.ConditionTrue}}
	withStatus.Annotations = map[string]string{api.AnnotationRevision: "3"}
	stApply(t, s, 2, stOp(t, OpUpdate, withStatus))

	user := api.Copy(svc)
	user.Spec.Ports = []api.ServicePort{{Port: 81}}
	op := stOp(t, OpUpdate, user)
	op.KeepStatus = true
	stApply(t, s, 3, op)
	got, _ := s.Get(stKey("Service", "default", "web"))
	g := got.(*api.Service)
	if len(g.Status.Conditions) != 1 || g.Annotations[api.AnnotationRevision] != "3" || g.Spec.Ports[0].Port != 81 {
		t.Fatalf("after a KeepStatus update: status %+v annotations %v ports %v", g.Status, g.Annotations, g.Spec.Ports)
	}
	stApply(t, s, 4, stOp(t, OpUpdate, user))
	got, _ = s.Get(stKey("Service", "default", "web"))
	if g := got.(*api.Service); len(g.Status.Conditions) != 0 {
		t.Fatalf("an update without KeepStatus kept the status: %+v", g.Status)
	}
}
