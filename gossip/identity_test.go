package gossip

import (
	"errors"
	"fmt"
	"testing"

	"github.com/hashicorp/memberlist"
)

func TestSameNameDifferentIDIsRefused(t *testing.T) {
	n1 := startNode(t, "n1")
	n2 := startNode(t, "n2")
	mustJoin(t, n2, n1)
	waitFor(t, "n1 and n2 to meet", func() bool { return n1.NumAlive() == 2 && n2.NumAlive() == 2 })

	for _, name := range []string{"n2", "n1"} { // a member's name, and the seed's own
		t.Run(name, func(t *testing.T) {
			other := map[string]*Gossip{"n1": n1, "n2": n2}[name]
			dup := startNode(t, name, func(c *Config) { c.Meta.ID = "id-impostor" })
			_, err := dup.Join([]string{addr(n1)})
			t.Logf("Join error: %v", err)
			if !errors.Is(err, ErrNameConflict) {
				t.Fatalf("Join = %v, want ErrNameConflict", err)
			}
			want := fmt.Sprintf("gossip: node name %q is already used by node id-%s at %s; "+
				"start this node with a different --name, or with that node's data dir to be the same node",
				name, name, addr(other))
			if err.Error() != want {
				t.Errorf("error:\n got %s\nwant %s", err, want)
			}
			// The cluster still has the original.
			for _, g := range []*Gossip{n1, n2} {
				if m, _ := member(g, name); m.Meta.ID != "id-"+name || m.State != StateAlive {
					t.Errorf("%s sees %s as %+v", g.name, name, m)
				}
				if n := g.NumAlive(); n != 2 {
					t.Errorf("%s sees %d alive: %s", g.name, n, dump(g))
				}
			}
			if n := dup.NumAlive(); n != 1 {
				t.Errorf("the impostor sees %d alive: %s", n, dump(dup))
			}
		})
	}

	// The same node (same ID) restarting under its name is fine: see
	// TestFailedNodeComesBack. Joining twice is fine too.
	mustJoin(t, n2, n1)
}

func TestNotifyAlive(t *testing.T) {
	n1 := startNode(t, "n1")
	meta := func(id string) []byte {
		b, err := encodeMeta(Meta{ID: id}, "s")
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	node := func(name, id string) *memberlist.Node {
		return &memberlist.Node{Name: name, Addr: []byte{127, 0, 0, 9}, Port: 7946, Meta: meta(id)}
	}
	d := n1.delegate
	// Our own name from another ID is refused; from our ID it is fine.
	if err := d.NotifyAlive(node("n1", "other")); !errors.Is(err, ErrNameConflict) {
		t.Errorf("alive n1/other: %v, want ErrNameConflict", err)
	}
	if err := d.NotifyAlive(node("n1", "id-n1")); err != nil {
		t.Errorf("alive n1/id-n1: %v", err)
	}
	// Not a shoal node.
	if err := d.NotifyAlive(&memberlist.Node{Name: "x", Meta: []byte("junk")}); err == nil {
		t.Error("alive with junk meta was accepted")
	}

	// A live n2 with ID a: another ID is refused. Once n2 failed or left,
	// another ID may take the name.
	n1.table.NotifyJoin(node("n2", "a"))
	err := d.NotifyAlive(node("n2", "b"))
	want := `gossip: node name "n2" is claimed by node b at 127.0.0.9:7946, but live node a at 127.0.0.9:7946 already uses it; ` +
		`start the newcomer with a different --name, or with the data dir of node a to be the same node`
	if !errors.Is(err, ErrNameConflict) || err.Error() != want {
		t.Errorf("alive n2/b while n2/a is alive:\n got %v\nwant %s", err, want)
	}
	if err := d.NotifyMerge([]*memberlist.Node{node("n2", "b")}); !errors.Is(err, ErrNameConflict) {
		t.Errorf("merge with n2/b while n2/a is alive: %v, want ErrNameConflict", err)
	}
	n1.table.NotifyLeave(node("n2", "a"))
	if stateOf(n1, "n2") != StateFailed {
		t.Fatalf("n2 is %s", stateOf(n1, "n2"))
	}
	if err := d.NotifyAlive(node("n2", "b")); err != nil {
		t.Errorf("alive n2/b after n2/a failed: %v", err)
	}

	// NotifyMerge: a remote live node with our name and another ID.
	peers := []*memberlist.Node{node("n3", "c"), node("n1", "other")}
	if err := d.NotifyMerge(peers); !errors.Is(err, ErrNameConflict) {
		t.Errorf("merge with n1/other: %v", err)
	}
	peers[1].State = memberlist.StateDead
	if err := d.NotifyMerge(peers); err != nil {
		t.Errorf("merge with a dead n1/other: %v", err)
	}
}
