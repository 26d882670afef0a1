package placement

import "github.com/shoal-dev/shoal/state"

// Reader is the read-only view of the replicated state controllers plan
// against: state.Reader, with its indexed lookups.
type Reader = state.Reader

// Change is one write of a plan (state.Change).
type Change = state.Change

// Writer commits a plan's changes as one command (state.Writer).
type Writer = state.Writer
