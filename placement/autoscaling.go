package placement

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/state"
)

// AnnotationHPARecommendations holds, on a HorizontalPodAutoscaler, its
// replica recommendations of the last DownscaleStabilization as JSON: a
// list of {"time", "replicas"}, oldest first, each recommendation holding
// from its time until the next one's (the last one until now). Keeping it
// in the object means a new leader scales down no sooner than the old one
// would have.
const AnnotationHPARecommendations = "shoal.dev/hpa-recommendations"

const (
	// HPATolerance is how far the ratio of a metric's current value to
	// its target may stray from 1 without a change of scale.
	HPATolerance = 0.1
	// DownscaleStabilization is how far back an autoscaler looks when it
	// scales down: to the highest recommendation of that window.
	DownscaleStabilization = 5 * time.Minute
)

// HPAController scales the Deployments and ReplicaSets that
// HorizontalPodAutoscalers target, from the PodMetrics of their pods, as
// Kubernetes' horizontal pod autoscaler does for Resource metrics:
//
//   - Each metric (cpu or memory, as averageUtilization of the pods'
//     requests or as averageValue) is averaged over the target's Ready
//     pods that have a PodMetrics; pods without metrics or not Ready are
//     left out, and when none is left the metric cannot be computed.
//   - A metric recommends ceil(currentReplicas × current/target), or no
//     change within HPATolerance; the recommendation is the highest over
//     the metrics. When a metric cannot be computed, the others may scale
//     up but not down.
//   - Scaling up is immediate. Scaling down goes no lower than the highest
//     recommendation of the last DownscaleStabilization, kept in the
//     AnnotationHPARecommendations annotation so it survives a change of
//     leader.
//   - The result is clamped to [minReplicas (default 1), maxReplicas]; a
//     target with zero replicas is left alone (scaling is disabled).
//
// One command per autoscaler writes the target's spec.replicas and the
// autoscaler's status and annotation, both compare-and-set on what the
// pass read, so a concurrent change makes it retry rather than overwrite.
// Nothing is written when nothing changed.
type HPAController struct {
	State  Reader
	Writer Writer
}

// Pass commits each autoscaler's plan as one command. A command refused
// because its objects changed since they were read is retried soon.
func (c *HPAController) Pass(ctx context.Context, now time.Time) (time.Duration, error) {
	plans, requeue := PlanHPAs(now, c.State)
	for _, changes := range plans {
		if err := c.Writer.Commit(ctx, changes); err != nil {
			if !state.Stale(err) {
				return requeue, err
			}
			requeueAt(&requeue, time.Second)
		}
	}
	return requeue, nil
}

// PlanHPAs plans every HorizontalPodAutoscaler: the changes of each as one
// command, and how soon to look again (when a scale-down held back by
// stabilisation may go ahead). It is pure over the state and now.
func PlanHPAs(now time.Time, state Reader) ([][]Change, time.Duration) {
	objs, _ := state.List("HorizontalPodAutoscaler", "")
	var plans [][]Change
	var requeue time.Duration
	for _, o := range objs {
		changes, wait := planHPA(now, state, o.(*api.HorizontalPodAutoscaler))
		requeueAt(&requeue, wait)
		if len(changes) > 0 {
			plans = append(plans, changes)
		}
	}
	return plans, requeue
}

// hpaRecommendation is one entry of AnnotationHPARecommendations.
type hpaRecommendation struct {
	Time     time.Time `json:"time"`
	Replicas int32     `json:"replicas"`
}

// scaleTarget is what an autoscaler needs of the object it scales.
type scaleTarget struct {
	obj      api.Object
	what     string // "deployment web"
	replicas int32
	selector *api.LabelSelector
}

func planHPA(now time.Time, state Reader, h *api.HorizontalPodAutoscaler) ([]Change, time.Duration) {
	next := api.Copy(h)
	st := &next.Status
	gen := h.Generation
	st.ObservedGeneration = &gen
	conds := newHPAConditions(now, h.Status.Conditions)
	var changes []Change
	var requeue time.Duration
	history := readRecommendations(h)

	target, err := hpaTarget(state, h)
	switch {
	case err != nil:
		conds.set("AbleToScale", api.ConditionFalse, "FailedGetScale", err.Error())
	case target.replicas == 0:
		st.CurrentReplicas, st.DesiredReplicas = 0, 0
		st.CurrentMetrics = nil
		conds.set("AbleToScale", api.ConditionTrue, "SucceededGetScale", "the HPA controller was able to get the target's current scale")
		conds.set("ScalingActive", api.ConditionFalse, "ScalingDisabled", "scaling is disabled since the replica count of the target is zero")
	default:
		current := target.replicas
		rec, metrics, valid, problem := recommend(state, h, target)
		st.CurrentMetrics = metrics
		switch {
		case valid == 0:
			rec = current
			conds.set("ScalingActive", api.ConditionFalse, "FailedGetResourceMetric", problem)
		case problem != "":
			rec = max(rec, current) // scale up on what is known, but not down
			conds.set("ScalingActive", api.ConditionTrue, "ValidMetricFound", "the HPA was able to calculate a replica count from some of its metrics, but not all: "+problem)
		default:
			conds.set("ScalingActive", api.ConditionTrue, "ValidMetricFound", "the HPA was able to successfully calculate a replica count from "+metricsDescription(h))
		}
		if valid > 0 {
			history = recordRecommendation(history, now, rec)
		}
		history = pruneRecommendations(history, now)

		stabilized, wait := stabilize(history, now, rec, current)
		requeueAt(&requeue, wait)
		minR, maxR := int32(1), h.Spec.MaxReplicas
		if h.Spec.MinReplicas != nil {
			minR = *h.Spec.MinReplicas
		}
		desired := min(max(stabilized, minR), maxR)
		switch {
		case stabilized < minR:
			conds.set("ScalingLimited", api.ConditionTrue, "TooFewReplicas", "the desired replica count is less than the minimum replica count")
		case stabilized > maxR:
			conds.set("ScalingLimited", api.ConditionTrue, "TooManyReplicas", "the desired replica count is more than the maximum replica count")
		default:
			conds.set("ScalingLimited", api.ConditionFalse, "DesiredWithinRange", "the desired count is within the acceptable range")
		}
		st.CurrentReplicas, st.DesiredReplicas = current, desired
		switch {
		case desired != current:
			changes = append(changes, Change{Put: withReplicas(target.obj, desired)})
			st.LastScaleTime = api.NewTime(now)
			conds.set("AbleToScale", api.ConditionTrue, "SucceededRescale", fmt.Sprintf("the HPA controller was able to update the target scale to %d", desired))
		case stabilized > rec:
			conds.set("AbleToScale", api.ConditionTrue, "ScaleDownStabilized", "recent recommendations were higher than current one, applying the highest recent recommendation")
		default:
			conds.set("AbleToScale", api.ConditionTrue, "ReadyForNewScale", "recommended size matches current size")
		}
	}
	st.Conditions = conds.list()
	writeRecommendations(next, history)
	if len(changes) > 0 || !sameJSON(next.Status, h.Status) || next.Annotations[AnnotationHPARecommendations] != h.Annotations[AnnotationHPARecommendations] {
		changes = append(changes, Change{Put: next})
	}
	return changes, requeue
}

// hpaTarget reads the object h scales.
func hpaTarget(state Reader, h *api.HorizontalPodAutoscaler) (scaleTarget, error) {
	ref := h.Spec.ScaleTargetRef
	if ref.APIVersion != "" && ref.APIVersion != "apps/v1" {
		return scaleTarget{}, fmt.Errorf("the HPA controller was unable to get the target's current scale: %s %s has apiVersion %q; shoal scales only apps/v1 Deployments and ReplicaSets", ref.Kind, ref.Name, ref.APIVersion)
	}
	what := strings.ToLower(ref.Kind) + " " + ref.Name
	o, err := state.Get(api.Key{Kind: ref.Kind, Namespace: h.Namespace, Name: ref.Name})
	if err != nil {
		return scaleTarget{}, fmt.Errorf("the HPA controller was unable to get the target's current scale: %s not found in namespace %s", what, h.Namespace)
	}
	switch t := o.(type) {
	case *api.Deployment:
		return scaleTarget{obj: t, what: what, replicas: replicas(t.Spec.Replicas), selector: t.Spec.Selector}, nil
	case *api.ReplicaSet:
		return scaleTarget{obj: t, what: what, replicas: replicas(t.Spec.Replicas), selector: t.Spec.Selector}, nil
	}
	return scaleTarget{}, fmt.Errorf("the HPA controller was unable to get the target's current scale: kind %q cannot be scaled (use Deployment or ReplicaSet)", ref.Kind)
}

// withReplicas returns a copy of a Deployment or ReplicaSet with its
// replicas set; the copy keeps the resourceVersion read, so the write is
// compare-and-set.
func withReplicas(obj api.Object, n int32) api.Object {
	switch t := obj.(type) {
	case *api.Deployment:
		c := api.Copy(t)
		c.Spec.Replicas = &n
		return c
	case *api.ReplicaSet:
		c := api.Copy(t)
		c.Spec.Replicas = &n
		return c
	}
	panic(fmt.Sprintf("placement: cannot scale a %T", obj))
}

// metricsDescription names h's metrics as Kubernetes' condition message
// does: "cpu resource utilization (percentage of request)".
func metricsDescription(h *api.HorizontalPodAutoscaler) string {
	var parts []string
	for _, m := range h.Spec.Metrics {
		if m.Resource == nil {
			continue
		}
		if m.Resource.Target.Type == api.UtilizationMetricType {
			parts = append(parts, m.Resource.Name+" resource utilization (percentage of request)")
		} else {
			parts = append(parts, m.Resource.Name+" resource")
		}
	}
	return strings.Join(parts, " and ")
}

// metricPod is one pod a metric is computed over.
type metricPod struct {
	pod   *api.Pod
	usage *api.PodMetrics
}

// recommend computes each metric of h over the target's Ready pods that
// have metrics, and returns the highest recommendation, the metrics'
// current values, how many metrics could be computed, and why the others
// could not ("" when all could).
func recommend(state Reader, h *api.HorizontalPodAutoscaler, t scaleTarget) (rec int32, statuses []api.MetricStatus, valid int, problem string) {
	var pods []metricPod
	var objs []api.Object
	if t.selector != nil {
		if sel, err := t.selector.AsSelector(); err == nil {
			objs, _ = state.ListSelected("Pod", h.Namespace, sel) // from the label index
		}
	}
	for _, o := range objs {
		p := o.(*api.Pod)
		if !podActive(p) || !podReady(p) {
			continue
		}
		mo, err := state.Get(api.Key{Kind: "PodMetrics", Namespace: p.Namespace, Name: p.Name})
		if err != nil {
			continue
		}
		pm := mo.(*api.PodMetrics)
		if !ownedBy(pm, p) {
			continue // left by an older pod of that name
		}
		pods = append(pods, metricPod{p, pm})
	}
	var problems []string
	for i, m := range h.Spec.Metrics {
		if m.Type != api.ResourceMetricSourceType || m.Resource == nil {
			problems = append(problems, fmt.Sprintf("spec.metrics[%d]: only Resource metrics are supported", i))
			continue
		}
		r, status, err := resourceRecommendation(m.Resource, pods, t)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		valid++
		rec = max(rec, r)
		statuses = append(statuses, api.MetricStatus{Type: api.ResourceMetricSourceType, Resource: status})
	}
	return rec, statuses, valid, strings.Join(problems, "; ")
}

func ownedBy(pm *api.PodMetrics, p *api.Pod) bool {
	for _, r := range pm.OwnerReferences {
		if r.Kind == "Pod" {
			return r.UID == p.UID
		}
	}
	return true // no owner recorded: trust the name
}

// resourceRecommendation computes one Resource metric over pods.
func resourceRecommendation(m *api.ResourceMetricSource, pods []metricPod, t scaleTarget) (int32, *api.ResourceMetricStatus, error) {
	if len(pods) == 0 {
		return 0, nil, fmt.Errorf("the HPA was unable to compute the replica count: no Ready pod of %s has metrics yet (pods without metrics or not Ready are left out)", t.what)
	}
	var usage, request float64 // in units of the resource (cores, bytes)
	for _, mp := range pods {
		for _, c := range mp.usage.Containers {
			if q, ok := c.Usage[m.Name]; ok {
				usage += q.AsApproximateFloat64()
			}
		}
		if m.Target.Type == api.UtilizationMetricType {
			req, err := podRequest(mp.pod, m.Name)
			if err != nil {
				return 0, nil, err
			}
			request += req
		}
	}
	n := float64(len(pods))
	status := &api.ResourceMetricStatus{Name: m.Name}
	avg := usage / n
	if m.Name == api.ResourceMemory {
		q := api.NewQuantity(int64(math.Round(avg)), api.BinarySI)
		status.Current.AverageValue = &q
	} else {
		q := api.NewMilliQuantity(int64(math.Round(avg*1000)), api.DecimalSI)
		status.Current.AverageValue = &q
	}
	var ratio float64
	switch m.Target.Type {
	case api.UtilizationMetricType:
		if m.Target.AverageUtilization == nil || *m.Target.AverageUtilization <= 0 {
			return 0, nil, fmt.Errorf("the HPA was unable to compute the replica count: the %s target has no averageUtilization", m.Name)
		}
		util := usage * 100 / request
		u := int32(util)
		status.Current.AverageUtilization = &u
		ratio = util / float64(*m.Target.AverageUtilization)
	case api.AverageValueMetricType:
		if m.Target.AverageValue == nil || m.Target.AverageValue.Sign() <= 0 {
			return 0, nil, fmt.Errorf("the HPA was unable to compute the replica count: the %s target has no averageValue", m.Name)
		}
		ratio = avg / m.Target.AverageValue.AsApproximateFloat64()
	default:
		return 0, nil, fmt.Errorf("the HPA was unable to compute the replica count: the %s target has type %q (use Utilization or AverageValue)", m.Name, m.Target.Type)
	}
	current := t.replicas
	if math.Abs(ratio-1) <= HPATolerance+1e-9 {
		return current, status, nil
	}
	return int32(math.Ceil(ratio*float64(current) - 1e-9)), status, nil
}

// podRequest sums the pod's requests of resource over its containers and
// sidecars; every one of them must request it.
func podRequest(p *api.Pod, resource string) (float64, error) {
	var sum float64
	add := func(c api.Container) error {
		q, ok := c.Resources.Requests[resource]
		if !ok || q.Sign() <= 0 {
			return fmt.Errorf("the HPA was unable to compute the replica count: missing request for %s in container %s of pod %s (set resources.requests.%s on every container to scale on its utilization, or use an averageValue target)", resource, c.Name, p.Name, resource)
		}
		sum += q.AsApproximateFloat64()
		return nil
	}
	for _, c := range p.Spec.InitContainers {
		if c.RestartPolicy != nil && *c.RestartPolicy == api.ContainerRestartPolicyAlways {
			if err := add(c); err != nil {
				return 0, err
			}
		}
	}
	for _, c := range p.Spec.Containers {
		if err := add(c); err != nil {
			return 0, err
		}
	}
	return sum, nil
}

// readRecommendations decodes the history annotation; a damaged one
// counts as empty.
func readRecommendations(h *api.HorizontalPodAutoscaler) []hpaRecommendation {
	var out []hpaRecommendation
	if s := h.Annotations[AnnotationHPARecommendations]; s != "" {
		if json.Unmarshal([]byte(s), &out) != nil {
			return nil
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out
}

func writeRecommendations(h *api.HorizontalPodAutoscaler, history []hpaRecommendation) {
	if len(history) == 0 {
		delete(h.Annotations, AnnotationHPARecommendations)
		return
	}
	b, _ := json.Marshal(history)
	if h.Annotations == nil {
		h.Annotations = map[string]string{}
	}
	h.Annotations[AnnotationHPARecommendations] = string(b)
}

// recordRecommendation appends rec at now unless it is what the history
// already says holds.
func recordRecommendation(history []hpaRecommendation, now time.Time, rec int32) []hpaRecommendation {
	if n := len(history); n > 0 && history[n-1].Replicas == rec {
		return history
	}
	return append(history, hpaRecommendation{Time: now.UTC().Truncate(time.Second), Replicas: rec})
}

// pruneRecommendations drops the entries that stopped holding before the
// window began.
func pruneRecommendations(history []hpaRecommendation, now time.Time) []hpaRecommendation {
	from := now.Add(-DownscaleStabilization)
	i := 0
	for i < len(history)-1 && !history[i+1].Time.After(from) {
		i++
	}
	return history[i:]
}

// stabilize applies scale-down stabilisation to recommendation rec for a
// target at current replicas: a scale-up is taken at once; a scale-down
// goes no lower than the highest recommendation in the (pruned) history.
// wait is how long until that highest entry leaves the window.
func stabilize(history []hpaRecommendation, now time.Time, rec, current int32) (int32, time.Duration) {
	if rec >= current {
		return rec, 0
	}
	out := rec
	var wait time.Duration
	for i, e := range history {
		if e.Replicas <= rec {
			continue
		}
		out = max(out, e.Replicas)
		if i+1 < len(history) {
			requeueAt(&wait, history[i+1].Time.Add(DownscaleStabilization).Sub(now))
		}
	}
	return min(out, current), wait
}

// hpaConditions builds an autoscaler's conditions, keeping a condition's
// lastTransitionTime while its status stays.
type hpaConditions struct {
	now  time.Time
	old  []api.HorizontalPodAutoscalerCondition
	next map[string]api.HorizontalPodAutoscalerCondition
}

func newHPAConditions(now time.Time, old []api.HorizontalPodAutoscalerCondition) *hpaConditions {
	return &hpaConditions{now: now, old: old, next: map[string]api.HorizontalPodAutoscalerCondition{}}
}

func (c *hpaConditions) set(typ string, status api.ConditionStatus, reason, msg string) {
	cond := api.HorizontalPodAutoscalerCondition{Type: typ, Status: status, Reason: reason, Message: msg, LastTransitionTime: api.NewTime(c.now)}
	for _, o := range c.old {
		if o.Type == typ && o.Status == status && o.LastTransitionTime != nil {
			cond.LastTransitionTime = o.LastTransitionTime
		}
	}
	c.next[typ] = cond
}

// list returns the conditions in Kubernetes' order; one not set this pass
// keeps its old value.
func (c *hpaConditions) list() []api.HorizontalPodAutoscalerCondition {
	var out []api.HorizontalPodAutoscalerCondition
	for _, typ := range []string{"AbleToScale", "ScalingActive", "ScalingLimited"} {
		if cond, ok := c.next[typ]; ok {
			out = append(out, cond)
			continue
		}
		for _, o := range c.old {
			if o.Type == typ {
				out = append(out, o)
			}
		}
	}
	return out
}
