package consensus

import (
	"context"
	"sort"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/state"
)

// Event and EventType are the state package's.
type (
	Event     = state.Event
	EventType = state.EventType
)

const (
	EventAdded    = state.EventAdded
	EventModified = state.EventModified
	EventDeleted  = state.EventDeleted
	EventError    = state.EventError
)

// ErrCompacted means the history a watch needs is no longer retained.
// Callers list again and watch from the list's index. It is an *api.Status
// with reason api.ReasonGone (HTTP 410), and errors.Is(err, ErrCompacted)
// recognises it.
var ErrCompacted error = api.NewError(api.ReasonGone,
	"consensus: watch index is older than the retained history; list again and watch from the list's index")

// Watch delivers the events of kind ("" for every kind) with an index above
// fromIndex, in index order and without gaps, then follows new changes. The
// events of one index arrive consecutively, in the order of the command's
// ops. fromIndex may be ahead of Index(); the watch then waits for it.
//
// Watch returns ErrCompacted at once if events after fromIndex are no longer
// retained. A watch that later falls that far behind, because its reader is
// slower than the retention allows or because Restore replaced the store
// with a newer snapshot, receives one Event of type EventError with Err set
// to ErrCompacted, and its channel closes. The channel also closes, without
// an error event, when ctx is done; the caller should drain it or cancel
// ctx, or its goroutine stays blocked. A watcher never blocks Apply.
func (s *Store) Watch(ctx context.Context, kind string, fromIndex uint64) (<-chan Event, error) {
	s.mu.RLock()
	compacted := fromIndex < s.histFrom
	s.mu.RUnlock()
	if compacted {
		return nil, ErrCompacted
	}
	ch := make(chan Event)
	go s.watch(ctx, kind, fromIndex, ch)
	return ch, nil
}

// watch feeds ch. pos is the index up to which every matching event has
// been taken from the history; it only moves forward.
func (s *Store) watch(ctx context.Context, kind string, pos uint64, ch chan<- Event) {
	defer close(ch)
	var batch []Event
	for {
		s.mu.RLock()
		if pos < s.histFrom {
			s.mu.RUnlock()
			select {
			case ch <- Event{Type: EventError, Index: pos, Err: ErrCompacted}:
			case <-ctx.Done():
			}
			return
		}
		batch = s.events.after(pos, kind, batch[:0])
		// Every event up to s.index is in the history or evicted, so the
		// watcher is now caught up to it.
		pos = max(pos, s.index)
		changed := s.changed
		s.mu.RUnlock()

		for i := range batch {
			select {
			case ch <- batch[i]:
				batch[i] = Event{} // do not keep the object alive
			case <-ctx.Done():
				return
			}
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return
		}
	}
}

// recordLocked appends ev to the history, moving histFrom past what falls
// out of it. The caller holds mu for writing.
func (s *Store) recordLocked(ev Event) {
	if old, evicted := s.events.push(ev); evicted && old.Index > s.histFrom {
		s.histFrom = old.Index
	}
}

// ring keeps the last max events in index order. It grows up to max, then
// overwrites its oldest entry.
type ring struct {
	max   int
	buf   []Event
	start int // position of the oldest event once buf is full
}

// push appends ev, returning the event it overwrote, if any.
func (r *ring) push(ev Event) (old Event, evicted bool) {
	if len(r.buf) < r.max {
		r.buf = append(r.buf, ev)
		return Event{}, false
	}
	old = r.buf[r.start]
	r.buf[r.start] = ev
	r.start = (r.start + 1) % len(r.buf)
	return old, true
}

// at returns the i-th oldest event.
func (r *ring) at(i int) Event { return r.buf[(r.start+i)%len(r.buf)] }

// after appends to dst the events with an index above pos whose object is
// of kind ("" for any).
func (r *ring) after(pos uint64, kind string, dst []Event) []Event {
	n := len(r.buf)
	for i := sort.Search(n, func(i int) bool { return r.at(i).Index > pos }); i < n; i++ {
		ev := r.at(i)
		if kind == "" || ev.Object.GetTypeMeta().Kind == kind {
			dst = append(dst, ev)
		}
	}
	return dst
}

// reset forgets every event.
func (r *ring) reset() { *r = ring{max: r.max} }
