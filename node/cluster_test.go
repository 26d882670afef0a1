package node

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/consensus"
)

// testIP picks a 127.x.y.z address whose shoal ports are free, so each
// agent in a test has its own address, as each machine would.
func testIP(t testing.TB) string {
	t.Helper()
	for range 100 {
		ip := fmt.Sprintf("127.%d.%d.%d", 10+rand.IntN(200), rand.IntN(256), 1+rand.IntN(250))
		ok := true
		for _, p := range []int{DefaultGossipPort, DefaultRaftPort, DefaultAPIPort} {
			l, err := net.Listen("tcp", fmt.Sprintf("%s:%d", ip, p))
			if err != nil {
				ok = false
				break
			}
			l.Close()
		}
		if ok {
			return ip
		}
	}
	t.Fatal("no free loopback address")
	return ""
}

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("SHOAL_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// testConfig is a fast-moving agent config: failures are noticed and
// members promoted within a second or two.
func testConfig(t testing.TB, name, dir string) Config {
	return Config{
		Name:                name,
		DataDir:             dir,
		BindAddr:            testIP(t),
		DeadVoterTimeout:    2 * time.Second,
		Stabilization:       300 * time.Millisecond,
		VoterInterval:       100 * time.Millisecond,
		GossipProbeInterval: 100 * time.Millisecond,
		Logger:              testLogger(t).With("node", name),
	}
}

type testCluster struct {
	t      *testing.T
	dir    string
	agents map[string]*Agent
	cfgs   map[string]Config
	order  []string
}

func newTestCluster(t *testing.T) *testCluster {
	return &testCluster{t: t, dir: t.TempDir(), agents: map[string]*Agent{}, cfgs: map[string]Config{}}
}

// start runs agent name; join names the member it joins through ("" to bootstrap).
func (c *testCluster) start(name, join string, mod ...func(*Config)) *Agent {
	c.t.Helper()
	cfg, ok := c.cfgs[name]
	if !ok {
		cfg = testConfig(c.t, name, filepath.Join(c.dir, name))
		if join != "" {
			j := c.cfgs[join]
			cfg.Join = []string{j.BindAddr}
			cfg.Token = c.agents[join].Token()
		}
		for _, m := range mod {
			m(&cfg)
		}
		c.cfgs[name] = cfg
		c.order = append(c.order, name)
	}
	a, err := New(cfg)
	if err != nil {
		c.t.Fatalf("new agent %s: %v", name, err)
	}
	if err := a.Start(); err != nil {
		c.t.Fatalf("start agent %s: %v", name, err)
	}
	c.agents[name] = a
	c.t.Cleanup(func() { a.Shutdown() })
	return a
}

// stop shuts an agent down without leaving, as a crash would look to others.
func (c *testCluster) stop(name string) {
	c.agents[name].Shutdown()
	delete(c.agents, name)
}

func (c *testCluster) running() []*Agent {
	var out []*Agent
	for _, n := range c.order {
		if a, ok := c.agents[n]; ok {
			out = append(out, a)
		}
	}
	return out
}

// client talks to agent name with the admin credential the first agent
// wrote when it bootstrapped.
func (c *testCluster) client(name string) *api.Client {
	c.t.Helper()
	a := c.agents[name]
	if c.cfgs[name].InsecureDev {
		return api.NewClient(a.APIURL())
	}
	cc, err := LoadClientConfig(filepath.Join(c.cfgs[c.order[0]].DataDir, "admin.conf"))
	if err != nil {
		c.t.Fatalf("admin credential: %v", err)
	}
	cl, err := cc.Client(a.APIURL())
	if err != nil {
		c.t.Fatal(err)
	}
	return cl
}

func waitUntil(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		ok, seen := cond()
		if ok {
			return
		}
		last = seen
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s; last seen: %s", timeout, what, last)
}

// waitRoles waits until every running agent sees the given voters (by
// name) and one agreed leader among them.
func (c *testCluster) waitRoles(voters ...string) {
	c.t.Helper()
	want := map[string]bool{}
	for _, v := range voters {
		want[v] = true
	}
	waitUntil(c.t, 30*time.Second, fmt.Sprintf("voters %v", voters), func() (bool, string) {
		leader := ""
		for _, a := range c.running() {
			st := a.Status()
			if st.Leader == nil {
				return false, a.Name() + " sees no leader"
			}
			if leader != "" && st.Leader.ID != leader {
				return false, "agents disagree on the leader"
			}
			leader = st.Leader.ID
			got := map[string]bool{}
			for _, v := range st.Voters {
				got[v.Name] = true
			}
			if len(got) != len(want) {
				return false, fmt.Sprintf("%s sees voters %v", a.Name(), st.Voters)
			}
			for v := range want {
				if !got[v] {
					return false, fmt.Sprintf("%s sees voters %v", a.Name(), st.Voters)
				}
			}
		}
		return true, ""
	})
}

func (c *testCluster) leader() *Agent {
	c.t.Helper()
	var l *Agent
	waitUntil(c.t, 20*time.Second, "a leader", func() (bool, string) {
		for _, a := range c.running() {
			if a.Raft().IsLeader() {
				l = a
				return true, ""
			}
		}
		return false, "none"
	})
	return l
}

func cm(name string) *api.ConfigMap {
	return &api.ConfigMap{
		TypeMeta:   api.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default"},
		Data:       map[string]string{"v": name},
	}
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

var _ = consensus.TargetVoters
