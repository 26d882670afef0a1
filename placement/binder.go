package placement

import (
	"context"
	"log/slog"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/clock"
)

// EventRecorder records what the system did to an object and why.
type EventRecorder interface {
	RecordEvent(ctx context.Context, obj api.Object, typ, reason, message, component string) error
}

// Binder runs the scheduler for pods that have no node yet and binds them:
// it sets spec.nodeName and the PodScheduled condition, checking each
// placement against the newest state and committing it with a
// compare-and-set, so a pod is never bound twice. A pod that fits nowhere
// gets PodScheduled=False with the scheduler's reason and a
// FailedScheduling event, and is tried again on the next pass.
type Binder struct {
	State    Reader
	Writer   Writer
	Events   EventRecorder
	IsLeader func() bool
	Clock    clock.Clock
	Logger   *slog.Logger
	Interval time.Duration
	Trigger  <-chan struct{}
}

// Run makes passes until ctx ends; passes only act on the leader.
func (b *Binder) Run(ctx context.Context) {
	t := b.Clock.NewTicker(b.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		case <-b.Trigger:
		}
		if !b.IsLeader() {
			continue
		}
		if err := b.Pass(ctx); err != nil {
			b.Logger.Warn("binder: pass failed; will retry", "err", err)
		}
	}
}

// Pass schedules every unbound pod once.
func (b *Binder) Pass(ctx context.Context) error {
	snap, pending := b.snapshot()
	if len(pending) == 0 {
		return nil
	}
	plan := Schedule(snap, pending)
	now := b.Clock.Now()
	byKey := map[api.Key]*api.Pod{}
	for _, p := range pending {
		byKey[api.KeyOf(p)] = p
	}
	// The state may have moved on while the plan was made: check each
	// placement against a fresh snapshot that grows with what is bound.
	fresh, _ := b.snapshot()
	for _, pl := range plan.Placements {
		pod := byKey[pl.Pod]
		if err := Fits(fresh, pod, pl.Node); err != nil {
			continue // the next pass will place it elsewhere
		}
		bound := api.Copy(pod)
		bound.Spec.NodeName = pl.Node
		setScheduled(bound, api.ConditionTrue, "", "", now)
		if err := b.Writer.Commit(ctx, []Change{{Put: bound}}); err != nil {
			if api.IsConflict(err) || api.IsNotFound(err) {
				continue
			}
			return err
		}
		fresh.Pods = append(fresh.Pods, bound)
		if b.Events != nil {
			b.Events.RecordEvent(ctx, bound, "Normal", "Scheduled", "Successfully assigned "+pod.Namespace+"/"+pod.Name+" to "+pl.Node, "scheduler")
		}
	}
	for _, u := range plan.Unplaced {
		pod := byKey[u.Pod]
		if cond := scheduledCondition(pod); cond != nil && cond.Status == api.ConditionFalse && cond.Message == u.Reason {
			continue // already says so
		}
		waiting := api.Copy(pod)
		setScheduled(waiting, api.ConditionFalse, "Unschedulable", u.Reason, now)
		if err := b.Writer.Commit(ctx, []Change{{Put: waiting}}); err != nil && !api.IsConflict(err) && !api.IsNotFound(err) {
			return err
		}
		if b.Events != nil {
			b.Events.RecordEvent(ctx, pod, "Warning", "FailedScheduling", u.Reason, "scheduler")
		}
	}
	return nil
}

// snapshot reads nodes, bound pods and the pods waiting for a node.
func (b *Binder) snapshot() (Snapshot, []*api.Pod) {
	var snap Snapshot
	nodes, _ := b.State.List("Node", "")
	for _, n := range nodes {
		snap.Nodes = append(snap.Nodes, n.(*api.Node))
	}
	var pending []*api.Pod
	pods, _ := b.State.List("Pod", "")
	for _, o := range pods {
		p := o.(*api.Pod)
		switch {
		case p.Status.Phase == api.PodSucceeded || p.Status.Phase == api.PodFailed || p.DeletionTimestamp != nil:
		case p.Spec.NodeName == "":
			pending = append(pending, p)
		default:
			snap.Pods = append(snap.Pods, p)
		}
	}
	return snap, pending
}

func scheduledCondition(p *api.Pod) *api.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == api.PodScheduled {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

func setScheduled(p *api.Pod, status api.ConditionStatus, reason, msg string, now time.Time) {
	c := api.PodCondition{Type: api.PodScheduled, Status: status, Reason: reason, Message: msg, LastTransitionTime: api.NewTime(now)}
	if old := scheduledCondition(p); old != nil {
		if old.Status == status {
			c.LastTransitionTime = old.LastTransitionTime
		}
		*old = c
		return
	}
	p.Status.Conditions = append(p.Status.Conditions, c)
	if p.Status.Phase == "" {
		p.Status.Phase = api.PodPending
	}
}
