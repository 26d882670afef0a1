package consensus

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/shoal-dev/shoal/clock"
	"github.com/shoal-dev/shoal/leader"
)

// inmemNode is a Raft node on in-memory stores and transport.
func inmemNode(t *testing.T, id string, bootstrap bool) (*Raft, *raft.InmemTransport) {
	t.Helper()
	addr, trans := raft.NewInmemTransport(raft.ServerAddress(id))
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	r, err := NewRaft(RaftConfig{
		ID: id, InMemory: true, Transport: trans, Bootstrap: bootstrap, AdvertiseAddr: string(addr),
		HeartbeatTimeout: 50 * time.Millisecond, ElectionTimeout: 50 * time.Millisecond, LeaderLeaseTimeout: 50 * time.Millisecond,
		Logger: logger,
	}, NewFSM(NewStore(), logger))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Shutdown() })
	return r, trans
}

// The voter manager, driven by a fake clock and a fake gossip view, adds
// new members as non-voters at once and promotes them only once they have
// been stable for the stabilization period.
func TestVoterManagerPromotesAfterStabilization(t *testing.T) {
	a, ta := inmemNode(t, "a", true)
	b, tb := inmemNode(t, "b", false)
	c, tc := inmemNode(t, "c", false)
	for _, x := range []*raft.InmemTransport{ta, tb, tc} {
		for _, y := range []*raft.InmemTransport{ta, tb, tc} {
			if x != y {
				x.Connect(y.LocalAddr(), y)
			}
		}
	}
	waitCond(t, func() bool { return a.IsLeader() })
	fc := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	start := fc.Now()
	var mu sync.Mutex
	peers := func(context.Context) []Peer {
		mu.Lock()
		defer mu.Unlock()
		out := []Peer{{ID: "a", Name: "a", RaftAddr: "a", State: PeerAlive, Since: start, Applied: int64(a.Store().Index())}}
		for _, n := range []*Raft{b, c} {
			out = append(out, Peer{ID: n.ID(), Name: n.ID(), RaftAddr: n.Addr(), State: PeerAlive, Since: start, Applied: int64(n.Raw().AppliedIndex())})
		}
		return out
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	vm := &VoterManager{Raft: a, Peers: peers, Logger: logger,
		Policy: VoterPolicy{DeadVoterTimeout: 10 * time.Second, Stabilization: 5 * time.Second, MaxLag: 10}}
	loop := &leader.Loop{Name: "voters", Pass: vm.Pass, Follower: vm.Forget, IsLeader: a.IsLeader,
		Clock: fc, Logger: logger, Interval: time.Second}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go loop.Run(ctx)
	count := func() (voters, nonvoters int) {
		servers, _ := a.Servers()
		for _, s := range servers {
			if s.Suffrage == raft.Voter {
				voters++
			} else {
				nonvoters++
			}
		}
		return
	}
	waitCond(t, func() bool { return fc.Waiters() > 0 })
	fc.Advance(time.Second)
	waitCond(t, func() bool { v, n := count(); return v == 1 && n == 2 })
	// Before the stabilization period nothing is promoted, however often
	// the manager runs.
	for range 3 {
		fc.Advance(time.Second)
	}
	if v, _ := count(); v != 1 {
		t.Fatalf("%d voters before the stabilization period ended, want 1", v)
	}
	waitCond(t, func() bool { fc.Advance(time.Second); v, _ := count(); return v == 3 })
}

func waitCond(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("condition not reached in 10s")
}
