package state

import (
	"context"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/clock"
)

// EventType says what happened to an object, with the names Kubernetes
// watches use.
type EventType string

const (
	EventAdded    EventType = "ADDED"
	EventModified EventType = "MODIFIED"
	EventDeleted  EventType = "DELETED"
	// EventError is the last event of a watch that cannot go on; Err says
	// why. The channel closes after it.
	EventError EventType = "ERROR"
)

// Event is one change to one object, or the end of a watch.
type Event struct {
	Type EventType
	// Index is the Raft index of the change. For EventError it is the index
	// up to which the watcher had received every event.
	Index uint64
	// Object is the object as stored by the change; for EventDeleted, the
	// object as it was, with the delete's resourceVersion. Nil for
	// EventError. It is shared: do not mutate it.
	Object api.Object
	// Err is set on EventError only: the history the watch needs is no
	// longer retained (an api.ReasonGone status).
	Err error
}

// Watcher follows the changes to the replicated state.
type Watcher interface {
	// Watch delivers the events of kind ("" for every kind) with an index
	// above fromIndex, in index order and without gaps, then follows new
	// changes; the channel closes when ctx ends. It fails with an
	// api.ReasonGone error when the events after fromIndex are no longer
	// retained: list again and watch from the list's index.
	Watch(ctx context.Context, kind string, fromIndex uint64) (<-chan Event, error)
}

// Source is a replica that can be listed and watched.
type Source interface {
	Lister
	Watcher
}

// Sync keeps a consumer in line with src's objects of kind until ctx ends:
// reset gets a fresh list, then events gets the watch from that list's
// index, and returns when the watch ends (its channel closes, or an
// EventError arrives). Sync then lists again; when Watch fails, a second
// later on clk.
func Sync(ctx context.Context, src Source, kind string, clk clock.Clock, reset func(objs []api.Object), events func(<-chan Event)) {
	for ctx.Err() == nil {
		objs, idx := src.List(kind, "")
		reset(objs)
		ch, err := src.Watch(ctx, kind, idx)
		if err != nil {
			select {
			case <-ctx.Done():
			case <-clk.After(time.Second):
			}
			continue
		}
		events(ch)
	}
}

// Follow calls f now and again after every change to objects of kind, for
// as long as ctx lasts: how a level-triggered loop, which reads the state
// itself, learns that it should look again. When the watch cannot go on it
// lists again and calls f for whatever it missed.
func Follow(ctx context.Context, src Source, kind string, f func()) {
	Sync(ctx, src, kind, clock.Real{}, func([]api.Object) { f() }, func(ch <-chan Event) {
		for ev := range ch {
			if ev.Err != nil {
				return
			}
			f()
		}
	})
}
