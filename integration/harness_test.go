package integration

import (
	"context"
	"crypto/tls"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/consensus"
	"github.com/shoal-dev/shoal/devnet"
	"github.com/shoal-dev/shoal/node"
)

var shoalBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "shoal-bin-")
	if err != nil {
		panic(err)
	}
	shoalBin = filepath.Join(dir, "shoal")
	// The tags of `make build` (see the Makefile), so that the benchmarks
	// measure the binary that ships.
	build := exec.Command("go", "build", "-tags", "no_dynamic_plugins", "-o", shoalBin, "../cmd/shoal")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build shoal:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// freeLoopbackIP picks an address in 127.0.0.0/8 whose shoal ports are free.
func freeLoopbackIP(t testing.TB) string {
	t.Helper()
	for range 100 {
		ip := fmt.Sprintf("127.%d.%d.%d", 10+rand.IntN(200), rand.IntN(256), 1+rand.IntN(250))
		if portsFree(ip) {
			return ip
		}
	}
	t.Fatal("no free loopback address found")
	return ""
}

func portsFree(ip string) bool {
	var closers []func() error
	defer func() {
		for _, c := range closers {
			c()
		}
	}()
	for _, p := range []string{"7946", "7947", "7948"} {
		l, err := net.Listen("tcp", net.JoinHostPort(ip, p))
		if err != nil {
			return false
		}
		closers = append(closers, l.Close)
	}
	u, err := net.ListenPacket("udp", net.JoinHostPort(ip, "7946"))
	if err != nil {
		return false
	}
	closers = append(closers, u.Close)
	return true
}

// agent is one shoal agent running as a child process.
type agent struct {
	t       testing.TB
	name    string
	ip      string
	dataDir string
	args    []string
	cmd     *exec.Cmd
	logPath string
	netns   string      // the network namespace of the agent's host; "" for this one
	host    devnet.Host // the agent's host, when it runs in one
	network *devnet.Network
	// adminConf is the credential the tests use: the admin.conf written by
	// the node that bootstrapped the cluster.
	adminConf string
}

// startAgent runs `shoal agent` for name on ip; extra flags are appended.
func startAgent(t testing.TB, name, ip, dataDir string, extra ...string) *agent {
	t.Helper()
	a := newAgent(t, name, ip, dataDir, extra...)
	a.start()
	return a
}

// newAgent prepares an agent without starting it.
func newAgent(t testing.TB, name, ip, dataDir string, extra ...string) *agent {
	t.Helper()
	if !containsArg(extra, "--containerd") {
		// Most tests need no pods; those that do ask for a runtime.
		extra = append(extra, "--containerd", "off")
	}
	if !containsArg(extra, "--dns-upstream") {
		// Agents' DNS never forwards to this machine's resolvers.
		extra = append(extra, "--dns-upstream", "off")
	}
	a := &agent{t: t, name: name, ip: ip, dataDir: dataDir,
		args:      append([]string{"agent", "--name", name, "--data-dir", dataDir, "--bind", ip, "--log-level", "debug"}, extra...),
		logPath:   filepath.Join(filepath.Dir(dataDir), name+".log"),
		adminConf: filepath.Join(dataDir, "admin.conf"),
	}
	for i, arg := range extra {
		if arg == "--token-file" && i+1 < len(extra) {
			a.adminConf = filepath.Join(filepath.Dir(extra[i+1]), "admin.conf")
		}
	}
	t.Cleanup(a.kill9) // before start, so an agent that never answers is killed too
	return a
}

func (a *agent) start() {
	a.t.Helper()
	logf, err := os.OpenFile(a.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		a.t.Fatal(err)
	}
	a.cmd = exec.Command(shoalBin, a.args...)
	start := a.cmd.Start
	if a.netns != "" {
		// One of the host's processes: a power cut of the host kills it,
		// its containerd and its containers.
		a.cmd = a.host.Command(shoalBin, a.args...)
		start = func() error { return a.host.Start(a.cmd) }
	}
	a.cmd.Stdout, a.cmd.Stderr = logf, logf
	a.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := start(); err != nil {
		a.t.Fatal(err)
	}
	logf.Close()
	waitFor(a.t, 20*time.Second, "agent "+a.name+" serves its API", func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		probe := &api.Client{Base: a.url(), HTTP: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}}
		_, err := probe.Do(ctx, "GET", "/healthz", nil, nil) // liveness only; no credential needed
		if a.cmd.ProcessState != nil {
			return false, "process exited: " + a.tail()
		}
		return err == nil, fmt.Sprintf("%v\nlog:\n%s", err, a.tail())
	})
}

// kill9 kills the agent and its containerd (its process group) with
// SIGKILL. Containers keep running, as they do when an agent crashes; for a
// power cut of the agent's host, see powerCut.
func (a *agent) kill9() {
	if a.cmd == nil || a.cmd.Process == nil {
		return
	}
	syscall.Kill(-a.cmd.Process.Pid, syscall.SIGKILL)
	a.cmd.Wait()
	a.cmd = nil
}

// restart starts the agent again with the same flags and data dir.
func (a *agent) restart() { a.kill9(); a.start() }

// url is the agent's API URL.
func (a *agent) url() string {
	for _, arg := range a.args {
		if arg == "--insecure-dev" {
			return "http://" + a.ip + ":7948"
		}
	}
	return "https://" + a.ip + ":7948"
}

// client talks to this agent with the cluster's admin credential (plain
// HTTP for --insecure-dev agents).
func (a *agent) client() *api.Client {
	if strings.HasPrefix(a.url(), "http://") {
		return api.NewClient(a.url())
	}
	cc, err := node.LoadClientConfig(a.adminConf)
	if err != nil {
		return &api.Client{Base: a.url(), HTTP: &http.Client{Transport: errTransport{err}}}
	}
	cl, err := cc.Client(a.url())
	if err != nil {
		return &api.Client{Base: a.url(), HTTP: &http.Client{Transport: errTransport{err}}}
	}
	// Each call makes a client with a pool of its own, and most are used
	// once: their idle connections close soon instead of staying open on
	// the agent for as long as the test runs.
	if t, ok := cl.HTTP.Transport.(*http.Transport); ok {
		t.IdleConnTimeout = 2 * time.Second
	}
	return cl
}

// errTransport fails every request with err, so a missing credential shows
// up as a readable test failure.
type errTransport struct{ err error }

func (e errTransport) RoundTrip(*http.Request) (*http.Response, error) { return nil, e.err }

func (a *agent) tail() string {
	b, _ := os.ReadFile(a.logPath)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return strings.Join(lines, "\n")
}

// waitFor polls cond until it holds or timeout passes; the failure names
// what was awaited and what was last seen.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		ok, seen := cond()
		if ok {
			return
		}
		last = seen
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s; last seen: %s", timeout, what, last)
}

// cluster is a set of agents formed through the first one.
type cluster struct {
	t      testing.TB
	dir    string
	agents []*agent
}

// startCluster runs n agents; the first bootstraps and the others join it.
func startCluster(t testing.TB, n int, extra ...string) *cluster {
	t.Helper()
	c := &cluster{t: t, dir: t.TempDir()}
	for i := range n {
		c.add(fmt.Sprintf("n%d", i+1), extra...)
	}
	c.waitVoters(consensus.TargetVoters(n))
	return c
}

// add starts one more agent that joins through the first.
func (c *cluster) add(name string, extra ...string) *agent {
	ip := freeLoopbackIP(c.t)
	dir := filepath.Join(c.dir, name)
	args := append([]string{}, extra...)
	if len(c.agents) > 0 {
		args = append(args, "--join", c.agents[0].ip, "--token-file", filepath.Join(c.agents[0].dataDir, "token"))
	}
	a := startAgent(c.t, name, ip, dir, args...)
	c.agents = append(c.agents, a)
	return a
}

// status asks agent a for the cluster status.
func status(a *agent) (*api.ClusterStatus, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return a.client().Status(ctx)
}

// waitVoters waits until every running agent agrees on a leader and on n voters.
func (c *cluster) waitVoters(n int) {
	c.t.Helper()
	waitFor(c.t, 60*time.Second, fmt.Sprintf("%d voters and one leader", n), func() (bool, string) {
		var leader string
		for _, a := range c.agents {
			if a.cmd == nil {
				continue
			}
			st, err := status(a)
			if err != nil {
				return false, a.name + ": " + err.Error()
			}
			if st.Leader == nil || len(st.Voters) != n {
				return false, fmt.Sprintf("%s: leader=%v voters=%d", a.name, st.Leader, len(st.Voters))
			}
			if leader != "" && leader != st.Leader.ID {
				return false, "agents disagree on the leader"
			}
			leader = st.Leader.ID
		}
		return true, ""
	})
}

// leader returns the running agent that leads.
func (c *cluster) leader() *agent {
	c.t.Helper()
	var found *agent
	waitFor(c.t, 30*time.Second, "a leader", func() (bool, string) {
		for _, a := range c.agents {
			if a.cmd == nil {
				continue
			}
			if st, err := status(a); err == nil && st.Self.RaftState == "Leader" {
				found = a
				return true, ""
			}
		}
		return false, "no agent reports Leader"
	})
	return found
}

func containsArg(args []string, name string) bool {
	for _, a := range args {
		if a == name {
			return true
		}
	}
	return false
}
