package placement_test

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/placement"
)

// sim is a small cluster for controller tests: a state that assigns UIDs,
// versions and creation times as the store does and checks
// compare-and-set, plus a kubelet that starts bound pods.
type sim struct {
	t     *testing.T
	state fakeState
	now   time.Time
	rv    int
}

func newSim(t *testing.T) *sim {
	return &sim{t: t, state: fakeState{}, now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
}

// commit applies one command all or nothing, as the store does.
func (s *sim) commit(changes []placement.Change) bool {
	for _, c := range changes {
		if c.Put == nil {
			continue
		}
		m := c.Put.GetObjectMeta()
		if m.ResourceVersion != "" {
			cur, err := s.state.Get(api.KeyOf(c.Put))
			if err != nil || cur.GetObjectMeta().ResourceVersion != m.ResourceVersion {
				return false
			}
		}
	}
	s.rv++
	for _, c := range changes {
		if c.Delete != nil {
			delete(s.state, *c.Delete)
			continue
		}
		o := api.Copy(c.Put)
		m := o.GetObjectMeta()
		if cur, err := s.state.Get(api.KeyOf(o)); err == nil {
			m.UID, m.CreationTimestamp = cur.GetObjectMeta().UID, cur.GetObjectMeta().CreationTimestamp
		} else {
			m.UID = fmt.Sprintf("uid-%s-%d", m.Name, s.rv)
			m.CreationTimestamp = api.NewTime(s.now)
		}
		m.ResourceVersion = strconv.Itoa(s.rv)
		s.state[api.KeyOf(o)] = o
	}
	return true
}

// controllers runs the Deployment and ReplicaSet planners once.
func (s *sim) controllers() {
	plans, _ := placement.PlanDeployments(s.now, s.state)
	for _, p := range plans {
		s.commit(p)
	}
	plans, _ = placement.PlanReplicaSets(s.now, s.state)
	for _, p := range plans {
		s.commit(p)
	}
}

// kubelet binds every pod and makes it Running and Ready, unless ready
// says to hold it back.
func (s *sim) kubelet(ready func(*api.Pod) bool) {
	objs, _ := s.state.List("Pod", "")
	for _, o := range objs {
		p := api.Copy(o.(*api.Pod))
		if p.Status.Phase == api.PodRunning {
			continue
		}
		if ready != nil && !ready(p) {
			continue
		}
		p.Spec.NodeName = "n1"
		p.Status.Phase = api.PodRunning
		p.Status.Conditions = []api.PodCondition{{Type: api.PodReady, Status: api.ConditionTrue, LastTransitionTime: api.NewTime(s.now)}}
		s.commit([]placement.Change{{Put: p}})
	}
}

func (s *sim) pods() (total, ready int, images map[string]int) {
	images = map[string]int{}
	objs, _ := s.state.List("Pod", "")
	for _, o := range objs {
		p := o.(*api.Pod)
		total++
		images[p.Spec.Containers[0].Image]++
		for _, c := range p.Status.Conditions {
			if c.Type == api.PodReady && c.Status == api.ConditionTrue {
				ready++
			}
		}
	}
	return total, ready, images
}

func (s *sim) deployment(name string) *api.Deployment {
	o, err := s.state.Get(api.Key{Kind: "Deployment", Namespace: "default", Name: name})
	if err != nil {
		s.t.Fatal(err)
	}
	return o.(*api.Deployment)
}

func testDeployment(name string, n int32, image string) *api.Deployment {
	d := &api.Deployment{TypeMeta: api.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"}}
	d.Name, d.Namespace, d.Generation = name, "default", 1
	d.Spec.Replicas = &n
	d.Spec.Selector = &api.LabelSelector{MatchLabels: map[string]string{"app": name}}
	d.Spec.Template.Labels = map[string]string{"app": name}
	d.Spec.Template.Spec.Containers = []api.Container{{Name: "c", Image: image}}
	api.SetDefaults(d)
	return d
}

func TestDeploymentScalesUpAndBecomesAvailable(t *testing.T) {
	s := newSim(t)
	s.commit([]placement.Change{{Put: testDeployment("web", 6, "img:1")}})
	for range 5 {
		s.controllers()
		s.kubelet(nil)
	}
	s.controllers()
	total, ready, _ := s.pods()
	d := s.deployment("web")
	if total != 6 || ready != 6 || d.Status.AvailableReplicas != 6 || d.Status.UpdatedReplicas != 6 {
		t.Fatalf("pods %d ready %d; status %+v", total, ready, d.Status)
	}
	if c := d.Status.Conditions; len(c) != 2 || c[0].Status != api.ConditionTrue || c[1].Reason != "NewReplicaSetAvailable" {
		t.Fatalf("conditions %+v", c)
	}
	// Steady state: a pass changes nothing.
	before := s.rv
	s.controllers()
	if s.rv != before {
		t.Fatalf("%d writes in a steady state", s.rv-before)
	}
}

// A rolling update never has fewer than replicas-maxUnavailable Ready pods
// nor more than replicas+maxSurge pods, and a fresh controller (a new
// leader) picks it up midway.
func TestRollingUpdateKeepsAvailability(t *testing.T) {
	s := newSim(t)
	d := testDeployment("web", 6, "img:1")
	one, two := api.FromInt(1), api.FromInt(2)
	d.Spec.Strategy = api.DeploymentStrategy{Type: api.RollingUpdateDeploymentStrategyType,
		RollingUpdate: &api.RollingUpdateDeployment{MaxUnavailable: &one, MaxSurge: &two}}
	s.commit([]placement.Change{{Put: d}})
	for range 5 {
		s.controllers()
		s.kubelet(nil)
	}
	d = s.deployment("web")
	d.Spec.Template.Spec.Containers[0].Image = "img:2"
	d.Generation++
	if !s.commit([]placement.Change{{Put: d}}) {
		t.Fatal("update refused")
	}
	// New pods become ready only every other step, to make the rollout
	// wait on readiness.
	step := 0
	for ; step < 60; step++ {
		s.controllers()
		total, ready, images := s.pods()
		if ready < 5 {
			t.Fatalf("step %d: only %d Ready pods, want at least 5 (replicas 6, maxUnavailable 1)", step, ready)
		}
		if total > 8 {
			t.Fatalf("step %d: %d pods, want at most 8 (replicas 6, maxSurge 2)", step, total)
		}
		if images["img:2"] == 6 && total == 6 && ready == 6 {
			break
		}
		s.now = s.now.Add(time.Second)
		if step%2 == 0 {
			s.kubelet(nil)
		}
	}
	s.controllers()
	d = s.deployment("web")
	if d.Status.UpdatedReplicas != 6 || d.Status.AvailableReplicas != 6 || d.Annotations[placement.AnnotationRevision] != "2" {
		t.Fatalf("after %d steps: status %+v revision %q", step, d.Status, d.Annotations[placement.AnnotationRevision])
	}
	rss, _ := s.state.List("ReplicaSet", "default")
	if len(rss) != 2 {
		t.Fatalf("%d ReplicaSets, want the old one kept at 0 for history and the new one", len(rss))
	}
}

func TestRecreateStopsOldPodsFirst(t *testing.T) {
	s := newSim(t)
	d := testDeployment("db", 2, "img:1")
	d.Spec.Strategy = api.DeploymentStrategy{Type: api.RecreateDeploymentStrategyType}
	s.commit([]placement.Change{{Put: d}})
	for range 4 {
		s.controllers()
		s.kubelet(nil)
	}
	d = s.deployment("db")
	d.Spec.Template.Spec.Containers[0].Image = "img:2"
	d.Generation++
	s.commit([]placement.Change{{Put: d}})
	for range 6 {
		s.controllers()
		_, _, images := s.pods()
		if images["img:1"] > 0 && images["img:2"] > 0 {
			t.Fatalf("old and new pods at once: %v", images)
		}
		s.kubelet(nil)
	}
	if _, _, images := s.pods(); images["img:2"] != 2 {
		t.Fatalf("after the recreate: %v", images)
	}
}

func TestProgressDeadlineExceeded(t *testing.T) {
	s := newSim(t)
	d := testDeployment("stuck", 1, "img:1")
	deadline := int32(30)
	d.Spec.ProgressDeadlineSeconds = &deadline
	s.commit([]placement.Change{{Put: d}})
	never := func(*api.Pod) bool { return false }
	for range 3 {
		s.controllers()
		s.kubelet(never)
	}
	s.now = s.now.Add(31 * time.Second)
	s.controllers()
	c := s.deployment("stuck").Status.Conditions
	if len(c) != 2 || c[1].Status != api.ConditionFalse || c[1].Reason != "ProgressDeadlineExceeded" {
		t.Fatalf("conditions %+v", c)
	}
}

func TestReplicaSetReplacesFinishedAndDeletedPods(t *testing.T) {
	s := newSim(t)
	s.commit([]placement.Change{{Put: testDeployment("web", 3, "img:1")}})
	for range 3 {
		s.controllers()
		s.kubelet(nil)
	}
	objs, _ := s.state.List("Pod", "default")
	gone := api.KeyOf(objs[0])
	failed := api.Copy(objs[1].(*api.Pod))
	failed.Status.Phase = api.PodFailed
	s.commit([]placement.Change{{Delete: &gone}, {Put: failed}})
	s.controllers()
	total, _, _ := s.pods()
	if total != 3 {
		t.Fatalf("%d pods after one was deleted and one failed, want 3", total)
	}
	if _, err := s.state.Get(api.KeyOf(failed)); err == nil {
		t.Fatal("the failed pod was kept")
	}
	// Scale down removes the pods least worth keeping: the unready ones.
	s.kubelet(nil)
	objs, _ = s.state.List("Pod", "default")
	unready := api.Copy(objs[2].(*api.Pod))
	unready.Status.Conditions = nil
	s.commit([]placement.Change{{Put: unready}})
	d := s.deployment("web")
	n := int32(2)
	d.Spec.Replicas = &n
	d.Generation++
	s.commit([]placement.Change{{Put: d}})
	s.controllers()
	s.controllers()
	total, ready, _ := s.pods()
	if total != 2 || ready != 2 {
		t.Fatalf("after scaling to 2: %d pods, %d ready; want the 2 ready ones kept", total, ready)
	}
}
