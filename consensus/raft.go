package consensus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"github.com/shoal-dev/shoal/api"
	"go.etcd.io/bbolt"
)

// ErrNotLeader is returned by leader-only operations on a follower.
var ErrNotLeader = errors.New("consensus: not leader")

// RaftConfig configures one node's Raft instance.
type RaftConfig struct {
	ID string // node ID, the Raft server ID
	// Dir holds raft.db and snapshots/. Empty with InMemory set.
	Dir string
	// BindAddr is the host:port the TCP transport listens on; AdvertiseAddr is
	// what other nodes dial (defaults to BindAddr).
	BindAddr, AdvertiseAddr string
	// Bootstrap makes a node with no existing state form a one-voter cluster.
	Bootstrap bool
	// InMemory uses in-memory stores and Transport (which must be set); for tests.
	InMemory  bool
	Transport raft.Transport
	// TLS, when set, makes the TCP transport mutual TLS.
	TLS *RaftTLS

	HeartbeatTimeout, ElectionTimeout, LeaderLeaseTimeout time.Duration
	SnapshotThreshold                                     uint64
	Logger                                                *slog.Logger
}

// Raft owns one node's hashicorp/raft instance, its stores and its FSM.
// All methods are safe for concurrent use.
type Raft struct {
	r         *raft.Raft
	fsm       *FSM
	bolt      *raftboltdb.BoltStore
	transport raft.Transport
	id        string
	addr      string
	logger    *slog.Logger
}

// DefaultTimeouts are tuned for a LAN: a follower notices a dead leader
// after one to two heartbeat timeouts, and the first write after a leader's
// kill -9 is acknowledged about 0.6 s later (p50; it was 1.16 s with 500 ms).
// Leaders send heartbeats every tenth of it, so 300 ms still leaves a busy
// leader room: under 64 writing clients on 2 cores no follower timed out.
const (
	DefaultHeartbeatTimeout = 300 * time.Millisecond
	DefaultElectionTimeout  = 300 * time.Millisecond
	// The lease equals the heartbeat timeout: a shorter one made a busy
	// leader step down needlessly, and followers notice a dead leader by
	// their own heartbeat timeout anyway.
	DefaultLeaderLeaseTimeout = 300 * time.Millisecond
)

func (c *RaftConfig) raftConfig() *raft.Config {
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(c.ID)
	rc.Logger = NewHCLogger(c.Logger, "raft")
	rc.HeartbeatTimeout = orDuration(c.HeartbeatTimeout, DefaultHeartbeatTimeout)
	rc.ElectionTimeout = orDuration(c.ElectionTimeout, DefaultElectionTimeout)
	rc.LeaderLeaseTimeout = orDuration(c.LeaderLeaseTimeout, DefaultLeaderLeaseTimeout)
	rc.BatchApplyCh = true
	rc.MaxAppendEntries = 512
	if c.SnapshotThreshold > 0 {
		rc.SnapshotThreshold = c.SnapshotThreshold
	} else {
		rc.SnapshotThreshold = 16384
	}
	rc.TrailingLogs = 10240
	return rc
}

func orDuration(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

type raftStores struct {
	logs   raft.LogStore
	stable raft.StableStore
	snaps  raft.SnapshotStore
	bolt   *raftboltdb.BoltStore
}

func openStores(c *RaftConfig) (*raftStores, error) {
	if c.InMemory {
		m := raft.NewInmemStore()
		return &raftStores{logs: m, stable: m, snaps: raft.NewInmemSnapshotStore()}, nil
	}
	if err := os.MkdirAll(c.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("consensus: create raft dir: %w", err)
	}
	bolt, err := raftboltdb.New(raftboltdb.Options{
		Path: filepath.Join(c.Dir, "raft.db"),
		// The freelist is not written with every commit (bbolt rebuilds
		// it when it opens the file): with it, each log append rewrote the
		// freelist's pages, a fifth of a node's CPU under write load.
		BoltOptions: &bbolt.Options{Timeout: 2 * time.Second, NoFreelistSync: true, FreelistType: bbolt.FreelistMapType},
	})
	if err != nil {
		return nil, fmt.Errorf("consensus: open %s: %w (is another agent using this --data-dir?)", filepath.Join(c.Dir, "raft.db"), err)
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(c.Dir, 2, NewHCLogger(c.Logger, "raft-snapshots"))
	if err != nil {
		bolt.Close()
		return nil, fmt.Errorf("consensus: open snapshots: %w", err)
	}
	cached, err := raft.NewLogCache(1024, bolt)
	if err != nil {
		bolt.Close()
		return nil, err
	}
	return &raftStores{logs: cached, stable: bolt, snaps: snaps, bolt: bolt}, nil
}

func (s *raftStores) close() {
	if s.bolt != nil {
		s.bolt.Close()
	}
}

// NewRaft starts Raft with fsm. A node with no existing state bootstraps a
// one-voter cluster only when c.Bootstrap is set; otherwise it waits for a
// leader to add it.
func NewRaft(c RaftConfig, fsm *FSM) (*Raft, error) {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.AdvertiseAddr == "" {
		c.AdvertiseAddr = c.BindAddr
	}
	stores, err := openStores(&c)
	if err != nil {
		return nil, err
	}
	trans := c.Transport
	if trans == nil {
		adv, err := net.ResolveTCPAddr("tcp", c.AdvertiseAddr)
		if err != nil {
			stores.close()
			return nil, fmt.Errorf("consensus: advertise address %q: %w", c.AdvertiseAddr, err)
		}
		trans, err = newTransport(&c, adv)
		if err != nil {
			stores.close()
			return nil, fmt.Errorf("consensus: listen for raft on %s: %w", c.BindAddr, err)
		}
	}
	rc := c.raftConfig()
	if c.Bootstrap {
		has, err := raft.HasExistingState(stores.logs, stores.stable, stores.snaps)
		if err != nil {
			stores.close()
			return nil, err
		}
		if !has {
			cfg := raft.Configuration{Servers: []raft.Server{{
				Suffrage: raft.Voter, ID: raft.ServerID(c.ID), Address: trans.LocalAddr(),
			}}}
			if err := raft.BootstrapCluster(rc, stores.logs, stores.stable, stores.snaps, trans, cfg); err != nil {
				stores.close()
				return nil, fmt.Errorf("consensus: bootstrap: %w", err)
			}
			c.Logger.Info("bootstrapped a new one-node cluster", "id", c.ID)
		}
	}
	r, err := raft.NewRaft(rc, fsm, stores.logs, stores.stable, stores.snaps, trans)
	if err != nil {
		stores.close()
		return nil, fmt.Errorf("consensus: start raft: %w", err)
	}
	return &Raft{r: r, fsm: fsm, bolt: stores.bolt, transport: trans, id: c.ID, addr: string(trans.LocalAddr()), logger: c.Logger}, nil
}

// Raw exposes the underlying raft instance to the agent's wiring.
func (n *Raft) Raw() *raft.Raft { return n.r }

// Store returns the replica this node's FSM applies to.
func (n *Raft) Store() *Store { return n.fsm.Store() }

// ID returns this node's Raft server ID.
func (n *Raft) ID() string { return n.id }

// Addr returns the Raft address other nodes reach this one at.
func (n *Raft) Addr() string { return n.addr }

// IsLeader reports whether this node is the leader now.
func (n *Raft) IsLeader() bool { return n.r.State() == raft.Leader }

// Leader returns the current leader's Raft address and ID, empty if none is known.
func (n *Raft) Leader() (addr, id string) {
	a, i := n.r.LeaderWithID()
	return string(a), string(i)
}

// Apply commits cmd through Raft. Only the leader may call it; others get
// ErrNotLeader. The returned value is what the FSM returned.
func (n *Raft) Apply(ctx context.Context, cmd []byte) (any, uint64, error) {
	o := n.ApplyAll(ctx, [][]byte{cmd})[0]
	return o.Response, o.Index, o.Err
}

// Unconfirmed is the error of a write whose request ended (cause) before
// its commit was confirmed.
func Unconfirmed(cause error) error {
	return api.NewError(api.ReasonServiceUnavailable,
		"the write was not confirmed before the request ended (%v); it may or may not have been applied: read the object and retry if needed", cause)
}

// ApplyOutcome is what ApplyAll gives for one command.
type ApplyOutcome struct {
	Response any // what the FSM returned
	Index    uint64
	Err      error
}

// ApplyAll commits cmds through Raft together, so that they share disk
// writes and AppendEntries, and returns each one's outcome in order. Only
// the leader may call it; on another node every outcome is ErrNotLeader.
func (n *Raft) ApplyAll(ctx context.Context, cmds [][]byte) []ApplyOutcome {
	out := make([]ApplyOutcome, len(cmds))
	if !n.IsLeader() {
		for i := range out {
			out[i].Err = ErrNotLeader
		}
		return out
	}
	timeout := 10 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	futures := make([]raft.ApplyFuture, len(cmds))
	for i, cmd := range cmds {
		futures[i] = n.r.Apply(cmd, timeout)
	}
	// hashicorp/raft never answers a future still queued when it shuts
	// down, so the wait ends with ctx too (agent shutdown cancels it).
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i, f := range futures {
			if err := f.Error(); err != nil {
				out[i].Err = applyError(err)
				continue
			}
			out[i].Response, out[i].Index = f.Response(), f.Index()
		}
	}()
	select {
	case <-done:
		return out
	case <-ctx.Done():
		unconfirmed := make([]ApplyOutcome, len(cmds))
		for i := range unconfirmed {
			unconfirmed[i].Err = Unconfirmed(ctx.Err())
		}
		return unconfirmed
	}
}

func applyError(err error) error {
	switch {
	case errors.Is(err, raft.ErrNotLeader):
		return ErrNotLeader
	case errors.Is(err, raft.ErrLeadershipLost):
		return api.NewError(api.ReasonServiceUnavailable,
			"leadership was lost while the write was being committed; it may or may not have been applied: read the object and retry if needed")
	case errors.Is(err, raft.ErrEnqueueTimeout):
		return api.NewError(api.ReasonServiceUnavailable, "the leader is overloaded and did not accept the write in time; retry")
	case errors.Is(err, raft.ErrRaftShutdown):
		return api.NewError(api.ReasonServiceUnavailable, "this node is shutting down; retry on another node")
	}
	return err
}

// VerifyRead makes a following read linearizable: it confirms this node is
// still leader and waits until everything committed before now is applied.
func (n *Raft) VerifyRead(ctx context.Context) error {
	if err := n.r.VerifyLeader().Error(); err != nil {
		if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
			return ErrNotLeader
		}
		return err
	}
	return n.r.Barrier(10 * time.Second).Error()
}

// Servers returns the latest Raft configuration.
func (n *Raft) Servers() ([]raft.Server, error) {
	f := n.r.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, err
	}
	return f.Configuration().Servers, nil
}

// Shutdown stops Raft and closes the stores. It is safe to call once.
func (n *Raft) Shutdown() error {
	err := n.r.Shutdown().Error()
	if c, ok := n.transport.(raft.WithClose); ok {
		c.Close()
	}
	if n.bolt != nil {
		n.bolt.Close()
	}
	return err
}

// transportPool is how many idle connections the Raft transport keeps to
// each peer, besides the one that carries the pipelined AppendEntries: the
// heartbeats' and a spare. Each holds a 256 KiB send buffer.
const transportPool = 2

func newTransport(c *RaftConfig, adv *net.TCPAddr) (raft.Transport, error) {
	logger := NewHCLogger(c.Logger, "raft-net")
	if c.TLS == nil {
		return raft.NewTCPTransportWithLogger(c.BindAddr, adv, transportPool, 10*time.Second, logger)
	}
	layer, err := newTLSStreamLayer(c.BindAddr, adv, c.TLS)
	if err != nil {
		return nil, err
	}
	return raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream: layer, MaxPool: transportPool, Timeout: 10 * time.Second, Logger: logger,
	}), nil
}
