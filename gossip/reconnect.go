package gossip

import (
	"math/rand/v2"
	"time"
)

// reconnectProbes is how many probe intervals pass between two attempts
// to rejoin a member declared failed.
const reconnectProbes = 4

// reconnectInterval is how often reconnectLoop tries a failed member:
// Config.ReconnectInterval, else reconnectProbes probe intervals (2 s with
// the default node grace).
func (g *Gossip) reconnectInterval() time.Duration {
	if g.cfg.ReconnectInterval > 0 {
		return g.cfg.ReconnectInterval
	}
	return reconnectProbes * g.Detector().ProbeInterval
}

// reconnectLoop heals gossip after a partition. memberlist never probes a
// member it has declared dead, and only gossips to it for a while, so two
// sides of a partition that outlived the failure detector each keep the
// other for dead after the network heals: Raft works again, but every
// Node of the other side stays NotReady. So, as Serf does, every
// reconnectInterval the node tries to join one failed member, picked at
// random. A join is a push/pull of the whole membership: the member learns
// it was declared dead and refutes it, and this node learns the same of
// itself, so both sides are alive again within a gossip round. A failed
// member that is really gone costs one refused or timed-out connection.
func (g *Gossip) reconnectLoop() {
	defer g.wg.Done()
	t := g.clock.NewTicker(g.reconnectInterval())
	defer t.Stop()
	for {
		select {
		case <-g.done:
			return
		case <-t.C():
			g.reconnectOnce()
		}
	}
}

// reconnectOnce tries to join one failed member, if there is any.
func (g *Gossip) reconnectOnce() {
	var failed []Member
	for _, m := range g.table.snapshot() {
		if m.State == StateFailed && m.Name != g.name && m.Addr != "" {
			failed = append(failed, m)
		}
	}
	if len(failed) == 0 {
		return
	}
	m := failed[rand.IntN(len(failed))]
	if _, err := g.Join([]string{m.Addr}); err != nil {
		g.logger.Debug("gossip: a failed member is still unreachable", "member", m.Name, "addr", m.Addr, "err", err)
		return
	}
	g.logger.Info("gossip: reached a member declared failed; the membership merges again", "member", m.Name, "addr", m.Addr)
}
