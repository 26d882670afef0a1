package node

import (
	"context"
	"net"
	"time"

	"github.com/shoal-dev/shoal/consensus"
	"github.com/shoal-dev/shoal/gossip"
	"github.com/shoal-dev/shoal/leader"
	"github.com/shoal-dev/shoal/placement"
)

// placementMembers is gossip's member list as placement sees it.
func (a *Agent) placementMembers() []placement.Member {
	var out []placement.Member
	for _, m := range a.gossip.Members() {
		host, _, _ := net.SplitHostPort(m.Addr)
		out = append(out, placement.Member{
			Name: m.Name, ID: m.Meta.ID, Address: host,
			Alive: m.State == gossip.StateAlive || m.State == gossip.StateSuspect,
			Left:  m.State == gossip.StateLeft,
			Since: m.Since, Labels: m.Meta.Labels, CPUMillis: m.Meta.CPUMillis, MemoryBytes: m.Meta.MemoryBytes,
			Resources: m.Meta.Resources, Version: m.Meta.Version,
		})
	}
	return out
}

// remainingGrace is the part of NodeGrace that gossip's failure detector
// does not already wait out: none when gossip is timed from NodeGrace, the
// rest when GossipProbeInterval makes it declare failures sooner.
func (a *Agent) remainingGrace() time.Duration {
	if a.cfg.GossipProbeInterval == 0 {
		return 0
	}
	return max(0, a.cfg.NodeGrace-a.gossip.Detector().FailAfter())
}

// leaderLoop is the leader.Loop of a leader-only pass on this agent.
func (a *Agent) leaderLoop(name string, pass leader.Pass, interval time.Duration, trigger <-chan struct{}, follower func()) *leader.Loop {
	return &leader.Loop{
		Name: name, Pass: pass, IsLeader: a.raft.IsLeader, Follower: follower,
		Clock: a.cfg.Clock, Logger: a.log, Interval: interval, Trigger: trigger,
	}
}

// startControllers starts the leader-side controllers; each pass does
// nothing unless this node leads.
func (a *Agent) startControllers() {
	nc := &placement.NodeController{
		Members: a.placementMembers, State: a.store, Writer: a,
		ClusterCIDR: a.cfg.ClusterCIDR, Grace: a.remainingGrace(),
	}
	trigger, cancel := a.gossip.Subscribe()
	a.goLoop(func(ctx context.Context) {
		defer cancel()
		a.leaderLoop("node controller", nc.Pass, time.Second, trigger, nil).Run(ctx)
	})

	a.goLoop(func(ctx context.Context) {
		binder := &placement.Binder{State: a.store, Writer: a, Events: placement.QueueEvents(ctx, a, binderEventWriters, binderEventQueue)}
		a.leaderLoop("binder", binder.Pass, time.Second, a.watchKinds("Pod"), nil).Run(ctx)
	})
	ep := &placement.EndpointsController{State: a.store, Writer: a}
	a.runLoop("endpoints", ep.Pass, "Service", "Pod")
	ds := &placement.DaemonSetController{State: a.store, Writer: a}
	a.runLoop("daemonsets", ds.Pass, "DaemonSet", "Node", "Pod")
	jobs := &placement.JobController{State: a.store, Writer: a, Events: a}
	a.runLoop("jobs", jobs.Pass, "Job", "Pod")
	cron := &placement.CronJobController{State: a.store, Writer: a, Events: a}
	a.runLoop("cronjobs", cron.Pass, "CronJob", "Job")
	ns := &placement.NamespaceController{State: a.store, Writer: a}
	a.runLoop("namespaces", ns.Pass, "Namespace")
	a.startWorkloadControllers()
}

// The binder records its Scheduled events in the background, this many at
// once (Raft commits writes that arrive together in one round), with up to
// binderEventQueue waiting: a burst of bindings does not wait for them.
const (
	binderEventWriters = 8
	binderEventQueue   = 10000
)

var _ placement.Reader = (*consensus.Store)(nil)
