// Package leader runs the cluster's leader-only control loops: the
// controllers, the scheduler's binder, the node controller and the Raft
// voter manager. Every node runs every loop; a loop makes passes only while
// its node leads, so a new leader picks up at its next pass. Loops are
// level-triggered: a pass reads the state and converges, and the loop only
// decides when to make one. Its clock is injected, so tests drive it with
// clock.Fake.
package leader
