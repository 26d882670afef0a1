package gossip

import "errors"

// Sentinel errors. Errors returned by this package wrap one of these where it
// applies, so callers can test with errors.Is while people read the detail.
var (
	// ErrNoName means Config.Name is empty.
	ErrNoName = errors.New("gossip: node name is empty")
	// ErrNoID means Config.Meta.ID is empty.
	ErrNoID = errors.New("gossip: node ID (Meta.ID) is empty")
	// ErrNoKey means no gossip key was given and Config.Insecure is false.
	ErrNoKey = errors.New("gossip: no encryption key given (set a key, or Insecure for an unencrypted cluster)")
	// ErrBadKey means a gossip key is not 32 bytes, or keys were given with Insecure.
	ErrBadKey = errors.New("gossip: bad encryption key")
	// ErrMetaTooLarge means the encoded Meta does not fit memberlist's 512-byte limit.
	ErrMetaTooLarge = errors.New("gossip: node metadata too large")
	// ErrIDChange means UpdateMeta tried to change the node ID.
	ErrIDChange = errors.New("gossip: node ID cannot change while running")
	// ErrNameConflict means a node name is already used by a live node with
	// a different node ID.
	ErrNameConflict = errors.New("gossip: node name already in use")
	// ErrJoin means no address given to Join could be joined.
	ErrJoin = errors.New("gossip: join failed")
	// ErrWrongKey means a join failed in a way that points at mismatched
	// gossip encryption (a wrong or missing join token).
	ErrWrongKey = errors.New("gossip: join token (gossip key) is probably wrong")
	// ErrNoAddrs means Join or RetryJoin was called with no address.
	ErrNoAddrs = errors.New("gossip: no address to join")
	// ErrShutdown means the Gossip has been shut down.
	ErrShutdown = errors.New("gossip: shut down")
	// ErrLeft means the local node has left the cluster.
	ErrLeft = errors.New("gossip: node has left the cluster")
)
