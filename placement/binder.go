package placement

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/state"
)

// EventRecorder records what the system did to an object and why. The
// Binder calls it from several goroutines at once.
type EventRecorder interface {
	RecordEvent(ctx context.Context, obj api.Object, typ, reason, message, component string) error
}

// Binder runs the scheduler for pods that have no node yet and binds them:
// it sets spec.nodeName and the PodScheduled condition, checking each
// placement against the newest state and committing it with a
// compare-and-set, so a pod is never bound twice. One pass places every
// pod waiting for a node, and commits the bindings maxBindsPerCommand to a
// command. A pod that fits nowhere gets PodScheduled=False with the
// scheduler's reason and a FailedScheduling event, and is tried again on
// the next pass.
type Binder struct {
	State  Reader
	Writer Writer
	// Events records the Scheduled and FailedScheduling events; a pass
	// waits for them unless it queues them (QueueEvents).
	Events EventRecorder
}

type event struct {
	pod              *api.Pod
	typ, reason, msg string
}

// maxBindsPerCommand bounds the pods one command binds, as
// maxPodCreatesPerPass bounds the pods one command creates.
const maxBindsPerCommand = 500

// eventWriters: a pass records this many events at once. Each event is its
// own write, and Raft commits writes that arrive together in one round, so
// side by side they cost fewer rounds than one after another.
const eventWriters = 8

// Pass schedules every unbound pod once: a leader.Pass.
func (b *Binder) Pass(ctx context.Context, now time.Time) (time.Duration, error) {
	return 0, b.pass(ctx, now)
}

func (b *Binder) pass(ctx context.Context, now time.Time) error {
	snap, pending := b.snapshot()
	if len(pending) == 0 {
		return nil
	}
	plan := Schedule(snap, pending)
	byKey := make(map[api.Key]*api.Pod, len(pending))
	for _, p := range pending {
		byKey[api.KeyOf(p)] = p
	}
	if err := b.bind(ctx, plan.Placements, byKey, now); err != nil {
		return err
	}
	var waiting []*api.Pod
	for _, u := range plan.Unplaced {
		pod := byKey[u.Pod]
		if cond := scheduledCondition(pod); cond != nil && cond.Status == api.ConditionFalse && cond.Message == u.Reason {
			continue // already says so
		}
		waiting = append(waiting, withScheduled(pod, "", api.ConditionFalse, "Unschedulable", u.Reason, now))
	}
	if _, err := state.CommitIndependent(ctx, b.Writer, puts(waiting), maxBindsPerCommand, nil); err != nil {
		return err
	}
	b.record(ctx, waiting, func(p *api.Pod) event {
		return event{p, "Warning", "FailedScheduling", scheduledCondition(p).Message}
	})
	return nil
}

func scheduledEvent(p *api.Pod) event {
	return event{p, "Normal", "Scheduled", "Successfully assigned " + p.Namespace + "/" + p.Name + " to " + p.Spec.NodeName}
}

// record records an event about each pod, eventWriters at a time,
// returning when all are recorded (or queued). Events are best effort:
// errors are dropped.
func (b *Binder) record(ctx context.Context, pods []*api.Pod, of func(*api.Pod) event) {
	if b.Events == nil || len(pods) == 0 {
		return
	}
	next := make(chan event)
	var wg sync.WaitGroup
	for range min(eventWriters, len(pods)) {
		wg.Go(func() {
			for e := range next {
				b.Events.RecordEvent(ctx, e.pod, e.typ, e.reason, e.msg, "scheduler")
			}
		})
	}
	for _, p := range pods {
		next <- of(p)
	}
	close(next)
	wg.Wait()
}

// bind commits the plan's placements, with a Scheduled event for each. The
// state may have moved on while the plan was made, so each placement is
// checked, in the plan's order, against a fresh snapshot that grows with
// the placements accepted before it, and a pod that changed since it was
// planned is left for the next pass. A command of many bindings fails
// whole if one of its pods changed meanwhile; then what is left is checked
// again against the newest state, which leaves that pod out, and committed
// in smaller commands, down to one pod, which is then dropped.
func (b *Binder) bind(ctx context.Context, plan []Placement, planned map[api.Key]*api.Pod, now time.Time) error {
	size := maxBindsPerCommand
	for len(plan) > 0 {
		fresh, pending := b.snapshot()
		current := make(map[api.Key]string, len(pending))
		for _, p := range pending {
			current[api.KeyOf(p)] = p.ResourceVersion
		}
		chk := newChecker(fresh, nil)
		var todo []Placement
		var pods []*api.Pod
		for _, pl := range plan {
			pod := planned[pl.Pod]
			if rv, ok := current[pl.Pod]; !ok || rv != pod.ResourceVersion {
				continue // bound, deleted or changed meanwhile: the next pass looks again
			}
			if chk.fits(pod, pl.Node, true) != nil {
				continue // the next pass will place it elsewhere
			}
			todo = append(todo, pl)
			pods = append(pods, withScheduled(pod, pl.Node, api.ConditionTrue, "", "", now))
		}
		plan = nil
		for i := 0; i < len(pods); i += size {
			batch := pods[i:min(i+size, len(pods))]
			err := b.Writer.Commit(ctx, puts(batch))
			if err == nil {
				b.record(ctx, batch, scheduledEvent)
				continue
			}
			if !state.Stale(err) {
				return err
			}
			// The placements after a failed one were checked counting it,
			// so they are checked again.
			plan = todo[i:]
			if size == 1 {
				plan = plan[1:]
			}
			size = max(1, size/4)
			break
		}
	}
	return nil
}

func puts(pods []*api.Pod) []Change {
	out := make([]Change, len(pods))
	for i, p := range pods {
		out[i] = Change{Put: p}
	}
	return out
}

// withScheduled returns pod bound to node (unless node is "") with its
// PodScheduled condition set. It copies only what it changes: the rest is
// shared with pod, which stays as it was.
func withScheduled(pod *api.Pod, node string, status api.ConditionStatus, reason, msg string, now time.Time) *api.Pod {
	out := *pod
	if node != "" {
		out.Spec.NodeName = node
	}
	out.Status.Conditions = slices.Clone(pod.Status.Conditions)
	setScheduled(&out, status, reason, msg, now)
	return &out
}

// snapshot reads the pods waiting for a node (from the node index) and,
// when there are any, the nodes and the bound pods.
func (b *Binder) snapshot() (Snapshot, []*api.Pod) {
	var snap Snapshot
	var pending []*api.Pod
	for _, o := range b.State.PodsOnNode("") {
		if p := o.(*api.Pod); podActive(p) {
			pending = append(pending, p)
		}
	}
	if len(pending) == 0 {
		return snap, nil
	}
	nodes, _ := b.State.List("Node", "")
	for _, n := range nodes {
		snap.Nodes = append(snap.Nodes, n.(*api.Node))
	}
	pods, _ := b.State.List("Pod", "")
	for _, o := range pods {
		if p := o.(*api.Pod); p.Spec.NodeName != "" && podActive(p) {
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
