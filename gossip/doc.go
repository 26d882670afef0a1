// Package gossip tells every shoal agent who is in the cluster and who is
// alive. It wraps hashicorp/memberlist (SWIM): joining through any member,
// retrying a join with backoff, encrypting gossip with a key ring, carrying
// each node's Meta (node ID, Raft and API addresses, labels, capacity,
// version) in memberlist node metadata, and keeping a membership table.
//
// # Membership table
//
// Gossip owns the table; memberlist's event callbacks feed it. A member is
// StateAlive while memberlist counts it, then StateFailed when declared
// dead, or StateLeft when it left with Leave. Since is when it entered that
// state, by Config.Clock. Failed members stay, with their last Meta, until
// Forget or until the same name is alive again, so the Raft leader can tell
// how long a voter has been gone. Left members are dropped LeftRetention
// (10 minutes) after leaving. Subscribe gives a coalesced signal after
// every change to the table, metadata updates included.
//
// memberlist v0.5.4 keeps a node's suspicion to itself (Node.State is not
// filled in by Members or NotifyLeave), so live members show as StateAlive
// and StateSuspect is never reported; it stays in the API for callers to
// handle. For the same reason a leave is not told apart from a failure by
// memberlist: a leaving node first announces it (a gossiped user message,
// re-broadcast once by each receiver), and push/pull exchanges carry the
// members each node knows as left, so nodes that missed the announcement
// still learn it. An announcement names one run of a node (a random
// session in its metadata), so a stale one cannot mark the node's next run.
//
// # Failure detection
//
// memberlist's SWIM probes decide when a member is failed. With
// Config.FailAfter (the agent passes its node grace), the timing is
// derived from it (DetectorFor): a probe every FailAfter/5, a suspicion of
// 4 probe intervals, gossip every 100 ms. A member is declared failed no
// sooner than FailAfter after it fell silent, and in a 3-node cluster
// within FailAfter + 3 probe intervals. A member that is only slow, frozen
// or starved of CPU, refutes its suspicion when it runs again (a
// broadcast that it is alive, with a higher incarnation), so it is never
// declared failed if it was silent for less than FailAfter minus the time
// its refutation takes to arrive (a gossip interval and delivery). The
// nodes of a cluster should share one FailAfter: any node may declare a
// failure, so the shortest one decides. Without FailAfter, memberlist's
// LAN defaults apply (a failure after 5 to 8 s).
//
// # Healing after a partition
//
// memberlist never probes a member it has declared dead, so two sides of a
// partition that lasted longer than the failure detector would each keep
// the other for dead after the network heals. Every 4 probe intervals
// (Config.ReconnectInterval) a node therefore tries to join one member it
// holds as failed, picked at random, as Serf does: the push/pull of the
// join tells each side that it was declared dead, each refutes, and both
// are alive again.
//
// # Identity
//
// A node's name is unique in the cluster and belongs to one node ID (the
// UUID in its data dir, also its Raft server ID). A node that joins under a
// name that a live node holds with another ID is refused on both sides of
// the join, and Join returns an error wrapping ErrNameConflict that says
// what to do. Alive messages that claim such a name are ignored. The name
// of a failed or left node may be taken by a new ID (a replaced machine
// may reuse its name), from a new address too once it has been dead for
// five probe intervals.
//
// # Encryption
//
// Unless Config.Insecure, every packet and stream is encrypted with the
// primary key and must decrypt with one of Config.Keys (32 bytes each,
// see GenerateKey); plaintext is refused both ways. A node with a wrong or
// missing key cannot join (Join returns an error wrapping ErrWrongKey that
// says the join token is probably wrong) and cannot read gossip.
//
// # Logging
//
// The package logs with log/slog (Config.Logger). memberlist's own log lines
// go there too, with attribute component=memberlist: [DEBUG] at debug,
// [INFO] at info, [WARN] and [ERR] at warn.
//
// # Concurrency and ownership
//
// All methods of Gossip are safe for concurrent use. Join calls are
// serialized; RetryJoin may run while other methods are called. Leave,
// Shutdown, Forget and a Subscribe cancel func are idempotent. Members,
// Local and Meta values returned are copies the caller owns, and New and
// UpdateMeta copy the Meta they are given. memberlist calls into this
// package from its goroutines, some with its node lock held; those
// callbacks only take this package's table and delegate locks, and never
// call memberlist.
//
// Errors are prefixed "gossip: " and wrap the sentinels in errors.go.
package gossip
