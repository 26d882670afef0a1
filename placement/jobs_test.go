package placement_test

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/placement"
)

// batchStore is a state for the Job and CronJob tests that behaves as the
// real store does on a commit: all or nothing, compare-and-set on
// versions, uids and creation times for new objects, and a delete that
// cascades to what the object owns. It is also a placement.Writer.
type batchStore struct {
	t   *testing.T
	st  fakeState
	now time.Time
	rv  int
}

var batchEpoch = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

func newBatchStore(t *testing.T) *batchStore {
	return &batchStore{t: t, st: fakeState{}, now: batchEpoch}
}

func (b *batchStore) Commit(_ context.Context, changes []placement.Change) error {
	if !b.commit(changes) {
		return api.NewError(api.ReasonConflict, "the state changed meanwhile")
	}
	return nil
}

// commit applies changes as one command; false if one failed.
func (b *batchStore) commit(changes []placement.Change) bool {
	for _, c := range changes {
		if c.Delete != nil {
			if _, ok := b.st[*c.Delete]; !ok {
				return false
			}
			continue
		}
		if rv := c.Put.GetObjectMeta().ResourceVersion; rv != "" {
			cur, ok := b.st[api.KeyOf(c.Put)]
			if !ok || cur.GetObjectMeta().ResourceVersion != rv {
				return false
			}
		}
	}
	b.rv++
	for _, c := range changes {
		if c.Delete != nil {
			b.cascade(*c.Delete)
			continue
		}
		o := api.Copy(c.Put)
		m := o.GetObjectMeta()
		if cur, ok := b.st[api.KeyOf(o)]; ok {
			m.UID, m.CreationTimestamp = cur.GetObjectMeta().UID, cur.GetObjectMeta().CreationTimestamp
		} else {
			if m.UID == "" {
				m.UID = fmt.Sprintf("uid-%s-%d", m.Name, b.rv)
			}
			if m.CreationTimestamp == nil {
				m.CreationTimestamp = api.NewTime(b.now)
			}
		}
		m.ResourceVersion = strconv.Itoa(b.rv)
		b.st[api.KeyOf(o)] = o
	}
	return true
}

func (b *batchStore) cascade(k api.Key) {
	obj, ok := b.st[k]
	if !ok {
		return
	}
	delete(b.st, k)
	for dk, d := range b.st {
		for _, r := range d.GetObjectMeta().OwnerReferences {
			if r.UID == obj.GetObjectMeta().UID {
				b.cascade(dk)
			}
		}
	}
}

func (b *batchStore) add(o api.Object) {
	b.t.Helper()
	if !b.commit([]placement.Change{{Put: o}}) {
		b.t.Fatalf("adding %s failed", api.KeyOf(o))
	}
}

// jobPass runs one Job controller pass at now and commits it.
func (b *batchStore) jobPass(now time.Time) time.Duration {
	b.t.Helper()
	b.now = now
	requeue, err := (&placement.JobController{State: b.st, Writer: b}).Pass(context.Background(), now)
	if err != nil {
		b.t.Fatalf("job pass at %s: %v", now.Format(time.TimeOnly), err)
	}
	return requeue
}

func (b *batchStore) job(name string) *api.Job {
	b.t.Helper()
	o, ok := b.st[api.Key{Kind: "Job", Namespace: "default", Name: name}]
	if !ok {
		b.t.Fatalf("job %s does not exist", name)
	}
	return o.(*api.Job)
}

// pods returns the pods the object owns, by name.
func (b *batchStore) pods(owner api.Object) []*api.Pod {
	var out []*api.Pod
	for _, o := range b.st {
		if p, ok := o.(*api.Pod); ok && len(p.OwnerReferences) > 0 && p.OwnerReferences[0].UID == owner.GetObjectMeta().UID {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func activePods(pods []*api.Pod) []*api.Pod {
	var out []*api.Pod
	for _, p := range pods {
		if p.Status.Phase != api.PodSucceeded && p.Status.Phase != api.PodFailed {
			out = append(out, p)
		}
	}
	return out
}

// setPhase reports a pod's phase as a node would: the status only.
func (b *batchStore) setPhase(p *api.Pod, phase api.PodPhase, at time.Time) {
	b.t.Helper()
	cur, ok := b.st[api.KeyOf(p)]
	if !ok {
		b.t.Fatalf("pod %s is gone", p.Name)
	}
	next := api.Copy(cur.(*api.Pod))
	next.Status.Phase = phase
	switch phase {
	case api.PodRunning:
		next.Status.Conditions = []api.PodCondition{{Type: api.PodReady, Status: api.ConditionTrue, LastTransitionTime: api.NewTime(at)}}
	case api.PodSucceeded, api.PodFailed:
		code := int32(0)
		if phase == api.PodFailed {
			code = 1
		}
		next.Status.Conditions = nil
		next.Status.ContainerStatuses = []api.ContainerStatus{{Name: "main", State: api.ContainerState{
			Terminated: &api.ContainerStateTerminated{ExitCode: code, FinishedAt: api.NewTime(at)}}}}
	}
	b.rv++
	next.ResourceVersion = strconv.Itoa(b.rv)
	b.st[api.KeyOf(next)] = next
}

func testJob(name string, edit func(*api.Job)) *api.Job {
	j := &api.Job{
		TypeMeta:   api.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
		ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default", UID: "uid-job-" + name},
		Spec: api.JobSpec{Template: api.PodTemplateSpec{
			ObjectMeta: api.ObjectMeta{Labels: map[string]string{"app": name}},
			Spec: api.PodSpec{RestartPolicy: api.RestartPolicyNever,
				Containers: []api.Container{{Name: "main", Image: "shoal.test/busybox:1", Env: []api.EnvVar{{Name: "A", Value: "1"}}}}},
		}},
	}
	if edit != nil {
		edit(j)
	}
	api.SetDefaults(j)
	api.GenerateJobSelector(j)
	return j
}

func i32(v int32) *int32 { return &v }
func i64(v int64) *int64 { return &v }

func jobCond(j *api.Job, typ api.JobConditionType) *api.JobCondition {
	for i := range j.Status.Conditions {
		if j.Status.Conditions[i].Type == typ && j.Status.Conditions[i].Status == api.ConditionTrue {
			return &j.Status.Conditions[i]
		}
	}
	return nil
}

func TestJobRunsAtMostParallelismUntilCompletions(t *testing.T) {
	b := newBatchStore(t)
	b.add(testJob("sweep", func(j *api.Job) { j.Spec.Completions, j.Spec.Parallelism = i32(5), i32(2) }))
	now := batchEpoch
	seen := map[string]bool{}
	for step := 0; jobCond(b.job("sweep"), api.JobComplete) == nil; step++ {
		if step > 10 {
			t.Fatalf("not complete after %d steps: %+v", step, b.job("sweep").Status)
		}
		b.jobPass(now)
		job := b.job("sweep")
		pods := b.pods(job)
		active := activePods(pods)
		if jobCond(job, api.JobComplete) != nil {
			break
		}
		if len(active) == 0 || len(active) > 2 || job.Status.Active != int32(len(active)) {
			t.Fatalf("step %d: %d active pods (status says %d), want 1 or 2", step, len(active), job.Status.Active)
		}
		for _, p := range active {
			seen[p.Name] = true
			if p.Labels[api.JobNameLabel] != "sweep" || p.Labels[api.LegacyJobNameLabel] != "sweep" ||
				p.Labels[api.JobControllerUIDLabel] != job.UID || p.Labels["app"] != "sweep" {
				t.Fatalf("pod %s labels = %v", p.Name, p.Labels)
			}
			if r := p.OwnerReferences[0]; r.Kind != "Job" || r.UID != job.UID || r.Controller == nil || !*r.Controller {
				t.Fatalf("pod %s owner = %+v", p.Name, r)
			}
			if p.Spec.RestartPolicy != api.RestartPolicyNever || !strings.HasPrefix(p.Name, "sweep-") {
				t.Fatalf("pod %s: restartPolicy %q", p.Name, p.Spec.RestartPolicy)
			}
		}
		// A fresh pass at the same time creates nothing more.
		if changes, _ := placement.PlanJobs(now, b.st); len(changes) != 0 {
			t.Fatalf("step %d: a second pass changed %d things", step, len(changes))
		}
		now = now.Add(time.Minute)
		b.setPhase(active[0], api.PodSucceeded, now)
		if step == 1 {
			// Finished pods may go; the counts must not.
			b.jobPass(now)
			for _, p := range b.pods(job) {
				if p.Status.Phase == api.PodSucceeded {
					delete(b.st, api.KeyOf(p))
				}
			}
		}
	}
	job := b.job("sweep")
	if job.Status.Succeeded != 5 || job.Status.Active != 0 || job.Status.CompletionTime == nil || job.Status.StartTime == nil {
		t.Fatalf("status = %+v", job.Status)
	}
	if len(seen) != 5 {
		t.Fatalf("%d pods ran, want 5", len(seen))
	}
	if !job.Status.StartTime.Equal(batchEpoch) || !job.Status.CompletionTime.Equal(now) {
		t.Fatalf("startTime %v completionTime %v", job.Status.StartTime, job.Status.CompletionTime)
	}
}

func TestJobIndexedRunsEachIndexOnce(t *testing.T) {
	b := newBatchStore(t)
	b.add(testJob("idx", func(j *api.Job) {
		j.Spec.Completions, j.Spec.Parallelism = i32(5), i32(2)
		j.Spec.CompletionMode = new(api.IndexedCompletion)
	}))
	started := map[string]int{} // by index
	podsSeen := map[string]bool{}
	index := func(p *api.Pod) string { return p.Annotations[api.JobCompletionIndexAnnotation] }
	now := batchEpoch
	pass := func() []*api.Pod {
		t.Helper()
		b.jobPass(now)
		active := activePods(b.pods(b.job("idx")))
		for _, p := range active {
			ix := index(p)
			if podsSeen[p.Name] {
				continue
			}
			podsSeen[p.Name] = true
			started[ix]++
			if p.Labels[api.JobCompletionIndexAnnotation] != ix || p.Spec.Hostname != "idx-"+ix || !strings.HasPrefix(p.Name, "idx-"+ix+"-") {
				t.Fatalf("pod %s: label %q hostname %q", p.Name, p.Labels[api.JobCompletionIndexAnnotation], p.Spec.Hostname)
			}
			env := p.Spec.Containers[0].Env
			if len(env) != 2 || env[0].Name != "A" || env[1].Name != "JOB_COMPLETION_INDEX" || env[1].ValueFrom == nil ||
				env[1].ValueFrom.FieldRef.FieldPath != "metadata.annotations['batch.kubernetes.io/job-completion-index']" {
				t.Fatalf("pod %s env = %+v", p.Name, env)
			}
		}
		return active
	}
	finish := func(active []*api.Pod, ix string) {
		t.Helper()
		now = now.Add(time.Minute)
		for _, p := range active {
			if index(p) == ix {
				b.setPhase(p, api.PodSucceeded, now)
				return
			}
		}
		t.Fatalf("no active pod for index %s", ix)
	}
	steps := []struct{ finish, want string }{
		{"1", "1"}, {"0", "0,1"}, {"3", "0,1,3"}, {"2", "0-3"}, {"4", "0-4"},
	}
	for _, s := range steps {
		active := pass()
		if len(active) > 2 {
			t.Fatalf("%d active pods, parallelism is 2", len(active))
		}
		finish(active, s.finish)
		b.jobPass(now)
		if got := b.job("idx").Status.CompletedIndexes; got != s.want {
			t.Fatalf("after index %s: completedIndexes %q, want %q", s.finish, got, s.want)
		}
	}
	job := b.job("idx")
	if jobCond(job, api.JobComplete) == nil || job.Status.Succeeded != 5 {
		t.Fatalf("status = %+v", job.Status)
	}
	for i := range 5 {
		if started[strconv.Itoa(i)] != 1 {
			t.Fatalf("index %d started %d times: %v", i, started[strconv.Itoa(i)], started)
		}
	}
}

func TestJobIndexedKeepsRecordedIndexes(t *testing.T) {
	b := newBatchStore(t)
	j := testJob("idx", func(j *api.Job) {
		j.Spec.Completions, j.Spec.Parallelism = i32(5), i32(5)
		j.Spec.CompletionMode = new(api.IndexedCompletion)
	})
	// Indexes 0-2 and 4 succeeded before; their pods were deleted since.
	j.Status = api.JobStatus{Succeeded: 4, CompletedIndexes: "0-2,4", StartTime: api.NewTime(batchEpoch)}
	b.add(j)
	b.jobPass(batchEpoch)
	pods := b.pods(j)
	if len(pods) != 1 || pods[0].Annotations[api.JobCompletionIndexAnnotation] != "3" {
		t.Fatalf("pods = %v, want one for index 3", podNames(pods))
	}
	b.setPhase(pods[0], api.PodSucceeded, batchEpoch.Add(time.Minute))
	b.jobPass(batchEpoch.Add(time.Minute))
	if job := b.job("idx"); jobCond(job, api.JobComplete) == nil || job.Status.CompletedIndexes != "0-4" || job.Status.Succeeded != 5 {
		t.Fatalf("status = %+v", job.Status)
	}
}

func podNames(pods []*api.Pod) []string {
	var out []string
	for _, p := range pods {
		out = append(out, p.Name)
	}
	return out
}

func TestJobBackoffLimit(t *testing.T) {
	b := newBatchStore(t)
	b.add(testJob("flaky", func(j *api.Job) {
		j.Spec.Completions, j.Spec.Parallelism, j.Spec.BackoffLimit = i32(2), i32(2), i32(1)
	}))
	t0 := batchEpoch
	b.jobPass(t0)
	pods := b.pods(b.job("flaky"))
	if len(pods) != 2 {
		t.Fatalf("%d pods, want 2", len(pods))
	}
	survivor := pods[1]
	b.setPhase(survivor, api.PodRunning, t0)
	b.setPhase(pods[0], api.PodFailed, t0.Add(time.Minute))

	// The failure is counted, and its replacement waits out the back-off.
	t1 := t0.Add(time.Minute)
	if requeue := b.jobPass(t1); requeue != 10*time.Second {
		t.Fatalf("requeue %v, want the 10s back-off", requeue)
	}
	if job := b.job("flaky"); job.Status.Failed != 1 || job.Status.Active != 1 || len(b.pods(job)) != 2 {
		t.Fatalf("after one failure: %+v, pods %v", job.Status, podNames(b.pods(job)))
	}
	b.jobPass(t1.Add(5 * time.Second))
	if n := len(b.pods(b.job("flaky"))); n != 2 {
		t.Fatalf("a replacement came during the back-off: %d pods", n)
	}
	b.jobPass(t1.Add(10 * time.Second))
	active := activePods(b.pods(b.job("flaky")))
	if len(active) != 2 {
		t.Fatalf("%d active pods after the back-off, want 2", len(active))
	}
	for _, p := range active {
		if p.Name != survivor.Name {
			b.setPhase(p, api.PodFailed, t1.Add(20*time.Second))
		}
	}

	// A second failure exceeds backoffLimit 1: the Job fails and its
	// running pod goes; the failed pods stay for their logs.
	b.jobPass(t1.Add(20 * time.Second))
	job := b.job("flaky")
	c := jobCond(job, api.JobFailed)
	if c == nil || c.Reason != "BackoffLimitExceeded" || job.Status.Failed != 2 || job.Status.Active != 0 {
		t.Fatalf("status = %+v", job.Status)
	}
	pods = b.pods(job)
	if len(pods) != 2 || len(activePods(pods)) != 0 {
		t.Fatalf("pods after failing: %v", podNames(pods))
	}
	if changes, _ := placement.PlanJobs(t1.Add(time.Hour), b.st); len(changes) != 0 {
		t.Fatalf("a failed Job still changes: %d", len(changes))
	}
}

func TestJobOnFailureRestartsCountTowardsBackoffLimit(t *testing.T) {
	b := newBatchStore(t)
	b.add(testJob("crashy", func(j *api.Job) {
		j.Spec.BackoffLimit = i32(3)
		j.Spec.Template.Spec.RestartPolicy = api.RestartPolicyOnFailure
	}))
	b.jobPass(batchEpoch)
	p := b.pods(b.job("crashy"))[0]
	b.setPhase(p, api.PodRunning, batchEpoch)
	cur := api.Copy(b.st[api.KeyOf(p)].(*api.Pod))
	cur.Status.ContainerStatuses = []api.ContainerStatus{{Name: "main", RestartCount: 3}}
	b.st[api.KeyOf(cur)] = cur
	b.jobPass(batchEpoch.Add(time.Minute))
	if c := jobCond(b.job("crashy"), api.JobFailed); c == nil || c.Reason != "BackoffLimitExceeded" {
		t.Fatalf("conditions = %+v", b.job("crashy").Status.Conditions)
	}
	if len(b.pods(b.job("crashy"))) != 0 {
		t.Fatal("the restarting pod was kept")
	}
}

func TestJobActiveDeadline(t *testing.T) {
	b := newBatchStore(t)
	b.add(testJob("slow", func(j *api.Job) { j.Spec.ActiveDeadlineSeconds = i64(60) }))
	if requeue := b.jobPass(batchEpoch); requeue != time.Minute {
		t.Fatalf("requeue %v, want the deadline in 1m", requeue)
	}
	b.setPhase(b.pods(b.job("slow"))[0], api.PodRunning, batchEpoch)
	if requeue := b.jobPass(batchEpoch.Add(30 * time.Second)); requeue != 30*time.Second {
		t.Fatalf("requeue %v, want 30s", requeue)
	}
	if job := b.job("slow"); jobCond(job, api.JobFailed) != nil || job.Status.Ready == nil || *job.Status.Ready != 1 {
		t.Fatalf("before the deadline: %+v", job.Status)
	}
	b.jobPass(batchEpoch.Add(time.Minute))
	job := b.job("slow")
	if c := jobCond(job, api.JobFailed); c == nil || c.Reason != "DeadlineExceeded" || !c.LastTransitionTime.Equal(batchEpoch.Add(time.Minute)) {
		t.Fatalf("conditions = %+v", job.Status.Conditions)
	}
	if n := len(b.pods(job)); n != 0 || job.Status.Active != 0 {
		t.Fatalf("%d pods left after the deadline", n)
	}
}

func TestJobTTLAfterFinished(t *testing.T) {
	b := newBatchStore(t)
	b.add(testJob("once", func(j *api.Job) { j.Spec.TTLSecondsAfterFinished = i32(100) }))
	b.jobPass(batchEpoch)
	done := batchEpoch.Add(time.Minute)
	b.setPhase(b.pods(b.job("once"))[0], api.PodSucceeded, done)
	if requeue := b.jobPass(done); requeue != 100*time.Second {
		t.Fatalf("requeue %v, want the TTL", requeue)
	}
	if jobCond(b.job("once"), api.JobComplete) == nil {
		t.Fatal("not complete")
	}
	if requeue := b.jobPass(done.Add(60 * time.Second)); requeue != 40*time.Second {
		t.Fatalf("requeue %v, want 40s", requeue)
	}
	b.jobPass(done.Add(100 * time.Second))
	if _, ok := b.st[api.Key{Kind: "Job", Namespace: "default", Name: "once"}]; ok {
		t.Fatal("the Job outlived its TTL")
	}
	for _, o := range b.st {
		if o.GetTypeMeta().Kind == "Pod" {
			t.Fatalf("pod %s outlived its Job", o.GetObjectMeta().Name)
		}
	}
}

func TestJobWorkQueue(t *testing.T) {
	b := newBatchStore(t)
	b.add(testJob("queue", func(j *api.Job) { j.Spec.Parallelism = i32(3) }))
	b.jobPass(batchEpoch)
	pods := b.pods(b.job("queue"))
	if len(pods) != 3 {
		t.Fatalf("%d pods, want parallelism 3", len(pods))
	}
	now := batchEpoch.Add(time.Minute)
	b.setPhase(pods[0], api.PodSucceeded, now)
	b.jobPass(now)
	if job := b.job("queue"); len(b.pods(job)) != 3 || jobCond(job, api.JobComplete) != nil || job.Status.Active != 2 {
		t.Fatalf("after one success: %+v, pods %v", job.Status, podNames(b.pods(job)))
	}
	b.setPhase(pods[1], api.PodSucceeded, now)
	b.setPhase(pods[2], api.PodFailed, now)
	b.jobPass(now)
	if job := b.job("queue"); jobCond(job, api.JobComplete) == nil || job.Status.Succeeded != 2 || job.Status.Failed != 1 {
		t.Fatalf("status = %+v", job.Status)
	}
}

func TestJobSuspendAndResume(t *testing.T) {
	b := newBatchStore(t)
	b.add(testJob("paused", func(j *api.Job) { j.Spec.Suspend = new(true); j.Spec.ActiveDeadlineSeconds = i64(600) }))
	b.jobPass(batchEpoch)
	job := b.job("paused")
	if len(b.pods(job)) != 0 || jobCond(job, api.JobSuspended) == nil || job.Status.StartTime != nil {
		t.Fatalf("a suspended Job: %+v", job.Status)
	}
	resume := func(at time.Time, suspend bool) {
		next := api.Copy(b.job("paused"))
		next.Spec.Suspend = new(suspend)
		b.add(next)
		b.jobPass(at)
	}
	resume(batchEpoch.Add(time.Hour), false)
	job = b.job("paused")
	if len(b.pods(job)) != 1 || jobCond(job, api.JobSuspended) != nil || !job.Status.StartTime.Equal(batchEpoch.Add(time.Hour)) {
		t.Fatalf("resumed: %+v", job.Status)
	}
	resume(batchEpoch.Add(time.Hour+time.Minute), true)
	if job = b.job("paused"); len(b.pods(job)) != 0 || job.Status.Active != 0 {
		t.Fatalf("suspended again: %+v", job.Status)
	}
	// The deadline counts from the last resume, and not while suspended.
	resume(batchEpoch.Add(2*time.Hour), false)
	if job = b.job("paused"); jobCond(job, api.JobFailed) != nil || len(b.pods(job)) != 1 {
		t.Fatalf("resumed again: %+v", job.Status)
	}
}

// A pass planned against a Job that changed before it committed creates
// nothing: the pods and the Job's status are one command.
func TestJobStalePlanCreatesNoPods(t *testing.T) {
	b := newBatchStore(t)
	b.add(testJob("raced", nil))
	changes, _ := placement.PlanJobs(batchEpoch, b.st)
	edited := api.Copy(b.job("raced"))
	edited.Spec.Parallelism = i32(1)
	b.add(edited)
	if b.commit(changes) {
		t.Fatal("a plan for an older version of the Job committed")
	}
	if n := len(b.pods(edited)); n != 0 {
		t.Fatalf("%d pods were created without being recorded", n)
	}
	b.jobPass(batchEpoch)
	// A new leader's first pass finds the pods and makes no more.
	if changes, _ := placement.PlanJobs(batchEpoch.Add(time.Second), b.st); len(changes) != 0 || len(b.pods(edited)) != 1 {
		t.Fatalf("after a leader change: %d changes, %d pods", len(changes), len(b.pods(edited)))
	}
	if !slices.ContainsFunc(b.pods(edited), func(p *api.Pod) bool { return p.Spec.Containers[0].Image == "shoal.test/busybox:1" }) {
		t.Fatal("the pod is not from the template")
	}
}
