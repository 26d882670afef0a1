// Package placement holds the leader-side logic: what should run where. It
// holds the scheduler, a pure function from a snapshot of nodes and bound
// pods plus the pods to place to a plan (no clock, no I/O, ties broken by a
// hash of the input); the binder, which runs it for pods without a node;
// and the node controller, which keeps one Node object per cluster member in
// step with gossip. The workload controllers will join them.
//
// Controllers here are level-triggered: a trigger only says "look again",
// and every pass reads the state and converges it. They take a Clock so
// tests advance time instead of sleeping. They see the cluster only through
// the small interfaces in this package (a read-only view of the state and a
// way to commit changes), never through consensus or gossip directly. Only
// the leader runs them; a pass on a node that is not the leader does nothing.
package placement
