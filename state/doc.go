// Package state is the seam between the replicated state and everything
// that reads or changes it: controllers, the scheduler, a node's runtime
// and DNS, the API server. It names what they may ask of the replica
// (Reader: Get, List, and the indexed lookups by owner, by node and by
// label, so that a controller looks up what it owns instead of scanning a
// kind; Watcher: the changes as they apply), the one Change type every
// writer proposes, and the one way to propose it (Writer). Stale and
// CommitIndependent are how a level-triggered writer commits when the
// state may have moved since it read it.
//
// consensus.Store implements Reader and Watcher, and the agent implements
// Writer on Raft. Scan answers Reader's lookups by scanning, for fakes in
// unit tests and as the reference the store's indexes are tested against.
package state
