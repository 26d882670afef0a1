package consensus

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/hashicorp/raft"
)

// VoterManager keeps the Raft configuration in line with gossip while this
// node is leader: it adds new members as non-voters, promotes them when they
// are stable and caught up, replaces voters that stay failed, and spreads
// voters over zones. It is level-triggered: every pass plans from scratch
// with PlanVoters, so a pass that fails halfway is simply redone. A
// leader.Loop runs Pass, and Forget while this node does not lead.
type VoterManager struct {
	Raft   *Raft
	Peers  func(ctx context.Context) []Peer // gossip's view, Applied filled in
	Policy VoterPolicy
	Logger *slog.Logger

	absent map[string]time.Time // config members gossip does not know, since when
}

// Forget drops what the manager remembers between passes (since when a
// configured server has been unknown to gossip), for when this node stops
// leading.
func (v *VoterManager) Forget() { v.absent = nil }

// Pass plans once at time now and carries out the plan, stopping at the
// first change that fails; the next pass plans again.
func (v *VoterManager) Pass(ctx context.Context, now time.Time) (time.Duration, error) {
	servers, err := v.Raft.Servers()
	if err != nil {
		return 0, fmt.Errorf("read the raft configuration: %w", err)
	}
	peers := v.Peers(ctx)
	peers = v.withAbsent(now, servers, peers)
	members := make([]Member, len(servers))
	for i, s := range servers {
		members[i] = Member{ID: string(s.ID), Addr: string(s.Address), Voter: s.Suffrage == raft.Voter}
	}
	r := v.Raft.Raw()
	plan := PlanVoters(now, v.Raft.ID(), r.LastIndex(), members, peers, v.Policy)
	for _, c := range plan {
		var f raft.IndexFuture
		id, addr := raft.ServerID(c.ID), raft.ServerAddress(c.Addr)
		switch c.Kind {
		case AddNonvoter:
			f = r.AddNonvoter(id, addr, 0, 10*time.Second)
		case Promote:
			f = r.AddVoter(id, addr, 0, 10*time.Second)
		case Demote:
			f = r.DemoteVoter(id, 0, 10*time.Second)
		case Remove:
			f = r.RemoveServer(id, 0, 10*time.Second)
		}
		if err := f.Error(); err != nil {
			return 0, fmt.Errorf("%s %s: %w", c.Kind, c.ID, err)
		}
		v.Logger.Info("raft membership changed", "change", c.Kind, "id", c.ID, "addr", c.Addr, "reason", c.Reason)
	}
	return 0, nil
}

// withAbsent adds a failed Peer for every configured server that gossip does
// not know at all (for instance after this node restarted), failed since the
// first pass that noticed it.
func (v *VoterManager) withAbsent(now time.Time, servers []raft.Server, peers []Peer) []Peer {
	known := map[string]bool{}
	for _, p := range peers {
		known[p.ID] = true
	}
	if v.absent == nil {
		v.absent = map[string]time.Time{}
	}
	seen := map[string]bool{}
	for _, s := range servers {
		id := string(s.ID)
		if known[id] {
			continue
		}
		seen[id] = true
		since, ok := v.absent[id]
		if !ok {
			since = now
			v.absent[id] = now
		}
		peers = append(peers, Peer{ID: id, Name: id, RaftAddr: string(s.Address), State: PeerFailed, Since: since, Applied: -1})
	}
	for id := range v.absent {
		if !seen[id] {
			delete(v.absent, id)
		}
	}
	return peers
}
