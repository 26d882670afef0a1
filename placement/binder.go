package placement

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/clock"
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
	State    Reader
	Writer   Writer
	Events   EventRecorder
	IsLeader func() bool
	Clock    clock.Clock
	Logger   *slog.Logger
	Interval time.Duration
	Trigger  <-chan struct{}

	// events, while Run runs, queues the events its writers record in
	// the background, so that a pass does not wait for them (those still
	// queued when Run ends are dropped). nil: Pass records its events
	// before it returns.
	events chan event
}

type event struct {
	pod              *api.Pod
	typ, reason, msg string
}

// maxBindsPerCommand bounds the pods one command binds, as
// maxPodCreatesPerPass bounds the pods one command creates.
const maxBindsPerCommand = 500

// Events: eventWriters record at once. Each event is its own write, and
// Raft commits writes that arrive together in one round, so side by side
// they cost fewer rounds than one after another. Run queues up to
// eventQueue events, so that a burst of bindings does not wait for its
// events; beyond that a pass waits.
const (
	eventWriters = 8
	eventQueue   = 10000
)

// Run makes passes until ctx ends; passes only act on the leader.
func (b *Binder) Run(ctx context.Context) {
	if b.Events != nil {
		queue := make(chan event, eventQueue)
		for range eventWriters {
			go func() {
				for {
					select {
					case <-ctx.Done():
						return
					case e := <-queue:
						b.Events.RecordEvent(ctx, e.pod, e.typ, e.reason, e.msg, "scheduler")
					}
				}
			}()
		}
		b.events = queue
		defer func() { b.events = nil }()
	}
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
	if err := b.commitEach(ctx, waiting); err != nil {
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

// record records an event about each pod: with Run, through its queue;
// otherwise eventWriters at a time, returning when all are recorded.
// Events are best effort: errors are dropped.
func (b *Binder) record(ctx context.Context, pods []*api.Pod, of func(*api.Pod) event) {
	if b.Events == nil || len(pods) == 0 {
		return
	}
	if b.events != nil {
		for _, p := range pods {
			select {
			case b.events <- of(p):
			case <-ctx.Done():
				return
			}
		}
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
			if !api.IsConflict(err) && !api.IsNotFound(err) {
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

// commitEach commits independent compare-and-set Puts, many to a command:
// on a conflict it splits the command in halves, down to single pods,
// whose conflicts it ignores.
func (b *Binder) commitEach(ctx context.Context, pods []*api.Pod) error {
	for len(pods) > 0 {
		n := min(len(pods), maxBindsPerCommand)
		if err := b.commitSplit(ctx, pods[:n]); err != nil {
			return err
		}
		pods = pods[n:]
	}
	return nil
}

func (b *Binder) commitSplit(ctx context.Context, pods []*api.Pod) error {
	err := b.Writer.Commit(ctx, puts(pods))
	if err == nil || !api.IsConflict(err) && !api.IsNotFound(err) {
		return err
	}
	if len(pods) == 1 {
		return nil
	}
	if err := b.commitSplit(ctx, pods[:len(pods)/2]); err != nil {
		return err
	}
	return b.commitSplit(ctx, pods[len(pods)/2:])
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
