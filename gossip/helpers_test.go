package gossip

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// testKey is the cluster key most tests share.
var testKey = []byte("0123456789abcdef0123456789abcdef")

var lastIP atomic.Uint32

// nextLoopback returns a fresh 127.0.0.x address (all of 127/8 is loopback
// on Linux), so nodes in a test are told apart by address too.
func nextLoopback() string {
	n := lastIP.Add(1)
	return fmt.Sprintf("127.0.0.%d", 2+n%250)
}

// freePort finds a port free for both TCP and UDP on ip.
func freePort(t testing.TB, ip string) int {
	t.Helper()
	for range 50 {
		l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
		if err != nil {
			t.Fatalf("listen: %v", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", net.JoinHostPort(ip, fmt.Sprint(port)))
		l.Close()
		if err != nil {
			continue
		}
		u.Close()
		return port
	}
	t.Fatalf("no free TCP+UDP port on %s", ip)
	return 0
}

// testLogger logs to stderr when SHOAL_TEST_LOG is set, else nowhere.
// (t.Log cannot be used: memberlist goroutines may log after a test ends.)
func testLogger() *slog.Logger {
	if os.Getenv("SHOAL_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// testConfig returns a config for a node on a fresh loopback address and
// port, with intervals low enough to detect a failure well under 2s.
func testConfig(t testing.TB, name string) Config {
	ip := nextLoopback()
	return Config{
		Name:     name,
		BindAddr: ip,
		BindPort: freePort(t, ip),
		Keys:     [][]byte{testKey},
		Meta: Meta{
			ID:          "id-" + name,
			RaftAddr:    ip + ":7000",
			APIAddr:     ip + ":7001",
			Labels:      map[string]string{ZoneLabel: "zone-" + name, "disk": "ssd"},
			CPUMillis:   4000,
			MemoryBytes: 8 << 30,
			Version:     "v0.1.0",
		},
		Logger:           testLogger(),
		ProbeInterval:    100 * time.Millisecond,
		ProbeTimeout:     80 * time.Millisecond,
		GossipInterval:   20 * time.Millisecond,
		PushPullInterval: 500 * time.Millisecond,
		SuspicionMult:    2,
	}
}

// start creates a Gossip from cfg, retrying on a fresh port if the probed
// one was taken in between, and shuts it down when the test ends.
func start(t testing.TB, cfg Config) *Gossip {
	t.Helper()
	var err error
	for range 5 {
		var g *Gossip
		g, err = New(cfg)
		if err == nil {
			t.Cleanup(func() { g.Shutdown() })
			return g
		}
		if !strings.Contains(err.Error(), "address already in use") {
			break
		}
		cfg.BindPort = freePort(t, cfg.BindAddr)
	}
	t.Fatalf("New(%s): %v", cfg.Name, err)
	return nil
}

// startNode starts a node named name with testConfig, changed by opts.
func startNode(t testing.TB, name string, opts ...func(*Config)) *Gossip {
	t.Helper()
	cfg := testConfig(t, name)
	for _, o := range opts {
		o(&cfg)
	}
	return start(t, cfg)
}

func addr(g *Gossip) string { return g.Local().Addr }

func mustJoin(t testing.TB, g *Gossip, seed *Gossip) {
	t.Helper()
	if _, err := g.Join([]string{addr(seed)}); err != nil {
		t.Fatalf("%s joining %s: %v", g.name, seed.name, err)
	}
}

// waitFor polls cond until it holds or 10s pass. The deadline is a safety
// net, not an assertion about timing.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// member returns the named member as g sees it.
func member(g *Gossip, name string) (Member, bool) {
	for _, m := range g.Members() {
		if m.Name == name {
			return m, true
		}
	}
	return Member{}, false
}

func stateOf(g *Gossip, name string) State {
	m, _ := member(g, name)
	return m.State
}

func dump(g *Gossip) string {
	var b strings.Builder
	for _, m := range g.Members() {
		fmt.Fprintf(&b, "%s(%s %s %s) ", m.Name, m.Meta.ID, m.State, m.Addr)
	}
	return b.String()
}
