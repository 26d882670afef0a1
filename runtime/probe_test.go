package runtime

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/clock"
)

// hostPort splits a loopback server's address into its IP and port.
func hostPort(t *testing.T, addr string) (string, int) {
	t.Helper()
	if u, err := url.Parse(addr); err == nil && u.Host != "" {
		addr = u.Host
	}
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return h, n
}

// closedPort returns a loopback port that nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port := hostPort(t, l.Addr().String())
	l.Close()
	return port
}

func httpGet(path string, port api.IntOrString, headers ...api.HTTPHeader) *api.Probe {
	return &api.Probe{ProbeHandler: api.ProbeHandler{HTTPGet: &api.HTTPGetAction{
		Path: path, Port: port, HTTPHeaders: headers,
	}}}
}

func TestRunProbeHTTP(t *testing.T) {
	var mu sync.Mutex
	var seen *http.Request
	refused := closedPort(t)
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("/fail", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) })
	mux.HandleFunc("/missing", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(404) })
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		// Following this would fail: nothing listens there.
		http.Redirect(w, r, fmt.Sprintf("http://127.0.0.1:%d/elsewhere", refused), http.StatusFound)
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	})
	mux.HandleFunc("/headers", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = r.Clone(context.Background())
		mu.Unlock()
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	tlsSrv := httptest.NewTLSServer(mux)
	defer tlsSrv.Close()

	ip, port := hostPort(t, srv.URL)
	_, tlsPort := hostPort(t, tlsSrv.URL)
	ports := []api.ContainerPort{
		{Name: "metrics", ContainerPort: 9090, Protocol: api.ProtocolTCP},
		{Name: "web", ContainerPort: int32(port), Protocol: api.ProtocolTCP},
		{Name: "dns", ContainerPort: 53, Protocol: api.ProtocolUDP},
	}
	https := httpGet("/ok", api.FromInt(tlsPort))
	https.HTTPGet.Scheme = api.URISchemeHTTPS

	for _, tc := range []struct {
		name     string
		probe    *api.Probe
		podIP    string
		deadline time.Duration // a shorter budget than the probe's, to keep the test fast
		ok       bool
		msg      string // a part of the message
	}{
		{name: "200 passes", probe: httpGet("/ok", api.FromInt(port)), ok: true},
		{name: "500 fails", probe: httpGet("/fail", api.FromInt(port)), msg: "HTTP probe failed with statuscode: 500"},
		{name: "404 fails", probe: httpGet("/missing", api.FromInt(port)), msg: "statuscode: 404"},
		{name: "302 passes and is not followed", probe: httpGet("/redirect", api.FromInt(port)), ok: true},
		{name: "an empty path asks for /", probe: httpGet("", api.FromInt(port)), msg: "statuscode: 404"},
		{name: "slow times out", probe: httpGet("/slow", api.FromInt(port)), deadline: 100 * time.Millisecond, msg: "timed out after 100ms"},
		{name: "refused", probe: httpGet("/ok", api.FromInt(refused)), msg: "connection refused"},
		{name: "HTTPS skips verification", probe: https, ok: true},
		{name: "named port", probe: httpGet("/ok", api.FromString("web")), ok: true},
		{name: "unknown port name", probe: httpGet("/ok", api.FromString("admin")), msg: `port "admin" is not a port of the container (its named ports: metrics, web, dns)`},
		{name: "UDP port name", probe: httpGet("/ok", api.FromString("dns")), msg: `port "dns" is UDP`},
		{name: "port out of range", probe: httpGet("/ok", api.FromInt(70000)), msg: "port 70000 is out of range"},
		{name: "no pod IP", probe: httpGet("/ok", api.FromInt(port)), podIP: "-", msg: "the pod has no IP yet"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			if tc.deadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.deadline)
				defer cancel()
			}
			target := ProbeTarget{PodIP: ip, Ports: ports}
			if tc.podIP == "-" {
				target.PodIP = ""
			}
			ok, msg := runProbe(ctx, tc.probe, target)
			if ok != tc.ok || !strings.Contains(msg, tc.msg) {
				t.Fatalf("runProbe = %v, %q; want %v and a message containing %q", ok, msg, tc.ok, tc.msg)
			}
		})
	}

	t.Run("headers", func(t *testing.T) {
		p := httpGet("/headers?full=1", api.FromInt(port),
			api.HTTPHeader{Name: "X-Probe", Value: "yes"},
			api.HTTPHeader{Name: "Host", Value: "web.example"})
		if ok, msg := runProbe(context.Background(), p, ProbeTarget{PodIP: ip}); !ok {
			t.Fatalf("probe failed: %s", msg)
		}
		mu.Lock()
		defer mu.Unlock()
		if seen == nil {
			t.Fatal("the server saw no request")
		}
		if got := seen.Header.Get("X-Probe"); got != "yes" {
			t.Errorf("X-Probe = %q, want yes", got)
		}
		if seen.Host != "web.example" {
			t.Errorf("Host = %q, want web.example", seen.Host)
		}
		if got := seen.UserAgent(); got != "shoal-probe/1.0" {
			t.Errorf("User-Agent = %q, want shoal-probe/1.0", got)
		}
		if got := seen.URL.Query().Get("full"); got != "1" {
			t.Errorf("query full = %q, want 1", got)
		}
	})
}

func TestRunProbeTCP(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ip, open := hostPort(t, l.Addr().String())
	shut := closedPort(t)
	tcp := func(port api.IntOrString) *api.Probe {
		return &api.Probe{ProbeHandler: api.ProbeHandler{TCPSocket: &api.TCPSocketAction{Port: port}}}
	}
	target := ProbeTarget{PodIP: ip, Ports: []api.ContainerPort{{Name: "db", ContainerPort: int32(open)}}}

	for _, tc := range []struct {
		name  string
		probe *api.Probe
		ok    bool
		msg   string
	}{
		{"open port", tcp(api.FromInt(open)), true, ""},
		{"closed port", tcp(api.FromInt(shut)), false, fmt.Sprintf("dial tcp 127.0.0.1:%d: connect: connection refused", shut)},
		{"named port", tcp(api.FromString("db")), true, ""},
		{"unknown port name", tcp(api.FromString("cache")), false, `port "cache" is not a port of the container`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, msg := runProbe(context.Background(), tc.probe, target)
			if ok != tc.ok || !strings.Contains(msg, tc.msg) {
				t.Fatalf("runProbe = %v, %q; want %v and a message containing %q", ok, msg, tc.ok, tc.msg)
			}
		})
	}

	t.Run("a port name needs ports", func(t *testing.T) {
		_, msg := runProbe(context.Background(), tcp(api.FromString("db")), ProbeTarget{PodIP: ip})
		if !strings.Contains(msg, "names none") {
			t.Fatalf("message %q does not say the container names no ports", msg)
		}
	})
}

func TestRunProbeExec(t *testing.T) {
	probe := &api.Probe{ProbeHandler: api.ProbeHandler{Exec: &api.ExecAction{Command: []string{"cat", "/tmp/healthy"}}}}
	exec := func(code int, out string, err error) func(context.Context, []string) (int, string, error) {
		return func(context.Context, []string) (int, string, error) { return code, out, err }
	}
	hang := func(ctx context.Context, _ []string) (int, string, error) {
		<-ctx.Done()
		return -1, "", ctx.Err()
	}

	for _, tc := range []struct {
		name     string
		probe    *api.Probe
		exec     func(context.Context, []string) (int, string, error)
		deadline time.Duration
		ok       bool
		msg      string
	}{
		{name: "exit 0 passes", probe: probe, exec: exec(0, "fine\n", nil), ok: true, msg: "fine"},
		{name: "exit 1 fails", probe: probe, exec: exec(1, "cat: /tmp/healthy: No such file\n", nil),
			msg: `command "cat /tmp/healthy" exited with code 1: cat: /tmp/healthy: No such file`},
		{name: "an error fails", probe: probe, exec: exec(0, "", errors.New("task is not running")),
			msg: `command "cat /tmp/healthy" could not run: task is not running`},
		{name: "timeout fails", probe: probe, exec: hang, deadline: 50 * time.Millisecond,
			msg: `command "cat /tmp/healthy" timed out after 50ms`},
		{name: "no exec", probe: probe, msg: "does not support exec"},
		{name: "no command", probe: &api.Probe{ProbeHandler: api.ProbeHandler{Exec: &api.ExecAction{}}}, exec: exec(0, "", nil), msg: "no command"},
		{name: "no handler", probe: &api.Probe{}, exec: exec(0, "", nil), msg: "set one of exec, httpGet or tcpSocket"},
		{name: "no probe", exec: exec(0, "", nil), msg: "no probe"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			if tc.deadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.deadline)
				defer cancel()
			}
			ok, msg := runProbe(ctx, tc.probe, ProbeTarget{Exec: tc.exec})
			if ok != tc.ok || !strings.Contains(msg, tc.msg) {
				t.Fatalf("runProbe = %v, %q; want %v and a message containing %q", ok, msg, tc.ok, tc.msg)
			}
		})
	}

	t.Run("the command and timeoutSeconds reach Exec", func(t *testing.T) {
		for _, tc := range []struct {
			seconds int32
			want    time.Duration
		}{{0, time.Second}, {1, time.Second}, {3, 3 * time.Second}} {
			p := *probe
			p.TimeoutSeconds = tc.seconds
			var budget time.Duration
			var cmd []string
			runProbe(context.Background(), &p, ProbeTarget{Exec: func(ctx context.Context, c []string) (int, string, error) {
				dl, _ := ctx.Deadline()
				budget, cmd = time.Until(dl), c
				return 0, "", nil
			}})
			if budget <= tc.want-500*time.Millisecond || budget > tc.want {
				t.Errorf("timeoutSeconds %d: Exec had %v, want about %v", tc.seconds, budget, tc.want)
			}
			if strings.Join(cmd, " ") != "cat /tmp/healthy" {
				t.Errorf("Exec ran %q", cmd)
			}
		}
	})
}

// scriptedExec answers exec probes with exit codes from a script; past its
// end it repeats the last one.
type scriptedExec struct {
	mu    sync.Mutex
	codes []int
	calls int
}

func (s *scriptedExec) exec(context.Context, []string) (int, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	code := s.codes[min(s.calls, len(s.codes)-1)]
	s.calls++
	return code, fmt.Sprintf("run %d exited %d", s.calls, code), nil
}

func (s *scriptedExec) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

func newExecProbe(delay, period, failures int32) *api.Probe {
	return &api.Probe{
		ProbeHandler:        api.ProbeHandler{Exec: &api.ExecAction{Command: []string{"check"}}},
		InitialDelaySeconds: delay,
		PeriodSeconds:       period,
		FailureThreshold:    failures,
	}
}

func execSpec(id string, kind ProbeKind, p *api.Probe, s *scriptedExec) ProbeSpec {
	return ProbeSpec{ContainerID: id, Kind: kind, Probe: p, Target: ProbeTarget{Exec: s.exec}}
}

// proberHarness drives a Prober on a fake clock. Every wait is on a
// condition: armed timers, a closed channel, a counter.
type proberHarness struct {
	t       *testing.T
	clk     *clock.Fake
	p       *Prober
	changes atomic.Int32
}

func newProberHarness(t *testing.T) *proberHarness {
	h := &proberHarness{t: t, clk: clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))}
	h.p = NewProber(h.clk, func() { h.changes.Add(1) })
	t.Cleanup(h.p.Stop)
	return h
}

// waitUntil polls cond until it holds, failing the test after a long
// while. It never decides anything by the passing of time.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting until %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// armed waits until the workers have armed n timers: each has finished its
// run and waits for the clock.
func (h *proberHarness) armed(n int) {
	h.t.Helper()
	waitUntil(h.t, fmt.Sprintf("%d timers are armed", n), func() bool { return h.clk.Waiters() == n })
}

// step advances the clock by d, then waits until n timers are armed again.
// Advance removes every timer that fires, so the wait ends only once the
// woken workers have run and re-armed theirs.
func (h *proberHarness) step(d time.Duration, n int) {
	h.t.Helper()
	h.clk.Advance(d)
	h.armed(n)
}

// worker returns the running worker for a key.
func (h *proberHarness) worker(id string, kind ProbeKind) *probeWorker {
	h.t.Helper()
	h.p.mu.Lock()
	defer h.p.mu.Unlock()
	w := h.p.workers[probeKey{id, kind}]
	if w == nil {
		h.t.Fatalf("no %s worker for %s", kind, id)
	}
	return w
}

// returned waits until a worker's goroutine has returned.
func (h *proberHarness) returned(w *probeWorker) {
	h.t.Helper()
	select {
	case <-w.done:
	case <-time.After(10 * time.Second):
		h.t.Fatalf("the %s worker for %s never returned", w.key.kind, w.key.containerID)
	}
}

func (h *proberHarness) want(id string, kind ProbeKind, ok, known bool, changes int32) {
	h.t.Helper()
	if gotOK, gotKnown := h.p.Result(id, kind); gotOK != ok || gotKnown != known {
		h.t.Fatalf("Result(%s, %s) = %v, %v; want %v, %v", id, kind, gotOK, gotKnown, ok, known)
	}
	if got := h.changes.Load(); got != changes {
		h.t.Fatalf("OnChange called %d times, want %d", got, changes)
	}
}

func TestProberReadiness(t *testing.T) {
	h := newProberHarness(t)
	s := &scriptedExec{codes: []int{0, 1, 1, 1, 0}}
	h.p.Sync([]ProbeSpec{execSpec("c1", ProbeReadiness, newExecProbe(5, 10, 3), s)})
	h.armed(1)
	h.want("c1", ProbeReadiness, false, true, 0)

	h.step(4*time.Second, 1)
	if s.Calls() != 0 {
		t.Fatalf("probed %d times before initialDelaySeconds", s.Calls())
	}
	h.want("c1", ProbeReadiness, false, true, 0)

	h.step(time.Second, 1)
	h.want("c1", ProbeReadiness, true, true, 1) // first success

	h.step(10*time.Second, 1)
	h.want("c1", ProbeReadiness, true, true, 1) // one failure
	h.step(10*time.Second, 1)
	h.want("c1", ProbeReadiness, true, true, 1) // two
	h.step(10*time.Second, 1)
	h.want("c1", ProbeReadiness, false, true, 2) // three: not ready
	if failed, _ := h.p.Failed("c1", ProbeReadiness); failed {
		t.Fatal("Failed reports a readiness probe")
	}

	h.step(10*time.Second, 1)
	h.want("c1", ProbeReadiness, true, true, 3) // ready again
	if s.Calls() != 5 {
		t.Fatalf("probed %d times, want 5", s.Calls())
	}
}

func TestProberReadinessSuccessThreshold(t *testing.T) {
	h := newProberHarness(t)
	s := &scriptedExec{codes: []int{0, 1, 0, 0}}
	p := newExecProbe(0, 1, 1)
	p.SuccessThreshold = 2
	h.p.Sync([]ProbeSpec{execSpec("c1", ProbeReadiness, p, s)})
	h.armed(1)
	h.want("c1", ProbeReadiness, false, true, 1) // one success of two; the first run tells Probed
	if !h.p.Probed("c1", ProbeReadiness) {
		t.Fatal("Probed is false after a run")
	}
	h.step(time.Second, 1)
	h.want("c1", ProbeReadiness, false, true, 1) // a failure resets the run
	h.step(time.Second, 1)
	h.want("c1", ProbeReadiness, false, true, 1)
	h.step(time.Second, 1)
	h.want("c1", ProbeReadiness, true, true, 2)
}

func TestProberLiveness(t *testing.T) {
	h := newProberHarness(t)
	s := &scriptedExec{codes: []int{1, 0, 1, 1, 1}}
	spec := execSpec("c1", ProbeLiveness, newExecProbe(0, 1, 3), s)
	h.p.Sync([]ProbeSpec{spec})
	h.armed(1)
	h.want("c1", ProbeLiveness, true, true, 0) // one failure
	h.step(time.Second, 1)
	h.want("c1", ProbeLiveness, true, true, 0) // a success resets the count
	h.step(time.Second, 1)
	h.step(time.Second, 1)
	h.want("c1", ProbeLiveness, true, true, 0) // two failures
	if failed, _ := h.p.Failed("c1", ProbeLiveness); failed {
		t.Fatal("Failed before failureThreshold")
	}

	w := h.worker("c1", ProbeLiveness)
	h.clk.Advance(time.Second)
	h.returned(w) // the third failure ends the worker
	h.want("c1", ProbeLiveness, false, true, 1)
	failed, msg := h.p.Failed("c1", ProbeLiveness)
	if !failed || msg != `command "check" exited with code 1: run 5 exited 1` {
		t.Fatalf("Failed = %v, %q", failed, msg)
	}

	h.clk.Advance(time.Minute)
	h.p.Sync([]ProbeSpec{spec}) // the same again: the failure stays
	if failed, _ := h.p.Failed("c1", ProbeLiveness); !failed || s.Calls() != 5 {
		t.Fatalf("after a repeated Sync: Failed = %v after %d runs, want true after 5", failed, s.Calls())
	}

	// The reconciler restarts the container, which has a new ID.
	s2 := &scriptedExec{codes: []int{0}}
	h.p.Sync([]ProbeSpec{execSpec("c2", ProbeLiveness, newExecProbe(0, 1, 3), s2)})
	waitUntil(t, "the new worker has probed", func() bool { return s2.Calls() == 1 })
	h.want("c1", ProbeLiveness, false, false, 1)
	h.want("c2", ProbeLiveness, true, true, 1)
	if failed, _ := h.p.Failed("c1", ProbeLiveness); failed {
		t.Fatal("a removed worker still reports Failed")
	}
}

func TestProberStartup(t *testing.T) {
	t.Run("stops once it passes", func(t *testing.T) {
		h := newProberHarness(t)
		s := &scriptedExec{codes: []int{1, 0}}
		h.p.Sync([]ProbeSpec{execSpec("c1", ProbeStartup, newExecProbe(0, 1, 3), s)})
		h.armed(1)
		h.want("c1", ProbeStartup, false, false, 0)
		w := h.worker("c1", ProbeStartup)
		h.clk.Advance(time.Second)
		h.returned(w)
		h.want("c1", ProbeStartup, true, true, 1)
		h.clk.Advance(time.Minute)
		if s.Calls() != 2 {
			t.Fatalf("probed %d times, want 2", s.Calls())
		}
		if failed, _ := h.p.Failed("c1", ProbeStartup); failed {
			t.Fatal("Failed after passing")
		}
	})
	t.Run("fails at failureThreshold", func(t *testing.T) {
		h := newProberHarness(t)
		s := &scriptedExec{codes: []int{1}}
		h.p.Sync([]ProbeSpec{execSpec("c1", ProbeStartup, newExecProbe(0, 1, 2), s)})
		h.armed(1)
		h.want("c1", ProbeStartup, false, false, 0)
		w := h.worker("c1", ProbeStartup)
		h.clk.Advance(time.Second)
		h.returned(w)
		h.want("c1", ProbeStartup, false, true, 1)
		if failed, msg := h.p.Failed("c1", ProbeStartup); !failed || !strings.Contains(msg, "exited with code 1") {
			t.Fatalf("Failed = %v, %q", failed, msg)
		}
	})
	t.Run("holds back liveness and readiness", func(t *testing.T) {
		h := newProberHarness(t)
		startup := &scriptedExec{codes: []int{1, 0}}
		ready := &scriptedExec{codes: []int{0}}
		live := &scriptedExec{codes: []int{1}}
		h.p.Sync([]ProbeSpec{
			execSpec("c1", ProbeStartup, newExecProbe(0, 1, 30), startup),
			execSpec("c1", ProbeReadiness, newExecProbe(0, 10, 3), ready),
			execSpec("c1", ProbeLiveness, newExecProbe(0, 10, 1), live),
		})
		h.armed(3)
		sw := h.worker("c1", ProbeStartup)
		h.clk.Advance(time.Second)
		h.returned(sw)
		h.armed(2)
		if ready.Calls() != 0 || live.Calls() != 0 {
			t.Fatalf("before startup passed: %d readiness and %d liveness runs, want none", ready.Calls(), live.Calls())
		}
		h.want("c1", ProbeReadiness, false, true, 1)
		h.want("c1", ProbeLiveness, true, true, 1)

		lw := h.worker("c1", ProbeLiveness)
		h.clk.Advance(9 * time.Second)
		h.returned(lw)
		h.armed(1)
		h.want("c1", ProbeReadiness, true, true, 3)
		h.want("c1", ProbeLiveness, false, true, 3)
	})
}

func TestProberSyncRemovesWorkers(t *testing.T) {
	h := newProberHarness(t)
	s := &scriptedExec{codes: []int{0}}
	p := newExecProbe(0, 10, 3)
	h.p.Sync([]ProbeSpec{
		execSpec("c1", ProbeReadiness, p, s),
		execSpec("c1", ProbeLiveness, p, s),
		execSpec("c2", ProbeReadiness, p, s),
		{ContainerID: "c3", Kind: ProbeReadiness},                 // no probe: ignored
		{ContainerID: "c3", Kind: "wellness", Probe: p},           // unknown kind: ignored
		execSpec("c2", ProbeReadiness, newExecProbe(0, 10, 3), s), // a duplicate
	})
	h.armed(3)
	if n := h.p.running.Load(); n != 3 {
		t.Fatalf("%d workers run, want 3", n)
	}
	r1, l1 := h.worker("c1", ProbeReadiness), h.worker("c1", ProbeLiveness)

	h.p.Sync([]ProbeSpec{execSpec("c2", ProbeReadiness, p, s)})
	h.returned(r1)
	h.returned(l1)
	if n := h.p.running.Load(); n != 1 {
		t.Fatalf("%d workers run, want 1", n)
	}
	if _, known := h.p.Result("c1", ProbeReadiness); known {
		t.Fatal("a removed worker still has a result")
	}
	if ok, _ := h.p.Result("c2", ProbeReadiness); !ok {
		t.Fatal("the kept worker lost its result")
	}

	r2 := h.worker("c2", ProbeReadiness)
	h.p.Sync(nil)
	h.returned(r2)
	if n := h.p.running.Load(); n != 0 {
		t.Fatalf("%d workers run after Sync(nil), want 0", n)
	}
}

func TestProberSyncRestartsChangedProbes(t *testing.T) {
	h := newProberHarness(t)
	pass := &scriptedExec{codes: []int{0}}
	h.p.Sync([]ProbeSpec{execSpec("c1", ProbeReadiness, newExecProbe(0, 10, 1), pass)})
	h.armed(1)
	h.want("c1", ProbeReadiness, true, true, 1)
	w := h.worker("c1", ProbeReadiness)

	// An equal probe and a new target: the same worker, with its result,
	// runs the new target from its next run.
	fail := &scriptedExec{codes: []int{1}}
	h.p.Sync([]ProbeSpec{execSpec("c1", ProbeReadiness, newExecProbe(0, 10, 1), fail)})
	if h.worker("c1", ProbeReadiness) != w {
		t.Fatal("an unchanged probe restarted its worker")
	}
	h.want("c1", ProbeReadiness, true, true, 1)
	h.step(10*time.Second, 1)
	h.want("c1", ProbeReadiness, false, true, 2)
	if fail.Calls() != 1 || pass.Calls() != 1 {
		t.Fatalf("runs: %d with the old target, %d with the new; want 1 and 1", pass.Calls(), fail.Calls())
	}

	// A changed probe: a new worker with fresh results.
	h.p.Sync([]ProbeSpec{execSpec("c1", ProbeReadiness, newExecProbe(0, 5, 1), pass)})
	h.returned(w)
	if h.worker("c1", ProbeReadiness) == w {
		t.Fatal("a changed probe kept its worker")
	}
	// The old worker's timer stays armed on the fake clock until it fires.
	h.armed(2)
	h.want("c1", ProbeReadiness, true, true, 3)
	h.step(5*time.Second, 2)
	if pass.Calls() != 3 {
		t.Fatalf("%d runs with the new probe, want 2", pass.Calls()-1)
	}
}

func TestProberStop(t *testing.T) {
	h := newProberHarness(t)
	s := &scriptedExec{codes: []int{0}}
	h.p.Sync([]ProbeSpec{
		execSpec("c1", ProbeReadiness, newExecProbe(0, 10, 3), s),
		execSpec("c1", ProbeLiveness, newExecProbe(30, 10, 3), s),
	})
	h.armed(2)
	h.p.Stop()
	if n := h.p.running.Load(); n != 0 {
		t.Fatalf("%d workers run after Stop", n)
	}
	if _, known := h.p.Result("c1", ProbeReadiness); known {
		t.Fatal("a result survived Stop")
	}
	h.p.Sync([]ProbeSpec{execSpec("c1", ProbeReadiness, newExecProbe(0, 10, 3), s)})
	if n := h.p.running.Load(); n != 0 {
		t.Fatalf("Sync after Stop started %d workers", n)
	}
	h.p.Stop()
}

func TestProberOnChangeMayCallBack(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	s := &scriptedExec{codes: []int{0, 1}}
	spec := execSpec("c1", ProbeReadiness, newExecProbe(0, 1, 1), s)
	seen := make(chan bool, 10)
	var p *Prober
	p = NewProber(clk, func() {
		p.Sync([]ProbeSpec{spec})
		ok, _ := p.Result("c1", ProbeReadiness)
		seen <- ok
	})
	defer p.Stop()
	p.Sync([]ProbeSpec{spec})
	for i, want := range []bool{true, false} {
		if i > 0 {
			clk.Advance(time.Second)
		}
		select {
		case got := <-seen:
			if got != want {
				t.Fatalf("change %d: OnChange saw ready = %v, want %v", i, got, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("change %d never came", i)
		}
		waitUntil(t, "the worker has re-armed", func() bool { return clk.Waiters() == 1 })
	}
}

func TestProberConcurrentUse(t *testing.T) {
	h := newProberHarness(t)
	s := &scriptedExec{codes: []int{0, 1, 1, 0, 1, 1, 1}}
	specs := []ProbeSpec{
		execSpec("a", ProbeReadiness, newExecProbe(0, 1, 2), s),
		execSpec("a", ProbeLiveness, newExecProbe(0, 1, 2), s),
		execSpec("b", ProbeStartup, newExecProbe(1, 1, 2), s),
		execSpec("b", ProbeReadiness, newExecProbe(0, 2, 1), s),
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				h.p.Sync(specs[(g+i)%len(specs):])
				h.p.Result("a", ProbeReadiness)
				h.p.Failed("a", ProbeLiveness)
				h.clk.Advance(time.Second)
			}
		}()
	}
	wg.Wait()
	h.p.Stop()
	if n := h.p.running.Load(); n != 0 {
		t.Fatalf("%d workers run after Stop", n)
	}
}
