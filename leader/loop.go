package leader

import (
	"context"
	"log/slog"
	"time"

	"github.com/shoal-dev/shoal/clock"
)

// Pass is one pass of a control loop at time now. requeue asks for the
// next pass that soon (a rollout's minReadySeconds, a cron schedule, the
// end of a node's grace); 0 asks for none before the next Trigger or
// Interval.
type Pass func(ctx context.Context, now time.Time) (requeue time.Duration, err error)

// Loop runs one leader-only control loop: a pass when it starts, on every
// Trigger, every Interval, and when the last pass asked to come back
// sooner. Passes keep nothing between them that the state does not hold.
type Loop struct {
	Name     string
	Pass     Pass
	IsLeader func() bool
	// Follower, if set, is called instead of a pass while this node does
	// not lead: a loop that remembers something between passes (since when
	// a member has been missing) forgets it there, so that it starts afresh
	// when this node leads again.
	Follower func()
	Clock    clock.Clock
	Logger   *slog.Logger
	Interval time.Duration
	Trigger  <-chan struct{}
	// RetryAfter is how soon a failed pass is tried again: 1 s when zero.
	RetryAfter time.Duration
}

// Run makes passes until ctx ends.
func (l *Loop) Run(ctx context.Context) {
	t := l.Clock.NewTicker(l.Interval)
	defer t.Stop()
	var soon <-chan time.Time
	for first := true; ; first = false {
		if !first {
			select {
			case <-ctx.Done():
				return
			case <-t.C():
			case <-l.Trigger:
			case <-soon:
			}
		}
		soon = nil
		if !l.IsLeader() {
			if l.Follower != nil {
				l.Follower()
			}
			continue
		}
		requeue, err := l.Pass(ctx, l.Clock.Now())
		if err != nil {
			l.Logger.Warn(l.Name+": pass failed; will retry", "err", err)
			requeue = l.RetryAfter
			if requeue <= 0 {
				requeue = time.Second
			}
		}
		if requeue > 0 {
			soon = l.Clock.After(requeue)
		}
	}
}
