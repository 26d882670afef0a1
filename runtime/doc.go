// Package runtime is shoal's node-side half: the kubelet. On each node it
// owns the containers, in containerd namespace "shoal", of the pods whose
// spec.nodeName is this node, and nothing else in that namespace survives a
// reconcile pass. It holds:
//
//   - Reconciler, the pod reconciler (below), with the Prober that runs
//     liveness, readiness and startup probes.
//   - Runtime, the seam between the reconciler and containerd (images,
//     containers, exec, logs, resource use), each call idempotent (see
//     their comments) and safe for concurrent use.
//   - Fake, an in-memory Runtime with an injected clock, for unit tests.
//   - Containerd, the Runtime on a containerd daemon (client v1.7, daemon
//     1.6 or later): images pulled or imported (ImportArchive) and unpacked
//     into overlayfs, one containerd container and task per container,
//     stdout and stderr appended by the shim to LogDir/<id>.log, and what
//     containerd forgets (start time, exit recorded by Stop, OOM kills) kept
//     in io.shoal. labels, so a new client adopts everything.
//   - runtimetest.RunContract, the one contract suite that every Runtime,
//     fake or real, must pass.
//   - Supervisor, which runs the node's own containerd as a child process
//     (config, root, state and socket under one directory), restarts it with
//     back-off if it dies and stops it with the agent, in the manner of k3s.
//   - ReadLog and RotateLog for container logs (`shoal logs`).
//
// The reconciler is level-triggered: changes only wake it; each pod has a
// worker that lists what containerd holds for it (Runtime.List), plans the
// pass with a pure function of the pod and its containers (podView.plan:
// init containers in order, sidecars, restart policies with crash-loop
// back-off, liveness kills) and converges. It never keeps state that it
// cannot rebuild from List, so an agent restart adopts running containers
// instead of restarting them: containers carry their pod's identity, the
// back-off delay and the grace period in labels, and their ID is derived
// from (pod UID, container name, attempt), so creating the same container
// twice is harmless. Containers, networks and files of pods no longer
// assigned here (deleted, or moved while this node was cut off) are
// stopped and removed. Statuses go out in batches, one write per
// StatusBatch, and only when they changed.
//
// Pod network: PodNetwork gives each pod a network namespace (bind-mounted
// at /var/run/netns/shoal-..., joined by all its containers) and an IP from
// the node's pod CIDR. CNI does it with the standard plugins (bridge
// "shoal0" whose address, GatewayAddr, is the pods' gateway; host-local;
// portmap for hostPorts; loopback) and keeps one record per pod in its state
// directory, so Setup, Teardown and List read the node, never memory;
// FakeNetwork does it in memory, and runtimetest.NetworkContract holds
// both to one behaviour. HostNetwork keeps the node's share current and is
// idempotent: IP forwarding, masquerading of pod traffic that leaves the
// cluster CIDR, FORWARD rules, and host-gw routes to the other nodes' pod
// CIDRs (SyncRoutes), which it recognises by their route protocol.
//
// Every loop takes a clock.Clock; tests advance a fake clock instead of
// sleeping. Of shoal's packages, runtime imports only api and clock: the
// cluster state reaches it through small read and report interfaces.
package runtime
