// Package consensus holds shoal's replicated desired state: the in-memory
// state store, the commands that change it, the Raft FSM that applies those
// commands, watches on the store, and snapshots of it. The Raft wiring
// (raft.go), voter management (voters*.go) and quorum recovery (recover.go)
// live here too; this comment describes the state side.
//
// # Commands
//
// A command travels in the Raft log as one CommandType byte followed by a JSON
// body (EncodeCommand, DecodeCommand). The high bit of the type byte,
// FlagIgnorable, tells a node that does not know the type to skip it; a node
// that meets an unknown type without that bit stops with a panic, because it
// is older than the cluster and must be upgraded. CmdWrite carries a
// WriteCommand: a list of Ops (create, update, put, delete) and the time the
// proposer chose. The proposer builds one with OpFor and NewWrite.
//
// # The store
//
// Store keeps every object in memory, keyed by api.Key, with an index by kind
// and namespace and secondary indexes by owner uid, by the node a Pod is
// bound to, and by label (store_index.go), through which it implements
// state.Reader. An update or put with KeepStatus keeps the stored status
// and system annotations. Store.Apply applies a WriteCommand at a Raft index, all or
// nothing: every op is checked against the current state (and the ops before
// it in the same command) first, and if any op fails nothing changes and
// WriteResult.Err says why, as an *api.Status. The store index still advances
// past a failed command, because the log entry was applied. On success every
// written object gets metadata.resourceVersion = the index in decimal, a
// generation that counts changes outside metadata and status, and, on
// create, a creationTimestamp from the command's time and a uid derived from
// the index, the op's position and the key.
//
// Apply is deterministic: it never reads the clock or randomness, and no map
// iteration order reaches its results, so every replica that applies the same
// log holds the same objects. It is not idempotent: an index at or below
// Store.Index is refused. Only the FSM should call Apply on a store that Raft
// drives; tests of other packages may call it directly on a store of their
// own, with increasing indexes.
//
// Objects returned by the store (Get, List, WriteResult, Event) are shared
// with the store and with every other reader. They are never mutated once
// stored, so they are safe to read from any goroutine, and callers must not
// mutate them: use api.Copy to get one to change.
//
// # Watches
//
// Store.Watch delivers every change with an index above the one asked for, in
// index order and without gaps, then follows new changes. The events of one
// Raft index arrive together, in the order of the command's ops. The store
// keeps the last N events (WithEventRetention) so a watcher can resume from
// the index of a List or of the last event it saw. If the history it needs is
// gone, Watch returns ErrCompacted, or, for a watch already running that fell
// that far behind (or that a snapshot restore overtook), the channel carries
// one final Event of type EventError whose Err is ErrCompacted before it
// closes. Either way the caller lists again and watches from the list's index.
// A slow watcher never blocks Apply: each watcher reads the shared history on
// its own cursor.
//
// # Snapshots and the FSM
//
// Store.Snapshot captures the store at its current index cheaply (a copy of
// pointers to immutable objects); Snapshot.WriteTo streams it as JSON lines,
// concurrently with further Applies. Store.Restore replaces the whole content
// atomically from such a stream. FSM adapts the store to raft.FSM and
// raft.BatchingFSM and lets other files add command types with FSM.Handle.
//
// # Concurrency
//
// Every Store method is safe for concurrent use. Writers (Apply, Restore) are
// serialised; readers (Get, List, Index, watches) never wait for a writer
// longer than it takes to swap in a finished change. Index is the index of
// the last log entry the FSM saw; Raft does not show no-op and barrier
// entries to the FSM, so wait (WaitForIndex) on the index of a command, not
// on raft.Raft.AppliedIndex.
package consensus
