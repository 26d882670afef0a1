package consensus

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/state"
)

// CommandType is the first byte of every command in the Raft log.
type CommandType byte

// FlagIgnorable marks a command type that a node which does not know it may
// skip. Set it on command types whose effect a node of an older version can
// safely miss; leave it clear on anything that changes the state store.
const FlagIgnorable CommandType = 0x80

// Command types. New types take new numbers; a number is never reused.
const (
	// CmdWrite carries a WriteCommand, applied by Store.Apply.
	CmdWrite CommandType = 1
)

// Ignorable reports whether t has FlagIgnorable set.
func (t CommandType) Ignorable() bool { return t&FlagIgnorable != 0 }

func (t CommandType) String() string { return fmt.Sprintf("0x%02x", byte(t)) }

// ErrEmptyCommand is returned by DecodeCommand for a log entry with no bytes.
var ErrEmptyCommand = errors.New("consensus: empty command; a command is one type byte followed by a JSON body")

// OpType says what an Op does.
type OpType string

const (
	// OpCreate creates an object; it fails if the key exists.
	OpCreate OpType = "create"
	// OpUpdate replaces an existing object; it fails if the key is missing.
	OpUpdate OpType = "update"
	// OpPut creates the object or replaces the existing one.
	OpPut OpType = "put"
	// OpDelete removes an existing object; it fails if the key is missing.
	// Deleting an object also deletes, in the same command, every object
	// whose ownerReferences name its uid (recursively), and deleting a
	// Namespace deletes everything in it.
	OpDelete OpType = "delete"
	// OpCheck changes nothing: it fails the command unless the key exists
	// (and, with ExpectVersion, has that version). Writers use it to make a
	// command depend on another object, such as the namespace of a new object.
	OpCheck OpType = "check"
	// OpStatus sets the status of the object at Key to Object's, keeping
	// everything else. It is skipped, not failed, when the key is missing
	// or holds an object with another uid: the object was deleted or
	// replaced since its status was observed, so one stale pod cannot fail
	// a node's batch of status reports.
	OpStatus OpType = "status"
)

// Op is one change to one object.
type Op struct {
	Type OpType  `json:"type"`
	Key  api.Key `json:"key"`
	// Object is the full object as JSON (create, update and put). Its kind,
	// namespace and name must match Key.
	Object json.RawMessage `json:"object,omitempty"`
	// ExpectVersion makes update, put and delete compare-and-set: they fail
	// with a conflict unless the stored object's resourceVersion is this
	// index. 0 means unconditional. A create must leave it 0.
	ExpectVersion uint64 `json:"expectVersion,omitempty"`
	// KeepStatus makes an update or put of an existing object keep the
	// stored status and system annotations (api.SystemAnnotations) that
	// Object leaves out, as they are when the command applies. A client's
	// update replaces what the user owns without a read-modify-write race
	// against the controllers that write the status.
	KeepStatus bool `json:"keepStatus,omitempty"`
}

// WriteCommand is the body of a CmdWrite: ops applied all or nothing.
type WriteCommand struct {
	// Time is chosen by the proposer; the FSM never reads the clock.
	// It becomes the creationTimestamp of created objects.
	Time time.Time `json:"time"`
	Ops  []Op      `json:"ops"`
}

// WriteResult is what the FSM returns for a CmdWrite, and what Store.Apply
// returns.
type WriteResult struct {
	// Index is the Raft index the command was applied at.
	Index uint64
	// Objects holds one object per change, in op order, as stored: each
	// op's object, followed for a delete by the objects it cascaded to; a
	// check op adds none. For a delete it is the object as it was, except
	// that its resourceVersion is the index of the delete. The objects are
	// shared with the store: do not mutate them.
	Objects []api.Object
	// Err is an *api.Status. When it is set nothing of the command was
	// applied and Objects is nil.
	Err error
}

// EncodeCommand encodes a command: the type byte, then body as JSON.
func EncodeCommand(t CommandType, body any) ([]byte, error) {
	data, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("consensus: encode command %s: %w", t, err)
	}
	out := make([]byte, 0, 1+len(data))
	out = append(out, byte(t))
	return append(out, data...), nil
}

// DecodeCommand splits an encoded command into its type and its JSON body.
// The body shares memory with b. It fails only for an empty b
// (ErrEmptyCommand); the body is checked by whoever decodes it.
func DecodeCommand(b []byte) (CommandType, []byte, error) {
	if len(b) == 0 {
		return 0, nil, ErrEmptyCommand
	}
	return CommandType(b[0]), b[1:], nil
}

// NewWrite encodes a CmdWrite of ops, proposed at time now. It writes
// each op's Object as it is, without the copy and check that
// encoding/json makes of a RawMessage: objects come from json.Marshal
// (OpFor), and an object that is not JSON fails the whole command alike on
// every replica.
func NewWrite(now time.Time, ops ...Op) ([]byte, error) {
	ts, err := now.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("consensus: encode command time: %w", err)
	}
	size := 32 + len(ts)
	for _, op := range ops {
		size += 128 + len(op.Object)
	}
	out := make([]byte, 0, size)
	out = append(out, byte(CmdWrite))
	out = append(out, `{"time":`...)
	out = append(out, ts...)
	out = append(out, `,"ops":[`...)
	for i, op := range ops {
		if i > 0 {
			out = append(out, ',')
		}
		obj := op.Object
		op.Object = nil
		hdr, err := json.Marshal(op)
		if err != nil {
			return nil, fmt.Errorf("consensus: encode %s op for %s: %w", op.Type, describe(op.Key), err)
		}
		if len(obj) == 0 {
			out = append(out, hdr...)
			continue
		}
		out = append(out, hdr[:len(hdr)-1]...)
		out = append(out, `,"object":`...)
		out = append(out, obj...)
		out = append(out, '}')
	}
	return append(out, "]}"...), nil
}

// decodeWrite decodes the body of a CmdWrite. Unknown fields are ignored so
// that a newer proposer may add optional ones.
func decodeWrite(body []byte) (WriteCommand, error) {
	var cmd WriteCommand
	if err := json.Unmarshal(body, &cmd); err != nil {
		return WriteCommand{}, api.NewError(api.ReasonInvalid, "consensus: write command does not decode: %v", err)
	}
	return cmd, nil
}

// OpFor builds an op of type t for obj: the key comes from the object, the
// object is marshalled (except for a delete, which needs only the key), and
// a non-empty metadata.resourceVersion becomes ExpectVersion, so that the
// write is compare-and-set. obj must have its kind set.
func OpFor(t OpType, obj api.Object) (Op, error) {
	key := api.KeyOf(obj)
	if key.Kind == "" {
		return Op{}, api.NewError(api.ReasonInvalid, "%s %q: kind: must be set (the object's TypeMeta is empty; build it with api.New or set Kind)", "object", key.Name)
	}
	op := Op{Type: t, Key: key}
	if rv := obj.GetObjectMeta().ResourceVersion; rv != "" {
		v, err := strconv.ParseUint(rv, 10, 64)
		if err != nil {
			return Op{}, api.NewError(api.ReasonInvalid,
				"%s: metadata.resourceVersion: %q is not a resourceVersion (it is the decimal index of the write that stored the object, such as \"42\"; leave it empty for an unconditional write)",
				describe(key), rv)
		}
		op.ExpectVersion = v
	}
	if t != OpDelete {
		data, err := json.Marshal(obj)
		if err != nil {
			return Op{}, api.NewError(api.ReasonInvalid, "%s: does not encode as JSON: %v", describe(key), err)
		}
		op.Object = data
	}
	return op, nil
}

// OpOf encodes a change as the op of a command.
func OpOf(c state.Change) (Op, error) {
	switch {
	case c.Delete != nil:
		return Op{Type: OpDelete, Key: *c.Delete, ExpectVersion: c.ExpectVersion}, nil
	case c.Check != nil:
		return Op{Type: OpCheck, Key: *c.Check, ExpectVersion: c.ExpectVersion}, nil
	case c.Put == nil:
		return Op{}, api.NewError(api.ReasonInvalid, "consensus: a change must set Put, Delete or Check")
	}
	var t OpType
	switch c.Mode {
	case state.PutAny:
		t = OpPut
	case state.PutCreate:
		t = OpCreate
	case state.PutUpdate:
		t = OpUpdate
	case state.PutStatus:
		t = OpStatus
	default:
		return Op{}, api.NewError(api.ReasonInvalid, "consensus: change of %s: unknown mode %d", describe(api.KeyOf(c.Put)), c.Mode)
	}
	op, err := OpFor(t, c.Put)
	if t == OpStatus {
		op.ExpectVersion = 0 // a status report is guarded by the uid, not the version
	}
	op.KeepStatus = c.KeepStatus
	return op, err
}

// OpsOf encodes changes as the ops of one command.
func OpsOf(changes []state.Change) ([]Op, error) {
	ops := make([]Op, len(changes))
	for i, c := range changes {
		op, err := OpOf(c)
		if err != nil {
			return nil, err
		}
		ops[i] = op
	}
	return ops, nil
}
