package gossip

import (
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/shoal-dev/shoal/clock"
)

// Gossip is one node's membership in the cluster. All methods are safe
// for concurrent use.
type Gossip struct {
	name    string
	id      string
	session string // random per New; see wireMeta.Session
	cfg     Config
	logger  *slog.Logger
	clock   clock.Clock

	ml       *memberlist.Memberlist
	keyring  *memberlist.Keyring // nil when insecure
	table    *table
	delegate *delegate
	bcast    *memberlist.TransmitLimitedQueue // leave announcements

	joinMu sync.Mutex // serializes Join, so a merge refusal reaches the right caller

	stateMu  sync.Mutex // guards meta, left, shutdown
	meta     Meta
	left     bool
	shutdown bool
	done     chan struct{} // closed by Shutdown
	wg       sync.WaitGroup
}

// New starts gossip on the configured address. The node is alone until
// Join or RetryJoin succeeds, and other nodes may join through it at once.
func New(cfg Config) (*Gossip, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg.Meta = cfg.Meta.clone()
	session, err := newSession()
	if err != nil {
		return nil, err
	}
	metaBuf, err := encodeMeta(cfg.Meta, session)
	if err != nil {
		return nil, err
	}
	mc, err := cfg.memberlistConfig()
	if err != nil {
		return nil, err
	}
	logger := cfg.Logger.With("node", cfg.Name)
	g := &Gossip{
		name:    cfg.Name,
		id:      cfg.Meta.ID,
		session: session,
		cfg:     cfg,
		logger:  logger,
		clock:   cfg.Clock,
		table:   newTable(cfg.Name, cfg.Clock, logger),
		meta:    cfg.Meta,
		done:    make(chan struct{}),
	}
	g.delegate = &delegate{g: g, metaBuf: metaBuf}
	g.bcast = &memberlist.TransmitLimitedQueue{NumNodes: g.table.numLive, RetransmitMult: mc.RetransmitMult}
	mc.Delegate = g.delegate
	mc.Events = g.table
	mc.Merge = g.delegate
	mc.Alive = g.delegate

	ml, err := memberlist.Create(mc)
	if err != nil {
		return nil, fmt.Errorf("gossip: starting on %s:%d: %w", cfg.BindAddr, cfg.BindPort, err)
	}
	g.ml = ml
	g.keyring = mc.Keyring
	g.wg.Add(2)
	go g.pruneLoop()
	go g.reconnectLoop()
	local := ml.LocalNode()
	logger.Info("gossip: started", "addr", local.Address(), "id", g.id, "encrypted", !cfg.Insecure)
	return g, nil
}

// pruneLoop drops left members after LeftRetention.
func (g *Gossip) pruneLoop() {
	defer g.wg.Done()
	t := g.clock.NewTicker(LeftRetention / 10)
	defer t.Stop()
	for {
		select {
		case <-g.done:
			return
		case <-t.C():
			g.table.prune()
		}
	}
}

// Members returns every member this node knows, itself included, sorted
// by name: live ones, failed ones until Forget or until the name comes
// back, and left ones for LeftRetention. The result is the caller's.
func (g *Gossip) Members() []Member { return g.table.snapshot() }

// Local returns this node's own entry.
func (g *Gossip) Local() Member {
	if m, ok := g.table.lookup(g.name); ok {
		return m
	}
	// Not in the table: dropped LeftRetention after this node left.
	n := g.ml.LocalNode()
	g.stateMu.Lock()
	defer g.stateMu.Unlock()
	st := StateAlive
	if g.left {
		st = StateLeft
	}
	return Member{Name: g.name, Addr: n.Address(), Meta: g.meta.clone(), State: st}
}

// NumAlive returns how many members are alive or suspect (memberlist
// counts a suspect node as a member until it is declared failed).
func (g *Gossip) NumAlive() int { return g.table.numLive() }

// Subscribe returns a channel that receives a value after any change to
// the membership table: a join, a failure, a leave, new metadata, a
// Forget or a retention drop. Notifications coalesce (buffer 1, never
// blocking gossip), so a reader should re-read Members after each one.
// cancel stops notifications; it is idempotent and does not close ch.
func (g *Gossip) Subscribe() (ch <-chan struct{}, cancel func()) {
	return g.table.subscribe()
}

// UpdateMeta replaces what this node advertises and broadcasts it. The
// node ID cannot change. The new metadata is in effect locally (and in
// push/pull exchanges) even if the broadcast times out; that error says so.
func (g *Gossip) UpdateMeta(m Meta) error {
	if m.ID != g.id {
		return fmt.Errorf("%w: node %q has ID %s, UpdateMeta gave %q", ErrIDChange, g.name, g.id, m.ID)
	}
	m = m.clone()
	b, err := encodeMeta(m, g.session)
	if err != nil {
		return err
	}
	g.stateMu.Lock()
	defer g.stateMu.Unlock()
	if g.shutdown {
		return ErrShutdown
	}
	if g.left {
		return ErrLeft
	}
	g.meta = m
	g.delegate.setMeta(b)
	g.table.setMeta(g.name, m)
	if err := g.ml.UpdateNode(updateTimeout); err != nil {
		return fmt.Errorf("gossip: node %q metadata updated locally, but its broadcast did not go out within %s (it will still spread by push/pull): %w",
			g.name, updateTimeout, err)
	}
	return nil
}

// Forget drops a failed or left member from the table. It does nothing
// for a live or unknown member, and is idempotent.
func (g *Gossip) Forget(name string) {
	if g.table.forget(name) {
		g.logger.Info("gossip: forgot member", "member", name)
	}
}

// Leave tells the cluster this node is leaving on purpose, so others see it
// as StateLeft rather than failed. It announces the leave, then has
// memberlist broadcast it, waiting up to timeout in all (0 = no limit) for
// the messages to go out. Call Shutdown afterwards. Leave is idempotent.
func (g *Gossip) Leave(timeout time.Duration) error {
	g.stateMu.Lock()
	defer g.stateMu.Unlock()
	if g.shutdown {
		return ErrShutdown
	}
	if g.left {
		return nil
	}
	g.left = true
	var deadline <-chan time.Time // memberlist's broadcasts run on real time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		deadline = t.C
	}
	start := time.Now()
	if g.table.numLive() > 1 {
		sent := make(chan struct{})
		g.bcast.QueueBroadcast(&leaveBroadcast{
			name:   g.name,
			msg:    encodeTagged(tagLeave, leaveIntent{Name: g.name, ID: g.id, Session: g.session}),
			notify: sent,
		})
		select {
		case <-sent:
		case <-deadline:
			g.logger.Warn("gossip: leave announcement not sent out in time; some nodes may see this node as failed", "timeout", timeout)
		}
	}
	rest := time.Duration(0)
	if timeout > 0 {
		rest = max(timeout-time.Since(start), time.Millisecond)
	}
	if err := g.ml.Leave(rest); err != nil {
		return fmt.Errorf("gossip: node %q leaving: %w (some nodes may see it as failed instead of left)", g.name, err)
	}
	g.logger.Info("gossip: left the cluster")
	return nil
}

// Shutdown stops gossip. Without a Leave first, others see this node as
// failed. Shutdown is idempotent; after it, only Members, Local, NumAlive,
// Subscribe and Forget may be called (they show the last known table).
func (g *Gossip) Shutdown() error {
	g.stateMu.Lock()
	if g.shutdown {
		g.stateMu.Unlock()
		return nil
	}
	g.shutdown = true
	close(g.done)
	g.stateMu.Unlock()

	err := g.ml.Shutdown()
	g.wg.Wait()
	if err != nil {
		return fmt.Errorf("gossip: shutting down: %w", err)
	}
	g.logger.Info("gossip: shut down")
	return nil
}

func (g *Gossip) isShutdown() bool {
	g.stateMu.Lock()
	defer g.stateMu.Unlock()
	return g.shutdown
}
