package consensus

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
)

func stFilledStore(t *testing.T) *Store {
	s := NewStore()
	stApply(t, s, 1, stOp(t, OpCreate, stNamespace("default", "Active")), stOp(t, OpCreate, stNamespace("prod", "")))
	stApply(t, s, 2, stOp(t, OpCreate, stConfigMap("default", "a", "k", "v")), stOp(t, OpCreate, stConfigMap("prod", "b", "x", "\u00e9\"\n")))
	stApply(t, s, 5, stOp(t, OpUpdate, stConfigMap("default", "a", "k", "w")))
	stApply(t, s, 6, stOp(t, OpCreate, stConfigMap("default", "gone")))
	stApply(t, s, 7, stDelete("ConfigMap", "default", "gone"))
	return s
}

func TestSnapshotRoundTrip(t *testing.T) {
	s := stFilledStore(t)
	var buf bytes.Buffer
	n, err := s.Snapshot().WriteTo(&buf)
	if err != nil || n != int64(buf.Len()) {
		t.Fatalf("WriteTo = %d, %v (wrote %d)", n, err, buf.Len())
	}
	data := buf.String()

	r := NewStore()
	stApply(t, r, 1, stOp(t, OpCreate, stConfigMap("default", "stale"))) // replaced wholesale
	if err := r.Restore(strings.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if r.Index() != 7 {
		t.Errorf("restored index = %d, want 7", r.Index())
	}
	if _, err := r.Get(stKey("ConfigMap", "default", "stale")); !api.IsNotFound(err) {
		t.Error("restore kept an object the snapshot does not have")
	}
	for _, kind := range []string{"ConfigMap", "Namespace"} {
		want, _ := s.List(kind, "")
		got, idx := r.List(kind, "")
		if !reflect.DeepEqual(got, want) || idx != 7 {
			t.Errorf("%s: restored list differs:\n got %v\nwant %v", kind, got, want)
		}
	}
	var again bytes.Buffer
	if _, err := r.Snapshot().WriteTo(&again); err != nil || again.String() != data {
		t.Errorf("snapshot of the restored store differs (%v):\n%s\n%s", err, again.String(), data)
	}
	// Restoring twice is harmless.
	if err := r.Restore(strings.NewReader(data)); err != nil || stDump(t, r) != stDump(t, s) {
		t.Errorf("second restore: %v", err)
	}
	// Writes continue from the snapshot's index.
	stApply(t, r, 8, stCAS(t, OpUpdate, stConfigMap("default", "a", "k", "z"), 5))
}

func TestRestoreRejectsBadSnapshots(t *testing.T) {
	var buf bytes.Buffer
	if _, err := stFilledStore(t).Snapshot().WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	good := buf.String()
	lines := strings.SplitAfter(good, "\n")
	tests := map[string]string{
		"empty":      "",
		"garbage":    "hello",
		"format":     `{"format":"other","version":1,"index":1,"objects":0}`,
		"newer":      `{"format":"shoal-store","version":2,"index":1,"objects":0}`,
		"truncated":  strings.Join(lines[:len(lines)-2], ""),
		"trailing":   good + lines[1],
		"duplicate":  strings.Replace(good, `"objects":4`, `"objects":5`, 1) + lines[1],
		"bad object": lines[0] + `{"kind":"ConfigMap","object":{"metadata":{"name":7}}}` + "\n",
		"bad kind":   lines[0] + `{"kind":"Gizmo","object":{}}` + "\n",
		"mismatch":   lines[0] + `{"kind":"ConfigMap","object":{"kind":"Namespace","metadata":{"name":"x"}}}` + "\n",
		"bad key":    strings.Replace(lines[0], `"objects":4`, `"objects":1`, 1) + `{"kind":"ConfigMap","object":{"metadata":{"name":"x"}}}` + "\n",
	}
	if !strings.Contains(good, `"objects":4`) {
		t.Fatalf("unexpected header %q", lines[0])
	}
	for name, data := range tests {
		t.Run(name, func(t *testing.T) {
			s := NewStore()
			stApply(t, s, 3, stOp(t, OpCreate, stConfigMap("default", "keep")))
			before := stDump(t, s)
			err := s.Restore(strings.NewReader(data))
			if err == nil || !strings.HasPrefix(err.Error(), "consensus: restore: ") {
				t.Fatalf("Restore = %v, want an error", err)
			}
			if s.Index() != 3 || stDump(t, s) != before {
				t.Error("a failed restore changed the store")
			}
		})
	}
}

// TestSnapshotWhileApplying writes snapshots while commands are applied, as
// Raft does (run with -race).
func TestSnapshotWhileApplying(t *testing.T) {
	s := NewStore()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			snap := s.Snapshot()
			var buf bytes.Buffer
			if _, err := snap.WriteTo(&buf); err != nil {
				t.Error(err)
				return
			}
			r := NewStore()
			if err := r.Restore(&buf); err != nil || r.Index() != snap.Index() {
				t.Errorf("restore at %d: %v", snap.Index(), err)
				return
			}
		}
	}()
	for i := uint64(1); i <= 200; i++ {
		stApply(t, s, i, stOp(t, OpPut, stConfigMap("default", "a", "i", time.Duration(i).String())),
			stOp(t, OpPut, stConfigMap("default", "n"+time.Duration(i%7).String())))
	}
	close(stop)
	wg.Wait()
}

func TestRestoreAndWatchers(t *testing.T) {
	src := stFilledStore(t) // index 7
	var buf bytes.Buffer
	if _, err := src.Snapshot().WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	s := NewStore()
	stApply(t, s, 1, stOp(t, OpCreate, stConfigMap("default", "old")))
	behind, err := s.Watch(ctx, "", 1) // caught up at 1, overtaken by the snapshot at 7
	if err != nil {
		t.Fatal(err)
	}
	ahead, err := s.Watch(ctx, "ConfigMap", 7) // waits for changes after 7
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Restore(&buf); err != nil {
		t.Fatal(err)
	}
	ev := stRecv(t, behind)
	if ev.Type != EventError || !errors.Is(ev.Err, ErrCompacted) || ev.Index != 1 {
		t.Errorf("overtaken watcher got %+v, want an ERROR event with ErrCompacted", ev)
	}
	if ev, ok := <-behind; ok {
		t.Errorf("channel not closed after the error: %+v", ev)
	}

	if _, err := s.Watch(ctx, "", 6); !errors.Is(err, ErrCompacted) {
		t.Errorf("Watch from before the snapshot = %v, want ErrCompacted", err)
	}
	from7, err := s.Watch(ctx, "", 7)
	if err != nil {
		t.Fatal(err)
	}
	stApply(t, s, 8, stOp(t, OpCreate, stConfigMap("default", "new")))
	for _, ch := range []<-chan Event{ahead, from7} {
		if ev := stRecv(t, ch); ev.Type != EventAdded || ev.Index != 8 || ev.Object.GetObjectMeta().Name != "new" {
			t.Errorf("after restore got %+v", ev)
		}
	}
}

// stRecv receives one event or fails after a while.
func stRecv(t *testing.T, ch <-chan Event) Event {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("watch channel closed")
		}
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5s")
	}
	return Event{}
}
