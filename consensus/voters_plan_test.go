package consensus

import (
	"fmt"
	"reflect"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

var testPolicy = VoterPolicy{DeadVoterTimeout: 10 * time.Second, Stabilization: 5 * time.Second, MaxLag: 100}

func alive(id, zone string, since time.Duration, applied int64) Peer {
	return Peer{ID: id, Name: id, RaftAddr: id + ":7947", Zone: zone, State: PeerAlive, Since: t0.Add(-since), Applied: applied}
}

func failed(id, zone string, since time.Duration) Peer {
	p := alive(id, zone, since, -1)
	p.State = PeerFailed
	return p
}

func voter(id string) Member    { return Member{ID: id, Addr: id + ":7947", Voter: true} }
func nonvoter(id string) Member { return Member{ID: id, Addr: id + ":7947"} }

func kinds(plan []Change) []string {
	out := []string{}
	for _, c := range plan {
		out = append(out, fmt.Sprintf("%s %s", c.Kind, c.ID))
	}
	return out
}

func TestTargetVoters(t *testing.T) {
	for n, want := range map[int]int{0: 1, 1: 1, 2: 1, 3: 3, 4: 3, 5: 5, 6: 5, 9: 5} {
		if got := TargetVoters(n); got != want {
			t.Errorf("TargetVoters(%d) = %d, want %d", n, got, want)
		}
	}
}

func TestPlanVoters(t *testing.T) {
	long := time.Minute
	cases := []struct {
		name    string
		leader  string
		index   uint64
		servers []Member
		peers   []Peer
		want    []string
	}{
		{
			name:    "new gossip members join as non-voters",
			servers: []Member{voter("a")},
			peers:   []Peer{alive("a", "", long, 50), alive("b", "", 0, -1)},
			want:    []string{"add-nonvoter b"},
		},
		{
			name:    "two nodes keep one voter",
			servers: []Member{voter("a"), nonvoter("b")},
			peers:   []Peer{alive("a", "", long, 50), alive("b", "", long, 50)},
			want:    []string{},
		},
		{
			name:    "third node: both non-voters promoted together, never an even count",
			servers: []Member{voter("a"), nonvoter("b"), nonvoter("c")},
			peers:   []Peer{alive("a", "", long, 50), alive("b", "", long, 50), alive("c", "", long, 50)},
			want:    []string{"promote b", "promote c"},
		},
		{
			name:    "an unstable node is not promoted, so neither is the other",
			servers: []Member{voter("a"), nonvoter("b"), nonvoter("c")},
			peers:   []Peer{alive("a", "", long, 50), alive("b", "", long, 50), alive("c", "", time.Second, 50)},
			want:    []string{},
		},
		{
			name:    "a node far behind is not promoted",
			index:   5000,
			servers: []Member{voter("a"), nonvoter("b"), nonvoter("c")},
			peers:   []Peer{alive("a", "", long, 5000), alive("b", "", long, 5000), alive("c", "", long, 10)},
			want:    []string{},
		},
		{
			name:    "dead voter replaced by a healthy non-voter, promote before remove",
			servers: []Member{voter("a"), voter("b"), voter("c"), nonvoter("d")},
			peers:   []Peer{alive("a", "", long, 50), alive("b", "", long, 50), failed("c", "", 11*time.Second), alive("d", "", long, 50)},
			want:    []string{"promote d", "remove c"},
		},
		{
			name:    "a voter failed for less than the timeout keeps its vote",
			servers: []Member{voter("a"), voter("b"), voter("c"), nonvoter("d")},
			peers:   []Peer{alive("a", "", long, 50), alive("b", "", long, 50), failed("c", "", 9*time.Second), alive("d", "", long, 50)},
			want:    []string{},
		},
		{
			name:    "a dead voter with no replacement stays",
			servers: []Member{voter("a"), voter("b"), voter("c")},
			peers:   []Peer{alive("a", "", long, 50), alive("b", "", long, 50), failed("c", "", time.Hour)},
			want:    []string{},
		},
		{
			name:    "a left member is removed",
			servers: []Member{voter("a"), voter("b"), voter("c"), nonvoter("d")},
			peers:   []Peer{alive("a", "", long, 50), alive("b", "", long, 50), {ID: "c", Name: "c", State: PeerLeft, Since: t0}, alive("d", "", long, 50)},
			want:    []string{"remove c", "promote d"},
		},
		{
			name:    "shrinking cluster demotes down to the target",
			servers: []Member{voter("a"), voter("b"), voter("c")},
			peers:   []Peer{alive("a", "", long, 50), alive("b", "", long, 50), {ID: "c", Name: "c", State: PeerLeft, Since: t0}},
			want:    []string{"remove c", "demote b"},
		},
		{
			name:    "voters are spread over zones",
			servers: []Member{voter("a"), nonvoter("b"), nonvoter("c"), nonvoter("d"), nonvoter("e")},
			peers:   []Peer{alive("a", "z1", long, 50), alive("b", "z1", long, 50), alive("c", "z1", long, 50), alive("d", "z2", long, 50), alive("e", "z3", long, 50)},
			want:    []string{"promote d", "promote e", "promote b", "promote c"},
		},
		{
			name:    "a crowded zone gives its vote to an empty zone",
			servers: []Member{voter("a"), voter("b"), voter("c"), nonvoter("d")},
			peers:   []Peer{alive("a", "z1", long, 50), alive("b", "z1", long, 50), alive("c", "z2", long, 50), alive("d", "z3", long, 50)},
			want:    []string{"promote d", "demote b"},
		},
		{
			name:    "the leader is never demoted",
			leader:  "c",
			servers: []Member{voter("a"), voter("b"), voter("c")},
			peers:   []Peer{{ID: "a", Name: "a", State: PeerLeft, Since: t0}, alive("b", "", long, 50), alive("c", "", long, 50)},
			want:    []string{"remove a", "demote b"},
		},
		{
			name:    "a rebuilt node with the same name supersedes its old non-voter",
			servers: []Member{voter("a"), nonvoter("old")},
			peers:   []Peer{alive("a", "", long, 50), {ID: "old", Name: "n2", State: PeerFailed, Since: t0}, {ID: "new", Name: "n2", RaftAddr: "new:7947", State: PeerAlive, Since: t0.Add(-long), Applied: 50}},
			want:    []string{"add-nonvoter new", "remove old"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.leader == "" {
				tc.leader = "a"
			}
			if tc.index == 0 {
				tc.index = 50
			}
			plan := PlanVoters(t0, tc.leader, tc.index, tc.servers, tc.peers, testPolicy)
			if got := kinds(plan); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("plan = %v, want %v", got, tc.want)
			}
			// Pure: the same input gives the same plan.
			if again := kinds(PlanVoters(t0, tc.leader, tc.index, tc.servers, tc.peers, testPolicy)); !reflect.DeepEqual(again, kinds(plan)) {
				t.Fatalf("second plan %v differs from first %v", again, kinds(plan))
			}
		})
	}
}

// Applying a plan never leaves the configuration without a quorum of
// healthy voters, whatever the starting point.
func TestPlanKeepsQuorum(t *testing.T) {
	states := []PeerState{PeerAlive, PeerAlive, PeerSuspect, PeerFailed, PeerLeft}
	for seed := range 2000 {
		r := seed
		next := func(n int) int { r = (r*1103515245 + 12345) & 0x7fffffff; return r % n }
		n := 1 + next(7)
		var servers []Member
		var peers []Peer
		for i := range n {
			id := fmt.Sprintf("p%d", i)
			st := states[next(len(states))]
			if i == 0 {
				st = PeerAlive
			}
			peers = append(peers, Peer{ID: id, Name: id, RaftAddr: id + ":1", Zone: fmt.Sprintf("z%d", next(3)), State: st, Since: t0.Add(-time.Duration(next(30)) * time.Second), Applied: int64(next(100))})
			if i == 0 || next(3) > 0 {
				servers = append(servers, Member{ID: id, Addr: id + ":1", Voter: i == 0 || next(2) == 0})
			}
		}
		healthy := map[string]bool{}
		for _, p := range peers {
			healthy[p.ID] = p.healthy()
		}
		cfg := map[string]bool{}
		for _, s := range servers {
			cfg[s.ID] = s.Voter
		}
		before := quorumOK(cfg, healthy)
		for _, c := range PlanVoters(t0, "p0", 100, servers, peers, testPolicy) {
			switch c.Kind {
			case AddNonvoter:
				cfg[c.ID] = false
			case Promote:
				cfg[c.ID] = true
			case Demote:
				cfg[c.ID] = false
			case Remove:
				delete(cfg, c.ID)
			}
			if c.ID == "p0" && c.Kind != Promote {
				t.Fatalf("seed %d: plan changes the leader: %+v", seed, c)
			}
			if before && !quorumOK(cfg, healthy) {
				t.Fatalf("seed %d: step %+v loses quorum (servers %v, peers %v)", seed, c, servers, peers)
			}
		}
	}
}

func quorumOK(cfg map[string]bool, healthy map[string]bool) bool {
	all, h := 0, 0
	for id, v := range cfg {
		if v {
			all++
			if healthy[id] {
				h++
			}
		}
	}
	return all > 0 && h >= all/2+1
}
