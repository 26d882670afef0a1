// Package gossip tells every shoal agent who is in the cluster and who is
// alive. It wraps hashicorp/memberlist (SWIM): joining through any member,
// retrying a join with backoff, encrypting gossip with a key ring, carrying
// each node's Meta (node ID, Raft and API addresses, labels, capacity,
// version) in memberlist node metadata, and keeping a membership table.
//
// # Membership table
//
// Gossip owns the table; memberlist's event callbacks feed it. A member is
// StateAlive or StateSuspect while memberlist counts it (Members asks
// memberlist which of the two at the time of the call), then StateFailed
// when declared dead, or StateLeft when it left with Leave. Failed members
// stay, with their last Meta and the time they failed (Since, by
// Config.Clock), until Forget or until the same name is alive again, so the
// Raft leader can tell how long a voter has been gone. Left members are
// dropped LeftRetention (10 minutes) after leaving. Subscribe gives a
// coalesced signal after every change to the table.
//
// # Identity
//
// A node's name is unique in the cluster and belongs to one node ID (the
// UUID in its data dir, also its Raft server ID). A node that joins under a
// name that a live (alive or suspect) node holds with another ID is refused
// on both sides of the join, and Join returns an error wrapping
// ErrNameConflict that says what to do. Alive messages that claim such a
// name are ignored. The name of a failed or left node may be taken by a new
// ID: a replaced machine may reuse its name, from a new address too.
//
// # Encryption
//
// Unless Config.Insecure, every packet and stream is encrypted with the
// primary key and must decrypt with one of Config.Keys (32 bytes each,
// see GenerateKey); plaintext is refused both ways. A node with a wrong or
// missing key cannot join (Join returns an error wrapping ErrWrongKey
// that says the join token is probably wrong) and cannot read gossip.
//
// # Logging
//
// The package logs with log/slog (Config.Logger). memberlist's own log lines
// are routed there too, with attribute component=memberlist: [DEBUG] at
// debug, [INFO] at info, [WARN] and [ERR] at warn.
//
// # Concurrency
//
// All methods of Gossip are safe for concurrent use. Join calls are
// serialized. Leave, Shutdown and Forget are idempotent. Values returned
// (Member, Meta) are copies the caller owns. memberlist calls into this
// package with its node lock held; this package never calls memberlist
// while holding its own locks from those callbacks.
//
// Errors are prefixed "gossip: " and wrap the sentinels in errors.go.
package gossip
