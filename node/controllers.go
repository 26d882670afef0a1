package node

import (
	"context"
	"net"
	"time"

	"github.com/shoal-dev/shoal/consensus"
	"github.com/shoal-dev/shoal/gossip"
	"github.com/shoal-dev/shoal/placement"
)

// Commit carries out placement's changes as one command. It is the Writer
// the controllers see.
func (a *Agent) Commit(ctx context.Context, changes []placement.Change) error {
	var ops []consensus.Op
	for _, c := range changes {
		if c.Delete != nil {
			ops = append(ops, consensus.Op{Type: consensus.OpDelete, Key: *c.Delete})
			continue
		}
		op, err := consensus.OpFor(consensus.OpPut, c.Put)
		if err != nil {
			return err
		}
		ops = append(ops, op)
	}
	_, err := a.commitOps(ctx, ops...)
	return err
}

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

// startControllers starts the leader-side controllers; each pass does
// nothing unless this node leads.
func (a *Agent) startControllers() {
	trigger, cancel := a.gossip.Subscribe()
	nc := &placement.NodeController{
		Members: a.placementMembers, State: a.store, Writer: a, IsLeader: a.raft.IsLeader,
		Clock: a.cfg.Clock, Logger: a.log, Interval: time.Second, Trigger: trigger,
		ClusterCIDR: a.cfg.ClusterCIDR, Grace: a.remainingGrace(),
	}
	a.goLoop(func(ctx context.Context) { defer cancel(); nc.Run(ctx) })

	podsChanged := make(chan struct{}, 1)
	a.goLoop(func(ctx context.Context) {
		a.follow(ctx, "Pod", func() {
			select {
			case podsChanged <- struct{}{}:
			default:
			}
		})
	})
	binder := &placement.Binder{
		State: a.store, Writer: a, Events: a, IsLeader: a.raft.IsLeader,
		Clock: a.cfg.Clock, Logger: a.log, Interval: time.Second, Trigger: podsChanged,
	}
	a.goLoop(binder.Run)
	ep := &placement.EndpointsController{State: a.store, Writer: a}
	a.runLoop("endpoints", ep.Pass, "Service", "Pod")
	ds := &placement.DaemonSetController{State: a.store, Writer: a}
	a.runLoop("daemonsets", ds.Pass, "DaemonSet", "Node", "Pod")
	jobs := &placement.JobController{State: a.store, Writer: a, Events: a}
	a.runLoop("jobs", jobs.Pass, "Job", "Pod")
	cron := &placement.CronJobController{State: a.store, Writer: a, Events: a}
	a.runLoop("cronjobs", cron.Pass, "CronJob", "Job")
	a.startWorkloadControllers()
}

var _ placement.Reader = (*consensus.Store)(nil)
