// Package node wires one shoal agent together: its identity and join token
// in the data dir, gossip, Raft and the state store, the voter manager, and
// the HTTP API with leader forwarding.
//
// An Agent is created with New and started with Start; Shutdown stops it
// without changing cluster membership (a restart is not a departure), and
// Leave departs for good. Agent methods are safe for concurrent use. Only
// cmd/shoal and integration tests import this package.
package node
