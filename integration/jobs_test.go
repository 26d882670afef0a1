package integration

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
)

const indexedJob = `
apiVersion: batch/v1
kind: Job
metadata: {name: count}
spec:
  completions: 5
  parallelism: 2
  completionMode: Indexed
  template:
    spec:
      restartPolicy: Never
      terminationGracePeriodSeconds: 1
      containers:
      - {name: c, image: shoal.test/busybox:1, command: [sh, -c, "echo index=$JOB_COMPLETION_INDEX; sleep 1"]}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: tick}
spec:
  schedule: "* * * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          terminationGracePeriodSeconds: 1
          containers:
          - {name: c, image: shoal.test/busybox:1, command: [sh, -c, "echo tick"]}
`

// A Job of 5 completions, 2 at a time, in Indexed mode runs indices 0..4
// once each and completes; a CronJob every minute starts a Job that
// completes.
func TestJobsAndCronJobsRunPods(t *testing.T) {
	c := startPodCluster(t, 2)
	a := c.agents[0]
	a.apply(t, indexedJob)
	ctx := context.Background()
	var job *api.Job
	maxActive := 0
	waitFor(t, 120*time.Second, "job count to complete", func() (bool, string) {
		o, err := a.client().Get(ctx, "Job", "default", "count")
		if err != nil {
			return false, err.Error()
		}
		job = o.(*api.Job)
		maxActive = max(maxActive, int(job.Status.Active))
		for _, cond := range job.Status.Conditions {
			if cond.Type == "Complete" && cond.Status == api.ConditionTrue {
				return true, ""
			}
		}
		return false, fmt.Sprintf("active %d succeeded %d failed %d", job.Status.Active, job.Status.Succeeded, job.Status.Failed)
	})
	if job.Status.Succeeded != 5 || job.Status.CompletedIndexes != "0-4" || maxActive > 2 {
		t.Fatalf("job: succeeded %d, completed indexes %q, at most %d active (want 5, 0-4, ≤2)", job.Status.Succeeded, job.Status.CompletedIndexes, maxActive)
	}
	objs, _, err := a.client().ListWith(ctx, "Pod", "default", api.ListOptions{LabelSelector: "job-name=count"})
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	for _, o := range objs {
		p := o.(*api.Pod)
		out, err := a.cli("logs", p.Name)
		if err != nil {
			t.Fatalf("logs %s: %v %s", p.Name, err, out)
		}
		idx := p.Annotations["batch.kubernetes.io/job-completion-index"]
		if strings.TrimSpace(out) != "index="+idx {
			t.Errorf("pod %s (index %s) printed %q", p.Name, idx, out)
		}
		seen = append(seen, idx)
	}
	sort.Strings(seen)
	if strings.Join(seen, ",") != "0,1,2,3,4" {
		t.Fatalf("pods ran indices %v, want 0..4 once each", seen)
	}

	waitFor(t, 150*time.Second, "the cron job to start a job that completes", func() (bool, string) {
		objs, _, err := a.client().List(ctx, "Job", "default", false)
		if err != nil {
			return false, err.Error()
		}
		var names []string
		for _, o := range objs {
			j := o.(*api.Job)
			names = append(names, j.Name)
			if strings.HasPrefix(j.Name, "tick-") && j.Status.Succeeded == 1 {
				return true, ""
			}
		}
		return false, strings.Join(names, " ")
	})
}
