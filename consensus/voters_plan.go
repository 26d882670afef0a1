package consensus

import (
	"sort"
	"time"
)

// PeerState is what gossip says about a node.
type PeerState string

const (
	PeerAlive   PeerState = "alive"
	PeerSuspect PeerState = "suspect"
	PeerFailed  PeerState = "failed"
	PeerLeft    PeerState = "left"
)

// Peer is one node as the voter manager sees it: gossip's view joined with
// how far its replica has caught up.
type Peer struct {
	ID, Name, RaftAddr, Zone string
	State                    PeerState
	Since                    time.Time // when it entered State
	// Applied is the index of the peer's replica; -1 if unknown.
	Applied int64
}

func (p Peer) healthy() bool { return p.State == PeerAlive || p.State == PeerSuspect }

// Member is one server in the Raft configuration.
type Member struct {
	ID, Addr string
	Voter    bool
}

// ChangeKind is one kind of membership change.
type ChangeKind string

const (
	AddNonvoter ChangeKind = "add-nonvoter"
	Promote     ChangeKind = "promote"
	Demote      ChangeKind = "demote"
	Remove      ChangeKind = "remove"
)

// Change is one step of a voter plan.
type Change struct {
	Kind   ChangeKind
	ID     string
	Addr   string
	Reason string
}

// VoterPolicy holds the voter manager's thresholds.
type VoterPolicy struct {
	// DeadVoterTimeout is how long a voter may be failed in gossip before a
	// healthy non-voter replaces it.
	DeadVoterTimeout time.Duration
	// Stabilization is how long a node must be alive before promotion.
	Stabilization time.Duration
	// MaxLag is how many entries behind the leader a node may be and still
	// count as caught up.
	MaxLag uint64
}

// TargetVoters is the number of voters a cluster of n nodes should have.
func TargetVoters(n int) int {
	switch {
	case n >= 5:
		return 5
	case n >= 3:
		return 3
	default:
		return 1
	}
}

func quorum(voters int) int { return voters/2 + 1 }

// PlanVoters decides the membership changes that move the Raft
// configuration toward the policy. It is pure: the same inputs give the same
// plan. leaderID is never demoted or removed. Changes are listed in the order
// they must be made; each keeps a quorum of healthy voters.
func PlanVoters(now time.Time, leaderID string, leaderIndex uint64, servers []Member, peers []Peer, pol VoterPolicy) []Change {
	byID := map[string]Peer{}
	for _, p := range peers {
		byID[p.ID] = p
	}
	nameOwner := map[string]string{} // healthy name -> ID, to spot IDs superseded by a rebuilt node
	for _, p := range peers {
		if p.healthy() {
			nameOwner[p.Name] = p.ID
		}
	}
	var plan []Change
	cfg := map[string]*Member{}
	for i := range servers {
		m := servers[i]
		cfg[m.ID] = &m
	}
	voterCount := func() (all, healthy int) {
		for _, m := range cfg {
			if m.Voter {
				all++
				if p, ok := byID[m.ID]; ok && p.healthy() || m.ID == leaderID {
					healthy++
				}
			}
		}
		return
	}
	safe := func() bool { all, h := voterCount(); return all > 0 && h >= quorum(all) }

	// Gossip members that Raft does not know yet join as non-voters; known
	// ones whose address changed are re-added at the new address.
	for _, p := range sortedPeers(peers) {
		if !p.healthy() || p.RaftAddr == "" {
			continue
		}
		m, ok := cfg[p.ID]
		switch {
		case !ok:
			plan = append(plan, Change{AddNonvoter, p.ID, p.RaftAddr, "new member " + p.Name})
			cfg[p.ID] = &Member{ID: p.ID, Addr: p.RaftAddr}
		case m.Addr != p.RaftAddr && p.ID != leaderID:
			kind := AddNonvoter
			if m.Voter {
				kind = Promote
			}
			plan = append(plan, Change{kind, p.ID, p.RaftAddr, "address of " + p.Name + " changed"})
			m.Addr = p.RaftAddr
		}
	}

	// Members that left on purpose, and non-voters superseded by a rebuilt
	// node of the same name, leave the configuration.
	for _, id := range sortedIDs(cfg) {
		m := cfg[id]
		p, known := byID[id]
		if id == leaderID || !known {
			continue
		}
		superseded := nameOwner[p.Name] != "" && nameOwner[p.Name] != id
		if p.State == PeerLeft || (superseded && !m.Voter) {
			delete(cfg, id)
			if m.Voter && !safe() {
				cfg[id] = m
				continue
			}
			plan = append(plan, Change{Remove, id, m.Addr, "member " + p.Name + " left"})
		}
	}

	dead := func(m *Member) bool {
		if m.ID == leaderID {
			return false
		}
		p, ok := byID[m.ID]
		if !ok {
			return false
		}
		if s := nameOwner[p.Name]; s != "" && s != m.ID {
			return true
		}
		return p.State == PeerFailed && now.Sub(p.Since) >= pol.DeadVoterTimeout
	}
	candidates := func() []Peer {
		var out []Peer
		for _, p := range sortedPeers(peers) {
			m, ok := cfg[p.ID]
			if !ok || m.Voter || p.State != PeerAlive || now.Sub(p.Since) < pol.Stabilization {
				continue
			}
			if p.Applied < 0 || leaderIndex > uint64(p.Applied)+pol.MaxLag {
				continue
			}
			out = append(out, p)
		}
		return out
	}
	zoneVoters := func() map[string]int {
		z := map[string]int{}
		for _, m := range cfg {
			if m.Voter {
				z[byID[m.ID].Zone]++
			}
		}
		return z
	}
	// pick chooses the candidate in the zone with the fewest voters.
	pick := func(cands []Peer) int {
		z := zoneVoters()
		best := 0
		for i, c := range cands {
			if z[c.Zone] < z[cands[best].Zone] {
				best = i
			}
		}
		return best
	}
	promote := func(p Peer, why string) {
		cfg[p.ID].Voter = true
		plan = append(plan, Change{Promote, p.ID, cfg[p.ID].Addr, why})
	}

	// Replace dead voters with healthy, caught-up non-voters: promote first,
	// then remove, so the count of healthy voters never drops.
	for _, id := range sortedIDs(cfg) {
		m := cfg[id]
		if !m.Voter || !dead(m) {
			continue
		}
		c := candidates()
		if len(c) == 0 {
			break
		}
		p := c[pick(c)]
		promote(p, "replaces failed voter "+byID[id].Name)
		delete(cfg, id)
		if !safe() {
			cfg[id] = m
			continue
		}
		plan = append(plan, Change{Remove, id, m.Addr, "voter " + byID[id].Name + " failed"})
	}

	// Grow or shrink toward the target, keeping an odd number of voters.
	size := 0
	for _, p := range peers {
		if p.healthy() || (p.State == PeerFailed && cfg[p.ID] != nil) {
			size++
		}
	}
	target := TargetVoters(size)
	all, _ := voterCount()
	if all < target {
		c := candidates()
		want := min(target, all+len(c))
		if want%2 == 0 {
			want--
		}
		for ; all < want; all++ {
			i := pick(c)
			promote(c[i], "cluster needs more voters")
			c = append(c[:i], c[i+1:]...)
		}
	}
	for all > target {
		id := demotionChoice(cfg, byID, leaderID)
		if id == "" {
			break
		}
		cfg[id].Voter = false
		if !safe() {
			cfg[id].Voter = true
			break
		}
		plan = append(plan, Change{Demote, id, cfg[id].Addr, "cluster has more voters than it needs"})
		all--
	}

	// Spread voters over zones: swap a voter in a crowded zone for a
	// candidate in a zone with none.
	z := zoneVoters()
	for _, c := range candidates() {
		if c.Zone == "" || z[c.Zone] > 0 {
			continue
		}
		var crowded string
		for _, id := range sortedIDs(cfg) {
			m := cfg[id]
			if m.Voter && id != leaderID && z[byID[id].Zone] > 1 {
				crowded = id
				break
			}
		}
		if crowded == "" {
			break
		}
		promote(c, "spreads voters over zones")
		cfg[crowded].Voter = false
		plan = append(plan, Change{Demote, crowded, cfg[crowded].Addr, "zone " + byID[crowded].Zone + " has more than one voter"})
		break
	}
	return plan
}

// demotionChoice picks the voter to demote: an unhealthy one first, then one
// from the zone with the most voters; never the leader.
func demotionChoice(cfg map[string]*Member, byID map[string]Peer, leaderID string) string {
	z := map[string]int{}
	for _, m := range cfg {
		if m.Voter {
			z[byID[m.ID].Zone]++
		}
	}
	best, bestScore := "", -1
	for _, id := range sortedIDs(cfg) {
		m := cfg[id]
		if !m.Voter || id == leaderID {
			continue
		}
		score := z[byID[id].Zone]
		if !byID[id].healthy() {
			score += 1000
		}
		if score > bestScore {
			best, bestScore = id, score
		}
	}
	return best
}

func sortedIDs(cfg map[string]*Member) []string {
	ids := make([]string, 0, len(cfg))
	for id := range cfg {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

func sortedPeers(peers []Peer) []Peer {
	out := append([]Peer(nil), peers...)
	sort.Slice(out, func(i, j int) bool {
		return out[i].Name < out[j].Name || out[i].Name == out[j].Name && out[i].ID < out[j].ID
	})
	return out
}
