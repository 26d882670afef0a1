package gossip

import (
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/shoal-dev/shoal/clock"
)

// State is a member's state as this node sees it.
type State string

const (
	StateAlive   State = "alive"   // answering probes
	StateSuspect State = "suspect" // missed probes; may still refute
	StateFailed  State = "failed"  // declared dead without leaving
	StateLeft    State = "left"    // left gracefully
)

// live reports whether s is alive or suspect.
func (s State) live() bool { return s == StateAlive || s == StateSuspect }

// Member is one node in the membership table.
type Member struct {
	Name  string
	Addr  string // gossip host:port
	Meta  Meta
	State State
	Since time.Time // when it entered State, by the local clock (Config.Clock)
}

// table is the membership table. memberlist calls its EventDelegate methods
// with its node lock held, so table methods never call back into memberlist.
// The lock order is memberlist's node lock, then table.mu.
type table struct {
	mu      sync.Mutex
	members map[string]*Member
	subs    map[int]chan struct{}
	nextSub int

	clock  clock.Clock
	logger *slog.Logger
}

func newTable(c clock.Clock, l *slog.Logger) *table {
	return &table{
		members: make(map[string]*Member),
		subs:    make(map[int]chan struct{}),
		clock:   c,
		logger:  l,
	}
}

// memberFromNode converts a memberlist node. Unreadable metadata leaves
// Meta empty; the alive delegate keeps such nodes out in the first place.
func (t *table) memberFromNode(n *memberlist.Node) Member {
	meta, err := decodeMeta(n.Meta)
	if err != nil {
		t.logger.Warn("gossip: member has unreadable metadata", "member", n.Name, "addr", n.Address(), "err", err)
	}
	return Member{Name: n.Name, Addr: n.Address(), Meta: meta}
}

// NotifyJoin implements memberlist.EventDelegate: a node became alive,
// new or back from failed or left. It replaces whatever entry had its name.
func (t *table) NotifyJoin(n *memberlist.Node) {
	m := t.memberFromNode(n)
	m.State, m.Since = StateAlive, t.clock.Now()
	t.mu.Lock()
	if old, ok := t.members[n.Name]; ok && old.Meta.ID != m.Meta.ID {
		t.logger.Info("gossip: member name now belongs to another node ID",
			"member", n.Name, "old_id", old.Meta.ID, "old_state", old.State, "id", m.Meta.ID, "addr", m.Addr)
	} else {
		t.logger.Info("gossip: member joined", "member", n.Name, "id", m.Meta.ID, "addr", m.Addr)
	}
	t.members[n.Name] = &m
	t.notifyLocked()
	t.mu.Unlock()
}

// NotifyLeave implements memberlist.EventDelegate: a node left (gracefully)
// or was declared dead. The entry stays, with its last known metadata.
func (t *table) NotifyLeave(n *memberlist.Node) {
	st := StateFailed
	if n.State == memberlist.StateLeft {
		st = StateLeft
	}
	now := t.clock.Now()
	t.mu.Lock()
	m, ok := t.members[n.Name]
	if !ok {
		mm := t.memberFromNode(n)
		m = &mm
		t.members[n.Name] = m
	}
	if m.State != st {
		m.State, m.Since = st, now
	}
	t.logger.Info("gossip: member "+string(st), "member", n.Name, "id", m.Meta.ID, "addr", m.Addr)
	t.notifyLocked()
	t.mu.Unlock()
}

// NotifyUpdate implements memberlist.EventDelegate: a live node's metadata
// (or address) changed.
func (t *table) NotifyUpdate(n *memberlist.Node) {
	nm := t.memberFromNode(n)
	t.mu.Lock()
	m, ok := t.members[n.Name]
	if !ok {
		nm.State, nm.Since = StateAlive, t.clock.Now()
		m = &nm
		t.members[n.Name] = m
	}
	m.Addr, m.Meta = nm.Addr, nm.Meta
	t.logger.Debug("gossip: member updated", "member", n.Name, "id", m.Meta.ID, "addr", m.Addr)
	t.notifyLocked()
	t.mu.Unlock()
}

// lookup returns a copy of the named member.
func (t *table) lookup(name string) (Member, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	m, ok := t.members[name]
	if !ok {
		return Member{}, false
	}
	c := *m
	c.Meta = c.Meta.clone()
	return c, true
}

// snapshot returns every member, sorted by name. live maps the names of
// the nodes memberlist currently considers alive or suspect to that state
// (nil = don't refine); a live entry whose state differs is moved to it
// with Since = now.
func (t *table) snapshot(live map[string]State) []Member {
	now := t.clock.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pruneLocked(now)
	out := make([]Member, 0, len(t.members))
	for _, m := range t.members {
		if st, ok := live[m.Name]; ok && m.State.live() && m.State != st {
			m.State, m.Since = st, now
		}
		c := *m
		c.Meta = c.Meta.clone()
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// numLive counts members that are alive or suspect.
func (t *table) numLive() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, m := range t.members {
		if m.State.live() {
			n++
		}
	}
	return n
}

// forget drops a failed or left member. It reports whether one was dropped.
func (t *table) forget(name string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	m, ok := t.members[name]
	if !ok || m.State.live() {
		return false
	}
	delete(t.members, name)
	t.notifyLocked()
	return true
}

// prune drops members that left more than LeftRetention ago.
func (t *table) prune() {
	now := t.clock.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pruneLocked(now)
}

func (t *table) pruneLocked(now time.Time) {
	dropped := false
	for name, m := range t.members {
		if m.State == StateLeft && now.Sub(m.Since) >= LeftRetention {
			delete(t.members, name)
			t.logger.Debug("gossip: dropped left member", "member", name, "id", m.Meta.ID)
			dropped = true
		}
	}
	if dropped {
		t.notifyLocked()
	}
}

// setMeta updates a member's metadata (used for the local node), so Members and Local
// reflect UpdateMeta at once even when no event follows.
func (t *table) setMeta(name string, meta Meta) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if m, ok := t.members[name]; ok {
		m.Meta = meta.clone()
		t.notifyLocked()
	}
}

// conflict returns the live member called name whose node ID is not id.
func (t *table) conflict(name, id string) (Member, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	m, ok := t.members[name]
	if !ok || !m.State.live() || m.Meta.ID == id {
		return Member{}, false
	}
	return *m, true
}

// subscribe registers a coalescing notification channel.
func (t *table) subscribe() (<-chan struct{}, func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	id := t.nextSub
	t.nextSub++
	ch := make(chan struct{}, 1)
	t.subs[id] = ch
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			t.mu.Lock()
			delete(t.subs, id)
			t.mu.Unlock()
		})
	}
}

func (t *table) notifyLocked() {
	for _, ch := range t.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}
