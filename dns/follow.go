package dns

import (
	"context"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/clock"
	"github.com/shoal-dev/shoal/state"
)

// Source is the replica an Index follows.
type Source = state.Source

// Follow keeps the Index's objects of kind in line with src until ctx ends
// (state.Sync): a list, then every watch event as soon as the replica
// applies it, batching those already queued; when the watch falls behind
// the retained history, a fresh list. It sends on loaded after the first
// list.
func (x *Index) Follow(ctx context.Context, src Source, kind string, loaded chan<- struct{}, clk clock.Clock) {
	first := true
	state.Sync(ctx, src, kind, clk, func(objs []api.Object) {
		x.Reset(kind, objs)
		if first {
			loaded <- struct{}{}
			first = false
		}
	}, x.applyWatch)
}

// applyWatch applies the events of ch until the watch ends.
func (x *Index) applyWatch(ch <-chan state.Event) {
	const maxBatch = 512
	for ev := range ch {
		if ev.Type == state.EventError {
			return
		}
		batch := []Change{changeOf(ev)}
	queued:
		for len(batch) < maxBatch {
			select {
			case ev, ok := <-ch:
				if !ok || ev.Type == state.EventError {
					x.Apply(batch...)
					return
				}
				batch = append(batch, changeOf(ev))
			default:
				break queued
			}
		}
		x.Apply(batch...)
	}
}

func changeOf(ev state.Event) Change {
	return Change{Object: ev.Object, Deleted: ev.Type == state.EventDeleted}
}
