package placement

import (
	"context"
	"sync"

	"github.com/shoal-dev/shoal/api"
)

// QueueEvents returns an EventRecorder that queues up to size events and
// records them writers at a time in the background, until ctx ends (those
// still queued then are dropped): a burst of bindings does not wait for
// its events. Beyond size, RecordEvent waits. The queue holds memory only
// while events wait in it.
func QueueEvents(ctx context.Context, rec EventRecorder, writers, size int) EventRecorder {
	q := &eventQueue{ctx: ctx, max: max(1, size), ready: make(chan struct{}, 1), space: make(chan struct{}, 1)}
	for range max(1, writers) {
		go func() {
			for {
				e, ok := q.take()
				if !ok {
					return
				}
				rec.RecordEvent(ctx, e.obj, e.typ, e.reason, e.message, e.component)
			}
		}()
	}
	return q
}

type eventQueue struct {
	ctx          context.Context
	max          int
	ready, space chan struct{} // a token: events wait; there is room
	mu           sync.Mutex
	events       []queuedEvent
}

type queuedEvent struct {
	obj                             api.Object
	typ, reason, message, component string
}

func (q *eventQueue) RecordEvent(ctx context.Context, obj api.Object, typ, reason, message, component string) error {
	for {
		q.mu.Lock()
		if len(q.events) < q.max {
			q.events = append(q.events, queuedEvent{obj, typ, reason, message, component})
			q.mu.Unlock()
			notify(q.ready)
			return nil
		}
		q.mu.Unlock()
		select {
		case <-q.space:
		case <-ctx.Done():
			return ctx.Err()
		case <-q.ctx.Done():
			return q.ctx.Err()
		}
	}
}

// take waits for an event; false once the queue's context ends.
func (q *eventQueue) take() (queuedEvent, bool) {
	for {
		q.mu.Lock()
		if len(q.events) > 0 {
			e := q.events[0]
			q.events[0] = queuedEvent{}
			q.events = q.events[1:]
			more := len(q.events) > 0
			if !more {
				q.events = nil // let the drained queue's memory go
			}
			q.mu.Unlock()
			notify(q.space)
			if more {
				notify(q.ready) // wake another writer
			}
			return e, true
		}
		q.mu.Unlock()
		select {
		case <-q.ready:
		case <-q.ctx.Done():
			return queuedEvent{}, false
		}
	}
}

// notify leaves a token on ch unless one is there.
func notify(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
