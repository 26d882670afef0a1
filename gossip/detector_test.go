package gossip

import (
	"errors"
	"io"
	"log"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

func TestDetectorFor(t *testing.T) {
	d := DetectorFor(2500 * time.Millisecond)
	want := Detector{ProbeInterval: 500 * time.Millisecond, ProbeTimeout: 250 * time.Millisecond, GossipInterval: 100 * time.Millisecond, SuspicionMult: 4}
	if d != want {
		t.Fatalf("DetectorFor(2.5s) = %+v, want %+v", d, want)
	}
	if got := d.FailAfter(); got != 2500*time.Millisecond {
		t.Errorf("FailAfter() = %s, want the 2.5s it was derived from", got)
	}

	for _, tc := range []struct {
		name string
		cfg  Config
		want Detector
	}{
		{"LAN defaults without FailAfter", Config{},
			Detector{time.Second, 500 * time.Millisecond, 200 * time.Millisecond, 4}},
		{"derived from FailAfter", Config{FailAfter: 5 * time.Second},
			Detector{time.Second, 500 * time.Millisecond, 100 * time.Millisecond, 4}},
		{"a probe interval wins, with half of it as the timeout", Config{FailAfter: 5 * time.Second, ProbeInterval: 100 * time.Millisecond},
			Detector{100 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 4}},
		{"a suspicion multiplier rescales the interval", Config{FailAfter: 5 * time.Second, SuspicionMult: 9},
			Detector{500 * time.Millisecond, 250 * time.Millisecond, 100 * time.Millisecond, 9}},
		{"every field set wins", Config{FailAfter: 5 * time.Second, ProbeInterval: time.Second, ProbeTimeout: 300 * time.Millisecond, GossipInterval: 20 * time.Millisecond, SuspicionMult: 2},
			Detector{time.Second, 300 * time.Millisecond, 20 * time.Millisecond, 2}},
		{"tuning without FailAfter keeps the other defaults", Config{ProbeInterval: 100 * time.Millisecond},
			Detector{100 * time.Millisecond, 500 * time.Millisecond, 200 * time.Millisecond, 4}},
	} {
		if got := tc.cfg.detector(); got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}

	cfg := Config{Name: "n1", Meta: Meta{ID: "id-n1"}, Insecure: true, FailAfter: 2500 * time.Millisecond}
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	mc, err := cfg.memberlistConfig()
	if err != nil {
		t.Fatal(err)
	}
	if mc.ProbeInterval != 500*time.Millisecond || mc.ProbeTimeout != 250*time.Millisecond ||
		mc.GossipInterval != 100*time.Millisecond || mc.SuspicionMult != 4 || mc.DeadNodeReclaimTime != 2500*time.Millisecond {
		t.Errorf("memberlist config: probe %s/%s, gossip %s, suspicion ×%d, reclaim %s",
			mc.ProbeInterval, mc.ProbeTimeout, mc.GossipInterval, mc.SuspicionMult, mc.DeadNodeReclaimTime)
	}
}

// holdTransport is a real UDP/TCP transport that can be held, as a frozen
// process would be: while held it sends nothing, dials nothing, and its
// incoming packets and connections wait in the kernel's buffers, here a
// queue, to be handled when it is released.
type holdTransport struct {
	*memberlist.NetTransport
	packets chan *memberlist.Packet
	streams chan net.Conn

	mu      sync.Mutex
	held    bool
	cutOff  bool // held, and what arrives is lost rather than queued
	queued  []*memberlist.Packet
	release chan struct{}
}

func newHoldTransport(t *testing.T, ip string, port int) *holdTransport {
	t.Helper()
	nt, err := memberlist.NewNetTransport(&memberlist.NetTransportConfig{
		BindAddrs: []string{ip}, BindPort: port, Logger: log.New(io.Discard, "", 0),
	})
	if err != nil {
		t.Fatal(err)
	}
	h := &holdTransport{NetTransport: nt, packets: make(chan *memberlist.Packet), streams: make(chan net.Conn)}
	go h.relayPackets()
	go h.relayStreams()
	return h
}

func (h *holdTransport) relayPackets() {
	for p := range h.NetTransport.PacketCh() {
		h.mu.Lock()
		if h.held {
			if !h.cutOff {
				h.queued = append(h.queued, p)
			}
			h.mu.Unlock()
			continue
		}
		h.mu.Unlock()
		h.packets <- p
	}
}

func (h *holdTransport) relayStreams() {
	for c := range h.NetTransport.StreamCh() {
		h.mu.Lock()
		wait, lost := h.release, h.cutOff
		h.mu.Unlock()
		if lost {
			c.Close()
			continue
		}
		if wait != nil {
			<-wait
		}
		h.streams <- c
	}
}

// hold stops the node's traffic until resume.
func (h *holdTransport) hold() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.held, h.release = true, make(chan struct{})
}

// cut stops the node's traffic both ways, as a partition does: nothing
// it sends arrives, and what is sent to it is lost, until resume.
func (h *holdTransport) cut() {
	h.hold()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.cutOff = true
}

// resume hands the node what arrived while it was held, then lets it run.
func (h *holdTransport) resume() {
	h.mu.Lock()
	h.cutOff = false
	queued := h.queued
	h.queued = nil
	close(h.release)
	h.release = nil
	h.mu.Unlock()
	for _, p := range queued {
		h.packets <- p
	}
	h.mu.Lock()
	h.held = false
	h.mu.Unlock()
}

func (h *holdTransport) isHeld() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.held
}

func (h *holdTransport) PacketCh() <-chan *memberlist.Packet { return h.packets }
func (h *holdTransport) StreamCh() <-chan net.Conn           { return h.streams }

func (h *holdTransport) WriteTo(b []byte, addr string) (time.Time, error) {
	if h.isHeld() {
		return time.Now(), nil // lost, as a frozen process never sends it
	}
	return h.NetTransport.WriteTo(b, addr)
}

func (h *holdTransport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	if h.isHeld() {
		return nil, errors.New("held")
	}
	return h.NetTransport.DialTimeout(addr, timeout)
}

// WriteToAddress and DialAddressTimeout are what memberlist calls, since
// NetTransport is node-aware.
func (h *holdTransport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	return h.WriteTo(b, a.Addr)
}

func (h *holdTransport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	return h.DialTimeout(a.Addr, timeout)
}

// TestDerivedDetectorTiming runs three nodes on loopback with the timing
// derived from FailAfter. A node whose traffic stops for half of FailAfter
// and then resumes (a freeze) refutes its suspicion and is never declared
// failed. A node that stops for good is declared failed, and no sooner
// than FailAfter after it fell silent.
func TestDerivedDetectorTiming(t *testing.T) {
	const failAfter = 1500 * time.Millisecond
	derived := func(c *Config) {
		c.FailAfter = failAfter
		c.ProbeInterval, c.ProbeTimeout, c.GossipInterval, c.SuspicionMult = 0, 0, 0, 0
	}
	n1 := startNode(t, "n1", derived)
	n2 := startNode(t, "n2", derived)
	var held *holdTransport
	n3 := startNode(t, "n3", derived, func(c *Config) {
		held = newHoldTransport(t, c.BindAddr, c.BindPort)
		c.Transport = held
	})
	if got := n1.Detector(); got != DetectorFor(failAfter) {
		t.Fatalf("n1 runs with %+v, want %+v", got, DetectorFor(failAfter))
	}
	mustJoin(t, n2, n1)
	mustJoin(t, n3, n1)
	watchers := []*Gossip{n1, n2}
	for _, g := range watchers {
		waitFor(t, g.name+" to see 3 alive", func() bool { return g.NumAlive() == 3 })
	}
	aliveSince := map[string]time.Time{}
	for _, g := range watchers {
		m, _ := member(g, "n3")
		aliveSince[g.name] = m.Since
	}

	held.hold()
	time.Sleep(failAfter / 2) // the freeze itself
	held.resume()
	// A flap would show as a failure, then a join with a new Since.
	deadline := time.Now().Add(2 * failAfter)
	for time.Now().Before(deadline) {
		for _, g := range watchers {
			if m, _ := member(g, "n3"); m.State != StateAlive || !m.Since.Equal(aliveSince[g.name]) {
				t.Fatalf("%s sees n3 %s since %s after a freeze of %s (alive since %s before); want it alive throughout",
					g.name, m.State, m.Since.Format(time.StampMilli), failAfter/2, aliveSince[g.name].Format(time.StampMilli))
			}
		}
		time.Sleep(10 * time.Millisecond)
	}

	silent := time.Now()
	n3.Shutdown()
	for _, g := range watchers {
		waitFor(t, g.name+" to see n3 failed", func() bool { return stateOf(g, "n3") == StateFailed })
		m, _ := member(g, "n3")
		// Timers never fire early; the slack covers a ping that was on its
		// way when the node fell silent.
		if took := m.Since.Sub(silent); took < failAfter-10*time.Millisecond {
			t.Errorf("%s declared n3 failed %s after it fell silent, sooner than FailAfter %s", g.name, took, failAfter)
		} else {
			t.Logf("%s declared n3 failed %s after it fell silent (FailAfter %s, probe interval %s)",
				g.name, took.Round(time.Millisecond), failAfter, DetectorFor(failAfter).ProbeInterval)
		}
	}
}
