package placement_test

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/placement"
)

func testCronJob(name, schedule string, edit func(*api.CronJob)) *api.CronJob {
	cj := &api.CronJob{
		TypeMeta: api.TypeMeta{APIVersion: "batch/v1", Kind: "CronJob"},
		ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default", UID: "uid-cj-" + name,
			CreationTimestamp: api.NewTime(batchEpoch.Add(-2 * time.Minute))},
		Spec: api.CronJobSpec{
			Schedule: schedule,
			JobTemplate: api.JobTemplateSpec{
				ObjectMeta: api.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec: api.JobSpec{Template: api.PodTemplateSpec{Spec: api.PodSpec{
					RestartPolicy: api.RestartPolicyOnFailure,
					Containers:    []api.Container{{Name: "main", Image: "shoal.test/busybox:1"}},
				}}},
			},
		},
	}
	if edit != nil {
		edit(cj)
	}
	api.SetDefaults(cj)
	return cj
}

type batchEvents struct{ reasons []string }

func (e *batchEvents) RecordEvent(_ context.Context, _ api.Object, _, reason, msg, _ string) error {
	e.reasons = append(e.reasons, reason+": "+msg)
	return nil
}

// cronPass runs a pass of a new CronJobController, as a new leader would,
// and commits it.
func (b *batchStore) cronPass(now time.Time) time.Duration {
	b.t.Helper()
	b.now = now
	requeue, err := (&placement.CronJobController{State: b.st, Writer: b}).Pass(context.Background(), now)
	if err != nil {
		b.t.Fatalf("cronjob pass at %s: %v", now.Format(time.TimeOnly), err)
	}
	return requeue
}

func (b *batchStore) cronJob(name string) *api.CronJob {
	b.t.Helper()
	o, ok := b.st[api.Key{Kind: "CronJob", Namespace: "default", Name: name}]
	if !ok {
		b.t.Fatalf("cronjob %s does not exist", name)
	}
	return o.(*api.CronJob)
}

// jobsOf returns the names of the Jobs the CronJob owns, sorted.
func (b *batchStore) jobsOf(cj *api.CronJob) []string {
	var out []string
	for _, o := range b.st {
		if j, ok := o.(*api.Job); ok && len(j.OwnerReferences) > 0 && j.OwnerReferences[0].UID == cj.UID {
			out = append(out, j.Name)
		}
	}
	slices.Sort(out)
	return out
}

// finishJob gives a Job its final condition, as the Job controller would.
func (b *batchStore) finishJob(name string, typ api.JobConditionType, at time.Time) {
	b.t.Helper()
	j := api.Copy(b.job(name))
	if j.Status.StartTime == nil {
		j.Status.StartTime = j.CreationTimestamp
	}
	j.Status.Conditions = append(j.Status.Conditions, api.JobCondition{Type: typ, Status: api.ConditionTrue, LastTransitionTime: api.NewTime(at)})
	if typ == api.JobComplete {
		j.Status.CompletionTime = api.NewTime(at)
	}
	b.add(j)
}

func runName(cron string, at time.Time) string {
	return cron + "-" + strconv.FormatInt(at.Unix()/60, 10)
}

func activeNames(cj *api.CronJob) []string {
	var out []string
	for _, r := range cj.Status.Active {
		out = append(out, r.Name)
	}
	return out
}

func TestCronJobFiresOncePerSchedule(t *testing.T) {
	b := newBatchStore(t)
	b.add(testCronJob("tick", "*/5 * * * *", nil))
	if requeue := b.cronPass(batchEpoch.Add(-time.Minute)); requeue != time.Minute {
		t.Fatalf("requeue %v, want 1m to 10:00", requeue)
	}
	if jobs := b.jobsOf(b.cronJob("tick")); len(jobs) != 0 {
		t.Fatalf("jobs before the schedule: %v", jobs)
	}
	if requeue := b.cronPass(batchEpoch); requeue != 5*time.Minute {
		t.Fatalf("requeue %v, want 5m", requeue)
	}
	cj := b.cronJob("tick")
	first := runName("tick", batchEpoch)
	if jobs := b.jobsOf(cj); !slices.Equal(jobs, []string{first}) {
		t.Fatalf("jobs = %v, want [%s]", jobs, first)
	}
	job := b.job(first)
	if job.Labels["app"] != "tick" || job.Annotations["batch.kubernetes.io/cronjob-scheduled-timestamp"] != "2026-03-02T10:00:00Z" ||
		job.Spec.Selector == nil || job.Spec.Selector.MatchLabels[api.JobControllerUIDLabel] != job.UID ||
		job.Spec.Template.Labels[api.JobNameLabel] != first || job.Spec.BackoffLimit == nil || *job.Spec.BackoffLimit != 6 {
		t.Fatalf("job = %+v", job.ObjectMeta)
	}
	if r := job.OwnerReferences[0]; r.Kind != "CronJob" || r.UID != cj.UID || r.Controller == nil || !*r.Controller {
		t.Fatalf("owner = %+v", r)
	}
	if !cj.Status.LastScheduleTime.Equal(batchEpoch) || !slices.Equal(activeNames(cj), []string{first}) || cj.Status.Active[0].UID != job.UID {
		t.Fatalf("status = %+v", cj.Status)
	}
	// The same time again, and a time before the next run: nothing new.
	for _, at := range []time.Time{batchEpoch, batchEpoch.Add(30 * time.Second), batchEpoch.Add(4 * time.Minute)} {
		if changes, _ := placement.PlanCronJobs(at, b.st); len(changes) != 0 {
			t.Fatalf("at %s: %d changes", at.Format(time.TimeOnly), len(changes))
		}
	}
	// A plan committed twice starts its run once.
	changes, _ := placement.PlanCronJobs(batchEpoch.Add(5*time.Minute), b.st)
	if !b.commit(changes) || b.commit(changes) {
		t.Fatal("a plan committed twice was accepted twice")
	}
	if jobs := b.jobsOf(cj); len(jobs) != 2 || jobs[1] != runName("tick", batchEpoch.Add(5*time.Minute)) {
		t.Fatalf("jobs = %v", jobs)
	}
}

// Two leaders, one after the other or at once, start each run once.
func TestCronJobLeaderChange(t *testing.T) {
	b := newBatchStore(t)
	b.add(testCronJob("tick", "*/5 * * * *", nil))
	b.cronPass(batchEpoch) // the old leader
	b.cronPass(batchEpoch) // a new leader, at the same time
	b.cronPass(batchEpoch.Add(3 * time.Minute))
	if jobs := b.jobsOf(b.cronJob("tick")); len(jobs) != 1 {
		t.Fatalf("jobs = %v, want one", jobs)
	}
	// Both plan the 10:05 run from the same state; the second commit loses.
	at := batchEpoch.Add(5 * time.Minute)
	old, _ := placement.PlanCronJobs(at, b.st)
	cur, _ := placement.PlanCronJobs(at.Add(time.Second), b.st)
	if !b.commit(cur) || b.commit(old) {
		t.Fatal("both leaders' plans committed")
	}
	b.cronPass(at.Add(2 * time.Second))
	if jobs := b.jobsOf(b.cronJob("tick")); len(jobs) != 2 {
		t.Fatalf("jobs = %v, want two", jobs)
	}
}

func TestCronJobForbid(t *testing.T) {
	for _, tc := range []struct {
		name     string
		deadline *int64
		late     bool // the run held back starts once the active Job finishes
	}{
		{"with a starting deadline", i64(60), false},
		{"without one, as Kubernetes", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBatchStore(t)
			b.add(testCronJob("solo", "*/5 * * * *", func(c *api.CronJob) {
				c.Spec.ConcurrencyPolicy = api.ForbidConcurrent
				c.Spec.StartingDeadlineSeconds = tc.deadline
			}))
			b.cronPass(batchEpoch)
			first := runName("solo", batchEpoch)
			b.cronPass(batchEpoch.Add(5 * time.Minute))
			cj := b.cronJob("solo")
			if jobs := b.jobsOf(cj); !slices.Equal(jobs, []string{first}) {
				t.Fatalf("jobs while one is active = %v", jobs)
			}
			if !cj.Status.LastScheduleTime.Equal(batchEpoch) {
				t.Fatalf("lastScheduleTime moved to %v", cj.Status.LastScheduleTime)
			}
			done := batchEpoch.Add(6 * time.Minute)
			b.finishJob(first, api.JobComplete, done)
			b.cronPass(done)
			cj = b.cronJob("solo")
			want := []string{first}
			if tc.late {
				want = append(want, runName("solo", batchEpoch.Add(5*time.Minute)))
			}
			if !slices.Equal(activeNames(cj), want[1:]) || !cj.Status.LastSuccessfulTime.Equal(done) {
				t.Fatalf("status = %+v", cj.Status)
			}
			if jobs := b.jobsOf(cj); !slices.Equal(jobs, want) {
				t.Fatalf("jobs after the active one finished = %v, want %v", jobs, want)
			}
			if !tc.late {
				b.cronPass(batchEpoch.Add(10 * time.Minute))
				if jobs := b.jobsOf(b.cronJob("solo")); len(jobs) != 2 {
					t.Fatalf("the next run did not start: %v", jobs)
				}
			}
		})
	}
}

func TestCronJobReplace(t *testing.T) {
	b := newBatchStore(t)
	b.add(testCronJob("latest", "*/5 * * * *", func(c *api.CronJob) { c.Spec.ConcurrencyPolicy = api.ReplaceConcurrent }))
	b.cronPass(batchEpoch)
	first := b.job(runName("latest", batchEpoch))
	b.now = batchEpoch.Add(time.Second)
	b.jobPass(b.now)
	if len(b.pods(first)) != 1 {
		t.Fatal("the first run has no pod")
	}
	at := batchEpoch.Add(5 * time.Minute)
	b.cronPass(at)
	cj := b.cronJob("latest")
	second := runName("latest", at)
	if jobs := b.jobsOf(cj); !slices.Equal(jobs, []string{second}) {
		t.Fatalf("jobs = %v, want only %s", jobs, second)
	}
	if !slices.Equal(activeNames(cj), []string{second}) || len(b.pods(first)) != 0 {
		t.Fatalf("active = %v; pods of the replaced Job: %d", activeNames(cj), len(b.pods(first)))
	}
}

func TestCronJobStartingDeadlineSkipsStaleRuns(t *testing.T) {
	b := newBatchStore(t)
	b.add(testCronJob("hourly", "0 * * * *", func(c *api.CronJob) {
		c.CreationTimestamp = api.NewTime(batchEpoch.Add(-30 * time.Minute))
		c.Spec.StartingDeadlineSeconds = i64(300)
	}))
	// The controller was down at 10:00; at 10:10 that run is too old.
	if requeue := b.cronPass(batchEpoch.Add(10 * time.Minute)); requeue != 50*time.Minute {
		t.Fatalf("requeue %v, want 50m", requeue)
	}
	cj := b.cronJob("hourly")
	if jobs := b.jobsOf(cj); len(jobs) != 0 || cj.Status.LastScheduleTime != nil {
		t.Fatalf("a stale run started: %v, %+v", jobs, cj.Status)
	}
	// Within the deadline, it starts.
	b.cronPass(batchEpoch.Add(time.Hour + 4*time.Minute))
	if jobs := b.jobsOf(cj); !slices.Equal(jobs, []string{runName("hourly", batchEpoch.Add(time.Hour))}) {
		t.Fatalf("jobs = %v", jobs)
	}
}

func TestCronJobSuspend(t *testing.T) {
	b := newBatchStore(t)
	b.add(testCronJob("held", "*/5 * * * *", func(c *api.CronJob) { c.Spec.Suspend = new(true) }))
	if requeue := b.cronPass(batchEpoch); requeue != 0 {
		t.Fatalf("a suspended CronJob asked to come back in %v", requeue)
	}
	b.cronPass(batchEpoch.Add(5 * time.Minute))
	if jobs := b.jobsOf(b.cronJob("held")); len(jobs) != 0 {
		t.Fatalf("a suspended CronJob started %v", jobs)
	}
	// Resumed, it starts the latest missed run only.
	next := api.Copy(b.cronJob("held"))
	next.Spec.Suspend = new(false)
	b.add(next)
	b.cronPass(batchEpoch.Add(7 * time.Minute))
	if jobs := b.jobsOf(next); !slices.Equal(jobs, []string{runName("held", batchEpoch.Add(5*time.Minute))}) {
		t.Fatalf("jobs after resuming = %v", jobs)
	}
}

func TestCronJobHistoryLimits(t *testing.T) {
	b := newBatchStore(t)
	cj := testCronJob("keep", "*/5 * * * *", func(c *api.CronJob) {
		c.Spec.SuccessfulJobsHistoryLimit = i32(2)
		c.Spec.Suspend = new(true)
	})
	b.add(cj)
	var names []string
	for i := range 6 {
		at := batchEpoch.Add(time.Duration(i) * 5 * time.Minute)
		j := &api.Job{
			TypeMeta: api.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
			ObjectMeta: api.ObjectMeta{Name: runName("keep", at), Namespace: "default",
				OwnerReferences: []api.OwnerReference{{APIVersion: "batch/v1", Kind: "CronJob", Name: "keep", UID: cj.UID, Controller: new(true)}}},
			Status: api.JobStatus{StartTime: api.NewTime(at)},
		}
		b.add(j)
		typ := api.JobComplete
		if i%3 == 2 {
			typ = api.JobFailed // runs 2 and 5
		}
		b.finishJob(j.Name, typ, at.Add(time.Minute))
		names = append(names, j.Name)
	}
	b.cronPass(batchEpoch.Add(time.Hour))
	// Successful: 0, 1, 3, 4 keep the newest two; failed: 2, 5 keep one.
	want := []string{names[3], names[4], names[5]}
	slices.Sort(want)
	if jobs := b.jobsOf(cj); !slices.Equal(jobs, want) {
		t.Fatalf("jobs = %v, want %v", jobs, want)
	}
	if got := b.cronJob("keep").Status.LastSuccessfulTime; !got.Equal(batchEpoch.Add(21 * time.Minute)) {
		t.Fatalf("lastSuccessfulTime = %v", got)
	}
}

func TestCronJobTimeZone(t *testing.T) {
	b := newBatchStore(t)
	b.add(testCronJob("tokyo", "0 9 * * *", func(c *api.CronJob) {
		c.Spec.TimeZone = new("Asia/Tokyo")
		c.CreationTimestamp = api.NewTime(batchEpoch.Add(-24 * time.Hour))
	}))
	// 09:00 in Tokyo is 00:00 UTC.
	nineInTokyo := time.Date(2026, 3, 3, 0, 0, 0, 0, time.UTC)
	if requeue := b.cronPass(batchEpoch); requeue != 14*time.Hour {
		t.Fatalf("requeue %v, want 14h to 09:00 in Tokyo", requeue)
	}
	cj := b.cronJob("tokyo")
	// 09:00 in Tokyo today was 00:00 UTC, after the creation: that run starts.
	today := nineInTokyo.Add(-24 * time.Hour)
	if jobs := b.jobsOf(cj); !slices.Equal(jobs, []string{runName("tokyo", today)}) {
		t.Fatalf("jobs = %v", jobs)
	}
	b.cronPass(nineInTokyo)
	job := b.job(runName("tokyo", nineInTokyo))
	if got := job.Annotations["batch.kubernetes.io/cronjob-scheduled-timestamp"]; got != "2026-03-03T09:00:00+09:00" {
		t.Fatalf("scheduled timestamp %q", got)
	}
}

func TestCronJobManyMissedRunsStartOnlyTheLatest(t *testing.T) {
	for _, tc := range []struct {
		schedule string
		now      time.Time
		want     time.Time
	}{
		{"* * * * *", batchEpoch.Add(30 * time.Second), batchEpoch},
		// Weekdays at 9: on Sunday 2026-03-08 the latest is Friday's.
		{"0 9 * * 1-5", time.Date(2026, 3, 8, 12, 0, 0, 0, time.UTC), time.Date(2026, 3, 6, 9, 0, 0, 0, time.UTC)},
		{"15 */6 1 * *", time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 1, 18, 15, 0, 0, time.UTC)},
	} {
		t.Run(tc.schedule, func(t *testing.T) {
			b := newBatchStore(t)
			b.add(testCronJob("late", tc.schedule, func(c *api.CronJob) {
				c.CreationTimestamp = api.NewTime(time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC))
			}))
			rec := &batchEvents{}
			b.now = tc.now
			if _, err := (&placement.CronJobController{State: b.st, Writer: b, Events: rec}).Pass(context.Background(), tc.now); err != nil {
				t.Fatal(err)
			}
			cj := b.cronJob("late")
			if jobs := b.jobsOf(cj); !slices.Equal(jobs, []string{runName("late", tc.want)}) {
				t.Fatalf("jobs = %v, want the run at %s", jobs, tc.want)
			}
			if !cj.Status.LastScheduleTime.Equal(tc.want) {
				t.Fatalf("lastScheduleTime = %v", cj.Status.LastScheduleTime)
			}
			if !slices.ContainsFunc(rec.reasons, func(r string) bool { return strings.HasPrefix(r, "TooManyMissedTimes") }) {
				t.Fatalf("events = %v", rec.reasons)
			}
		})
	}
}
