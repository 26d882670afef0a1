package placement

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/state"
)

// Labels and annotations of Deployments and their ReplicaSets, as
// Kubernetes names them.
const (
	LabelPodTemplateHash  = "pod-template-hash"
	AnnotationRevision    = api.AnnotationRevision
	AnnotationChangeCause = "kubernetes.io/change-cause"
)

// DeploymentController turns each Deployment into ReplicaSets: one per pod
// template, named by the template's hash, scaled as the strategy says
// (RollingUpdate within maxSurge and maxUnavailable, counting only
// available pods; or Recreate), with revisions, history cleanup and the
// Available and Progressing conditions. The ReplicaSetController makes the
// pods.
type DeploymentController struct {
	State  Reader
	Writer Writer
}

// Pass commits each Deployment's plan as one command.
func (c *DeploymentController) Pass(ctx context.Context, now time.Time) (time.Duration, error) {
	plans, requeue := PlanDeployments(now, c.State)
	for _, changes := range plans {
		if err := c.Writer.Commit(ctx, changes); err != nil && !state.Stale(err) {
			return requeue, err
		}
	}
	return requeue, nil
}

// PlanDeployments plans every Deployment; pure over the state.
func PlanDeployments(now time.Time, state Reader) ([][]Change, time.Duration) {
	objs, _ := state.List("Deployment", "")
	var plans [][]Change
	var requeue time.Duration
	for _, o := range objs {
		d := o.(*api.Deployment)
		p := &deployPlan{now: now, d: d, pods: map[string][]*api.Pod{}}
		for _, rs := range owned[*api.ReplicaSet](state, "ReplicaSet", d.UID) {
			p.rss = append(p.rss, api.Copy(rs))
			p.pods[rs.UID] = owned[*api.Pod](state, "Pod", rs.UID)
		}
		changes, wait := p.plan(state)
		requeueAt(&requeue, wait)
		if len(changes) > 0 {
			plans = append(plans, changes)
		}
	}
	return plans, requeue
}

// TemplateHash names a pod template: ten characters of its hash.
func TemplateHash(t *api.PodTemplateSpec) string {
	b, _ := json.Marshal(t)
	sum := sha256.Sum256(b)
	return nameSuffix(string(sum[:])) + nameSuffix(fmt.Sprint(binary.BigEndian.Uint64(sum[8:16])))
}

type deployPlan struct {
	now  time.Time
	d    *api.Deployment
	rss  []*api.ReplicaSet // copies; the plan scales them in place
	pods map[string][]*api.Pod
	orig map[string]int32 // replicas before the plan, by RS name; -1 for a new one
	// bumped is the ReplicaSet whose revision the plan raised.
	bumped *api.ReplicaSet
}

func revision(o api.Object) int64 {
	n, _ := strconv.ParseInt(o.GetObjectMeta().Annotations[AnnotationRevision], 10, 64)
	return n
}

// available counts the available pods of rs.
func (p *deployPlan) available(rs *api.ReplicaSet) (n int32, wait time.Duration) {
	minReady := time.Duration(p.d.Spec.MinReadySeconds) * time.Second
	for _, pod := range p.pods[rs.UID] {
		if !podActive(pod) {
			continue
		}
		ok, w := podAvailable(pod, minReady, p.now)
		if ok {
			n++
		}
		requeueAt(&wait, w)
	}
	return n, wait
}

func (p *deployPlan) plan(state Reader) ([]Change, time.Duration) {
	d := p.d
	want := replicas(d.Spec.Replicas)
	hash := TemplateHash(&d.Spec.Template)
	p.orig = map[string]int32{}
	var newRS *api.ReplicaSet
	var old []*api.ReplicaSet
	maxRev := int64(0)
	for _, rs := range p.rss {
		p.orig[rs.Name] = replicas(rs.Spec.Replicas)
		maxRev = max(maxRev, revision(rs))
		if rs.Labels[LabelPodTemplateHash] == hash && newRS == nil {
			newRS = rs
		} else {
			old = append(old, rs)
		}
	}
	// Oldest revision first: they are scaled down first.
	sort.Slice(old, func(i, j int) bool { return revision(old[i]) < revision(old[j]) })
	var created *api.ReplicaSet
	if d.Spec.Paused {
		// A paused Deployment keeps its ReplicaSets as they are.
	} else if newRS == nil {
		created = p.newReplicaSet(hash, maxRev+1)
		newRS = created
	} else if revision(newRS) < maxRev {
		// Rolling back to an older template makes it the newest revision.
		newRS.Annotations[AnnotationRevision] = strconv.FormatInt(maxRev+1, 10)
		p.bumped = newRS
	}

	var requeue time.Duration
	if newRS != nil && !d.Spec.Paused {
		if d.Spec.Strategy.Type == api.RecreateDeploymentStrategyType {
			p.recreate(newRS, old, want)
		} else {
			p.rollingUpdate(newRS, old, want, &requeue)
		}
	}

	var changes []Change
	if created != nil {
		changes = append(changes, Change{Put: created})
	}
	for _, rs := range p.rss {
		if rs != created && (replicas(rs.Spec.Replicas) != p.orig[rs.Name] || rs == p.bumped) {
			changes = append(changes, Change{Put: rs})
		}
	}
	changes = append(changes, p.cleanupHistory(old)...)
	if st, wait := p.status(newRS, old, want); !sameJSON(st, d.Status) || !sameJSON(d.Annotations[AnnotationRevision], p.revisionOf(newRS)) {
		requeueAt(&requeue, wait)
		next := api.Copy(d)
		next.Status = st
		if r := p.revisionOf(newRS); r != "" {
			if next.Annotations == nil {
				next.Annotations = map[string]string{}
			}
			next.Annotations[AnnotationRevision] = r
		}
		changes = append(changes, Change{Put: next})
	} else {
		requeueAt(&requeue, wait)
	}
	return changes, requeue
}

func (p *deployPlan) revisionOf(rs *api.ReplicaSet) string {
	if rs == nil {
		return ""
	}
	return rs.Annotations[AnnotationRevision]
}

func (p *deployPlan) newReplicaSet(hash string, rev int64) *api.ReplicaSet {
	d := p.d
	rs := &api.ReplicaSet{TypeMeta: api.TypeMeta{APIVersion: "apps/v1", Kind: "ReplicaSet"}}
	rs.Name, rs.Namespace = d.Name+"-"+hash, d.Namespace
	rs.Labels = copyMap(d.Spec.Template.Labels)
	rs.Labels[LabelPodTemplateHash] = hash
	rs.Annotations = map[string]string{AnnotationRevision: strconv.FormatInt(rev, 10)}
	if c := d.Annotations[AnnotationChangeCause]; c != "" {
		rs.Annotations[AnnotationChangeCause] = c
	}
	rs.OwnerReferences = []api.OwnerReference{ownerRef(d)}
	sel := &api.LabelSelector{}
	if d.Spec.Selector != nil {
		sel = deepCopy(d.Spec.Selector)
	}
	if sel.MatchLabels == nil {
		sel.MatchLabels = map[string]string{}
	}
	sel.MatchLabels[LabelPodTemplateHash] = hash
	zero := int32(0)
	tmpl := deepCopy(d.Spec.Template)
	tmpl.Labels = copyMap(d.Spec.Template.Labels)
	tmpl.Labels[LabelPodTemplateHash] = hash
	rs.Spec = api.ReplicaSetSpec{Replicas: &zero, MinReadySeconds: d.Spec.MinReadySeconds, Selector: sel, Template: tmpl}
	p.orig[rs.Name] = -1 // always written
	p.rss = append(p.rss, rs)
	return rs
}

func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
	return out
}

func setReplicas(rs *api.ReplicaSet, n int32) { rs.Spec.Replicas = &n }

// recreate scales every old ReplicaSet to zero, and the new one up once no
// old pod is left.
func (p *deployPlan) recreate(newRS *api.ReplicaSet, old []*api.ReplicaSet, want int32) {
	oldPods := 0
	for _, rs := range old {
		setReplicas(rs, 0)
		for _, pod := range p.pods[rs.UID] {
			if podActive(pod) {
				oldPods++
			}
		}
	}
	if oldPods == 0 {
		setReplicas(newRS, want)
	}
}

// surgeAndUnavailable resolves maxSurge (rounded up) and maxUnavailable
// (rounded down) against the desired replicas; both zero means one may be
// unavailable.
func surgeAndUnavailable(d *api.Deployment, want int32) (int32, int32) {
	surge, unavailable := api.FromString("25%"), api.FromString("25%")
	if ru := d.Spec.Strategy.RollingUpdate; ru != nil {
		if ru.MaxSurge != nil {
			surge = *ru.MaxSurge
		}
		if ru.MaxUnavailable != nil {
			unavailable = *ru.MaxUnavailable
		}
	}
	s := scaled(surge, want, true)
	u := scaled(unavailable, want, false)
	if s == 0 && u == 0 {
		u = 1
	}
	return s, u
}

func scaled(v api.IntOrString, total int32, up bool) int32 {
	n, err := v.ScaledValue(int(total), up)
	if err != nil || n < 0 {
		return 0
	}
	return int32(n)
}

// rollingUpdate follows Kubernetes' algorithm: scale the new ReplicaSet up
// within maxSurge, then scale old ones down (unhealthy pods first) without
// going below replicas-maxUnavailable available pods.
func (p *deployPlan) rollingUpdate(newRS *api.ReplicaSet, old []*api.ReplicaSet, want int32, requeue *time.Duration) {
	surge, unavailable := surgeAndUnavailable(p.d, want)
	total := func() int32 {
		var n int32
		for _, rs := range p.rss {
			n += replicas(rs.Spec.Replicas)
		}
		return n
	}
	// Scale up the new ReplicaSet.
	cur := replicas(newRS.Spec.Replicas)
	switch {
	case cur > want:
		setReplicas(newRS, want)
	case cur < want:
		if room := want + surge - total(); room > 0 {
			setReplicas(newRS, cur+min(room, want-cur))
		}
	}
	// Scale down old ReplicaSets.
	avail := map[*api.ReplicaSet]int32{}
	var totalAvail int32
	for _, rs := range p.rss {
		n, w := p.available(rs)
		requeueAt(requeue, w)
		avail[rs] = min(n, p.orig[rs.Name])
		if p.orig[rs.Name] < 0 {
			avail[rs] = 0
		}
		totalAvail += avail[rs]
	}
	minAvailable := want - unavailable
	newUnavailable := replicas(newRS.Spec.Replicas) - avail[newRS]
	maxScaledDown := total() - minAvailable - newUnavailable
	if maxScaledDown <= 0 {
		return
	}
	var done int32
	for _, rs := range old {
		r := replicas(rs.Spec.Replicas)
		unhealthy := r - avail[rs]
		if r == 0 || unhealthy <= 0 || done >= maxScaledDown {
			continue
		}
		cut := min(maxScaledDown-done, unhealthy)
		setReplicas(rs, r-cut)
		done += cut
	}
	if totalAvail <= minAvailable {
		return
	}
	budget := totalAvail - minAvailable
	for _, rs := range old {
		r := replicas(rs.Spec.Replicas)
		if r == 0 || budget <= 0 {
			continue
		}
		cut := min(r, budget)
		setReplicas(rs, r-cut)
		budget -= cut
	}
}

// cleanupHistory deletes the oldest ReplicaSets that are scaled to zero
// and have no pods, beyond revisionHistoryLimit (default 10).
func (p *deployPlan) cleanupHistory(old []*api.ReplicaSet) []Change {
	limit := 10
	if l := p.d.Spec.RevisionHistoryLimit; l != nil {
		limit = int(*l)
	}
	var idle []*api.ReplicaSet
	for _, rs := range old {
		if replicas(rs.Spec.Replicas) == 0 && p.orig[rs.Name] == 0 && len(p.pods[rs.UID]) == 0 {
			idle = append(idle, rs)
		}
	}
	var changes []Change
	for i := 0; i < len(idle)-limit; i++ {
		k := api.KeyOf(idle[i])
		changes = append(changes, Change{Delete: &k})
	}
	return changes
}

// status is the Deployment's status after the plan, with how long until a
// progress deadline or minReadySeconds needs another look.
func (p *deployPlan) status(newRS *api.ReplicaSet, old []*api.ReplicaSet, want int32) (api.DeploymentStatus, time.Duration) {
	d := p.d
	st := api.DeploymentStatus{ObservedGeneration: d.Generation, CollisionCount: d.Status.CollisionCount}
	var wait time.Duration
	oldActive := int32(0)
	for _, rs := range p.rss {
		for _, pod := range p.pods[rs.UID] {
			if !podActive(pod) {
				continue
			}
			st.Replicas++
			if rs == newRS {
				st.UpdatedReplicas++
			} else {
				oldActive++
			}
			if podReady(pod) {
				st.ReadyReplicas++
			}
		}
		n, w := p.available(rs)
		st.AvailableReplicas += n
		requeueAt(&wait, w)
	}
	st.UnavailableReplicas = max(0, want-st.AvailableReplicas)
	_, unavailable := surgeAndUnavailable(d, want)

	now := api.NewTime(p.now)
	cond := func(t api.DeploymentConditionType) *api.DeploymentCondition {
		for i := range d.Status.Conditions {
			if d.Status.Conditions[i].Type == t {
				c := d.Status.Conditions[i]
				return &c
			}
		}
		return nil
	}
	set := func(prev *api.DeploymentCondition, c api.DeploymentCondition) api.DeploymentCondition {
		c.LastUpdateTime, c.LastTransitionTime = now, now
		if prev != nil && prev.Status == c.Status {
			c.LastTransitionTime = prev.LastTransitionTime
			if prev.Reason == c.Reason && prev.Message == c.Message {
				c.LastUpdateTime = prev.LastUpdateTime
			}
		}
		return c
	}
	avail := api.DeploymentCondition{Type: api.DeploymentAvailable, Status: api.ConditionTrue, Reason: "MinimumReplicasAvailable", Message: "Deployment has minimum availability."}
	if st.AvailableReplicas < want-unavailable {
		avail = api.DeploymentCondition{Type: api.DeploymentAvailable, Status: api.ConditionFalse, Reason: "MinimumReplicasUnavailable", Message: "Deployment does not have minimum availability."}
	}
	conds := []api.DeploymentCondition{set(cond(api.DeploymentAvailable), avail)}

	prog := cond(api.DeploymentProgressing)
	rsName := ""
	if newRS != nil {
		rsName = newRS.Name
	}
	complete := newRS != nil && st.UpdatedReplicas == want && st.Replicas == want && st.AvailableReplicas == want && oldActive == 0
	progressed := st.UpdatedReplicas != d.Status.UpdatedReplicas || st.AvailableReplicas != d.Status.AvailableReplicas ||
		st.ReadyReplicas != d.Status.ReadyReplicas || d.Status.ObservedGeneration != d.Generation
	var pc api.DeploymentCondition
	switch {
	case d.Spec.Paused:
		pc = api.DeploymentCondition{Type: api.DeploymentProgressing, Status: api.ConditionUnknown, Reason: "DeploymentPaused", Message: "Deployment is paused"}
	case complete:
		pc = api.DeploymentCondition{Type: api.DeploymentProgressing, Status: api.ConditionTrue, Reason: "NewReplicaSetAvailable",
			Message: fmt.Sprintf("ReplicaSet %q has successfully progressed.", rsName)}
	case progressed || prog == nil:
		pc = api.DeploymentCondition{Type: api.DeploymentProgressing, Status: api.ConditionTrue, Reason: "ReplicaSetUpdated",
			Message: fmt.Sprintf("ReplicaSet %q is progressing.", rsName)}
		pc.LastUpdateTime = now
	default:
		pc = *prog
		deadline := time.Duration(600) * time.Second
		if d.Spec.ProgressDeadlineSeconds != nil {
			deadline = time.Duration(*d.Spec.ProgressDeadlineSeconds) * time.Second
		}
		if pc.Reason != "ProgressDeadlineExceeded" && pc.LastUpdateTime != nil {
			if left := pc.LastUpdateTime.Add(deadline).Sub(p.now); left > 0 {
				requeueAt(&wait, left)
			} else {
				pc = api.DeploymentCondition{Type: api.DeploymentProgressing, Status: api.ConditionFalse, Reason: "ProgressDeadlineExceeded",
					Message: fmt.Sprintf("ReplicaSet %q has timed out progressing.", rsName)}
			}
		}
	}
	if pc.LastUpdateTime == nil || pc.Reason != "ReplicaSetUpdated" {
		pc = set(prog, pc)
	} else if prog != nil && prog.Status == pc.Status {
		pc.LastTransitionTime = prog.LastTransitionTime
	} else {
		pc.LastTransitionTime = now
	}
	conds = append(conds, pc)
	st.Conditions = conds
	return st, wait
}
