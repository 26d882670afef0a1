package gossip

import (
	"errors"
	"maps"
	"testing"
	"time"
)

func TestThreeNodesJoinThroughSeed(t *testing.T) {
	n1 := startNode(t, "n1")
	ch, cancel := n1.Subscribe()
	defer cancel()
	n2 := startNode(t, "n2")
	n3 := startNode(t, "n3")
	mustJoin(t, n2, n1)
	mustJoin(t, n3, n1)

	nodes := []*Gossip{n1, n2, n3}
	for _, g := range nodes {
		waitFor(t, g.name+" to see 3 alive members", func() bool { return g.NumAlive() == 3 })
	}
	for _, g := range nodes {
		ms := g.Members()
		if len(ms) != 3 {
			t.Fatalf("%s sees %d members: %s", g.name, len(ms), dump(g))
		}
		for i, m := range ms {
			want := nodes[i]
			if m.Name != want.name {
				t.Errorf("%s: member %d is %q, want %q (sorted by name)", g.name, i, m.Name, want.name)
			}
			if m.State != StateAlive {
				t.Errorf("%s sees %s as %s, want alive", g.name, m.Name, m.State)
			}
			if m.Since.IsZero() {
				t.Errorf("%s sees %s with zero Since", g.name, m.Name)
			}
			if m.Addr != addr(want) {
				t.Errorf("%s sees %s at %s, want %s", g.name, m.Name, m.Addr, addr(want))
			}
			wm := want.cfg.Meta
			if m.Meta.ID != wm.ID || m.Meta.RaftAddr != wm.RaftAddr || m.Meta.APIAddr != wm.APIAddr ||
				m.Meta.CPUMillis != wm.CPUMillis || m.Meta.MemoryBytes != wm.MemoryBytes ||
				m.Meta.Version != wm.Version || !maps.Equal(m.Meta.Labels, wm.Labels) {
				t.Errorf("%s sees %s with meta %+v, want %+v", g.name, m.Name, m.Meta, wm)
			}
			if m.Meta.Zone() != "zone-"+want.name {
				t.Errorf("%s sees %s in zone %q", g.name, m.Name, m.Meta.Zone())
			}
		}
	}
	if l := n2.Local(); l.Name != "n2" || l.Meta.ID != "id-n2" || l.State != StateAlive {
		t.Errorf("n2.Local() = %+v", l)
	}
	select {
	case <-ch:
	default:
		t.Error("Subscribe did not fire on joins")
	}

	// Returned members are copies.
	n1.Members()[1].Meta.Labels["disk"] = "changed"
	if m, _ := member(n1, "n2"); m.Meta.Labels["disk"] != "ssd" {
		t.Error("Members returned a shared Labels map")
	}
}

func TestMetaUpdatePropagates(t *testing.T) {
	n1 := startNode(t, "n1")
	n2 := startNode(t, "n2")
	mustJoin(t, n2, n1)
	waitFor(t, "n1 to see n2", func() bool { return n1.NumAlive() == 2 })

	ch, cancel := n1.Subscribe()
	defer cancel()
	// Drain a notification from the join, if any is pending.
	select {
	case <-ch:
	default:
	}

	meta := n2.Local().Meta
	meta.Labels["gpu"] = "a100"
	meta.CPUMillis = 16000
	meta.RaftAddr = "127.9.9.9:7000"
	if err := n2.UpdateMeta(meta); err != nil {
		t.Fatalf("UpdateMeta: %v", err)
	}
	if got := n2.Local().Meta; got.CPUMillis != 16000 || got.Labels["gpu"] != "a100" {
		t.Errorf("n2.Local() after UpdateMeta = %+v", got)
	}
	waitFor(t, "n1 to see n2's new meta", func() bool {
		m, _ := member(n1, "n2")
		return m.Meta.Labels["gpu"] == "a100" && m.Meta.CPUMillis == 16000 && m.Meta.RaftAddr == "127.9.9.9:7000"
	})
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("Subscribe did not fire on a meta update")
	}
	if stateOf(n1, "n2") != StateAlive {
		t.Errorf("n2 is %s after a meta update", stateOf(n1, "n2"))
	}

	meta.ID = "someone-else"
	if err := n2.UpdateMeta(meta); !errors.Is(err, ErrIDChange) {
		t.Errorf("UpdateMeta with a new ID: err = %v, want ErrIDChange", err)
	}
}

func TestFailedAndLeft(t *testing.T) {
	n1 := startNode(t, "n1")
	n2 := startNode(t, "n2")
	n3 := startNode(t, "n3")
	mustJoin(t, n2, n1)
	mustJoin(t, n3, n1)
	waitFor(t, "3 alive", func() bool { return n1.NumAlive() == 3 && n2.NumAlive() == 3 && n3.NumAlive() == 3 })

	// n3 dies without leaving.
	before := time.Now()
	if err := n3.Shutdown(); err != nil {
		t.Fatal(err)
	}
	for _, g := range []*Gossip{n1, n2} {
		waitFor(t, g.name+" to see n3 failed", func() bool { return stateOf(g, "n3") == StateFailed })
		m, _ := member(g, "n3")
		if m.Since.Before(before) {
			t.Errorf("%s: n3 failed Since %v, before it was shut down at %v", g.name, m.Since, before)
		}
		if m.Meta.ID != "id-n3" {
			t.Errorf("%s: failed n3 lost its meta: %+v", g.name, m.Meta)
		}
	}

	// n2 leaves gracefully.
	if err := n2.Leave(5 * time.Second); err != nil {
		t.Fatalf("Leave: %v", err)
	}
	if err := n2.Leave(time.Second); err != nil {
		t.Errorf("second Leave: %v", err)
	}
	if err := n2.Shutdown(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "n1 to see n2 left", func() bool { return stateOf(n1, "n2") == StateLeft })
	if m, _ := member(n1, "n2"); m.Since.IsZero() {
		t.Error("left n2 has zero Since")
	}
	if n := n1.NumAlive(); n != 1 {
		t.Errorf("n1.NumAlive() = %d, want 1: %s", n, dump(n1))
	}
	// The failed member is still there, later on too.
	if stateOf(n1, "n3") != StateFailed {
		t.Errorf("n3 is %q, want still failed: %s", stateOf(n1, "n3"), dump(n1))
	}

	ch, cancel := n1.Subscribe()
	defer cancel()
	n1.Forget("n1") // live: no effect
	n1.Forget("n3")
	n1.Forget("n3")
	n1.Forget("nobody")
	if _, ok := member(n1, "n3"); ok {
		t.Errorf("n3 still there after Forget: %s", dump(n1))
	}
	if _, ok := member(n1, "n1"); !ok {
		t.Error("Forget removed a live member")
	}
	select {
	case <-ch:
	default:
		t.Error("Subscribe did not fire on Forget")
	}

	if err := n2.Shutdown(); err != nil {
		t.Errorf("second Shutdown: %v", err)
	}
	if _, err := n2.Join([]string{addr(n1)}); !errors.Is(err, ErrShutdown) {
		t.Errorf("Join after Shutdown: %v, want ErrShutdown", err)
	}
	if err := n2.Leave(time.Second); !errors.Is(err, ErrShutdown) {
		t.Errorf("Leave after Shutdown: %v, want ErrShutdown", err)
	}
}

func TestFailedNodeComesBack(t *testing.T) {
	n1 := startNode(t, "n1")
	cfg2 := testConfig(t, "n2")
	n2 := start(t, cfg2)
	mustJoin(t, n2, n1)
	waitFor(t, "n1 to see n2", func() bool { return stateOf(n1, "n2") == StateAlive })
	n2.Shutdown()
	waitFor(t, "n1 to see n2 failed", func() bool { return stateOf(n1, "n2") == StateFailed })

	// Same node (same ID) restarts on the same address.
	n2b := start(t, cfg2)
	mustJoin(t, n2b, n1)
	waitFor(t, "n1 to see n2 alive again", func() bool { return stateOf(n1, "n2") == StateAlive })
}

func TestNameReusedByReplacementAfterFailure(t *testing.T) {
	n1 := startNode(t, "n1")
	n2 := startNode(t, "n2")
	mustJoin(t, n2, n1)
	waitFor(t, "n1 to see n2", func() bool { return stateOf(n1, "n2") == StateAlive })
	n2.Shutdown()
	waitFor(t, "n1 to see n2 failed", func() bool { return stateOf(n1, "n2") == StateFailed })

	// A replacement machine: same name, new ID, new address.
	repl := startNode(t, "n2", func(c *Config) { c.Meta.ID = "id-n2-replacement" })
	waitFor(t, "the replacement to join", func() bool {
		_, err := repl.Join([]string{addr(n1)})
		return err == nil
	})
	waitFor(t, "n1 to see the replacement alive", func() bool {
		m, _ := member(n1, "n2")
		return m.State == StateAlive && m.Meta.ID == "id-n2-replacement" && m.Addr == addr(repl)
	})
}
