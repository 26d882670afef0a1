package placement_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/placement"
)

// simWriter commits to a sim as the store would: a stale compare-and-set
// is a conflict.
type simWriter struct{ s *sim }

func (w simWriter) Commit(_ context.Context, changes []placement.Change) error {
	if !w.s.commit(changes) {
		return api.NewError(api.ReasonConflict, "changed since read")
	}
	return nil
}

// hpaPod is one pod of the target in a test: its cpu and memory use, or
// no metrics, or not Ready.
type hpaPod struct {
	cpu, mem  string
	noMetrics bool
	notReady  bool
}

// hpaCluster stores Deployment web with replicas, and its pods with
// requests of 100m cpu and 64Mi memory each, and their PodMetrics.
func hpaCluster(t *testing.T, replicas int32, pods ...hpaPod) *sim {
	s := newSim(t)
	d := testDeployment("web", replicas, "img:1")
	s.commit([]placement.Change{{Put: d}})
	for i, hp := range pods {
		p := &api.Pod{TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "Pod"}}
		p.Name, p.Namespace, p.Labels = fmt.Sprintf("web-%d", i), "default", map[string]string{"app": "web"}
		p.Spec.NodeName = "n1"
		p.Spec.Containers = []api.Container{{Name: "c", Image: "img:1", Resources: api.ResourceRequirements{
			Requests: api.ResourceList{"cpu": api.MustParseQuantity("100m"), "memory": api.MustParseQuantity("64Mi")}}}}
		p.Status.Phase = api.PodRunning
		if !hp.notReady {
			p.Status.Conditions = []api.PodCondition{{Type: api.PodReady, Status: api.ConditionTrue}}
		}
		s.commit([]placement.Change{{Put: p}})
		if hp.noMetrics {
			continue
		}
		stored, _ := s.state.Get(api.KeyOf(p))
		pm := &api.PodMetrics{TypeMeta: api.TypeMeta{APIVersion: "metrics.k8s.io/v1beta1", Kind: "PodMetrics"}}
		pm.Name, pm.Namespace = p.Name, p.Namespace
		pm.OwnerReferences = []api.OwnerReference{{APIVersion: "v1", Kind: "Pod", Name: p.Name, UID: stored.GetObjectMeta().UID}}
		pm.Containers = []api.ContainerMetrics{{Name: "c", Usage: api.ResourceList{"cpu": api.MustParseQuantity(hp.cpu), "memory": api.MustParseQuantity(hp.mem)}}}
		s.commit([]placement.Change{{Put: pm}})
	}
	return s
}

func cpuUtilization(pct int32) api.MetricSpec {
	return api.MetricSpec{Type: api.ResourceMetricSourceType, Resource: &api.ResourceMetricSource{
		Name: "cpu", Target: api.MetricTarget{Type: api.UtilizationMetricType, AverageUtilization: &pct}}}
}

func averageValue(resource, q string) api.MetricSpec {
	v := api.MustParseQuantity(q)
	return api.MetricSpec{Type: api.ResourceMetricSourceType, Resource: &api.ResourceMetricSource{
		Name: resource, Target: api.MetricTarget{Type: api.AverageValueMetricType, AverageValue: &v}}}
}

func testHPA(minR, maxR int32, metrics ...api.MetricSpec) *api.HorizontalPodAutoscaler {
	h := &api.HorizontalPodAutoscaler{TypeMeta: api.TypeMeta{APIVersion: "autoscaling/v2", Kind: "HorizontalPodAutoscaler"}}
	h.Name, h.Namespace = "web", "default"
	h.Spec = api.HorizontalPodAutoscalerSpec{
		ScaleTargetRef: api.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
		MinReplicas:    &minR, MaxReplicas: maxR, Metrics: metrics,
	}
	api.SetDefaults(h)
	return h
}

func (s *sim) hpa() *api.HorizontalPodAutoscaler {
	o, err := s.state.Get(api.Key{Kind: "HorizontalPodAutoscaler", Namespace: "default", Name: "web"})
	if err != nil {
		s.t.Fatal(err)
	}
	return o.(*api.HorizontalPodAutoscaler)
}

// autoscale runs one pass of a fresh controller, as a new leader would.
func (s *sim) autoscale() time.Duration {
	s.t.Helper()
	c := &placement.HPAController{State: s.state, Writer: simWriter{s}}
	requeue, err := c.Pass(context.Background(), s.now)
	if err != nil {
		s.t.Fatalf("pass: %v", err)
	}
	return requeue
}

func condition(h *api.HorizontalPodAutoscaler, typ string) api.HorizontalPodAutoscalerCondition {
	for _, c := range h.Status.Conditions {
		if c.Type == typ {
			return c
		}
	}
	return api.HorizontalPodAutoscalerCondition{}
}

func TestPlanHPA(t *testing.T) {
	busy := func(cpu string) hpaPod { return hpaPod{cpu: cpu, mem: "32Mi"} }
	for _, c := range []struct {
		name     string
		replicas int32
		pods     []hpaPod
		hpa      *api.HorizontalPodAutoscaler
		want     int32
		// conditions as "Type=Status/Reason"; message mentions
		cond    []string
		message string
	}{
		{name: "scale up at once", replicas: 2, pods: []hpaPod{busy("200m"), busy("200m")},
			hpa: testHPA(1, 10, cpuUtilization(50)), want: 8,
			cond: []string{"AbleToScale=True/SucceededRescale", "ScalingActive=True/ValidMetricFound", "ScalingLimited=False/DesiredWithinRange"}},
		{name: "within tolerance", replicas: 2, pods: []hpaPod{busy("55m"), busy("54m")},
			hpa: testHPA(1, 10, cpuUtilization(50)), want: 2,
			cond: []string{"AbleToScale=True/ReadyForNewScale"}},
		{name: "just past tolerance", replicas: 2, pods: []hpaPod{busy("60m"), busy("60m")},
			hpa: testHPA(1, 10, cpuUtilization(50)), want: 3},
		{name: "clamped to max", replicas: 2, pods: []hpaPod{busy("200m"), busy("200m")},
			hpa: testHPA(1, 5, cpuUtilization(50)), want: 5,
			cond: []string{"ScalingLimited=True/TooManyReplicas"}},
		{name: "clamped to min", replicas: 4, pods: []hpaPod{busy("1m"), busy("1m"), busy("1m"), busy("1m")},
			hpa: testHPA(2, 10, cpuUtilization(50)), want: 2,
			cond: []string{"ScalingLimited=True/TooFewReplicas"}},
		{name: "below min without metrics", replicas: 1, pods: []hpaPod{{noMetrics: true}},
			hpa: testHPA(3, 10, cpuUtilization(50)), want: 3,
			cond: []string{"ScalingActive=False/FailedGetResourceMetric", "ScalingLimited=True/TooFewReplicas"}},
		{name: "no pod has metrics", replicas: 2, pods: []hpaPod{{noMetrics: true}, {noMetrics: true}},
			hpa: testHPA(1, 10, cpuUtilization(50)), want: 2,
			cond:    []string{"ScalingActive=False/FailedGetResourceMetric"},
			message: "no Ready pod of deployment web has metrics yet (pods without metrics or not Ready are left out)"},
		{name: "pods not Ready or without metrics are left out", replicas: 3,
			pods: []hpaPod{busy("50m"), {cpu: "900m", mem: "1Mi", notReady: true}, {noMetrics: true}},
			hpa:  testHPA(1, 10, cpuUtilization(50)), want: 3},
		{name: "average value of memory", replicas: 2, pods: []hpaPod{{cpu: "1m", mem: "200Mi"}, {cpu: "1m", mem: "200Mi"}},
			hpa: testHPA(1, 10, averageValue("memory", "100Mi")), want: 4},
		{name: "highest of two metrics", replicas: 2, pods: []hpaPod{{cpu: "50m", mem: "192Mi"}, {cpu: "50m", mem: "192Mi"}},
			hpa: testHPA(1, 10, cpuUtilization(50), averageValue("memory", "64Mi")), want: 6},
		{name: "a metric that fails may not scale down", replicas: 4, pods: []hpaPod{busy("1m"), busy("1m")},
			hpa: testHPA(1, 10, cpuUtilization(50), averageValue("memory", "64Mi"), api.MetricSpec{Type: api.PodsMetricSourceType}), want: 4,
			cond: []string{"ScalingActive=True/ValidMetricFound"}, message: "only Resource metrics are supported"},
		{name: "zero replicas disable scaling", replicas: 0,
			hpa: testHPA(1, 10, cpuUtilization(50)), want: 0,
			cond: []string{"ScalingActive=False/ScalingDisabled"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := hpaCluster(t, c.replicas, c.pods...)
			s.commit([]placement.Change{{Put: c.hpa}})
			s.autoscale()
			d, h := s.deployment("web"), s.hpa()
			if *d.Spec.Replicas != c.want || h.Status.DesiredReplicas != c.want {
				t.Errorf("replicas %d, status.desiredReplicas %d; want %d (status %+v)", *d.Spec.Replicas, h.Status.DesiredReplicas, c.want, h.Status)
			}
			if h.Status.CurrentReplicas != c.replicas {
				t.Errorf("status.currentReplicas %d, want %d", h.Status.CurrentReplicas, c.replicas)
			}
			if scaled := c.want != c.replicas; scaled != (h.Status.LastScaleTime != nil) {
				t.Errorf("lastScaleTime %v after scaling %d to %d", h.Status.LastScaleTime, c.replicas, c.want)
			}
			var messages []string
			for _, want := range c.cond {
				typ, rest, _ := strings.Cut(want, "=")
				got := condition(h, typ)
				if string(got.Status)+"/"+got.Reason != rest {
					t.Errorf("condition %s = %s/%s (%s), want %s", typ, got.Status, got.Reason, got.Message, rest)
				}
			}
			for _, cond := range h.Status.Conditions {
				messages = append(messages, cond.Message)
			}
			if c.message != "" && !strings.Contains(strings.Join(messages, "\n"), c.message) {
				t.Errorf("no condition says %q: %q", c.message, messages)
			}
			// Without a scale, a second pass over the same numbers writes
			// nothing. (After a scale it would: the pods' use here does
			// not spread over the new replicas.)
			if c.want == c.replicas {
				before := s.rv
				s.autoscale()
				if s.rv != before {
					t.Errorf("a pass in a steady state wrote: %+v", s.hpa().Status)
				}
			}
		})
	}
}

func TestHPAStatusMetrics(t *testing.T) {
	s := hpaCluster(t, 2, hpaPod{cpu: "60m", mem: "32Mi"}, hpaPod{cpu: "40m", mem: "64Mi"})
	s.commit([]placement.Change{{Put: testHPA(1, 10, cpuUtilization(50), averageValue("memory", "48Mi"))}})
	s.autoscale()
	m := s.hpa().Status.CurrentMetrics
	if len(m) != 2 || m[0].Resource.Name != "cpu" || *m[0].Resource.Current.AverageUtilization != 50 ||
		m[0].Resource.Current.AverageValue.String() != "50m" || m[1].Resource.Current.AverageValue.String() != "48Mi" {
		t.Fatalf("currentMetrics %s", jsonString(m))
	}
}

func TestHPAMissingRequest(t *testing.T) {
	s := hpaCluster(t, 1, hpaPod{cpu: "60m", mem: "32Mi"})
	o, _ := s.state.Get(api.Key{Kind: "Pod", Namespace: "default", Name: "web-0"})
	p := api.Copy(o.(*api.Pod))
	p.Spec.Containers[0].Resources.Requests = nil
	s.commit([]placement.Change{{Put: p}})
	s.commit([]placement.Change{{Put: testHPA(1, 10, cpuUtilization(50))}})
	s.autoscale()
	c := condition(s.hpa(), "ScalingActive")
	if c.Status != api.ConditionFalse || !strings.Contains(c.Message, "missing request for cpu in container c of pod web-0") {
		t.Fatalf("ScalingActive %+v", c)
	}
}

func TestHPAMissingTarget(t *testing.T) {
	s := newSim(t)
	s.commit([]placement.Change{{Put: testHPA(1, 10, cpuUtilization(50))}})
	s.autoscale()
	c := condition(s.hpa(), "AbleToScale")
	if c.Status != api.ConditionFalse || c.Reason != "FailedGetScale" || !strings.Contains(c.Message, "deployment web not found in namespace default") {
		t.Fatalf("AbleToScale %+v", c)
	}
}

// setUsage replaces the cpu use of every pod's metrics.
func (s *sim) setUsage(cpu string) {
	objs, _ := s.state.List("PodMetrics", "default")
	for _, o := range objs {
		pm := api.Copy(o.(*api.PodMetrics))
		pm.Containers[0].Usage["cpu"] = api.MustParseQuantity(cpu)
		s.commit([]placement.Change{{Put: pm}})
	}
}

// Scaling down waits for the highest recommendation of the last five
// minutes, even across a change of leader (every pass here is a fresh
// controller); scaling up never waits.
func TestHPAScaleDownStabilization(t *testing.T) {
	s := hpaCluster(t, 4, hpaPod{cpu: "100m", mem: "1Mi"}, hpaPod{cpu: "100m", mem: "1Mi"})
	s.commit([]placement.Change{{Put: testHPA(1, 10, cpuUtilization(50))}})
	start := s.now
	s.autoscale() // 200% of the target: 4 → 8
	if r := *s.deployment("web").Spec.Replicas; r != 8 {
		t.Fatalf("replicas %d, want 8", r)
	}

	s.setUsage("10m") // 10% of requests: recommends ceil(8 × 10/50) = 2
	s.now = start.Add(time.Minute)
	requeue := s.autoscale()
	h := s.hpa()
	if r := *s.deployment("web").Spec.Replicas; r != 8 || h.Status.DesiredReplicas != 8 {
		t.Fatalf("scaled down to %d within the window", r)
	}
	if c := condition(h, "AbleToScale"); c.Reason != "ScaleDownStabilized" {
		t.Errorf("AbleToScale %+v, want ScaleDownStabilized", c)
	}
	if requeue != 5*time.Minute {
		t.Errorf("requeue %v, want 5m (when the recommendation of 8 leaves the window)", requeue)
	}
	if !strings.Contains(h.Annotations[placement.AnnotationHPARecommendations], `"replicas":8`) {
		t.Errorf("history annotation %q", h.Annotations[placement.AnnotationHPARecommendations])
	}

	// A new leader, later but within the window, still holds.
	s.now = start.Add(5*time.Minute + 59*time.Second)
	s.autoscale()
	if r := *s.deployment("web").Spec.Replicas; r != 8 {
		t.Fatalf("a new leader scaled down to %d within the window", r)
	}

	// Once the 8 has been replaced for five minutes, down to 2 (and the
	// 8 is forgotten).
	s.now = start.Add(6*time.Minute + time.Second)
	s.autoscale()
	h = s.hpa()
	if r := *s.deployment("web").Spec.Replicas; r != 2 {
		t.Fatalf("replicas %d after the window, want 2", r)
	}
	if strings.Contains(h.Annotations[placement.AnnotationHPARecommendations], `"replicas":8`) {
		t.Errorf("history kept an entry out of the window: %q", h.Annotations[placement.AnnotationHPARecommendations])
	}

	// Up again at once: 100% of requests on 2 replicas makes 4.
	s.setUsage("100m")
	s.now = s.now.Add(time.Second)
	s.autoscale()
	if r := *s.deployment("web").Spec.Replicas; r != 4 {
		t.Fatalf("replicas %d, want 4 at once", r)
	}
}

// Without the history (as a controller keeping it in memory would lose it
// to a change of leader), the same state scales down at once: the
// annotation is what holds it.
func TestHPAHistoryIsWhatHolds(t *testing.T) {
	s := hpaCluster(t, 8, hpaPod{cpu: "10m", mem: "1Mi"}, hpaPod{cpu: "10m", mem: "1Mi"})
	h := testHPA(1, 10, cpuUtilization(50))
	h.Annotations = map[string]string{placement.AnnotationHPARecommendations: fmt.Sprintf(`[{"time":%q,"replicas":8}]`, s.now.Add(-time.Minute).Format(time.RFC3339))}
	s.commit([]placement.Change{{Put: h}})
	s.autoscale()
	if r := *s.deployment("web").Spec.Replicas; r != 8 {
		t.Fatalf("with history: replicas %d, want 8", r)
	}
	h = api.Copy(s.hpa())
	delete(h.Annotations, placement.AnnotationHPARecommendations)
	s.commit([]placement.Change{{Put: h}})
	s.autoscale()
	if r := *s.deployment("web").Spec.Replicas; r != 2 {
		t.Fatalf("without history: replicas %d, want 2", r)
	}
}

// The target and the autoscaler are written compare-and-set: a target
// changed since the pass read it is not overwritten.
func TestHPAWriteIsCompareAndSet(t *testing.T) {
	s := hpaCluster(t, 2, hpaPod{cpu: "200m", mem: "1Mi"}, hpaPod{cpu: "200m", mem: "1Mi"})
	s.commit([]placement.Change{{Put: testHPA(1, 10, cpuUtilization(50))}})
	plans, _ := placement.PlanHPAs(s.now, s.state)
	d := api.Copy(s.deployment("web"))
	three := int32(3)
	d.Spec.Replicas = &three
	s.commit([]placement.Change{{Put: d}})
	for _, p := range plans {
		if s.commit(p) {
			t.Fatal("a plan over a stale target was committed")
		}
	}
	s.autoscale()
	if r := *s.deployment("web").Spec.Replicas; r != 10 {
		t.Fatalf("replicas %d after the retry, want 10 (3 × 4 = 12, clamped)", r)
	}
}
