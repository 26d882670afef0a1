package placement_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/placement"
)

var dsT0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func dsNode(name string, labels map[string]string) *api.Node {
	n := &api.Node{
		TypeMeta:   api.TypeMeta{APIVersion: "v1", Kind: "Node"},
		ObjectMeta: api.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name}},
		Status: api.NodeStatus{
			Allocatable: api.ResourceList{"cpu": api.MustParseQuantity("2"), "memory": api.MustParseQuantity("1Gi"), "pods": api.MustParseQuantity("110")},
			Conditions:  []api.NodeCondition{{Type: "Ready", Status: "True"}},
		},
	}
	for k, v := range labels {
		n.Labels[k] = v
	}
	return n
}

func daemonSet(name string) *api.DaemonSet {
	ds := &api.DaemonSet{
		TypeMeta:   api.TypeMeta{APIVersion: "apps/v1", Kind: "DaemonSet"},
		ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default", UID: "uid-" + name, Generation: 1},
		Spec: api.DaemonSetSpec{
			Selector: &api.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: api.PodTemplateSpec{
				ObjectMeta: api.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec: api.PodSpec{Containers: []api.Container{{Name: "c", Image: "agent:1",
					Resources: api.ResourceRequirements{Requests: api.ResourceList{"cpu": api.MustParseQuantity("100m")}}}}},
			},
		},
	}
	api.SetDefaults(ds)
	return ds
}

// dsStep plans once and applies the plan as the store would: created pods
// get a UID and a creation time.
func dsStep(t *testing.T, st fakeState, now time.Time) ([]placement.Change, time.Duration) {
	t.Helper()
	changes, requeue := placement.PlanDaemonSets(now, st)
	for _, c := range changes {
		if c.Put == nil {
			continue
		}
		if err := api.Validate(c.Put); err != nil {
			t.Fatalf("the controller wrote an invalid object: %v", err)
		}
		m := c.Put.GetObjectMeta()
		if _, ok := st[api.KeyOf(c.Put)]; !ok {
			m.UID = "uid-" + m.Name
			m.CreationTimestamp = api.NewTime(now)
		}
	}
	st.apply(changes)
	return changes, requeue
}

// dsPods lists the DaemonSet's pods by node.
func dsPods(st fakeState, ds *api.DaemonSet) map[string][]*api.Pod {
	out := map[string][]*api.Pod{}
	for k, o := range st {
		if k.Kind != "Pod" {
			continue
		}
		p := o.(*api.Pod)
		if len(p.OwnerReferences) == 1 && p.OwnerReferences[0].UID == ds.UID {
			out[p.Spec.NodeName] = append(out[p.Spec.NodeName], p)
		}
	}
	return out
}

func dsNodes(st fakeState, ds *api.DaemonSet) string {
	var names []string
	for n, pods := range dsPods(st, ds) {
		names = append(names, fmt.Sprintf("%s×%d", n, len(pods)))
	}
	sort.Strings(names)
	return strings.Join(names, " ")
}

func dsReady(p *api.Pod, since time.Time) {
	p.Status.Phase = api.PodRunning
	p.Status.Conditions = append(p.Status.Conditions, api.PodCondition{Type: api.PodReady, Status: api.ConditionTrue, LastTransitionTime: api.NewTime(since)})
}

func dsAllReady(st fakeState, ds *api.DaemonSet, since time.Time) {
	for _, pods := range dsPods(st, ds) {
		for _, p := range pods {
			if _, ok := readyCondition(p); !ok {
				dsReady(p, since)
			}
		}
	}
}

func readyCondition(p *api.Pod) (api.PodCondition, bool) {
	for _, c := range p.Status.Conditions {
		if c.Type == api.PodReady && c.Status == api.ConditionTrue {
			return c, true
		}
	}
	return api.PodCondition{}, false
}

func dsStatus(st fakeState, ds *api.DaemonSet) api.DaemonSetStatus {
	return st[api.KeyOf(ds)].(*api.DaemonSet).Status
}

func TestDaemonSetEligibleNodes(t *testing.T) {
	ds := daemonSet("agent")
	ds.Spec.Template.Spec.NodeSelector = map[string]string{"disk": "ssd"}
	ssd := map[string]string{"disk": "ssd"}
	cordoned := dsNode("cordoned", ssd)
	cordoned.Spec.Unschedulable = true
	down := dsNode("down", ssd)
	down.Status.Conditions[0].Status = "Unknown"
	tainted := dsNode("tainted", ssd)
	tainted.Spec.Taints = []api.Taint{{Key: "dedicated", Value: "db", Effect: api.TaintEffectNoSchedule}}
	small := dsNode("small", ssd)
	small.Status.Allocatable["cpu"] = api.MustParseQuantity("50m")
	st := epState(ds, dsNode("n1", ssd), cordoned, down, tainted, small, dsNode("hdd", map[string]string{"disk": "hdd"}))

	dsStep(t, st, dsT0)
	if got := dsNodes(st, ds); got != "cordoned×1 down×1 n1×1" {
		t.Fatalf("pods on %s", got)
	}
	p := dsPods(st, ds)["n1"][0]
	if !strings.HasPrefix(p.Name, "agent-") || len(p.Name) != len("agent-")+5 || p.Labels["app"] != "agent" || p.Labels[placement.LabelControllerRevisionHash] == "" {
		t.Fatalf("pod %s labels %v", p.Name, p.Labels)
	}
	if r := p.OwnerReferences[0]; r.Kind != "DaemonSet" || r.Name != "agent" || r.Controller == nil || !*r.Controller {
		t.Fatalf("owner %+v", r)
	}
	if c, ok := scheduled(p); !ok || c.Status != api.ConditionTrue {
		t.Fatalf("PodScheduled = %+v", p.Status.Conditions)
	}
	var tolerated []string
	for _, tol := range p.Spec.Tolerations {
		tolerated = append(tolerated, tol.Key+":"+string(tol.Effect))
	}
	if got := strings.Join(tolerated, " "); !strings.Contains(got, "node.kubernetes.io/not-ready:NoExecute") || !strings.Contains(got, "node.kubernetes.io/unschedulable:NoSchedule") || len(tolerated) != 6 {
		t.Fatalf("tolerations %s", got)
	}
	s := dsStatus(st, ds)
	if s.DesiredNumberScheduled != 3 || s.CurrentNumberScheduled != 3 || s.NumberReady != 0 || s.UpdatedNumberScheduled != 3 || s.NumberUnavailable != 3 || s.ObservedGeneration != 1 {
		t.Fatalf("status %+v", s)
	}
	if c, _ := dsStep(t, st, dsT0.Add(time.Second)); len(c) != 0 {
		t.Fatalf("a second pass changed %d things", len(c))
	}

	// A node that joins later gets a pod.
	late := dsNode("late", ssd)
	st[api.KeyOf(late)] = late
	dsStep(t, st, dsT0.Add(2*time.Second))
	if got := dsNodes(st, ds); got != "cordoned×1 down×1 late×1 n1×1" {
		t.Fatalf("after a join, pods on %s", got)
	}

	// A node that goes loses its pod; one that gains a NoExecute taint too;
	// a NoSchedule taint or a lost label... the taint keeps the pod
	// (misscheduled), the label does not.
	delete(st, api.Key{Kind: "Node", Name: "late"})
	st[api.Key{Kind: "Node", Name: "n1"}].(*api.Node).Spec.Taints = []api.Taint{{Key: "dedicated", Effect: api.TaintEffectNoSchedule}}
	st[api.Key{Kind: "Node", Name: "cordoned"}].(*api.Node).Spec.Taints = []api.Taint{{Key: "evict", Effect: api.TaintEffectNoExecute}}
	st[api.Key{Kind: "Node", Name: "down"}].(*api.Node).Labels["disk"] = "hdd"
	dsStep(t, st, dsT0.Add(3*time.Second))
	if got := dsNodes(st, ds); got != "n1×1" {
		t.Fatalf("after node changes, pods on %s", got)
	}
	if s := dsStatus(st, ds); s.DesiredNumberScheduled != 0 || s.NumberMisscheduled != 1 || s.CurrentNumberScheduled != 0 {
		t.Fatalf("status %+v", s)
	}
}

func scheduled(p *api.Pod) (api.PodCondition, bool) {
	for _, c := range p.Status.Conditions {
		if c.Type == api.PodScheduled {
			return c, true
		}
	}
	return api.PodCondition{}, false
}

func TestDaemonSetRemovesExtras(t *testing.T) {
	ds := daemonSet("agent")
	st := epState(ds, dsNode("n1", nil), dsNode("n2", nil))
	dsStep(t, st, dsT0)
	// Copies appear: a second pod on n1, one on a node that does not
	// exist, and n2's pod fails.
	orig := dsPods(st, ds)["n1"][0]
	for i, node := range []string{"n1", "ghost"} {
		extra := api.Copy(orig)
		extra.Name, extra.UID, extra.Spec.NodeName = fmt.Sprintf("agent-extra%d", i), fmt.Sprintf("uid-extra%d", i), node
		extra.CreationTimestamp = api.NewTime(dsT0.Add(time.Minute))
		st[api.KeyOf(extra)] = extra
	}
	failed := dsPods(st, ds)["n2"][0]
	failed.Status.Phase = api.PodFailed
	changes, _ := dsStep(t, st, dsT0.Add(2*time.Minute))
	var deleted []string
	for _, c := range changes {
		if c.Delete != nil {
			deleted = append(deleted, c.Delete.Name)
		}
	}
	sort.Strings(deleted)
	if want := []string{"agent-extra0", "agent-extra1", failed.Name}; fmt.Sprint(deleted) != fmt.Sprint(want) {
		t.Fatalf("deleted %v, want %v", deleted, want)
	}
	if got := dsNodes(st, ds); got != "n1×1 n2×1" {
		t.Fatalf("pods on %s", got)
	}
	if dsPods(st, ds)["n1"][0].Name != orig.Name {
		t.Fatal("the newer pod was kept instead of the oldest")
	}
}

// dsRollout changes the template and steps until every pod is updated,
// making new pods Ready after each step. It returns the most nodes that
// were without an available pod at once.
func dsRollout(t *testing.T, st fakeState, ds *api.DaemonSet, nodes int) (steps, worst int) {
	t.Helper()
	cur := st[api.KeyOf(ds)].(*api.DaemonSet)
	cur.Spec.Template.Spec.Containers[0].Image = "agent:2"
	cur.Generation++
	now := dsT0.Add(time.Hour)
	for steps = 1; steps < 50; steps++ {
		now = now.Add(time.Minute)
		dsStep(t, st, now)
		unavailable := 0
		for _, n := range []string{"n1", "n2", "n3", "n4", "n5"}[:nodes] {
			ready := false
			for _, p := range dsPods(st, ds)[n] {
				if _, ok := readyCondition(p); ok {
					ready = true
				}
			}
			if !ready {
				unavailable++
			}
		}
		worst = max(worst, unavailable)
		s := dsStatus(st, ds)
		if s.UpdatedNumberScheduled == int32(nodes) && s.NumberAvailable == int32(nodes) {
			return steps, worst
		}
		dsAllReady(st, ds, now)
	}
	t.Fatalf("the rollout did not finish: %+v", dsStatus(st, ds))
	return
}

func dsCluster(ds *api.DaemonSet, nodes int) fakeState {
	st := epState(ds)
	for i := 1; i <= nodes; i++ {
		n := dsNode(fmt.Sprintf("n%d", i), nil)
		st[api.KeyOf(n)] = n
	}
	return st
}

func TestDaemonSetRollingUpdate(t *testing.T) {
	for _, c := range []struct {
		maxUnavailable api.IntOrString
		want           int
	}{{api.FromInt(1), 1}, {api.FromInt(2), 2}, {api.FromString("50%"), 3}} {
		ds := daemonSet("agent")
		ds.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable = &c.maxUnavailable
		st := dsCluster(ds, 5)
		dsStep(t, st, dsT0)
		dsAllReady(st, ds, dsT0)
		dsStep(t, st, dsT0.Add(time.Second))
		if s := dsStatus(st, ds); s.NumberAvailable != 5 || s.NumberReady != 5 {
			t.Fatalf("before the rollout: %+v", s)
		}
		steps, worst := dsRollout(t, st, ds, 5)
		if worst != c.want {
			t.Errorf("maxUnavailable %s: up to %d nodes were unavailable at once, want %d", c.maxUnavailable.String(), worst, c.want)
		}
		if wantSteps := (5+c.want-1)/c.want + 1; steps != wantSteps {
			t.Errorf("maxUnavailable %s: %d steps, want %d", c.maxUnavailable.String(), steps, wantSteps)
		}
		if s := dsStatus(st, ds); s.ObservedGeneration != 2 {
			t.Errorf("observedGeneration %d", s.ObservedGeneration)
		}
	}
}

func TestDaemonSetRollingUpdateReplacesUnavailableAtOnce(t *testing.T) {
	ds := daemonSet("agent")
	st := dsCluster(ds, 4)
	dsStep(t, st, dsT0)
	dsAllReady(st, ds, dsT0)
	// n3's and n4's pods are not Ready: they are replaced at once, beyond
	// maxUnavailable; and they use up the budget, so no available pod goes.
	for _, n := range []string{"n3", "n4"} {
		dsPods(st, ds)[n][0].Status.Conditions = nil
	}
	cur := st[api.KeyOf(ds)].(*api.DaemonSet)
	cur.Spec.Template.Spec.Containers[0].Image = "agent:2"
	changes, _ := dsStep(t, st, dsT0.Add(time.Minute))
	deletes := 0
	for _, c := range changes {
		if c.Delete != nil {
			deletes++
		}
	}
	if deletes != 2 {
		t.Fatalf("%d pods replaced, want the 2 unavailable ones", deletes)
	}
	if s := dsStatus(st, ds); s.UpdatedNumberScheduled != 2 {
		t.Fatalf("status %+v", s)
	}
}

func TestDaemonSetRolloutSkipsNotReadyNodes(t *testing.T) {
	ds := daemonSet("agent")
	st := dsCluster(ds, 3)
	dsStep(t, st, dsT0)
	dsAllReady(st, ds, dsT0)
	down := st[api.Key{Kind: "Node", Name: "n3"}].(*api.Node)
	down.Status.Conditions[0].Status = "Unknown"
	old := dsPods(st, ds)["n3"][0].Name
	cur := st[api.KeyOf(ds)].(*api.DaemonSet)
	cur.Spec.Template.Spec.Containers[0].Image = "agent:2"
	for i := 1; i <= 4; i++ {
		now := dsT0.Add(time.Duration(i) * time.Minute)
		dsStep(t, st, now)
		dsAllReady(st, ds, now)
	}
	if s := dsStatus(st, ds); s.UpdatedNumberScheduled != 2 || s.DesiredNumberScheduled != 3 {
		t.Fatalf("status %+v: the Ready nodes should be updated", s)
	}
	if dsPods(st, ds)["n3"][0].Name != old {
		t.Fatal("the pod on the NotReady node was replaced")
	}
	down.Status.Conditions[0].Status = "True"
	dsStep(t, st, dsT0.Add(time.Hour))
	if dsPods(st, ds)["n3"][0].Name == old {
		t.Fatal("the pod on the node that came back was not replaced")
	}
}

func TestDaemonSetMinReadySeconds(t *testing.T) {
	ds := daemonSet("agent")
	ds.Spec.MinReadySeconds = 10
	st := dsCluster(ds, 1)
	dsStep(t, st, dsT0)
	dsAllReady(st, ds, dsT0)
	_, requeue := dsStep(t, st, dsT0.Add(2*time.Second))
	if requeue != 8*time.Second {
		t.Fatalf("requeue %v, want 8s", requeue)
	}
	if s := dsStatus(st, ds); s.NumberReady != 1 || s.NumberAvailable != 0 {
		t.Fatalf("status %+v", s)
	}
	dsStep(t, st, dsT0.Add(10*time.Second))
	if s := dsStatus(st, ds); s.NumberAvailable != 1 || s.NumberUnavailable != 0 {
		t.Fatalf("status %+v", s)
	}
}

func TestDaemonSetOnDelete(t *testing.T) {
	ds := daemonSet("agent")
	ds.Spec.UpdateStrategy = api.DaemonSetUpdateStrategy{Type: api.OnDeleteDaemonSetStrategyType}
	st := dsCluster(ds, 2)
	dsStep(t, st, dsT0)
	dsAllReady(st, ds, dsT0)
	old := dsPods(st, ds)["n1"][0].Labels[placement.LabelControllerRevisionHash]
	st[api.KeyOf(ds)].(*api.DaemonSet).Spec.Template.Spec.Containers[0].Image = "agent:2"
	changes, _ := dsStep(t, st, dsT0.Add(time.Minute))
	for _, c := range changes {
		if c.Delete != nil || c.Put.GetTypeMeta().Kind == "Pod" {
			t.Fatalf("OnDelete touched a pod: %+v", c)
		}
	}
	delete(st, api.KeyOf(dsPods(st, ds)["n1"][0]))
	dsStep(t, st, dsT0.Add(2*time.Minute))
	p := dsPods(st, ds)
	if h := p["n1"][0].Labels[placement.LabelControllerRevisionHash]; h == old {
		t.Fatal("the replacement has the old template")
	}
	if h := p["n2"][0].Labels[placement.LabelControllerRevisionHash]; h != old {
		t.Fatal("a pod nobody deleted was replaced")
	}
	if s := dsStatus(st, ds); s.UpdatedNumberScheduled != 1 {
		t.Fatalf("status %+v", s)
	}
}

func TestDaemonSetSurge(t *testing.T) {
	ds := daemonSet("agent")
	zero, one := api.FromInt(0), api.FromInt(1)
	ds.Spec.UpdateStrategy.RollingUpdate = &api.RollingUpdateDaemonSet{MaxUnavailable: &zero, MaxSurge: &one}
	st := dsCluster(ds, 3)
	dsStep(t, st, dsT0)
	dsAllReady(st, ds, dsT0)
	steps, worst := dsRollout(t, st, ds, 3)
	if worst != 0 {
		t.Fatalf("with maxSurge, %d nodes were without an available pod", worst)
	}
	// Each node: create the new pod, then (once it is Ready) delete the
	// old one while creating the next node's.
	if steps != 4 {
		t.Fatalf("%d steps", steps)
	}
	if got := dsNodes(st, ds); got != "n1×1 n2×1 n3×1" {
		t.Fatalf("pods on %s", got)
	}
}

func TestDaemonSetStatusCompareAndSet(t *testing.T) {
	ds := daemonSet("agent")
	ds.ResourceVersion = "5"
	st := dsCluster(ds, 1)
	changes, _ := placement.PlanDaemonSets(dsT0, st)
	var puts int
	for _, c := range changes {
		if c.Put != nil && c.Put.GetTypeMeta().Kind == "DaemonSet" {
			puts++
			if c.Put.GetObjectMeta().ResourceVersion != "5" {
				t.Fatalf("status written without a compare-and-set: %q", c.Put.GetObjectMeta().ResourceVersion)
			}
		}
	}
	if puts != 1 {
		t.Fatalf("%d status writes", puts)
	}
}

func TestDaemonSetControllerPass(t *testing.T) {
	a, b := daemonSet("a"), daemonSet("b")
	b.CreationTimestamp = api.NewTime(dsT0)
	// n1 has room for one of the two: the older DaemonSet (a, created at
	// the zero time) gets it, and b sees it.
	n1 := dsNode("n1", nil)
	n1.Status.Allocatable["cpu"] = api.MustParseQuantity("150m")
	st := epState(a, b, n1)
	c := &placement.DaemonSetController{State: st, Writer: fakeWriter{st}}
	if _, err := c.Pass(context.Background(), dsT0); err != nil {
		t.Fatal(err)
	}
	if dsNodes(st, a) != "n1×1" || dsNodes(st, b) != "" {
		t.Fatalf("a on %q, b on %q", dsNodes(st, a), dsNodes(st, b))
	}
}
