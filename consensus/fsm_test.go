package consensus

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/shoal-dev/shoal/api"
)

func stLog(index uint64, data []byte) *raft.Log {
	return &raft.Log{Index: index, Term: 1, Type: raft.LogCommand, Data: data}
}

func stMustWrite(t testing.TB, ops ...Op) []byte {
	t.Helper()
	b, err := NewWrite(stTime, ops...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestFSMApply(t *testing.T) {
	f := NewFSM(NewStore(), nil)
	r, ok := f.Apply(stLog(1, stMustWrite(t, stOp(t, OpCreate, stConfigMap("default", "a"))))).(*WriteResult)
	if !ok || r.Err != nil || r.Index != 1 || len(r.Objects) != 1 {
		t.Fatalf("write result = %+v", r)
	}
	if _, err := f.Store().Get(stKey("ConfigMap", "default", "a")); err != nil {
		t.Fatal(err)
	}

	// Entries that are not commands still move the index.
	if r := f.Apply(&raft.Log{Index: 2, Type: raft.LogConfiguration}); r != nil {
		t.Errorf("configuration entry returned %v", r)
	}
	if f.Store().Index() != 2 {
		t.Errorf("index after a configuration entry = %d, want 2", f.Store().Index())
	}

	for i, data := range [][]byte{nil, {byte(CmdWrite)}, append([]byte{byte(CmdWrite)}, "{nope"...)} {
		index := uint64(3 + i)
		r, ok := f.Apply(stLog(index, data)).(*WriteResult)
		if !ok || api.ReasonOf(r.Err) != api.ReasonInvalid || r.Index != index {
			t.Errorf("entry %q: result = %+v", data, r)
		}
		if f.Store().Index() != index {
			t.Errorf("entry %q: index = %d, want %d", data, f.Store().Index(), index)
		}
	}

	// A failed write is a result, not a panic, and moves the index.
	r = f.Apply(stLog(10, stMustWrite(t, stOp(t, OpCreate, stConfigMap("default", "a"))))).(*WriteResult)
	if !api.IsConflict(r.Err) || f.Store().Index() != 10 {
		t.Errorf("duplicate create: %+v, index %d", r, f.Store().Index())
	}
}

func TestFSMApplyBatch(t *testing.T) {
	f := NewFSM(NewStore(), nil)
	out := f.ApplyBatch([]*raft.Log{
		stLog(1, stMustWrite(t, stOp(t, OpCreate, stConfigMap("default", "a")))),
		{Index: 2, Type: raft.LogConfiguration},
		stLog(3, stMustWrite(t, stOp(t, OpCreate, stConfigMap("default", "a")))),
	})
	if len(out) != 3 {
		t.Fatalf("got %d responses", len(out))
	}
	if r := out[0].(*WriteResult); r.Err != nil || r.Index != 1 {
		t.Errorf("first = %+v", r)
	}
	if out[1] != nil {
		t.Errorf("second = %v", out[1])
	}
	if r := out[2].(*WriteResult); !api.IsConflict(r.Err) {
		t.Errorf("third = %+v", r)
	}
	if f.Store().Index() != 3 {
		t.Errorf("index = %d", f.Store().Index())
	}
}

func TestFSMUnknownCommands(t *testing.T) {
	var logs bytes.Buffer
	f := NewFSM(NewStore(), slog.New(slog.NewTextHandler(&logs, nil)))

	ign, err := EncodeCommand(FlagIgnorable|9, map[string]string{"future": "feature"})
	if err != nil {
		t.Fatal(err)
	}
	if r := f.Apply(stLog(1, ign)); r != nil {
		t.Errorf("ignorable command returned %v", r)
	}
	if f.Store().Index() != 1 {
		t.Errorf("index after an ignored command = %d", f.Store().Index())
	}
	if !strings.Contains(logs.String(), "level=INFO") || !strings.Contains(logs.String(), "0x89") {
		t.Errorf("ignored command not logged at info: %q", logs.String())
	}

	func() {
		defer func() {
			want := "consensus: unknown command type 0x09 at index 2; this node is older than the cluster, upgrade it"
			if r := recover(); r != want {
				t.Errorf("panic = %v, want %q", r, want)
			}
		}()
		f.Apply(stLog(2, []byte{9, '{', '}'}))
	}()
}

func TestFSMHandle(t *testing.T) {
	f := NewFSM(NewStore(), nil)
	const cmdPing CommandType = 42
	var got []string
	f.Handle(cmdPing, func(index uint64, body []byte) any {
		got = append(got, fmt.Sprintf("%d:%s", index, body))
		return "pong"
	})
	b, _ := EncodeCommand(cmdPing, "hi")
	if r := f.Apply(stLog(7, b)); r != "pong" {
		t.Errorf("handler result = %v", r)
	}
	if len(got) != 1 || got[0] != `7:"hi"` {
		t.Errorf("handler saw %v", got)
	}
	if f.Store().Index() != 7 {
		t.Errorf("index after a handled command = %d", f.Store().Index())
	}
	defer func() {
		if r := recover(); r == nil || !strings.HasPrefix(fmt.Sprint(r), "consensus: ") {
			t.Errorf("registering CmdWrite twice: panic = %v", r)
		}
	}()
	f.Handle(CmdWrite, func(uint64, []byte) any { return nil })
}

// stSink is an in-memory raft.SnapshotSink.
type stSink struct {
	bytes.Buffer
	closed, cancelled bool
}

func (s *stSink) ID() string     { return "test" }
func (s *stSink) Close() error   { s.closed = true; return nil }
func (s *stSink) Cancel() error  { s.cancelled = true; return nil }
func (s *stSink) String() string { return s.Buffer.String() }

func TestFSMSnapshotRestore(t *testing.T) {
	f := NewFSM(NewStore(), nil)
	f.Apply(stLog(1, stMustWrite(t, stOp(t, OpCreate, stConfigMap("default", "a", "k", "v")), stOp(t, OpCreate, stNamespace("default", "Active")))))
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	// Applies after Snapshot do not show in it.
	f.Apply(stLog(2, stMustWrite(t, stOp(t, OpCreate, stConfigMap("default", "later")))))
	sink := &stSink{}
	if err := snap.Persist(sink); err != nil || !sink.closed || sink.cancelled {
		t.Fatalf("Persist: %v closed=%v cancelled=%v", err, sink.closed, sink.cancelled)
	}
	snap.Release()

	g := NewFSM(NewStore(), nil)
	if err := g.Restore(io.NopCloser(strings.NewReader(sink.String()))); err != nil {
		t.Fatal(err)
	}
	if g.Store().Index() != 1 {
		t.Errorf("restored index = %d, want 1", g.Store().Index())
	}
	if _, err := g.Store().Get(stKey("ConfigMap", "default", "later")); !api.IsNotFound(err) {
		t.Errorf("snapshot holds an object written after it: %v", err)
	}
	// Replaying the rest of the log converges.
	g.Apply(stLog(2, stMustWrite(t, stOp(t, OpCreate, stConfigMap("default", "later")))))
	if stDump(t, f.Store()) != stDump(t, g.Store()) {
		t.Error("restored and replayed FSM differs from the original")
	}

	failing := &failSink{}
	if err := (fsmSnapshot{f.Store().Snapshot()}).Persist(failing); err == nil || !failing.cancelled {
		t.Errorf("Persist to a failing sink: %v cancelled=%v", err, failing.cancelled)
	}
}

type failSink struct{ stSink }

func (*failSink) Write([]byte) (int, error) { return 0, io.ErrShortWrite }
