package gossip

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/clock"
)

func TestRetryJoinSeedAppearsLater(t *testing.T) {
	fake := clock.NewFake(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	joiner := startNode(t, "joiner", func(c *Config) { c.Clock = fake })
	seedCfg := testConfig(t, "seed")
	seedAddr := net.JoinHostPort(seedCfg.BindAddr, itoa(seedCfg.BindPort))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- joiner.RetryJoin(ctx, []string{seedAddr}) }()

	// The first attempt fails (nothing listens yet) and RetryJoin waits on
	// the clock: its timer joins the prune loop's ticker.
	waitFor(t, "RetryJoin to wait for its backoff", func() bool { return fake.Waiters() >= 2 })
	select {
	case err := <-done:
		t.Fatalf("RetryJoin returned before the seed was up: %v", err)
	default:
	}

	seed := start(t, seedCfg)
	// Move time on until RetryJoin's next attempt finds the seed.
	var err error
	waitFor(t, "RetryJoin to succeed", func() bool {
		select {
		case err = <-done:
			return true
		default:
			fake.Advance(30 * time.Second)
			return false
		}
	})
	if err != nil {
		t.Fatalf("RetryJoin: %v", err)
	}
	waitFor(t, "both to see 2", func() bool { return seed.NumAlive() == 2 && joiner.NumAlive() == 2 })
}

func TestRetryJoinStopsWithContext(t *testing.T) {
	fake := clock.NewFake(time.Now())
	g := startNode(t, "n1", func(c *Config) { c.Clock = fake })
	nowhere := net.JoinHostPort("127.0.0.1", itoa(freePort(t, "127.0.0.1")))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.RetryJoin(ctx, []string{nowhere}) }()
	waitFor(t, "RetryJoin to wait for its backoff", func() bool { return fake.Waiters() >= 2 })
	cancel()
	var err error
	waitFor(t, "RetryJoin to return", func() bool {
		select {
		case err = <-done:
			return true
		default:
			return false
		}
	})
	if !errors.Is(err, context.Canceled) || !errors.Is(err, ErrJoin) {
		t.Errorf("RetryJoin = %v, want context.Canceled and ErrJoin", err)
	}
	if !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("RetryJoin error does not carry the last failure: %v", err)
	}
	if err := g.RetryJoin(context.Background(), nil); !errors.Is(err, ErrNoAddrs) {
		t.Errorf("RetryJoin(nil) = %v", err)
	}
}

func TestJoinErrors(t *testing.T) {
	g := startNode(t, "n1")
	if _, err := g.Join(nil); !errors.Is(err, ErrNoAddrs) {
		t.Errorf("Join(nil) = %v", err)
	}
	p1 := freePort(t, "127.0.0.1")
	a1 := net.JoinHostPort("127.0.0.1", itoa(p1))
	_, err := g.Join([]string{a1})
	t.Logf("Join error: %v", err)
	if !errors.Is(err, ErrJoin) || !strings.Contains(err.Error(), a1) || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("Join(%s) = %v", a1, err)
	}
	_, err = g.Join([]string{a1, "127.0.0.1:notaport"})
	t.Logf("Join error: %v", err)
	if !errors.Is(err, ErrJoin) || !strings.Contains(err.Error(), "every address") || !strings.Contains(err.Error(), "notaport") {
		t.Errorf("Join(two bad) = %v", err)
	}

	// One good address is enough.
	seed := startNode(t, "seed")
	n, err := g.Join([]string{a1, addr(seed)})
	if err != nil || n != 1 {
		t.Errorf("Join(bad, good) = %d, %v", n, err)
	}
}

func TestNormalizeAddr(t *testing.T) {
	for in, want := range map[string]string{
		"10.0.0.5":         "10.0.0.5:7946",
		"10.0.0.5:8000":    "10.0.0.5:8000",
		" node-a ":         "node-a:7946",
		"node-a:1":         "node-a:1",
		"::1":              "[::1]:7946",
		"[::1]":            "[::1]:7946",
		"[fe80::1]:7000":   "[fe80::1]:7000",
		"":                 "",
		":7000":            "",
		"10.0.0.5:0":       "",
		"10.0.0.5:65536":   "",
		"10.0.0.5:http":    "",
		"[::1":             "",
		"node-a:7000:8000": "",
	} {
		got, err := normalizeAddr(in)
		if want == "" {
			if err == nil || !errors.Is(err, ErrJoin) {
				t.Errorf("normalizeAddr(%q) = %q, %v; want an ErrJoin", in, got, err)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("normalizeAddr(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestJitter(t *testing.T) {
	for range 1000 {
		if d := jitter(10 * time.Second); d < 8*time.Second || d > 10*time.Second {
			t.Fatalf("jitter(10s) = %v", d)
		}
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
