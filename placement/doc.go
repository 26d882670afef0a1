// Package placement holds the leader-side logic: what should run where.
//
//   - The scheduler: a pure function from a snapshot of nodes and bound
//     pods plus the pods to place to a plan (no clock, no I/O, ties broken
//     by a hash of the input); the Binder runs it for pods without a node
//     and commits each binding with a compare-and-set.
//   - The NodeController keeps one Node object per cluster member in step
//     with gossip, hands out pod CIDRs, and turns a node NotReady as soon
//     as gossip reports it failed (gossip's failure detector waits out the
//     node grace; NodeController.Grace adds any part of it that gossip
//     does not); PodGC then deletes the pods a controller owns on it
//     (DaemonSet pods stay), so they are replaced.
//   - Workload controllers, each a pure planner over the state plus a
//     Pass that commits its plan: Deployments (ReplicaSets per template,
//     rolling updates, revisions), ReplicaSets, DaemonSets, Jobs, CronJobs,
//     HorizontalPodAutoscalers, and the Endpoints of Services.
//
// Controllers are level-triggered: a trigger only says "look again", and
// every pass reads the state and converges it; a pass asks to come back
// when time matters (minReadySeconds, deadlines, schedules). They keep
// nothing between passes that the state does not hold, so a new leader
// carries on where the old one stopped and a leader change moves no pod.
// They take a Clock so tests advance time instead of sleeping, and they see
// the cluster only through the small interfaces in this package (a
// read-only view of the state and a way to commit changes), never through
// consensus or gossip directly. Only the leader runs them (Loop); a pass
// on a node that is not the leader does nothing.
package placement
