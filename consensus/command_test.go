package consensus

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/state"
)

func TestEncodeDecodeCommand(t *testing.T) {
	op := Op{Type: OpDelete, Key: stKey("ConfigMap", "default", "a"), ExpectVersion: 4}
	b, err := NewWrite(stTime, op)
	if err != nil {
		t.Fatal(err)
	}
	typ, body, err := DecodeCommand(b)
	if err != nil || typ != CmdWrite {
		t.Fatalf("DecodeCommand = %v, %v", typ, err)
	}
	cmd, err := decodeWrite(body)
	if err != nil {
		t.Fatal(err)
	}
	if !cmd.Time.Equal(stTime) || len(cmd.Ops) != 1 || cmd.Ops[0].Key != op.Key || cmd.Ops[0].ExpectVersion != 4 {
		t.Errorf("round trip = %+v", cmd)
	}

	if _, _, err := DecodeCommand(nil); !errors.Is(err, ErrEmptyCommand) {
		t.Errorf("DecodeCommand(nil) = %v", err)
	}
	if _, err := EncodeCommand(CmdWrite, make(chan int)); err == nil || !strings.HasPrefix(err.Error(), "consensus: ") {
		t.Errorf("EncodeCommand of a channel = %v", err)
	}
	if _, err := decodeWrite([]byte("{")); api.ReasonOf(err) != api.ReasonInvalid {
		t.Errorf("decodeWrite of bad JSON = %v", err)
	}
	if !(FlagIgnorable | 3).Ignorable() || CmdWrite.Ignorable() {
		t.Error("Ignorable is wrong")
	}
}

func TestOpFor(t *testing.T) {
	cm := stConfigMap("default", "a", "k", "v")
	cm.ResourceVersion = "12"
	op, err := OpFor(OpUpdate, cm)
	if err != nil {
		t.Fatal(err)
	}
	if op.Key != stKey("ConfigMap", "default", "a") || op.ExpectVersion != 12 || op.Type != OpUpdate {
		t.Errorf("op = %+v", op)
	}
	back, err := api.DecodeJSON("ConfigMap", op.Object)
	if err != nil || back.(*api.ConfigMap).Data["k"] != "v" {
		t.Errorf("object = %s (%v)", op.Object, err)
	}

	op, err = OpFor(OpDelete, cm)
	if err != nil || op.Object != nil || op.ExpectVersion != 12 {
		t.Errorf("delete op = %+v, %v", op, err)
	}

	cm.ResourceVersion = "twelve"
	_, err = OpFor(OpPut, cm)
	if api.ReasonOf(err) != api.ReasonInvalid || !strings.Contains(err.Error(), "metadata.resourceVersion") ||
		!strings.Contains(err.Error(), `configmap "a" in namespace "default"`) {
		t.Errorf("bad resourceVersion: %v", err)
	}

	bare := &api.ConfigMap{}
	bare.Name = "x"
	if _, err := OpFor(OpCreate, bare); api.ReasonOf(err) != api.ReasonInvalid {
		t.Errorf("object without kind: %v", err)
	}
}

// FuzzDecodeCommand feeds arbitrary log entries to DecodeCommand and, for
// writes, to Store.Apply and FSM.Apply. Nothing may panic (except the FSM on
// an unknown type, which is its contract), and a failed write must leave the
// store unchanged.
func FuzzDecodeCommand(f *testing.F) {
	seed := func(b []byte, err error) {
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	cm := stConfigMap("default", "a", "k", "v")
	op := func(t OpType, o api.Object) Op {
		op, err := OpFor(t, o)
		if err != nil {
			f.Fatal(err)
		}
		return op
	}
	seed(NewWrite(stTime, op(OpCreate, stConfigMap("default", "b"))))
	seed(NewWrite(stTime, op(OpUpdate, cm), op(OpPut, stNamespace("prod", "Active"))))
	seed(NewWrite(stTime, Op{Type: OpDelete, Key: api.KeyOf(cm), ExpectVersion: 1}))
	seed(NewWrite(stTime, Op{Type: OpCreate, Key: stKey("ConfigMap", "default", "c"), Object: json.RawMessage(`{"kind":"Namespace"}`)}))
	seed(EncodeCommand(FlagIgnorable|7, map[string]int{"x": 1}))
	f.Add([]byte{})
	f.Add([]byte{1})
	f.Add([]byte("\x01{\"ops\":[{\"type\":\"put\",\"key\":{\"kind\":\"Node\",\"name\":\"n\"},\"object\":{\"metadata\":{\"name\":\"n\"},\"spec\":{\"taints\":[{}]}}}]}"))

	f.Fuzz(func(t *testing.T, data []byte) {
		typ, body, err := DecodeCommand(data)
		if err != nil {
			return
		}
		if typ != CmdWrite {
			if typ.Ignorable() {
				if r := NewFSM(NewStore(), nil).Apply(stLog(2, data)); r != nil {
					t.Fatalf("ignorable command returned %v", r)
				}
			}
			return
		}
		cmd, err := decodeWrite(body)
		if err != nil {
			return
		}
		s := NewStore()
		stApply(t, s, 1, op(OpCreate, stConfigMap("default", "a", "k", "v")), op(OpCreate, stNamespace("default", "")))
		before := stDump(t, s)
		res := s.Apply(2, cmd)
		if res.Err != nil {
			var st *api.Status
			if !errors.As(res.Err, &st) {
				t.Fatalf("error is not an *api.Status: %v", res.Err)
			}
			if after := stDump(t, s); after != before {
				t.Fatalf("failed command (%v) changed the store", res.Err)
			}
			return
		}
		if len(res.Objects) != len(cmd.Ops) {
			t.Fatalf("%d objects for %d ops", len(res.Objects), len(cmd.Ops))
		}
		// The same entry through the FSM gives the same store.
		fsm := NewFSM(NewStore(), nil)
		fsm.Apply(stLog(1, stMustWrite(t, op(OpCreate, stConfigMap("default", "a", "k", "v")), op(OpCreate, stNamespace("default", "")))))
		fsm.Apply(stLog(2, data))
		if a, b := stDump(t, s), stDump(t, fsm.Store()); a != b {
			t.Fatalf("FSM and Store.Apply disagree:\n%s\n%s", a, b)
		}
		var buf bytes.Buffer
		if _, err := s.Snapshot().WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
		restored := NewStore()
		if err := restored.Restore(&buf); err != nil {
			t.Fatalf("snapshot of an applied write does not restore: %v", err)
		}
		if a, b := stDump(t, s), stDump(t, restored); a != b {
			t.Fatalf("restored store differs:\n%s\n%s", a, b)
		}
	})
}

// NewWrite's hand-made envelope decodes to the ops it was given, as the
// encoding/json form of the same command does.
func TestNewWriteRoundTrip(t *testing.T) {
	now := time.Date(2026, 12, 3, 10, 0, 0, 123, time.UTC)
	cm := &api.ConfigMap{TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}, Data: map[string]string{"k": "v \"quoted\""}}
	cm.Name, cm.Namespace = "a", "default"
	put, err := OpFor(OpUpdate, cm)
	if err != nil {
		t.Fatal(err)
	}
	put.ExpectVersion, put.KeepStatus = 7, true
	ops := []Op{put, {Type: OpCheck, Key: api.Key{Kind: "Namespace", Name: "default"}}, {Type: OpDelete, Key: api.KeyOf(cm)}}
	fast, err := NewWrite(now, ops...)
	if err != nil {
		t.Fatal(err)
	}
	slow, err := EncodeCommand(CmdWrite, WriteCommand{Time: now, Ops: ops})
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"NewWrite": fast, "EncodeCommand": slow} {
		typ, body, err := DecodeCommand(b)
		if err != nil || typ != CmdWrite {
			t.Fatalf("%s: type %v, %v", name, typ, err)
		}
		got, err := decodeWrite(body)
		if err != nil {
			t.Fatalf("%s: %v\n%s", name, err, body)
		}
		if !got.Time.Equal(now) || !reflect.DeepEqual(got.Ops, ops) {
			t.Fatalf("%s decodes to\n%+v\nwant\n%+v", name, got, WriteCommand{Time: now, Ops: ops})
		}
	}
}

func TestOpOf(t *testing.T) {
	cm := &api.ConfigMap{TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}}
	cm.Namespace, cm.Name, cm.ResourceVersion = "default", "c", "7"
	key := api.KeyOf(cm)
	for _, tc := range []struct {
		change  state.Change
		typ     OpType
		version uint64
	}{
		{state.Change{Put: cm}, OpPut, 7},
		{state.Change{Put: cm, Mode: state.PutCreate}, OpCreate, 7},
		{state.Change{Put: cm, Mode: state.PutUpdate, KeepStatus: true}, OpUpdate, 7},
		{state.Change{Put: cm, Mode: state.PutStatus}, OpStatus, 0}, // guarded by the uid
		{state.Change{Delete: &key, ExpectVersion: 3}, OpDelete, 3},
		{state.Change{Check: &key}, OpCheck, 0},
	} {
		op, err := OpOf(tc.change)
		if err != nil {
			t.Fatalf("OpOf(%+v): %v", tc.change, err)
		}
		if op.Type != tc.typ || op.Key != key || op.ExpectVersion != tc.version || op.KeepStatus != tc.change.KeepStatus {
			t.Errorf("OpOf(%+v) = %+v, want a %s of %s at version %d", tc.change, op, tc.typ, key, tc.version)
		}
		if (op.Object != nil) != (tc.change.Put != nil) {
			t.Errorf("OpOf(%+v): object %q", tc.change, op.Object)
		}
	}
	if _, err := OpOf(state.Change{}); api.ReasonOf(err) != api.ReasonInvalid {
		t.Errorf("OpOf of an empty change: %v, want Invalid", err)
	}
	if _, err := OpOf(state.Change{Put: cm, Mode: 99}); api.ReasonOf(err) != api.ReasonInvalid {
		t.Errorf("OpOf of an unknown mode: %v, want Invalid", err)
	}
}
