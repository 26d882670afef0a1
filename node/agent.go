package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoal-dev/shoal/consensus"
	"github.com/shoal-dev/shoal/gossip"
	"github.com/shoal-dev/shoal/pki"
	"github.com/shoal-dev/shoal/runtime"
)

// Agent is one running shoal node.
type Agent struct {
	cfg        Config
	id         string
	log        *slog.Logger
	sec        *security // nil with --insecure-dev
	keysMu     sync.Mutex
	gossipKeys [][]byte // guarded by keysMu once started
	store      *consensus.Store
	raft       *consensus.Raft
	// readFloor is the highest index of a write acknowledged to a client
	// through this node; API reads wait for the replica to reach it.
	readFloor atomic.Uint64
	fwd       *forwarder
	gossip    *gossip.Gossip
	http      *http.Server
	client    *http.Client // to other agents
	m         *metrics
	sup       *runtime.Supervisor // the node's own containerd, if supervised
	rt        *runtime.Containerd // nil when this node runs no pods
	// startIndex is the last index in the local log at start; until the
	// replica has applied it, requests wait rather than see old state.
	startIndex uint64

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
	leaveC chan struct{} // closed when a leave was requested over the API
}

// New prepares an agent: it validates cfg and loads or creates the node's
// identity in the data dir. Nothing listens until Start.
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
	if cfg.Token != "" {
		if _, err := a.parseToken(cfg.Token); err != nil {
			return nil, err
		}
	} else if _, err := os.Stat(a.tokenPath()); err != nil && len(cfg.Join) > 0 {
		// A node that joined before has the token saved; a new one needs it.
		return nil, fmt.Errorf("--join needs the cluster's join token: pass --token or --token-file (it is in <data-dir>/token on the first node)")
	}
	a.m = newMetrics(a)
	return a, nil
}

func (a *Agent) tokenPath() string { return filepath.Join(a.cfg.DataDir, "token") }

// parsedToken is a join token of either kind.
type parsedToken struct {
	secure   pki.Token
	insecure Token
}

func (t parsedToken) gossipKey() []byte {
	if t.insecure.GossipKey != nil {
		return t.insecure.GossipKey
	}
	return t.secure.GossipKey
}

// parseToken reads a token, refusing one made for the other security mode.
func (a *Agent) parseToken(s string) (parsedToken, error) {
	s = strings.TrimSpace(s)
	if a.cfg.InsecureDev {
		if strings.HasPrefix(s, "SHL2-") {
			return parsedToken{}, errors.New("this join token belongs to a secure cluster: start this node without --insecure-dev")
		}
		t, err := ParseToken(s)
		return parsedToken{insecure: t}, err
	}
	if strings.HasPrefix(s, tokenPrefix) {
		return parsedToken{}, errors.New("this join token belongs to an --insecure-dev cluster: start this node with --insecure-dev too")
	}
	t, err := pki.ParseToken(s)
	return parsedToken{secure: t}, err
}

// joinToken returns the token given in the config or saved in the data dir.
func (a *Agent) joinToken() (parsedToken, bool, error) {
	text := a.cfg.Token
	if text == "" {
		b, err := os.ReadFile(a.tokenPath())
		if errors.Is(err, os.ErrNotExist) {
			return parsedToken{}, false, nil
		}
		if err != nil {
			return parsedToken{}, false, err
		}
		text = string(b)
	}
	t, err := a.parseToken(text)
	if err != nil {
		return parsedToken{}, false, err
	}
	return t, true, nil
}

func (a *Agent) saveToken(text string) error {
	return pki.WriteFile0600(a.tokenPath(), []byte(strings.TrimSpace(text)+"\n"))
}

// ID returns the node's persistent ID.
func (a *Agent) ID() string { return a.id }

// Name returns the node's name.
func (a *Agent) Name() string { return a.cfg.Name }

// APIAddr returns the host:port of the HTTP API.
func (a *Agent) APIAddr() string { return a.cfg.apiAddr() }

// APIURL returns the base URL of the HTTP API.
func (a *Agent) APIURL() string { return a.scheme() + "://" + a.cfg.apiAddr() }

// AdminConfigPath is where a bootstrapping node writes the admin credential.
func (a *Agent) AdminConfigPath() string { return a.adminConfPath() }

// Store returns the local replica.
func (a *Agent) Store() *consensus.Store { return a.store }

// Raft returns the agent's Raft node.
func (a *Agent) Raft() *consensus.Raft { return a.raft }

// Gossip returns the agent's gossip layer.
func (a *Agent) Gossip() *gossip.Gossip { return a.gossip }

// Token returns the join token saved in the data dir.
func (a *Agent) Token() string {
	b, _ := os.ReadFile(a.tokenPath())
	return strings.TrimSpace(string(b))
}

// Start brings the agent up: it gets admitted to the cluster if it is new
// (retrying until a member answers), then starts gossip, containerd, Raft,
// the API and the background loops.
func (a *Agent) Start() error {
	a.ctx, a.cancel = context.WithCancel(context.Background())
	if a.cfg.InsecureDev {
		a.log.Warn("RUNNING WITH --insecure-dev: no TLS, no authentication, secrets stored in plain text. Never use this outside a local experiment.")
	}
	if err := a.prepareKeys(); err != nil {
		a.cancel()
		return err
	}
	a.client = a.peerHTTP()
	a.fwd = newForwarder(a)
	a.fwd.start()
	// Gossip comes up first and goes down last: the time it is silent is
	// what the others count against --node-grace, so an agent restart
	// must not spend its containerd's and Raft's start-up in it.
	var err error
	a.gossip, err = gossip.New(gossip.Config{
		Name:          a.cfg.Name,
		BindAddr:      a.cfg.BindAddr,
		BindPort:      a.cfg.GossipPort,
		AdvertiseAddr: a.cfg.AdvertiseAddr,
		AdvertisePort: a.cfg.GossipPort,
		Keys:          a.gossipKeys,
		Meta:          a.meta(),
		Logger:        a.log,
		Clock:         a.cfg.Clock,
		FailAfter:     a.cfg.NodeGrace,
		ProbeInterval: a.cfg.GossipProbeInterval,
	})
	if err != nil {
		a.cancel()
		return err
	}
	if err := a.startRuntime(a.ctx); err != nil {
		a.gossip.Shutdown()
		a.cancel()
		return err
	}
	a.store = consensus.NewStore()
	fsm := consensus.NewFSM(a.store, a.log)
	a.raft, err = consensus.NewRaft(consensus.RaftConfig{
		ID:               a.id,
		Dir:              filepath.Join(a.cfg.DataDir, "raft"),
		BindAddr:         a.cfg.raftBind(),
		AdvertiseAddr:    a.cfg.raftAddr(),
		Bootstrap:        len(a.cfg.Join) == 0 && len(a.savedPeers()) == 0,
		HeartbeatTimeout: a.cfg.RaftHeartbeat,
		ElectionTimeout:  a.cfg.RaftElection,
		TLS:              a.raftTLS(),
		Logger:           a.log,
	}, fsm)
	if err != nil {
		a.gossip.Shutdown()
		a.stopRuntime()
		a.cancel()
		return err
	}
	if err := a.serveHTTP(); err != nil {
		a.raft.Shutdown()
		a.stopRuntime()
		a.gossip.Shutdown()
		a.cancel()
		return err
	}
	a.startIndex = a.raft.Raw().LastIndex()
	if len(a.cfg.Join) == 0 {
		// A new cluster's records (the admin credential, the join token)
		// are committed before Start returns, so both work at once.
		ctx, cancel := context.WithTimeout(a.ctx, 10*time.Second)
		a.commitPending(ctx)
		cancel()
	}
	a.startLoops()
	a.log.Info("agent started", "id", a.id, "api", a.APIURL(), "raft", a.cfg.raftAddr(), "gossip", a.cfg.gossipAddr())
	return nil
}

// prepareKeys loads this node's keys, or creates a cluster's (bootstrap), or
// gets them from the cluster (join).
func (a *Agent) prepareKeys() error {
	tok, haveTok, err := a.joinToken()
	if err != nil {
		return err
	}
	if a.cfg.InsecureDev {
		if !haveTok {
			key, err := gossip.GenerateKey()
			if err != nil {
				return err
			}
			tok.insecure = Token{GossipKey: key}
			if err := a.saveToken(tok.insecure.String()); err != nil {
				return err
			}
			if len(a.cfg.Join) == 0 {
				if err := a.savePending(defaultNamespace()); err != nil {
					return err
				}
			}
		} else if a.cfg.Token != "" {
			if err := a.saveToken(a.cfg.Token); err != nil {
				return err
			}
		}
		a.gossipKeys = [][]byte{tok.gossipKey()}
		return nil
	}
	switch {
	case a.haveNodeCert():
		if a.sec, err = a.loadSecurity(); err != nil {
			return err
		}
		a.gossipKeys, err = a.loadGossipKeys()
		return err
	case len(a.cfg.Join) == 0:
		key, err := gossip.GenerateKey()
		if err != nil {
			return err
		}
		sec, t, err := a.bootstrapSecurity(key)
		if err != nil {
			return err
		}
		a.sec, a.gossipKeys = sec, [][]byte{key}
		if err := a.saveToken(t.String()); err != nil {
			return err
		}
	default:
		if !haveTok {
			return fmt.Errorf("--join needs the cluster's join token: pass --token or --token-file")
		}
		if a.sec, err = a.admit(a.ctx, tok.secure); err != nil {
			return err
		}
		if a.cfg.Token != "" {
			if err := a.saveToken(a.cfg.Token); err != nil {
				return err
			}
		}
	}
	return a.saveGossipKeys(a.gossipKeys)
}

func (a *Agent) meta() gossip.Meta {
	cpu, mem := capacity()
	return gossip.Meta{
		ID: a.id, RaftAddr: a.cfg.raftAddr(), APIAddr: a.cfg.apiAddr(),
		Labels: a.cfg.Labels, CPUMillis: cpu, MemoryBytes: mem, Resources: a.cfg.advertisedResources(), Version: a.cfg.Version,
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
	vm := &consensus.VoterManager{
		Raft:  a.raft,
		Peers: a.peers,
		Policy: consensus.VoterPolicy{
			DeadVoterTimeout: a.cfg.DeadVoterTimeout,
			Stabilization:    a.cfg.Stabilization,
			MaxLag:           256,
		},
		Logger: a.log,
	}
	trigger, cancel := a.gossip.Subscribe()
	a.goLoop(func(ctx context.Context) {
		defer cancel()
		a.leaderLoop("voters", vm.Pass, a.cfg.VoterInterval, trigger, vm.Forget).Run(ctx)
	})
	a.goLoop(a.persistPeers)
	a.goLoop(a.commitPending)
	a.goLoop(a.eventGC)
	a.startControllers()
	a.startPods()
	a.startDNS()
	if a.sec != nil {
		a.goLoop(a.followClusterKeys)
		a.goLoop(a.followJoinToken)
		a.goLoop(a.renewLoop)
	}
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
		if a.raft != nil {
			err = a.raft.Shutdown()
		}
		a.wg.Wait()
		a.stopRuntime()
		if a.gossip != nil {
			a.gossip.Shutdown() // last: see Start
		}
	})
	return err
}

// LeaveRequested is closed when a client asked this agent to leave.
func (a *Agent) LeaveRequested() <-chan struct{} { return a.leaveC }
