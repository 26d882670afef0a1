package consensus

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
)

// TestWatchOrderingProperty applies random commands while watchers with
// random start indexes and kind filters run concurrently. Each watcher must
// see exactly the events of the reference log above its start index, in
// order. With a short retention, a watcher may instead be cut off: then what
// it saw must be a prefix of that, followed by an ERROR event.
func TestWatchOrderingProperty(t *testing.T) {
	for _, tc := range []struct {
		seed      int64
		retention int
	}{{1, 100000}, {2, 100000}, {3, 100000}, {4, 25}, {5, 7}} {
		t.Run(fmt.Sprintf("seed%d_retention%d", tc.seed, tc.retention), func(t *testing.T) {
			stWatchProperty(t, tc.seed, tc.retention)
		})
	}
}

type stWatcher struct {
	kind    string
	from    uint64
	refused bool // Watch returned ErrCompacted
	n       atomic.Int64
	ended   atomic.Bool // got an ERROR event
	got     []Event     // read only after the goroutine is done
}

func stWatchProperty(t *testing.T, seed int64, retention int) {
	rng := rand.New(rand.NewSource(seed))
	s := NewStore(WithEventRetention(retention))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var (
		ref      []Event // every event, in order
		watchers []*stWatcher
		wg       sync.WaitGroup
	)
	kinds := []string{"", "ConfigMap", "Namespace"}
	startWatcher := func(from uint64) {
		w := &stWatcher{kind: kinds[rng.Intn(len(kinds))], from: from}
		watchers = append(watchers, w)
		ch, err := s.Watch(ctx, w.kind, from)
		if errors.Is(err, ErrCompacted) {
			w.refused = true
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		slowEvery := 1 + rng.Intn(20) // pause after every slowEvery-th event
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ev := range ch {
				if w.ended.Load() {
					t.Errorf("event after the error event: %+v", ev)
				}
				if ev.Type == EventError {
					if !errors.Is(ev.Err, ErrCompacted) || ev.Object != nil {
						t.Errorf("error event %+v", ev)
					}
					w.ended.Store(true)
					continue
				}
				w.got = append(w.got, ev)
				w.n.Add(1)
				if len(w.got)%slowEvery == 0 {
					time.Sleep(20 * time.Microsecond)
				}
			}
		}()
	}
	// Two watchers start ahead of the store.
	startWatcher(0)
	startWatcher(uint64(10 + rng.Intn(50)))

	// A small key space so that ops collide and often fail.
	exists := map[api.Key]bool{}
	keyOf := func() (api.Key, api.Object) {
		if rng.Intn(4) == 0 {
			name := fmt.Sprintf("team%d", rng.Intn(3)) // not a ConfigMap namespace: no cascades here
			return stKey("Namespace", "", name), stNamespace(name, []string{"", "Active"}[rng.Intn(2)])
		}
		ns, name := fmt.Sprintf("ns%d", rng.Intn(2)), fmt.Sprintf("cm%d", rng.Intn(4))
		return stKey("ConfigMap", ns, name), stConfigMap(ns, name, "v", fmt.Sprint(rng.Intn(3)))
	}
	var index uint64
	for range 400 {
		index += uint64(1 + rng.Intn(2)) // indexes may skip, as Raft's do
		var ops []Op
		var types []EventType
		pending := map[api.Key]bool{}
		has := func(k api.Key) bool {
			if v, ok := pending[k]; ok {
				return v
			}
			return exists[k]
		}
		for range 1 + rng.Intn(3) {
			key, obj := keyOf()
			typ := []OpType{OpCreate, OpUpdate, OpPut, OpDelete}[rng.Intn(4)]
			op := stOp(t, typ, obj)
			if typ == OpDelete {
				op.Object = nil
			}
			ops = append(ops, op)
			switch {
			case typ == OpPut && has(key), typ == OpUpdate:
				types = append(types, EventModified)
			case typ == OpDelete:
				types = append(types, EventDeleted)
			default:
				types = append(types, EventAdded)
			}
			pending[key] = typ != OpDelete
		}
		res := s.Apply(index, WriteCommand{Time: stTime, Ops: ops})
		if res.Err == nil {
			for i, obj := range res.Objects {
				ref = append(ref, Event{Type: types[i], Index: index, Object: obj})
			}
			for k, v := range pending {
				exists[k] = v
			}
		}
		switch rng.Intn(50) {
		case 0: // anywhere, possibly ahead of the store
			startWatcher(uint64(rng.Int63n(int64(index) + 5)))
		case 1: // recent, as after a List
			startWatcher(index - uint64(rng.Intn(int(min(index, 10))+1)))
		}
	}

	// Every watcher catches up to the end or is cut off.
	deadline := time.Now().Add(10 * time.Second)
	for _, w := range watchers {
		want := int64(len(stFilter(ref, w.kind, w.from)))
		for !w.refused && w.n.Load() < want && !w.ended.Load() && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
	}
	cancel()
	wg.Wait()

	complete, cut, refused := 0, 0, 0
	for i, w := range watchers {
		want := stFilter(ref, w.kind, w.from)
		if w.refused {
			refused++
			if retention >= 100000 {
				t.Errorf("watcher %d (from %d) refused with a retention that holds everything", i, w.from)
			}
			continue
		}
		if len(w.got) > len(want) {
			t.Errorf("watcher %d (kind %q from %d): got %d events, want %d", i, w.kind, w.from, len(w.got), len(want))
			continue
		}
		for j := range w.got {
			g, e := w.got[j], want[j]
			if g.Type != e.Type || g.Index != e.Index || g.Object != e.Object {
				t.Fatalf("watcher %d (kind %q from %d): event %d = %s@%d %s, want %s@%d %s",
					i, w.kind, w.from, j, g.Type, g.Index, api.KeyOf(g.Object), e.Type, e.Index, api.KeyOf(e.Object))
			}
		}
		switch {
		case len(w.got) == len(want):
			complete++
		case !w.ended.Load():
			t.Errorf("watcher %d (kind %q from %d): got %d of %d events and no error", i, w.kind, w.from, len(w.got), len(want))
		case retention >= 100000:
			t.Errorf("watcher %d (kind %q from %d) cut off with a retention that holds everything", i, w.kind, w.from)
		default:
			cut++
		}
	}
	t.Logf("%d events, %d watchers: %d complete, %d cut off, %d refused", len(ref), len(watchers), complete, cut, refused)
}

// stFilter returns the events of kind ("" for all) above from.
func stFilter(evs []Event, kind string, from uint64) []Event {
	var out []Event
	for _, ev := range evs {
		if ev.Index > from && (kind == "" || api.KeyOf(ev.Object).Kind == kind) {
			out = append(out, ev)
		}
	}
	return out
}

func TestWatchCompacted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := NewStore(WithEventRetention(5))
	for i := uint64(1); i <= 10; i++ {
		stApply(t, s, i, stOp(t, OpPut, stConfigMap("default", "a", "i", fmt.Sprint(i))))
	}
	// Events 6..10 are retained.
	for _, from := range []uint64{0, 4} {
		_, err := s.Watch(ctx, "", from)
		if !errors.Is(err, ErrCompacted) || api.ReasonOf(err) != api.ReasonGone {
			t.Errorf("Watch from %d = %v, want ErrCompacted with reason Gone", from, err)
		}
	}
	ch, err := s.Watch(ctx, "ConfigMap", 5)
	if err != nil {
		t.Fatal(err)
	}
	for want := uint64(6); want <= 10; want++ {
		if ev := stRecv(t, ch); ev.Index != want || ev.Type != EventModified {
			t.Fatalf("got %s@%d, want MODIFIED@%d", ev.Type, ev.Index, want)
		}
	}

	// A command whose events are only partly retained cannot be resumed
	// from before it.
	s = NewStore(WithEventRetention(3))
	stApply(t, s, 1, stOp(t, OpCreate, stConfigMap("default", "a")), stOp(t, OpCreate, stConfigMap("default", "b")))
	stApply(t, s, 2, stOp(t, OpCreate, stConfigMap("default", "c")), stOp(t, OpCreate, stConfigMap("default", "d")))
	if _, err := s.Watch(ctx, "", 0); !errors.Is(err, ErrCompacted) {
		t.Errorf("Watch from 0 = %v, want ErrCompacted", err)
	}
	ch, err = s.Watch(ctx, "", 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"c", "d"} {
		if ev := stRecv(t, ch); ev.Index != 2 || ev.Object.GetObjectMeta().Name != name {
			t.Errorf("got %s@%d %s, want %s@2", ev.Type, ev.Index, api.KeyOf(ev.Object), name)
		}
	}

	// A kind filter does not make a caught-up watcher look compacted when
	// other kinds fill the history.
	nsWatch, err := s.Watch(ctx, "Namespace", 2)
	if err != nil {
		t.Fatal(err)
	}
	for i := uint64(3); i <= 20; i++ {
		stApply(t, s, i, stOp(t, OpPut, stConfigMap("default", "a", "i", fmt.Sprint(i))))
		time.Sleep(time.Millisecond) // let the watcher keep up
	}
	stApply(t, s, 21, stOp(t, OpCreate, stNamespace("late", "")))
	if ev := stRecv(t, nsWatch); ev.Type != EventAdded || ev.Index != 21 {
		t.Errorf("namespace watcher got %+v", ev)
	}
}

func TestSlowWatcherDoesNotBlockApply(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := NewStore(WithEventRetention(10))
	stuck, err := s.Watch(ctx, "", 0) // never read until the end
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := uint64(1); i <= 1000; i++ {
			stApply(t, s, i, stOp(t, OpPut, stConfigMap("default", "a", "i", fmt.Sprint(i))))
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Apply blocked behind a watcher that does not read")
	}
	// The watcher gets an unbroken prefix, then the compaction error.
	var last uint64
	for ev := range stuck {
		if ev.Type == EventError {
			if !errors.Is(ev.Err, ErrCompacted) {
				t.Errorf("error event %+v", ev)
			}
			if _, ok := <-stuck; ok {
				t.Error("channel open after the error event")
			}
			return
		}
		if ev.Index != last+1 {
			t.Fatalf("got index %d after %d", ev.Index, last)
		}
		last = ev.Index
	}
	t.Fatal("channel closed without a compaction error")
}

func TestWatchFollowsAndStops(t *testing.T) {
	s := NewStore()
	ctx, cancel := context.WithCancel(context.Background())
	// A watch may start ahead of the store.
	ch, err := s.Watch(ctx, "", 2)
	if err != nil {
		t.Fatal(err)
	}
	stApply(t, s, 1, stOp(t, OpCreate, stConfigMap("default", "a")))
	stApply(t, s, 2, stOp(t, OpCreate, stConfigMap("default", "b")))
	res := stApply(t, s, 3, stDelete("ConfigMap", "default", "a"))
	ev := stRecv(t, ch)
	if ev.Type != EventDeleted || ev.Index != 3 || ev.Object != res.Objects[0] || ev.Object.GetObjectMeta().ResourceVersion != "3" {
		t.Errorf("got %+v, want the delete at 3", ev)
	}
	cancel()
	select {
	case _, ok := <-ch:
		if ok {
			t.Error("event after cancel")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("channel not closed after cancel")
	}
}
