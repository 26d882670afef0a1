// Package state is the seam between the replicated state and everything
// that reads or changes it: controllers, the scheduler, a node's runtime
// and DNS, the API server. It names what they may ask of the replica (Get,
// List, and the indexed lookups by owner, by node and by label, so that a
// controller looks up what it owns instead of scanning a kind), and the one
// Change type they commit. consensus.Store implements Reader; Scan answers
// the same questions by scanning, for fakes in unit tests and as the
// reference the store's indexes are tested against.
package state
