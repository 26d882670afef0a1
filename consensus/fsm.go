package consensus

import (
	"fmt"
	"io"
	"log/slog"
	"sync"

	"github.com/hashicorp/raft"

	"github.com/shoal-dev/shoal/api"
)

// FSM applies committed Raft log entries to a Store. It implements
// raft.FSM and raft.BatchingFSM. It is deterministic: what it returns and
// what it stores depend only on the log.
//
// Every log entry it sees moves the store's index, whether or not it
// changes anything, so Store.WaitForIndex works for any index the FSM was
// given.
type FSM struct {
	store  *Store
	logger *slog.Logger

	mu       sync.RWMutex
	handlers map[CommandType]func(index uint64, body []byte) any
}

var (
	_ raft.FSM         = (*FSM)(nil)
	_ raft.BatchingFSM = (*FSM)(nil)
)

// NewFSM returns an FSM that applies CmdWrite commands to store. A nil
// logger discards.
func NewFSM(store *Store, logger *slog.Logger) *FSM {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	f := &FSM{store: store, logger: logger, handlers: map[CommandType]func(uint64, []byte) any{}}
	f.Handle(CmdWrite, f.applyWrite)
	return f
}

// Store returns the store the FSM applies to.
func (f *FSM) Store() *Store { return f.store }

// Handle registers h for commands of type t. h gets the entry's index and
// the command's JSON body; what it returns becomes the response of
// raft.Apply on the proposing node. h must be deterministic and must not
// keep body, which Raft may reuse. Register handlers before Raft starts.
// Handle panics if t already has a handler.
func (f *FSM) Handle(t CommandType, h func(index uint64, body []byte) any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.handlers[t]; ok {
		panic(fmt.Sprintf("consensus: a handler for command type %s is already registered", t))
	}
	f.handlers[t] = h
}

// Apply applies one log entry. Only raft.LogCommand entries carry commands;
// for others it returns nil. A CmdWrite returns a *WriteResult. An entry
// that does not decode returns a *WriteResult whose Err says so. A command
// of an unknown type is skipped if it has FlagIgnorable and otherwise stops
// the node with a panic, since applying the rest of the log without it
// would make this replica diverge.
func (f *FSM) Apply(l *raft.Log) any {
	defer f.store.advance(l.Index)
	if l.Type != raft.LogCommand {
		return nil
	}
	t, body, err := DecodeCommand(l.Data)
	if err != nil {
		return &WriteResult{Index: l.Index, Err: api.NewError(api.ReasonInvalid, "%v", err)}
	}
	f.mu.RLock()
	h := f.handlers[t]
	f.mu.RUnlock()
	if h != nil {
		return h(l.Index, body)
	}
	if t.Ignorable() {
		f.logger.Info("skipping a command of a type this node does not know; it is marked ignorable",
			"type", t.String(), "index", l.Index)
		return nil
	}
	panic(fmt.Sprintf("consensus: unknown command type 0x%02x at index %d; this node is older than the cluster, upgrade it", byte(t), l.Index))
}

// ApplyBatch applies entries in order; see Apply.
func (f *FSM) ApplyBatch(logs []*raft.Log) []any {
	out := make([]any, len(logs))
	for i, l := range logs {
		out[i] = f.Apply(l)
	}
	return out
}

func (f *FSM) applyWrite(index uint64, body []byte) any {
	cmd, err := decodeWrite(body)
	if err != nil {
		return &WriteResult{Index: index, Err: err}
	}
	return f.store.Apply(index, cmd)
}

// Snapshot captures the store; the returned raft.FSMSnapshot writes it out
// later, concurrently with further Applies.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	return fsmSnapshot{f.store.Snapshot()}, nil
}

// Restore replaces the store's content with a snapshot written by
// Snapshot.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	return f.store.Restore(rc)
}

type fsmSnapshot struct{ snap *Snapshot }

// Persist writes the snapshot to sink and closes it, or cancels it on error.
func (s fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := s.snap.WriteTo(sink); err != nil {
		_ = sink.Cancel()
		return err
	}
	return sink.Close()
}

// Release does nothing: the snapshot holds only shared, immutable objects.
func (fsmSnapshot) Release() {}
