package gossip

import (
	"testing"
	"time"
)

// A partition long enough for both sides to declare each other failed
// heals once the network does: each side rejoins the other.
func TestGossipHealsAfterAPartition(t *testing.T) {
	const failAfter = time.Second
	derived := func(c *Config) {
		c.FailAfter = failAfter
		c.ProbeInterval, c.ProbeTimeout, c.GossipInterval, c.SuspicionMult = 0, 0, 0, 0
	}
	n1 := startNode(t, "n1", derived)
	n2 := startNode(t, "n2", derived)
	var link *holdTransport
	n3 := startNode(t, "n3", derived, func(c *Config) {
		link = newHoldTransport(t, c.BindAddr, c.BindPort)
		c.Transport = link
	})
	mustJoin(t, n2, n1)
	mustJoin(t, n3, n1)
	all := []*Gossip{n1, n2, n3}
	for _, g := range all {
		waitFor(t, g.name+" to see 3 alive", func() bool { return g.NumAlive() == 3 })
	}

	link.cut()
	for _, g := range all {
		waitFor(t, g.name+" to see the other side failed", func() bool {
			if g == n3 {
				return stateOf(g, "n1") == StateFailed && stateOf(g, "n2") == StateFailed
			}
			return stateOf(g, "n3") == StateFailed
		})
	}
	// Past memberlist's own retransmissions of the failure, so nothing
	// but a rejoin can bring the sides together.
	time.Sleep(3 * failAfter)
	link.resume()
	for _, g := range all {
		waitFor(t, g.name+" to see all 3 alive after the partition healed", func() bool { return g.NumAlive() == 3 })
	}
}
