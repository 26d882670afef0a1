package gossip

import (
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

// TestMockNetwork runs nodes on memberlist's in-memory transport.
func TestMockNetwork(t *testing.T) {
	// The mock transport's channels are unbuffered and its maps unlocked:
	// create every transport before any node runs, and keep memberlist's
	// default probe timing, since a busy receiver stalls its senders.
	var net memberlist.MockNetwork
	names := []string{"n1", "n2", "n3"}
	transports := map[string]*memberlist.MockTransport{}
	for _, name := range names {
		transports[name] = net.NewTransport(name)
	}
	nodes := map[string]*Gossip{}
	for _, name := range names {
		nodes[name] = startNode(t, name, func(c *Config) {
			c.Transport = transports[name]
			c.ProbeInterval, c.ProbeTimeout, c.SuspicionMult = 0, 0, 0
		})
	}
	n1, n2, n3 := nodes["n1"], nodes["n2"], nodes["n3"]
	if a := addr(n1); a != "127.0.0.1:1" {
		t.Errorf("n1 is at %s, want the mock address 127.0.0.1:1", a)
	}
	mustJoin(t, n2, n1)
	mustJoin(t, n3, n2)
	for _, g := range nodes {
		waitFor(t, g.name+" to see 3", func() bool { return g.NumAlive() == 3 })
	}
	if err := n3.Leave(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "n1 to see n3 left", func() bool { return stateOf(n1, "n3") == StateLeft })
	n3.Shutdown()
}

// TestLeftStateInPushPull: a node that missed a leave announcement learns
// it from a peer's push/pull state.
func TestLeftStateInPushPull(t *testing.T) {
	a := startNode(t, "a")
	b := startNode(t, "b")
	x := mlNode(t, "x", "id-x", "sx")
	for _, g := range []*Gossip{a, b} {
		g.table.NotifyJoin(x)
	}
	a.delegate.NotifyMsg(encodeTagged(tagLeave, leaveIntent{Name: "x", ID: "id-x", Session: "sx"}))
	if a.bcast.NumQueued() != 1 {
		t.Errorf("a did not re-broadcast the leave announcement (%d queued)", a.bcast.NumQueued())
	}
	a.delegate.NotifyMsg(encodeTagged(tagLeave, leaveIntent{Name: "x", ID: "id-x", Session: "sx"}))
	a.delegate.NotifyMsg([]byte("Zfuture message type"))
	a.delegate.NotifyMsg(nil)
	for _, g := range []*Gossip{a, b} {
		g.table.NotifyLeave(x)
	}
	if stateOf(a, "x") != StateLeft || stateOf(b, "x") != StateFailed {
		t.Fatalf("a sees x %s, b sees x %s", stateOf(a, "x"), stateOf(b, "x"))
	}
	b.delegate.MergeRemoteState(a.delegate.LocalState(false), false)
	if stateOf(b, "x") != StateLeft {
		t.Errorf("b sees x %s after a push/pull with a", stateOf(b, "x"))
	}
	b.delegate.MergeRemoteState([]byte("S{broken"), false)
	b.delegate.MergeRemoteState(nil, false)
}
