package leader_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/clock"
	"github.com/shoal-dev/shoal/leader"
)

// rig runs a Loop on a fake clock and records its passes.
type rig struct {
	clk      *clock.Fake
	trigger  chan struct{}
	leading  atomic.Bool
	mu       sync.Mutex
	passes   []time.Time
	follower int
	requeue  time.Duration
	fail     error
}

// startLoop starts the loop; set, if not nil, prepares the rig before the
// first pass (which the loop makes as soon as it starts).
func startLoop(t *testing.T, lead bool, set func(*rig)) *rig {
	t.Helper()
	r := &rig{clk: clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)), trigger: make(chan struct{})}
	r.leading.Store(lead)
	if set != nil {
		set(r)
	}
	l := &leader.Loop{
		Name: "test", IsLeader: r.leading.Load, Clock: r.clk, Logger: slog.New(slog.DiscardHandler),
		Interval: time.Minute, Trigger: r.trigger,
		Pass: func(_ context.Context, now time.Time) (time.Duration, error) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.passes = append(r.passes, now)
			return r.requeue, r.fail
		},
		Follower: func() { r.mu.Lock(); r.follower++; r.mu.Unlock() },
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); l.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return r
}

// waitFor polls cond; the deadline is a safety net, not a timing.
func (r *rig) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r.mu.Lock()
		ok := cond()
		r.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// idle waits until the loop waits on its ticker and, if armed, a requeue.
func (r *rig) idle(t *testing.T, waiters int) {
	t.Helper()
	r.waitFor(t, "the loop to wait", func() bool { return r.clk.Waiters() == waiters })
}

func TestLoopPassesAtStartOnTriggerAndInterval(t *testing.T) {
	r := startLoop(t, true, nil)
	r.waitFor(t, "the first pass", func() bool { return len(r.passes) == 1 })
	r.idle(t, 1)
	r.trigger <- struct{}{}
	r.waitFor(t, "a pass on the trigger", func() bool { return len(r.passes) == 2 })
	r.idle(t, 1)
	r.clk.Advance(time.Minute)
	r.waitFor(t, "a pass on the interval", func() bool { return len(r.passes) == 3 })
	if got := r.passes[2].Sub(r.passes[0]); got != time.Minute {
		t.Errorf("the interval's pass saw now = start + %v, want + 1m (the injected clock)", got)
	}
}

func TestLoopRequeuesSooner(t *testing.T) {
	r := startLoop(t, true, func(r *rig) { r.requeue = 5 * time.Second })
	r.waitFor(t, "the first pass", func() bool { return len(r.passes) == 1 })
	r.idle(t, 2) // the ticker and the requeue
	r.clk.Advance(4 * time.Second)
	r.mu.Lock()
	if len(r.passes) != 1 {
		t.Errorf("%d passes before the requeue was due, want 1", len(r.passes))
	}
	r.requeue = 0
	r.mu.Unlock()
	r.clk.Advance(time.Second)
	r.waitFor(t, "the requeued pass", func() bool { return len(r.passes) == 2 })
	r.idle(t, 1) // no requeue asked: only the ticker
}

func TestLoopRetriesAFailedPass(t *testing.T) {
	r := startLoop(t, true, func(r *rig) { r.fail = errors.New("state moved") })
	r.waitFor(t, "the first pass", func() bool { return len(r.passes) == 1 })
	r.idle(t, 2)
	r.mu.Lock()
	r.fail = nil
	r.mu.Unlock()
	r.clk.Advance(time.Second)
	r.waitFor(t, "the retry a second later", func() bool { return len(r.passes) == 2 })
}

func TestLoopPassesOnlyWhileLeading(t *testing.T) {
	r := startLoop(t, false, nil)
	r.waitFor(t, "the follower call at start", func() bool { return r.follower == 1 })
	r.idle(t, 1)
	r.trigger <- struct{}{}
	r.waitFor(t, "the follower call on the trigger", func() bool { return r.follower == 2 })
	r.mu.Lock()
	if len(r.passes) != 0 {
		t.Fatalf("%d passes on a follower", len(r.passes))
	}
	r.mu.Unlock()
	r.leading.Store(true)
	r.idle(t, 1)
	r.trigger <- struct{}{}
	r.waitFor(t, "a pass once leading", func() bool { return len(r.passes) == 1 })
}
