package placement

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/state"
)

const (
	// jobCountedAnnotation marks a finished pod whose success or failure
	// is already in its Job's status. It is set in the same command that
	// counts the pod, so every pod is counted exactly once, and the counts
	// never go down when finished pods are deleted. It plays the part of
	// Kubernetes' job-tracking finalizer, turned around.
	jobCountedAnnotation = "shoal.dev/job-counted"
	// completionIndexEnv is the variable that gives an Indexed Job's pod
	// its index.
	completionIndexEnv = "JOB_COMPLETION_INDEX"
	// Failed pods are replaced after 10s, doubled for each failure since
	// the last success, at most six minutes, as in Kubernetes.
	jobBackoffBase = 10 * time.Second
	jobBackoffMax  = 6 * time.Minute
	// maxJobPodCreatesPerPass bounds the pods one pass creates for one Job,
	// so one command stays small; the pass comes back at once for the rest.
	maxJobPodCreatesPerPass = 500
	// conflictRetry is how soon a pass comes back after a write lost a
	// compare-and-set.
	conflictRetry = time.Second
)

// JobController runs each Job's pods to completion, as Kubernetes' job
// controller does: it keeps up to spec.parallelism pods active, counts
// finished pods into status.succeeded and status.failed exactly once,
// gives Indexed Jobs' pods their indexes, and finishes the Job as Complete,
// or as Failed when spec.backoffLimit or spec.activeDeadlineSeconds is
// exceeded. It suspends and resumes Jobs (spec.suspend) and deletes
// finished Jobs spec.ttlSecondsAfterFinished after they finished.
//
// Events is optional. A JobController keeps nothing between passes;
// Pass is not safe to call concurrently with itself.
type JobController struct {
	State  Reader
	Writer Writer
	Events EventRecorder
}

// Pass converges every Job once. Each Job's pod creations, deletions and
// its status go in one command, guarded by a compare-and-set on the Job,
// so pods are never created without being recorded, and a Job edited
// meanwhile is simply looked at again. It returns when it wants to come
// back (a deadline, a back-off, a TTL).
func (c *JobController) Pass(ctx context.Context, now time.Time) (time.Duration, error) {
	plans, requeue := planJobs(now, c.State)
	return commitPlans(ctx, c.Writer, c.Events, "job-controller", plans, requeue)
}

// PlanJobs computes the writes that move every Job one step towards its
// goal, and how soon to look again (zero: only when something changes).
// It is pure over state and now; the changes of one Job are contiguous.
func PlanJobs(now time.Time, state Reader) (changes []Change, requeue time.Duration) {
	plans, requeue := planJobs(now, state)
	return flattenPlans(plans), requeue
}

// objPlan is what a pass does about one object: changes to commit as one
// command, and events to record once they are committed.
type objPlan struct {
	obj     api.Object
	changes []Change
	events  []planEvent
}

type planEvent struct{ typ, reason, message string }

func (p *objPlan) event(typ, reason, format string, args ...any) {
	p.events = append(p.events, planEvent{typ, reason, fmt.Sprintf(format, args...)})
}

func (p *objPlan) put(o api.Object) { p.changes = append(p.changes, Change{Put: o}) }

func (p *objPlan) delete(o api.Object) {
	k := api.KeyOf(o)
	p.changes = append(p.changes, Change{Delete: &k})
}

func flattenPlans(plans []objPlan) []Change {
	var out []Change
	for _, p := range plans {
		out = append(out, p.changes...)
	}
	return out
}

// commitPlans commits each plan as its own command and records its
// events. A plan that lost a compare-and-set, or whose object went away,
// is dropped and the pass asks to come back soon; other errors are
// returned together after every plan was tried.
func commitPlans(ctx context.Context, w Writer, rec EventRecorder, component string, plans []objPlan, requeue time.Duration) (time.Duration, error) {
	var errs []error
	for _, p := range plans {
		if err := w.Commit(ctx, p.changes); err != nil {
			if state.Stale(err) {
				requeueAt(&requeue, conflictRetry)
				continue
			}
			m := p.obj.GetObjectMeta()
			errs = append(errs, fmt.Errorf("%s %s/%s: %w", strings.ToLower(p.obj.GetTypeMeta().Kind), m.Namespace, m.Name, err))
			continue
		}
		if rec == nil {
			continue
		}
		for _, e := range p.events {
			_ = rec.RecordEvent(ctx, p.obj, e.typ, e.reason, e.message, component) // events are for people; a lost one changes nothing
		}
	}
	return requeue, errors.Join(errs...)
}

func planJobs(now time.Time, state Reader) ([]objPlan, time.Duration) {
	objs, _ := state.List("Job", "")
	jobs := make([]*api.Job, 0, len(objs))
	for _, o := range objs {
		jobs = append(jobs, o.(*api.Job))
	}
	sort.Slice(jobs, func(i, j int) bool {
		if jobs[i].Namespace != jobs[j].Namespace {
			return jobs[i].Namespace < jobs[j].Namespace
		}
		return jobs[i].Name < jobs[j].Name
	})
	var plans []objPlan
	var requeue time.Duration
	for _, j := range jobs {
		p, wait := planJob(now, state, j, owned[*api.Pod](state, "Pod", j.UID))
		requeueAt(&requeue, wait)
		if len(p.changes) > 0 {
			plans = append(plans, p)
		}
	}
	return plans, requeue
}

// jobPlan is the planning of one Job in one pass.
type jobPlan struct {
	objPlan
	now     time.Time
	state   Reader
	job     *api.Job
	status  api.JobStatus
	requeue time.Duration
	// The Job's pods by what they are doing.
	active, succeeded, failed []*api.Pod
	// podChanges counts the pod writes, which need the Job's
	// compare-and-set in the same command.
	podChanges int
}

func planJob(now time.Time, state Reader, job *api.Job, owned []*api.Pod) (objPlan, time.Duration) {
	p := &jobPlan{objPlan: objPlan{obj: job}, now: now, state: state, job: job, status: cloneJobStatus(job.Status)}
	if job.DeletionTimestamp != nil {
		return p.objPlan, 0
	}
	if c := jobFinished(&job.Status); c != nil {
		p.finished(c, owned)
		return p.objPlan, p.requeue
	}
	p.sortPods(owned)
	if job.Spec.Suspend != nil && *job.Spec.Suspend {
		p.suspend()
	} else {
		p.run()
	}
	p.writeStatus()
	return p.objPlan, p.requeue
}

func cloneJobStatus(s api.JobStatus) api.JobStatus {
	s.Conditions = slices.Clone(s.Conditions)
	return s
}

// sortPods sorts the Job's pods by what they are doing, and counts the
// pods that finished since the last pass.
func (p *jobPlan) sortPods(owned []*api.Pod) {
	for _, pod := range owned {
		switch pod.Status.Phase {
		case api.PodSucceeded, api.PodFailed:
			if pod.Status.Phase == api.PodSucceeded {
				p.succeeded = append(p.succeeded, pod)
			} else {
				p.failed = append(p.failed, pod)
			}
			if pod.Annotations[jobCountedAnnotation] != "" {
				continue
			}
			if pod.Status.Phase == api.PodSucceeded {
				p.status.Succeeded++
			} else {
				p.status.Failed++
			}
			counted := api.Copy(pod) // keeps the version: a compare-and-set
			if counted.Annotations == nil {
				counted.Annotations = map[string]string{}
			}
			counted.Annotations[jobCountedAnnotation] = "true"
			p.put(counted)
			p.podChanges++
		default:
			if podActive(pod) {
				p.active = append(p.active, pod)
			}
		}
	}
}

// suspend deletes the active pods of a suspended Job and says so.
func (p *jobPlan) suspend() {
	for _, pod := range p.active {
		p.deletePod(pod)
	}
	p.active = nil
	if setJobCondition(&p.status, api.JobSuspended, api.ConditionTrue, "JobSuspended", "Job suspended", p.now) {
		p.event("Normal", "Suspended", "Job suspended")
	}
	p.setActive(0)
}

// run moves a running Job on: it finishes it, or makes its pods match
// what it wants.
func (p *jobPlan) run() {
	spec := &p.job.Spec
	if c := jobCondition(&p.status, api.JobSuspended); c != nil && c.Status == api.ConditionTrue {
		setJobCondition(&p.status, api.JobSuspended, api.ConditionFalse, "JobResumed", "Job resumed", p.now)
		p.event("Normal", "Resumed", "Job resumed")
		p.status.StartTime = api.NewTime(p.now) // the deadline counts from the resume, as in Kubernetes
	}
	if p.status.StartTime == nil {
		p.status.StartTime = api.NewTime(p.now)
	}
	completions, workQueue := jobCompletions(spec)
	indexed := spec.CompletionMode != nil && *spec.CompletionMode == api.IndexedCompletion
	var done []bool
	if indexed {
		done = parseIndexes(p.job.Status.CompletedIndexes, completions)
		for _, pod := range p.succeeded {
			if i, ok := podIndex(pod, completions); ok {
				done[i] = true
			}
		}
		p.status.CompletedIndexes = formatIndexes(done)
	}

	backoffLimit := int32(6)
	if spec.BackoffLimit != nil {
		backoffLimit = *spec.BackoffLimit
	}
	var deadline time.Time
	if spec.ActiveDeadlineSeconds != nil {
		deadline = p.status.StartTime.Add(time.Duration(*spec.ActiveDeadlineSeconds) * time.Second)
	}
	switch {
	case p.status.Failed > backoffLimit || pastBackoffLimitOnFailure(spec, backoffLimit, p.active):
		p.finish(api.JobFailed, "BackoffLimitExceeded", "Job has reached the specified backoff limit")
		return
	case !deadline.IsZero() && !p.now.Before(deadline):
		p.finish(api.JobFailed, "DeadlineExceeded", "Job was active longer than specified deadline")
		return
	case indexed && countTrue(done) == int(completions),
		!indexed && workQueue && p.status.Succeeded > 0 && len(p.active) == 0,
		!indexed && !workQueue && p.status.Succeeded >= completions:
		p.finish(api.JobComplete, "CompletionsReached", "Reached expected number of succeeded pods")
		return
	}
	if !deadline.IsZero() {
		requeueAt(&p.requeue, deadline.Sub(p.now))
	}

	parallelism := replicas(spec.Parallelism)
	var want int32
	switch {
	case indexed:
		want = completions - int32(countTrue(done))
	case workQueue && p.status.Succeeded > 0:
		want = int32(len(p.active)) // one succeeded: let the others finish, start no more
	case workQueue:
		want = parallelism
	default:
		want = completions - p.status.Succeeded
	}
	want = max(0, min(want, parallelism))
	var pending []int32 // indexes to start, lowest first
	if indexed {
		pending = p.dropStrayIndexes(done, completions)
	}
	switch n := int32(len(p.active)); {
	case n > want:
		rankPodsToKeep(p.active)
		for _, pod := range p.active[want:] {
			p.deletePod(pod)
		}
		p.active = p.active[:want]
		p.setActive(0)
	case n < want:
		if wait := jobPodBackoff(p.now, p.succeeded, p.failed); wait > 0 {
			requeueAt(&p.requeue, wait)
			p.setActive(0)
			return
		}
		p.setActive(p.createPods(want-n, indexed, pending))
	default:
		p.setActive(0)
	}
}

// dropStrayIndexes deletes the active pods of an Indexed Job whose index
// is missing, out of range, already completed, or held by a better pod,
// and returns the indexes that no pod holds, lowest first.
func (p *jobPlan) dropStrayIndexes(done []bool, completions int32) []int32 {
	rankPodsToKeep(p.active)
	held := make([]bool, completions)
	keep := p.active[:0:0]
	for _, pod := range p.active {
		i, ok := podIndex(pod, completions)
		if !ok || done[i] || held[i] {
			p.deletePod(pod)
			continue
		}
		held[i] = true
		keep = append(keep, pod)
	}
	p.active = keep
	var pending []int32
	for i := range completions {
		if !done[i] && !held[i] {
			pending = append(pending, i)
		}
	}
	return pending
}

// createPods creates n pods, for the first n pending indexes when the Job
// is Indexed, and returns how many it created.
func (p *jobPlan) createPods(n int32, indexed bool, pending []int32) int32 {
	if indexed {
		n = min(n, int32(len(pending)))
	}
	if n > maxJobPodCreatesPerPass {
		n = maxJobPodCreatesPerPass
		requeueAt(&p.requeue, time.Millisecond)
	}
	chosen := map[string]bool{}
	taken := func(name string) bool {
		return chosen[name] || exists(p.state, api.Key{Kind: "Pod", Namespace: p.job.Namespace, Name: name})
	}
	for k := range n {
		index, base := int32(-1), p.job.Name
		if indexed {
			index = pending[k]
			base = p.job.Name + "-" + strconv.Itoa(int(index))
		}
		// The Job's version in the seed keeps a new pod from taking the
		// name of a deleted one; the plan stays a function of the state.
		name := freeName(base, p.job.UID+"/"+p.job.ResourceVersion, taken)
		chosen[name] = true
		p.put(newJobPod(p.job, name, index))
		p.podChanges++
		p.event("Normal", "SuccessfulCreate", "Created pod: %s", name)
	}
	return n
}

// finish gives the Job its final condition and deletes its active pods.
func (p *jobPlan) finish(typ api.JobConditionType, reason, message string) {
	for _, pod := range p.active {
		p.deletePod(pod)
	}
	p.active = nil
	setJobCondition(&p.status, typ, api.ConditionTrue, reason, message, p.now)
	if typ == api.JobComplete {
		p.status.CompletionTime = api.NewTime(p.now)
		p.event("Normal", "Completed", "Job completed")
	} else {
		p.event("Warning", reason, "%s", message)
	}
	p.setActive(0)
	if ttl := p.job.Spec.TTLSecondsAfterFinished; ttl != nil {
		requeueAt(&p.requeue, max(time.Millisecond, api.NewTime(p.now).Add(time.Duration(*ttl)*time.Second).Sub(p.now)))
	}
}

// finished handles a Job that has finished: it deletes pods still active
// and, once its TTL has passed, the Job (and so its pods).
func (p *jobPlan) finished(c *api.JobCondition, owned []*api.Pod) {
	if ttl := p.job.Spec.TTLSecondsAfterFinished; ttl != nil {
		var at time.Time
		if c.LastTransitionTime != nil {
			at = c.LastTransitionTime.Add(time.Duration(*ttl) * time.Second)
		}
		if !p.now.Before(at) {
			p.delete(p.job)
			return
		}
		requeueAt(&p.requeue, at.Sub(p.now))
	}
	for _, pod := range owned {
		if podActive(pod) {
			p.deletePod(pod)
		}
	}
}

func (p *jobPlan) deletePod(pod *api.Pod) {
	p.delete(pod)
	p.podChanges++
	p.event("Normal", "SuccessfulDelete", "Deleted pod: %s", pod.Name)
}

// setActive records the active and ready pods, counting created new ones.
func (p *jobPlan) setActive(created int32) {
	var ready int32
	for _, pod := range p.active {
		if podReady(pod) {
			ready++
		}
	}
	p.status.Active = int32(len(p.active)) + created
	p.status.Ready = &ready
}

// writeStatus adds the Job with its new status when it changed, or when
// pods change: the compare-and-set ties them to the Job as it was read.
func (p *jobPlan) writeStatus() {
	if p.podChanges == 0 && sameJobStatus(p.job.Status, p.status) {
		p.events = nil
		return
	}
	next := api.Copy(p.job)
	next.Status = p.status
	p.put(next)
}

// sameJobStatus compares statuses by their encodings, as they are stored.
func sameJobStatus(a, b api.JobStatus) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// jobCompletions returns the completions a Job needs, or workQueue when it
// sets parallelism but not completions: then it is done once any pod
// succeeded and none is active. A Job that sets neither needs one.
func jobCompletions(s *api.JobSpec) (completions int32, workQueue bool) {
	switch {
	case s.Completions != nil:
		return *s.Completions, false
	case s.Parallelism == nil || (s.CompletionMode != nil && *s.CompletionMode == api.IndexedCompletion):
		return 1, false
	}
	return 0, true
}

// pastBackoffLimitOnFailure: with restartPolicy OnFailure, failures are
// container restarts, counted over the pods still running, as Kubernetes
// counts them.
func pastBackoffLimitOnFailure(s *api.JobSpec, limit int32, active []*api.Pod) bool {
	if s.Template.Spec.RestartPolicy != api.RestartPolicyOnFailure {
		return false
	}
	var restarts int32
	for _, p := range active {
		if p.Status.Phase != api.PodRunning && p.Status.Phase != api.PodPending {
			continue
		}
		for _, cs := range [][]api.ContainerStatus{p.Status.InitContainerStatuses, p.Status.ContainerStatuses} {
			for _, c := range cs {
				restarts += c.RestartCount
			}
		}
	}
	if limit == 0 {
		return restarts > 0
	}
	return restarts >= limit
}

// jobPodBackoff is how long to wait before replacing failed pods: 10s
// doubled for each failure since the last success, at most six minutes,
// from the last failure. Pods whose finish time is unknown add no wait.
func jobPodBackoff(now time.Time, succeeded, failed []*api.Pod) time.Duration {
	var lastSuccess, lastFailure time.Time
	for _, p := range succeeded {
		if t := podFinishedAt(p); t.After(lastSuccess) {
			lastSuccess = t
		}
	}
	n := 0
	for _, p := range failed {
		if t := podFinishedAt(p); t.After(lastSuccess) {
			n++
			if t.After(lastFailure) {
				lastFailure = t
			}
		}
	}
	if n == 0 {
		return 0
	}
	d := jobBackoffBase
	for i := 1; i < n && d < jobBackoffMax; i++ {
		d *= 2
	}
	d = min(d, jobBackoffMax)
	return max(0, lastFailure.Add(d).Sub(now))
}

// podFinishedAt is when the pod's last container finished or, without
// container states, its last condition change.
func podFinishedAt(p *api.Pod) time.Time {
	var t time.Time
	for _, cs := range [][]api.ContainerStatus{p.Status.InitContainerStatuses, p.Status.ContainerStatuses} {
		for _, c := range cs {
			if term := c.State.Terminated; term != nil && term.FinishedAt != nil && term.FinishedAt.After(t) {
				t = term.FinishedAt.Time
			}
		}
	}
	if !t.IsZero() {
		return t
	}
	for _, c := range p.Status.Conditions {
		if c.LastTransitionTime != nil && c.LastTransitionTime.After(t) {
			t = c.LastTransitionTime.Time
		}
	}
	return t
}

// rankPodsToKeep orders pods best first: ready before not ready, running
// before pending, bound before unbound, older before newer, then by name.
// Kubernetes deletes from the other end.
func rankPodsToKeep(pods []*api.Pod) {
	score := func(p *api.Pod) (int, int, int) {
		s := [3]int{}
		if podReady(p) {
			s[0] = 1
		}
		if p.Status.Phase == api.PodRunning {
			s[1] = 1
		}
		if p.Spec.NodeName != "" {
			s[2] = 1
		}
		return s[0], s[1], s[2]
	}
	created := func(p *api.Pod) time.Time {
		if p.CreationTimestamp != nil {
			return p.CreationTimestamp.Time
		}
		return time.Time{}
	}
	sort.SliceStable(pods, func(i, j int) bool {
		a1, a2, a3 := score(pods[i])
		b1, b2, b3 := score(pods[j])
		switch {
		case a1 != b1:
			return a1 > b1
		case a2 != b2:
			return a2 > b2
		case a3 != b3:
			return a3 > b3
		case !created(pods[i]).Equal(created(pods[j])):
			return created(pods[i]).Before(created(pods[j]))
		}
		return pods[i].Name < pods[j].Name
	})
}

// newJobPod makes one of job's pods: its template with the Job's labels
// and, for an index of an Indexed Job (index >= 0), the index in an
// annotation, a label, the JOB_COMPLETION_INDEX variable of every
// container and the hostname <job>-<index>, as Kubernetes does.
func newJobPod(job *api.Job, name string, index int32) *api.Pod {
	p := newPod(job, &job.Spec.Template, name)
	if job.Spec.Template.Spec.RestartPolicy == "" {
		p.Spec.RestartPolicy = api.RestartPolicyNever // a Job's pod must end; validation asks for a policy anyway
	}
	if p.Labels == nil {
		p.Labels = map[string]string{}
	}
	p.Labels[api.JobNameLabel] = job.Name
	p.Labels[api.LegacyJobNameLabel] = job.Name
	if job.Spec.ManualSelector == nil || !*job.Spec.ManualSelector {
		p.Labels[api.JobControllerUIDLabel] = job.UID
		p.Labels[api.LegacyJobControllerUIDLabel] = job.UID
	}
	if index < 0 {
		return p
	}
	ix := strconv.Itoa(int(index))
	if p.Annotations == nil {
		p.Annotations = map[string]string{}
	}
	p.Annotations[api.JobCompletionIndexAnnotation] = ix
	p.Labels[api.JobCompletionIndexAnnotation] = ix
	if h := job.Name + "-" + ix; p.Spec.Hostname == "" && len(h) <= 63 {
		p.Spec.Hostname = h
	}
	for _, cs := range [][]api.Container{p.Spec.InitContainers, p.Spec.Containers} {
		for i := range cs {
			addIndexEnv(&cs[i])
		}
	}
	return p
}

// addIndexEnv gives c the JOB_COMPLETION_INDEX variable, read from the
// pod's annotation, unless it sets one itself.
func addIndexEnv(c *api.Container) {
	for _, e := range c.Env {
		if e.Name == completionIndexEnv {
			return
		}
	}
	c.Env = append(c.Env, api.EnvVar{Name: completionIndexEnv, ValueFrom: &api.EnvVarSource{
		FieldRef: &api.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.annotations['" + api.JobCompletionIndexAnnotation + "']"},
	}})
}

// podIndex reads a pod's completion index, if it has one in [0, n).
func podIndex(p *api.Pod, n int32) (int32, bool) {
	v, ok := p.Annotations[api.JobCompletionIndexAnnotation]
	if !ok {
		return 0, false
	}
	i, err := strconv.ParseInt(v, 10, 32)
	if err != nil || i < 0 || i >= int64(n) {
		return 0, false
	}
	return int32(i), true
}

// jobFinished returns the Job's Complete or Failed condition, if true.
func jobFinished(s *api.JobStatus) *api.JobCondition {
	for i, c := range s.Conditions {
		if (c.Type == api.JobComplete || c.Type == api.JobFailed) && c.Status == api.ConditionTrue {
			return &s.Conditions[i]
		}
	}
	return nil
}

func jobCondition(s *api.JobStatus, typ api.JobConditionType) *api.JobCondition {
	for i := range s.Conditions {
		if s.Conditions[i].Type == typ {
			return &s.Conditions[i]
		}
	}
	return nil
}

// setJobCondition sets a condition, keeping its transition time when its
// status stays, and reports whether anything changed.
func setJobCondition(s *api.JobStatus, typ api.JobConditionType, status api.ConditionStatus, reason, message string, now time.Time) bool {
	c := api.JobCondition{Type: typ, Status: status, Reason: reason, Message: message, LastProbeTime: api.NewTime(now), LastTransitionTime: api.NewTime(now)}
	old := jobCondition(s, typ)
	if old == nil {
		s.Conditions = append(s.Conditions, c)
		return true
	}
	if old.Status == status && old.Reason == reason && old.Message == message {
		return false
	}
	if old.Status == status {
		c.LastTransitionTime = old.LastTransitionTime
	}
	*old = c
	return true
}

// parseIndexes reads status.completedIndexes ("0-2,4") into a set of n
// indexes, ignoring what is malformed or out of range.
func parseIndexes(s string, n int32) []bool {
	done := make([]bool, n)
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		first, err := strconv.ParseInt(strings.TrimSpace(lo), 10, 32)
		if err != nil {
			continue
		}
		last := first
		if isRange {
			if last, err = strconv.ParseInt(strings.TrimSpace(hi), 10, 32); err != nil {
				continue
			}
		}
		for i := max(first, 0); i <= last && i < int64(n); i++ {
			done[i] = true
		}
	}
	return done
}

// formatIndexes writes a set of indexes as Kubernetes writes
// status.completedIndexes: ascending runs, "a-b" for three or more in a
// row and "a,b" for two.
func formatIndexes(done []bool) string {
	var b strings.Builder
	for i := 0; i < len(done); i++ {
		if !done[i] {
			continue
		}
		j := i
		for j+1 < len(done) && done[j+1] {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(i))
		switch {
		case j == i+1:
			b.WriteString("," + strconv.Itoa(j))
		case j > i+1:
			b.WriteString("-" + strconv.Itoa(j))
		}
		i = j
	}
	return b.String()
}

func countTrue(s []bool) int {
	n := 0
	for _, v := range s {
		if v {
			n++
		}
	}
	return n
}
