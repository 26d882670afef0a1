package placement

import (
	"context"

	"github.com/shoal-dev/shoal/api"
)

// Reader is a read-only view of the replicated state.
type Reader interface {
	Get(key api.Key) (api.Object, error)
	List(kind, namespace string) ([]api.Object, uint64)
}

// Change is one write: Put stores an object (a compare-and-set when its
// metadata.resourceVersion is set), Delete removes a key.
type Change struct {
	Put    api.Object
	Delete *api.Key
}

// Writer commits changes as one command, all or nothing.
type Writer interface {
	Commit(ctx context.Context, changes []Change) error
}
