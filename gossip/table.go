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
	// StateAlive: a live member. memberlist v0.5.4 does not expose its
	// suspicion of a node through its API, so live members always show as
	// StateAlive; see the package doc.
	StateAlive State = "alive"
	// StateSuspect: a live member that missed probes. Not reported with
	// memberlist v0.5.4 (see StateAlive); kept so callers handle it.
	StateSuspect State = "suspect"
	// StateFailed: declared dead without having left.
	StateFailed State = "failed"
	// StateLeft: left gracefully (Leave).
	StateLeft State = "left"
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

// entry is a table row.
type entry struct {
	Member
	session string // the member's run (see wireMeta.Session)
	// leaving: the member announced it is leaving, so its coming
	// NotifyLeave is a leave rather than a failure.
	leaving bool
}

func (e *entry) copy() Member {
	m := e.Member
	m.Meta = m.Meta.clone()
	return m
}

// table is the membership table. memberlist calls its EventDelegate methods
// with its node lock held, so table methods never call into memberlist.
// The lock order is memberlist's node lock, then table.mu.
type table struct {
	mu      sync.Mutex
	local   string // this node's name
	members map[string]*entry
	subs    map[int]chan struct{}
	nextSub int

	clock  clock.Clock
	logger *slog.Logger
}

func newTable(local string, c clock.Clock, l *slog.Logger) *table {
	return &table{
		local:   local,
		members: make(map[string]*entry),
		subs:    make(map[int]chan struct{}),
		clock:   c,
		logger:  l,
	}
}

// entryFromNode converts a memberlist node. Unreadable metadata leaves
// Meta empty; the alive delegate keeps such nodes out in the first place.
func (t *table) entryFromNode(n *memberlist.Node) *entry {
	meta, session, err := decodeMeta(n.Meta)
	if err != nil {
		t.logger.Warn("gossip: member has unreadable metadata", "member", n.Name, "addr", n.Address(), "err", err)
	}
	return &entry{Member: Member{Name: n.Name, Addr: n.Address(), Meta: meta}, session: session}
}

// NotifyJoin implements memberlist.EventDelegate: a node became alive,
// new or back from failed or left. It replaces whatever entry had its name.
func (t *table) NotifyJoin(n *memberlist.Node) {
	e := t.entryFromNode(n)
	e.State, e.Since = StateAlive, t.clock.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if old, ok := t.members[n.Name]; ok && old.Meta.ID != e.Meta.ID {
		t.logger.Info("gossip: member name now belongs to another node ID",
			"member", n.Name, "old_id", old.Meta.ID, "old_state", old.State, "id", e.Meta.ID, "addr", e.Addr)
	} else {
		t.logger.Info("gossip: member joined", "member", n.Name, "id", e.Meta.ID, "addr", e.Addr)
	}
	t.members[n.Name] = e
	t.notifyLocked()
}

// NotifyLeave implements memberlist.EventDelegate: a node left or was
// declared dead. memberlist v0.5.4 does not fill in Node.State here, so
// a leave is recognized by the member's leave announcement (see leave.go),
// by being this node, or by Node.State should memberlist ever set it.
// The entry stays, with its last known metadata.
func (t *table) NotifyLeave(n *memberlist.Node) {
	now := t.clock.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.members[n.Name]
	if !ok {
		e = t.entryFromNode(n)
		t.members[n.Name] = e
	}
	st := StateFailed
	if n.State == memberlist.StateLeft || e.leaving || n.Name == t.local {
		st = StateLeft
	}
	if e.State != st {
		e.State, e.Since = st, now
	}
	t.logger.Info("gossip: member "+string(st), "member", n.Name, "id", e.Meta.ID, "addr", e.Addr)
	t.notifyLocked()
}

// NotifyUpdate implements memberlist.EventDelegate: a live node's metadata
// (or address) changed.
func (t *table) NotifyUpdate(n *memberlist.Node) {
	ne := t.entryFromNode(n)
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.members[n.Name]
	if !ok {
		e = ne
		e.State, e.Since = StateAlive, t.clock.Now()
		t.members[n.Name] = e
	}
	e.Addr, e.Meta, e.session = ne.Addr, ne.Meta, ne.session
	t.logger.Debug("gossip: member updated", "member", n.Name, "id", e.Meta.ID, "addr", e.Addr)
	t.notifyLocked()
}

// markLeft records that the member li names (by name, node ID and run)
// left or is leaving. A failed member becomes left (keeping Since, when it went away).
// A live member is only marked as leaving, and only when announced is true
// (the member's own announcement, not a peer's table, which may be older
// than what we saw since). It reports whether anything changed.
func (t *table) markLeft(li leaveIntent, announced bool) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.members[li.Name]
	if !ok || e.Meta.ID != li.ID || e.session != li.Session {
		return false
	}
	switch {
	case e.State == StateFailed:
		e.State = StateLeft
		t.logger.Info("gossip: failed member had left", "member", li.Name, "id", li.ID)
		t.notifyLocked()
		return true
	case e.State.live() && announced && !e.leaving:
		e.leaving = true
		return true
	}
	return false
}

// left returns the members in StateLeft.
func (t *table) left() []leaveIntent {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []leaveIntent
	for _, e := range t.members {
		if e.State == StateLeft {
			out = append(out, leaveIntent{Name: e.Name, ID: e.Meta.ID, Session: e.session})
		}
	}
	return out
}

// lookup returns a copy of the named member.
func (t *table) lookup(name string) (Member, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.members[name]
	if !ok {
		return Member{}, false
	}
	return e.copy(), true
}

// snapshot returns every member, sorted by name.
func (t *table) snapshot() []Member {
	now := t.clock.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pruneLocked(now)
	out := make([]Member, 0, len(t.members))
	for _, e := range t.members {
		out = append(out, e.copy())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// numLive counts members that are alive or suspect.
func (t *table) numLive() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, e := range t.members {
		if e.State.live() {
			n++
		}
	}
	return n
}

// forget drops a failed or left member. It reports whether one was dropped.
func (t *table) forget(name string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.members[name]
	if !ok || e.State.live() {
		return false
	}
	delete(t.members, name)
	t.notifyLocked()
	return true
}

// prune drops members that left LeftRetention ago or more.
func (t *table) prune() {
	now := t.clock.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pruneLocked(now)
}

func (t *table) pruneLocked(now time.Time) {
	dropped := false
	for name, e := range t.members {
		if e.State == StateLeft && now.Sub(e.Since) >= LeftRetention {
			delete(t.members, name)
			t.logger.Debug("gossip: dropped left member", "member", name, "id", e.Meta.ID)
			dropped = true
		}
	}
	if dropped {
		t.notifyLocked()
	}
}

// setMeta updates a member's metadata (used for the local node, so Local
// and Members reflect UpdateMeta at once).
func (t *table) setMeta(name string, meta Meta) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e, ok := t.members[name]; ok {
		e.Meta = meta.clone()
		t.notifyLocked()
	}
}

// conflict returns the live member called name whose node ID is not id.
func (t *table) conflict(name, id string) (Member, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.members[name]
	if !ok || !e.State.live() || e.Meta.ID == id {
		return Member{}, false
	}
	return e.copy(), true
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
