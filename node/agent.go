package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/shoal-dev/shoal/consensus"
	"github.com/shoal-dev/shoal/gossip"
)

// Agent is one running shoal node.
type Agent struct {
	cfg    Config
	id     string
	token  Token
	log    *slog.Logger
	store  *consensus.Store
	raft   *consensus.Raft
	gossip *gossip.Gossip
	http   *http.Server
	ln     net.Listener
	client *http.Client // to other agents
	m      *metrics

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
	leaveC chan struct{} // closed when a leave was requested over the API
}

// New prepares an agent: it validates cfg and loads or creates the node's
// identity and join token in the data dir. Nothing listens until Start.
func New(cfg Config) (*Agent, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create --data-dir %s: %w", cfg.DataDir, err)
	}
	id, err := loadOrCreateID(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	a := &Agent{cfg: cfg, id: id, log: cfg.Logger.With("node", cfg.Name), leaveC: make(chan struct{})}
	if a.token, err = a.loadToken(); err != nil {
		return nil, err
	}
	a.client = &http.Client{Timeout: 15 * time.Second}
	return a, nil
}

func (a *Agent) tokenPath() string { return filepath.Join(a.cfg.DataDir, "token") }

// loadToken takes the token from the config, else from the data dir; a node
// that will bootstrap creates one. A token given on the command line is saved
// so that restarts need no flag.
func (a *Agent) loadToken() (Token, error) {
	if a.cfg.Token != "" {
		t, err := ParseToken(a.cfg.Token)
		if err != nil {
			return Token{}, err
		}
		return t, writeFileAtomic(a.tokenPath(), []byte(t.String()+"\n"), 0o600)
	}
	b, err := os.ReadFile(a.tokenPath())
	if err == nil {
		t, err := ParseToken(string(b))
		if err != nil {
			return Token{}, fmt.Errorf("%s: %w", a.tokenPath(), err)
		}
		return t, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return Token{}, err
	}
	if len(a.cfg.Join) > 0 {
		return Token{}, fmt.Errorf("--join needs the cluster's join token: pass --token or --token-file (it is in <data-dir>/token on the first node)")
	}
	key, err := gossip.GenerateKey()
	if err != nil {
		return Token{}, err
	}
	t := Token{GossipKey: key}
	if err := writeFileAtomic(a.tokenPath(), []byte(t.String()+"\n"), 0o600); err != nil {
		return Token{}, err
	}
	return t, nil
}

// ID returns the node's persistent ID.
func (a *Agent) ID() string { return a.id }

// Name returns the node's name.
func (a *Agent) Name() string { return a.cfg.Name }

// APIAddr returns the host:port of the HTTP API.
func (a *Agent) APIAddr() string { return a.cfg.apiAddr() }

// Store returns the local replica.
func (a *Agent) Store() *consensus.Store { return a.store }

// Raft returns the agent's Raft node.
func (a *Agent) Raft() *consensus.Raft { return a.raft }

// Gossip returns the agent's gossip layer.
func (a *Agent) Gossip() *gossip.Gossip { return a.gossip }

// Token returns the cluster's join token.
func (a *Agent) Token() Token { return a.token }

// Start brings the agent up: Raft, gossip, the API, and the background loops.
// Joining happens in the background, retried until it works.
func (a *Agent) Start() error {
	a.ctx, a.cancel = context.WithCancel(context.Background())
	a.store = consensus.NewStore()
	fsm := consensus.NewFSM(a.store, a.log)
	var err error
	a.raft, err = consensus.NewRaft(consensus.RaftConfig{
		ID:               a.id,
		Dir:              filepath.Join(a.cfg.DataDir, "raft"),
		BindAddr:         a.cfg.raftBind(),
		AdvertiseAddr:    a.cfg.raftAddr(),
		Bootstrap:        len(a.cfg.Join) == 0 && len(a.savedPeers()) == 0,
		HeartbeatTimeout: a.cfg.RaftHeartbeat,
		ElectionTimeout:  a.cfg.RaftElection,
		Logger:           a.log,
	}, fsm)
	if err != nil {
		return err
	}
	a.gossip, err = gossip.New(gossip.Config{
		Name:          a.cfg.Name,
		BindAddr:      a.cfg.BindAddr,
		BindPort:      a.cfg.GossipPort,
		AdvertiseAddr: a.cfg.AdvertiseAddr,
		AdvertisePort: a.cfg.GossipPort,
		Keys:          [][]byte{a.token.GossipKey},
		Meta:          a.meta(),
		Logger:        a.log,
		Clock:         a.cfg.Clock,
		ProbeInterval: a.cfg.GossipProbeInterval,
	})
	if err != nil {
		a.raft.Shutdown()
		return err
	}
	a.m = newMetrics(a)
	if err := a.serveHTTP(); err != nil {
		a.gossip.Shutdown()
		a.raft.Shutdown()
		return err
	}
	a.startLoops()
	a.log.Info("agent started", "id", a.id, "api", "http://"+a.cfg.apiAddr(), "raft", a.cfg.raftAddr(), "gossip", a.cfg.gossipAddr())
	return nil
}

func (a *Agent) meta() gossip.Meta {
	cpu, mem := capacity()
	return gossip.Meta{
		ID: a.id, RaftAddr: a.cfg.raftAddr(), APIAddr: a.cfg.apiAddr(),
		Labels: a.cfg.Labels, CPUMillis: cpu, MemoryBytes: mem, Version: a.cfg.Version,
	}
}

func (a *Agent) startLoops() {
	joinAddrs := append(append([]string{}, a.cfg.Join...), a.savedPeers()...)
	if len(joinAddrs) > 0 {
		a.goLoop(func(ctx context.Context) {
			if err := a.gossip.RetryJoin(ctx, joinAddrs); err == nil {
				a.log.Info("joined the cluster through gossip")
			}
		})
	}
	trigger, cancel := a.gossip.Subscribe()
	vm := &consensus.VoterManager{
		Raft:  a.raft,
		Peers: a.peers,
		Clock: a.cfg.Clock,
		Policy: consensus.VoterPolicy{
			DeadVoterTimeout: a.cfg.DeadVoterTimeout,
			Stabilization:    a.cfg.Stabilization,
			MaxLag:           256,
		},
		Logger:   a.log,
		Interval: a.cfg.VoterInterval,
		Trigger:  trigger,
	}
	a.goLoop(func(ctx context.Context) { defer cancel(); vm.Run(ctx) })
	a.goLoop(a.persistPeers)
}

func (a *Agent) goLoop(f func(ctx context.Context)) {
	a.wg.Add(1)
	go func() { defer a.wg.Done(); f(a.ctx) }()
}

// Shutdown stops the agent without leaving the cluster: Raft membership is
// unchanged and gossip will report the node failed until it returns.
func (a *Agent) Shutdown() error {
	var err error
	a.once.Do(func() {
		a.log.Info("agent shutting down")
		if a.cancel != nil {
			a.cancel()
		}
		if a.http != nil {
			sctx, c := context.WithTimeout(context.Background(), 2*time.Second)
			a.http.Shutdown(sctx)
			c()
		}
		if a.gossip != nil {
			a.gossip.Shutdown()
		}
		if a.raft != nil {
			err = a.raft.Shutdown()
		}
		a.wg.Wait()
	})
	return err
}

// LeaveRequested is closed when a client asked this agent to leave.
func (a *Agent) LeaveRequested() <-chan struct{} { return a.leaveC }
