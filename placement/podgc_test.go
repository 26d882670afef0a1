package placement_test

import (
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/placement"
)

func TestPodGCReplacesPodsOfLostNodes(t *testing.T) {
	yes := true
	node := func(name string, status api.ConditionStatus) *api.Node {
		n := &api.Node{TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "Node"}}
		n.Name = name
		n.Status.Conditions = []api.NodeCondition{{Type: "Ready", Status: string(status)}}
		return n
	}
	pod := func(name, nodeName, ownerKind string) *api.Pod {
		p := &api.Pod{TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "Pod"}}
		p.Name, p.Namespace, p.Spec.NodeName = name, "default", nodeName
		if ownerKind != "" {
			p.OwnerReferences = []api.OwnerReference{{Kind: ownerKind, Name: "o", UID: "u", Controller: &yes}}
		}
		return p
	}
	st := fakeState{}
	for _, o := range []api.Object{
		node("up", api.ConditionTrue), node("lost", api.ConditionUnknown),
		pod("rs-on-up", "up", "ReplicaSet"), pod("rs-on-lost", "lost", "ReplicaSet"), pod("job-on-lost", "lost", "Job"),
		pod("ds-on-lost", "lost", "DaemonSet"), pod("bare-on-lost", "lost", ""), pod("on-gone", "gone", "DaemonSet"),
		pod("unbound", "", "ReplicaSet"),
	} {
		st[api.KeyOf(o)] = o
	}
	st[api.KeyOf(st[api.Key{Kind: "Pod", Namespace: "default", Name: "bare-on-lost"}])].(*api.Pod).Status.Conditions = []api.PodCondition{{Type: api.PodReady, Status: api.ConditionTrue}}
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	got := map[string]bool{}
	var marked []string
	for _, c := range placement.PlanPodGC(st, now) {
		if c.Put != nil {
			p := c.Put.(*api.Pod)
			if cond := p.Status.Conditions[0]; cond.Status != api.ConditionFalse || cond.Reason != "NodeNotReady" || !cond.LastTransitionTime.Time.Equal(now) {
				t.Errorf("pod %s marked %+v, want Ready False, NodeNotReady, since now", p.Name, cond)
			}
			marked = append(marked, p.Name)
			continue
		}
		got[c.Delete.Name] = true
	}
	// ds-on-lost has no Ready condition to turn: only the bare pod is marked.
	if len(marked) != 1 || marked[0] != "bare-on-lost" {
		t.Errorf("marked %v not Ready, want [bare-on-lost]", marked)
	}
	want := map[string]bool{"rs-on-lost": true, "job-on-lost": true, "on-gone": true}
	if len(got) != len(want) {
		t.Fatalf("deleted %v, want %v", got, want)
	}
	for n := range want {
		if !got[n] {
			t.Fatalf("deleted %v, want %v", got, want)
		}
	}
}
