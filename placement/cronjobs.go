package placement

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/shoal-dev/shoal/api"
)

const (
	// cronScheduledAnnotation records on a Job the run it was created for,
	// as Kubernetes does.
	cronScheduledAnnotation = "batch.kubernetes.io/cronjob-scheduled-timestamp"
	// maxMissedRuns is how many missed runs a CronJob tolerates before it
	// warns of clock skew or a missing startingDeadlineSeconds, as
	// Kubernetes does. Either way only the latest missed run starts.
	maxMissedRuns = 100
)

// CronJobController creates each CronJob's Jobs on its schedule, as
// Kubernetes' cronjob controller does: in spec.timeZone (UTC by default),
// not while spec.suspend is true, skipping runs older than
// spec.startingDeadlineSeconds, and starting only the latest run when
// several were missed. spec.concurrencyPolicy decides what happens when a
// run is due while an earlier Job is active: Allow starts it anyway,
// Forbid waits (the run starts when the active Job finishes, if it is
// still within the starting deadline), Replace deletes the active Jobs
// first. Finished Jobs beyond spec.successfulJobsHistoryLimit and
// spec.failedJobsHistoryLimit are deleted, oldest first. status.active,
// lastScheduleTime and lastSuccessfulTime are kept current.
//
// A run's Job is named <cronjob>-<scheduled time in Unix minutes> and is
// created in the same command that moves status.lastScheduleTime past
// it, under a compare-and-set on the CronJob, so a run starts at most
// once whichever leader starts it. Events is optional. Pass is not safe
// to call concurrently with itself.
type CronJobController struct {
	State  Reader
	Writer Writer
	Events EventRecorder
}

// Pass converges every CronJob once, each in its own command, and returns
// the wait until the next scheduled run.
func (c *CronJobController) Pass(ctx context.Context, now time.Time) (time.Duration, error) {
	plans, requeue := planCronJobs(now, c.State)
	return commitPlans(ctx, c.Writer, c.Events, "cronjob-controller", plans, requeue)
}

// PlanCronJobs computes the writes that start due runs, clean up history
// and update status for every CronJob, and the wait until the next
// scheduled run. It is pure over state and now; the changes of one
// CronJob are contiguous.
func PlanCronJobs(now time.Time, state Reader) ([]Change, time.Duration) {
	plans, requeue := planCronJobs(now, state)
	return flattenPlans(plans), requeue
}

func planCronJobs(now time.Time, state Reader) ([]objPlan, time.Duration) {
	objs, _ := state.List("CronJob", "")
	cjs := make([]*api.CronJob, 0, len(objs))
	for _, o := range objs {
		cjs = append(cjs, o.(*api.CronJob))
	}
	sort.Slice(cjs, func(i, j int) bool {
		if cjs[i].Namespace != cjs[j].Namespace {
			return cjs[i].Namespace < cjs[j].Namespace
		}
		return cjs[i].Name < cjs[j].Name
	})
	var plans []objPlan
	var requeue time.Duration
	for _, cj := range cjs {
		p, wait := planCronJob(now, state, cj, owned[*api.Job](state, "Job", cj.UID))
		requeueAt(&requeue, wait)
		if len(p.changes) > 0 {
			plans = append(plans, p)
		}
	}
	return plans, requeue
}

func planCronJob(now time.Time, state Reader, cj *api.CronJob, owned []*api.Job) (objPlan, time.Duration) {
	p := objPlan{obj: cj}
	if cj.DeletionTimestamp != nil {
		return p, 0
	}
	status := cj.Status
	var active, succeeded, failed []*api.Job
	for _, j := range owned {
		switch c := jobFinished(&j.Status); {
		case j.DeletionTimestamp != nil:
		case c == nil:
			active = append(active, j)
		case c.Type == api.JobComplete:
			succeeded = append(succeeded, j)
			if t := j.Status.CompletionTime; t != nil && (status.LastSuccessfulTime == nil || t.After(status.LastSuccessfulTime.Time)) {
				status.LastSuccessfulTime = t
			}
		default:
			failed = append(failed, j)
		}
	}
	trimJobHistory(&p, succeeded, cj.Spec.SuccessfulJobsHistoryLimit, 3)
	trimJobHistory(&p, failed, cj.Spec.FailedJobsHistoryLimit, 1)

	var requeue time.Duration
	sched, schedErr := api.ParseSchedule(cj.Spec.Schedule)
	loc, locErr := cronLocation(cj)
	suspended := cj.Spec.Suspend != nil && *cj.Spec.Suspend
	// A schedule or zone that does not parse (validation keeps them out)
	// starts nothing; status is still kept.
	if schedErr == nil && locErr == nil && !suspended {
		if next := sched.Next(now.In(loc)); !next.IsZero() {
			requeue = max(time.Millisecond, next.Sub(now))
		}
		if due, missed := dueRun(cj, sched, loc, now); !due.IsZero() {
			active = startRun(&p, state, cj, &status, active, due, missed)
		}
	}

	status.Active = nil
	for _, j := range active {
		status.Active = append(status.Active, api.ObjectReference{Kind: "Job", APIVersion: "batch/v1", Namespace: j.Namespace, Name: j.Name, UID: j.UID})
	}
	ja, _ := json.Marshal(cj.Status)
	jb, _ := json.Marshal(status)
	if len(p.changes) > 0 || string(ja) != string(jb) {
		next := api.Copy(cj) // keeps the version: a compare-and-set
		next.Status = status
		p.put(next)
	} else {
		p.events = nil
	}
	return p, requeue
}

// startRun starts the run due at the scheduled time, unless its Job exists
// or concurrencyPolicy Forbid says to wait, and returns the active Jobs
// after it.
func startRun(p *objPlan, state Reader, cj *api.CronJob, status *api.CronJobStatus, active []*api.Job, scheduled time.Time, missed int) []*api.Job {
	name := fmt.Sprintf("%s-%d", cj.Name, scheduled.Unix()/60)
	if cur, err := state.Get(api.Key{Kind: "Job", Namespace: cj.Namespace, Name: name}); err == nil {
		// Already started (or a Job of someone else's has the name): if it
		// is ours, make status say so.
		if r := controllerRef(cur); r != nil && r.UID == cj.UID && (status.LastScheduleTime == nil || status.LastScheduleTime.Before(scheduled)) {
			status.LastScheduleTime = api.NewTime(scheduled)
		}
		return active
	}
	switch cj.Spec.ConcurrencyPolicy {
	case api.ForbidConcurrent:
		if len(active) > 0 {
			// As in Kubernetes, lastScheduleTime stays, so the run starts
			// once the active Job finishes if the deadline still allows.
			return active
		}
	case api.ReplaceConcurrent:
		for _, j := range active {
			p.delete(j)
			p.event("Normal", "SuccessfulDelete", "Deleted job %s", j.Name)
		}
		active = nil
	}
	if missed > maxMissedRuns {
		p.event("Warning", "TooManyMissedTimes", "too many missed start times (more than %d); starting only the latest. Set or decrease .spec.startingDeadlineSeconds or check clock skew", maxMissedRuns)
	}
	job := newCronJobJob(cj, scheduled, name)
	p.put(job) // a plain put: the compare-and-set on the CronJob guards it
	p.event("Normal", "SuccessfulCreate", "Created job %s", name)
	status.LastScheduleTime = api.NewTime(scheduled)
	return append(active, job)
}

// dueRun returns the latest run of the schedule that is due at now and has
// not started (the zero time if none), and how many runs were missed up to
// it, counted up to maxMissedRuns+1. Runs before lastScheduleTime (or the
// CronJob's creation) and runs older than startingDeadlineSeconds are not
// due.
func dueRun(cj *api.CronJob, sched api.Schedule, loc *time.Location, now time.Time) (time.Time, int) {
	var earliest time.Time
	switch {
	case cj.Status.LastScheduleTime != nil:
		earliest = cj.Status.LastScheduleTime.Time
	case cj.CreationTimestamp != nil:
		earliest = cj.CreationTimestamp.Time
	default:
		earliest = now.Add(-time.Minute) // the store always sets it; without it, only the current minute
	}
	if d := cj.Spec.StartingDeadlineSeconds; d != nil {
		if limit := now.Add(-time.Duration(*d) * time.Second); limit.After(earliest) {
			earliest = limit
		}
	}
	return latestRun(sched, earliest.In(loc), now.In(loc))
}

// latestRun returns the last activation of sched in (after, now] and how
// many there are, counting up to maxMissedRuns+1 and then finding the last
// one by bisection, so a CronJob that missed years of runs costs little.
func latestRun(sched api.Schedule, after, now time.Time) (time.Time, int) {
	var latest time.Time
	n := 0
	for t := sched.Next(after); !t.IsZero() && !t.After(now); t = sched.Next(t) {
		latest = t
		if n++; n > maxMissedRuns {
			// Next is monotonic: keep Next(lo) <= now < Next(hi) and close
			// in until at most one whole minute lies in (lo, hi].
			lo, hi := latest.Add(-time.Nanosecond), now
			for hi.Sub(lo) > time.Minute {
				mid := lo.Add(hi.Sub(lo) / 2)
				if t := sched.Next(mid); !t.IsZero() && !t.After(now) {
					lo = mid
				} else {
					hi = mid
				}
			}
			return sched.Next(lo), n
		}
	}
	return latest, n
}

// cronLocation is the CronJob's time zone: spec.timeZone, or UTC.
func cronLocation(cj *api.CronJob) (*time.Location, error) {
	if cj.Spec.TimeZone == nil || *cj.Spec.TimeZone == "" {
		return time.UTC, nil
	}
	return time.LoadLocation(*cj.Spec.TimeZone)
}

// newCronJobJob makes the Job for one run from the CronJob's template,
// with the generated selector and defaults the server gives a new Job. Its
// uid derives from the CronJob's and the run's, so every leader plans the
// same Job.
func newCronJobJob(cj *api.CronJob, scheduled time.Time, name string) *api.Job {
	t := &cj.Spec.JobTemplate
	j := api.Copy(&api.Job{
		TypeMeta: api.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
		ObjectMeta: api.ObjectMeta{
			Name: name, Namespace: cj.Namespace, Labels: t.Labels, Annotations: t.Annotations,
			OwnerReferences: []api.OwnerReference{ownerRef(cj)},
		},
		Spec: t.Spec,
	})
	if j.Annotations == nil {
		j.Annotations = map[string]string{}
	}
	j.Annotations[cronScheduledAnnotation] = scheduled.Format(time.RFC3339)
	sum := sha256.Sum256([]byte(cj.UID + "/" + name))
	sum[6] = sum[6]&0x0f | 0x80 // a version 8 (custom) UUID
	sum[8] = sum[8]&0x3f | 0x80
	j.UID = fmt.Sprintf("%x-%x-%x-%x-%x", sum[0:4], sum[4:6], sum[6:8], sum[8:10], sum[10:16])
	api.SetDefaults(j)
	api.GenerateJobSelector(j)
	return j
}

// trimJobHistory deletes the oldest of the finished Jobs beyond limit
// (def when unset), ordered by start time as Kubernetes orders them.
func trimJobHistory(p *objPlan, jobs []*api.Job, limit *int32, def int32) {
	keep := def
	if limit != nil {
		keep = *limit
	}
	if int32(len(jobs)) <= keep {
		return
	}
	sort.SliceStable(jobs, func(a, b int) bool {
		sa, sb := jobs[a].Status.StartTime, jobs[b].Status.StartTime
		switch {
		case sa == nil && sb != nil:
			return false
		case sa != nil && sb == nil:
			return true
		case sa == nil || sa.Equal(sb.Time):
			return jobs[a].Name < jobs[b].Name
		}
		return sa.Before(sb.Time)
	})
	for _, j := range jobs[:int32(len(jobs))-keep] {
		p.delete(j)
		p.event("Normal", "SuccessfulDelete", "Deleted job %s", j.Name)
	}
}
