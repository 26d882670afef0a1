package integration

// Benchmarks of the node runtime: how fast one agent starts pods, and what
// the agent costs while pods idle. Each runs one agent with its own
// supervised containerd in a network namespace of its own, as the pod
// tests do (hosts_test.go), so they need root, containerd, runc, the CNI
// plugins and busybox-static. They are tests, not Go benchmarks, because
// the pod harness takes a *testing.T; they run only with SHOAL_BENCH_PODS=1
// and skip otherwise, so `go test ./...` and `make test` never start them.
// `scripts/bench.sh pods` runs both. They report, they never fail on
// timings. See BENCHMARKS.md for recorded numbers.
//
// Knobs (environment):
//   SHOAL_BENCH_PODS=1          run them at all
//   SHOAL_BENCH_PODS_RUNS       single-pod starts per variant (default 20)
//   SHOAL_BENCH_PODS_ROUNDS     rounds of 20 pods at once per variant (default 5)
//   SHOAL_BENCH_PODS_WINDOW     CPU/RSS sampling window (default 60s)
//   SHOAL_BENCH_LOGS            a directory to keep the agent's log in

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
)

// benchPods skips t unless SHOAL_BENCH_PODS=1 and the machine can run pods.
func benchPods(t *testing.T) {
	t.Helper()
	if os.Getenv("SHOAL_BENCH_PODS") != "1" {
		t.Skip("a node-runtime benchmark: set SHOAL_BENCH_PODS=1 to run it (as root; see BENCHMARKS.md)")
	}
	needPods(t)
}

// benchPodAgent starts one pod-running agent at log level info (as in the
// other benchmarks) in a host of its own and imports the test image.
func benchPodAgent(t *testing.T) *agent {
	t.Helper()
	archive := buildTestImage(t)
	n := newTestNet(t)
	h := n.addHost()
	a := startPodAgent(t, "n1", h, "--log-level", "info")
	a.waitNode(t, "n1")
	if out, err := a.cli("image", "import", archive); err != nil {
		t.Fatalf("image import: %v\n%s", err, out)
	}
	if dir := os.Getenv("SHOAL_BENCH_LOGS"); dir != "" {
		t.Cleanup(func() {
			dst := filepath.Join(dir, t.Name())
			os.MkdirAll(dst, 0o755)
			if data, err := os.ReadFile(a.logPath); err == nil {
				os.WriteFile(filepath.Join(dst, a.name+".log"), data, 0o644)
				t.Logf("agent log kept in %s", dst)
			}
		})
	}
	return a
}

// benchPodJSON is a pod of one `sleep 3600` container that stops at once
// when deleted; with probe, it has a readiness probe that passes at once.
func benchPodJSON(name string, probe bool) []byte {
	c := map[string]any{"name": "c", "image": "shoal.test/busybox:1", "command": []string{"sleep", "3600"}}
	if probe {
		c["readinessProbe"] = map[string]any{"exec": map[string]any{"command": []string{"true"}}, "periodSeconds": 1}
	}
	b, _ := json.Marshal(map[string]any{
		"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"name": name, "namespace": "default"},
		"spec":     map[string]any{"terminationGracePeriodSeconds": 0, "containers": []any{c}},
	})
	return b
}

// podClient is an API client for a with room for many keep-alive
// connections, for creating pods concurrently.
func podClient(a *agent) *api.Client {
	t := targetOf(a)
	return &api.Client{Base: t.base, HTTP: newBenchHTTPClient(32, t.tls)}
}

// podObs is what was seen of one pod, each the first time: when the create
// returned, when the watch showed it bound, Running, Ready.
type podObs struct {
	uid, containerID                      string
	sent, created                         time.Time
	scheduled, running, ready, readyAfter time.Time
}

// podWatcher watches the pods of the default namespace and records, per
// pod name, the first time each stage is seen.
type podWatcher struct {
	mu     sync.Mutex
	pods   map[string]*podObs
	events int // watch events received
}

func watchPods(t *testing.T, cl *api.Client) *podWatcher {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ch, err := cl.Watch(ctx, "Pod", "default", 0)
	if err != nil {
		t.Fatalf("watch pods: %v", err)
	}
	w := &podWatcher{pods: map[string]*podObs{}}
	go func() {
		for ev := range ch {
			now := time.Now()
			if ev.Type == "ERROR" {
				t.Logf("pod watch: %s", ev.Object)
				continue
			}
			o, err := api.DecodeJSON("Pod", ev.Object)
			if err != nil {
				continue
			}
			p := o.(*api.Pod)
			w.mu.Lock()
			w.events++
			if ev.Type == "DELETED" {
				delete(w.pods, p.Name)
				w.mu.Unlock()
				continue
			}
			obs := w.obs(p.Name)
			if obs.uid == "" {
				obs.uid = p.UID
			}
			if len(p.Status.ContainerStatuses) > 0 && obs.containerID == "" {
				obs.containerID = p.Status.ContainerStatuses[0].ContainerID
			}
			if p.Spec.NodeName != "" && obs.scheduled.IsZero() {
				obs.scheduled = now
			}
			if p.Status.Phase == api.PodRunning && obs.running.IsZero() {
				obs.running = now
			}
			if ready(p) && obs.ready.IsZero() {
				obs.ready = now
			}
			w.mu.Unlock()
		}
	}()
	return w
}

// obs returns the record of name, making it; w.mu is held.
func (w *podWatcher) obs(name string) *podObs {
	o := w.pods[name]
	if o == nil {
		o = &podObs{}
		w.pods[name] = o
	}
	return o
}

func (w *podWatcher) eventCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.events
}

// waitReady waits until every named pod has been seen Ready and returns
// copies of their records.
func (w *podWatcher) waitReady(t *testing.T, timeout time.Duration, names []string) []podObs {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		w.mu.Lock()
		var out []podObs
		for _, n := range names {
			if o := w.pods[n]; o != nil && !o.ready.IsZero() && !o.created.IsZero() {
				out = append(out, *o)
			}
		}
		w.mu.Unlock()
		if len(out) == len(names) {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s only %d of %d pods were seen Ready", timeout, len(out), len(names))
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// createPods creates the pods concurrently, recording when each create
// was sent and when it returned.
func createPods(t *testing.T, cl *api.Client, w *podWatcher, names []string, probe bool) {
	t.Helper()
	url := cl.Base + "/api/v1/namespaces/default/pods"
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			sent := time.Now()
			errs[i] = postJSON(ctx, cl.HTTP, url, benchPodJSON(name, probe), http.StatusCreated)
			done := time.Now()
			w.mu.Lock()
			o := w.obs(name)
			o.sent, o.created = sent, done
			w.mu.Unlock()
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("create pod %s: %v", names[i], err)
		}
	}
}

// deletePods deletes the pods and waits until the agent has stopped and
// removed all of them (their directories under the data dir are the last
// thing to go).
func deletePods(t *testing.T, a *agent, cl *api.Client, names []string) {
	t.Helper()
	for _, name := range names {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := cl.Delete(ctx, "Pod", "default", name)
		cancel()
		if err != nil && !api.IsNotFound(err) {
			t.Fatalf("delete pod %s: %v", name, err)
		}
	}
	waitFor(t, 120*time.Second, "the deleted pods to be cleaned up", func() (bool, string) {
		ents, _ := os.ReadDir(filepath.Join(a.dataDir, "pods"))
		n := 0
		for _, e := range ents {
			if e.IsDir() {
				n++
			}
		}
		return n == 0, fmt.Sprintf("%d pod directories left", n)
	})
}

// ctrEvents follows containerd's event stream with `ctr events` and keeps,
// per container ID, the time of each task event: where inside the runtime
// a pod's start goes. Optional: without ctr there is no breakdown.
type ctrEvents struct {
	mu    sync.Mutex
	first map[string]map[string]time.Time // container ID → topic → first time
}

func followContainerd(t *testing.T, a *agent) *ctrEvents {
	t.Helper()
	e := &ctrEvents{first: map[string]map[string]time.Time{}}
	ctr, err := exec.LookPath("ctr")
	if err != nil {
		t.Log("no ctr: no breakdown of the runtime's part")
		return e
	}
	sock := containerdSocket(a)
	if sock == "" {
		t.Log("containerd socket not found: no breakdown of the runtime's part")
		return e
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		// The stream ends when containerd restarts; follow the new one.
		for ctx.Err() == nil {
			e.follow(ctx, ctr, sock)
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	return e
}

// follow runs `ctr events` until it ends or ctx does.
func (e *ctrEvents) follow(ctx context.Context, ctr, sock string) {
	cmd := exec.CommandContext(ctx, ctr, "--address", sock, "events")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return
	}
	if err := cmd.Start(); err != nil {
		return
	}
	defer cmd.Wait()
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		// 2026-11-27 14:10:00.123456789 +0000 UTC <namespace> <topic> <json>
		f := strings.SplitN(sc.Text(), " ", 7)
		if len(f) < 7 {
			continue
		}
		at, err := time.Parse("2006-01-02 15:04:05.999999999 -0700 MST", strings.Join(f[:4], " "))
		if err != nil {
			continue
		}
		var body map[string]any
		json.Unmarshal([]byte(f[6]), &body)
		id, _ := body["container_id"].(string)
		if id == "" {
			id, _ = body["id"].(string)
		}
		if id == "" {
			continue
		}
		e.mu.Lock()
		m := e.first[id]
		if m == nil {
			m = map[string]time.Time{}
			e.first[id] = m
		}
		if _, ok := m[f[5]]; !ok {
			m[f[5]] = at
		}
		e.mu.Unlock()
	}
}

func (e *ctrEvents) at(containerID, topic string) time.Time {
	if _, id, ok := strings.Cut(containerID, "://"); ok {
		containerID = id
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.first[containerID][topic]
}

// containerdSocket reads the address of the agent's containerd from the
// config the agent wrote for it.
func containerdSocket(a *agent) string {
	b, err := os.ReadFile(filepath.Join(a.dataDir, "containerd", "config.toml"))
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "address = "); ok {
			s, err := strconv.Unquote(v)
			if err == nil {
				return s
			}
		}
	}
	return ""
}

// durs collects the samples of one measure.
type durs map[string][]time.Duration

func (d durs) add(name string, from, to time.Time) {
	if from.IsZero() || to.IsZero() {
		return
	}
	d[name] = append(d[name], max(0, to.Sub(from)))
}

func (d durs) line(name string) string {
	s := d[name]
	return fmt.Sprintf("%-34s n=%-3d p50 %4.0f ms  p90 %4.0f ms  p99 %4.0f ms  max %4.0f ms", name, len(s),
		ms(percentile(s, 0.5)), ms(percentile(s, 0.9)), ms(percentile(s, 0.99)), ms(percentile(s, 1)))
}

// record adds one pod's stages to d.
func record(d durs, ev *ctrEvents, o podObs) {
	d.add("create → Running", o.created, o.running)
	d.add("create → Ready", o.created, o.ready)
	d.add("create sent → returned", o.sent, o.created)
	// The breakdown: where between create and Running the time goes.
	cc := ev.at(o.containerID, "/containers/create")
	tc := ev.at(o.containerID, "/tasks/create")
	ts := ev.at(o.containerID, "/tasks/start")
	x := ev.at(o.containerID, "/tasks/exec-started")
	d.add("  create → bound (scheduler)", o.created, o.scheduled)
	d.add("  bound → containerd container", o.scheduled, cc)
	d.add("  containerd container → task", cc, tc)
	d.add("  task created → started", tc, ts)
	d.add("  task started → Running seen", ts, o.running)
	d.add("  task started → first probe exec", ts, x)
	d.add("  Running → Ready", o.running, o.ready)
}

var stageOrder = []string{
	"create → Running", "create → Ready", "create sent → returned",
	"  create → bound (scheduler)", "  bound → containerd container", "  containerd container → task",
	"  task created → started", "  task started → Running seen",
	"  task started → first probe exec", "  Running → Ready",
}

// cpuMeter says how busy the machine was between its making and its call:
// all cores, and the agent, its containerd and this process in it.
func cpuMeter(a *agent) func() string {
	procs := map[string]int{"agent": a.cmd.Process.Pid, "test": os.Getpid()}
	ctrd := childNamed(a.cmd.Process.Pid, "containerd")
	if ctrd != 0 {
		procs["containerd"] = ctrd
	}
	load, _ := os.ReadFile("/proc/loadavg")
	t0, cpu0, busy0 := time.Now(), cpuTimes(procs), machineBusy()
	return func() string {
		el := time.Since(t0).Seconds()
		cpu1, busy1 := cpuTimes(procs), machineBusy()
		c := func(n string) float64 { return (cpu1[n] - cpu0[n]) / el }
		restarted := ""
		if now := childNamed(a.cmd.Process.Pid, "containerd"); now != ctrd {
			restarted = fmt.Sprintf("; CONTAINERD RESTARTED (pid %d, now %d): samples of this scenario include the outage", ctrd, now)
		}
		return fmt.Sprintf("machine %.2f cores busy of %d (agent %.2f, containerd %.2f, test process %.2f; the rest includes the shims and runc); load average before %s",
			(busy1-busy0)/el, goruntime.NumCPU(), c("agent"), c("containerd"), c("test"), strings.Join(strings.Fields(string(load))[:3], " ")) + restarted
	}
}

func report(t *testing.T, scenario string, d durs, cpu string) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "\n  %s", cpu)
	for _, name := range stageOrder {
		if len(d[name]) > 0 {
			fmt.Fprintf(&b, "\n  %s", d.line(name))
		}
	}
	t.Logf("pod-bench: %s%s", scenario, b.String())
}

// TestBenchPodStartLatency measures, on one node with the image present,
// the time from a pod's create returning to the watch showing it Running
// and Ready: one pod at a time (SHOAL_BENCH_PODS_RUNS times, deleting it
// in between) and 20 at once (SHOAL_BENCH_PODS_ROUNDS rounds), each with a
// readiness probe (exec `true`, every second) and without one.
func TestBenchPodStartLatency(t *testing.T) {
	benchPods(t)
	runs := envInt(t, "SHOAL_BENCH_PODS_RUNS", 20)
	rounds := envInt(t, "SHOAL_BENCH_PODS_ROUNDS", 5)
	a := benchPodAgent(t)
	cl := podClient(a)
	w := watchPods(t, cl)
	ev := followContainerd(t, a)

	// One unmeasured pod first: the first container on a fresh containerd
	// unpacks the image's layers.
	createPods(t, cl, w, []string{"warmup"}, false)
	o := w.waitReady(t, 60*time.Second, []string{"warmup"})
	t.Logf("warm-up pod: Running after %s", o[0].running.Sub(o[0].created).Round(time.Millisecond))
	deletePods(t, a, cl, []string{"warmup"})

	for _, probe := range []bool{true, false} {
		variant := "no probe"
		if probe {
			variant = "readiness probe"
		}
		t.Run(fmt.Sprintf("single/probe=%v", probe), func(t *testing.T) {
			d, cpu := durs{}, cpuMeter(a)
			for i := range runs {
				name := fmt.Sprintf("single-%v-%d", probe, i)
				createPods(t, cl, w, []string{name}, probe)
				obs := w.waitReady(t, 60*time.Second, []string{name})
				record(d, ev, obs[0])
				deletePods(t, a, cl, []string{name})
			}
			report(t, fmt.Sprintf("1 pod at a time, %s, %d runs", variant, runs), d, cpu())
		})
		t.Run(fmt.Sprintf("burst20/probe=%v", probe), func(t *testing.T) {
			d, cpu := durs{}, cpuMeter(a)
			var perRound []time.Duration
			for r := range rounds {
				names := make([]string, 20)
				for i := range names {
					names[i] = fmt.Sprintf("burst-%v-%d-%d", probe, r, i)
				}
				t0 := time.Now()
				createPods(t, cl, w, names, probe)
				obs := w.waitReady(t, 120*time.Second, names)
				last := t0
				for _, o := range obs {
					record(d, ev, o)
					if o.ready.After(last) {
						last = o.ready
					}
				}
				perRound = append(perRound, last.Sub(t0))
				deletePods(t, a, cl, names)
			}
			report(t, fmt.Sprintf("20 pods at once, %s, %d rounds (%d pods)", variant, rounds, 20*rounds), d, cpu())
			var s []string
			for _, r := range perRound {
				s = append(s, fmt.Sprintf("%.0f", ms(r)))
			}
			t.Logf("pod-bench: 20 pods at once, %s: first create sent → last pod Ready, per round: %s ms", variant, strings.Join(s, ", "))
		})
	}
}

// TestBenchPodsIdleAgent measures the agent's CPU and memory with 0 and
// then with 50 idle pods (`sleep 3600`), after their statuses settled:
// CPU time from /proc/<pid>/stat over SHOAL_BENCH_PODS_WINDOW (default
// 60s), as % of one core, and VmRSS / RssAnon sampled every 5 s. The
// agent's containerd and the containers' shims are reported for context.
func TestBenchPodsIdleAgent(t *testing.T) {
	benchPods(t)
	window := envDurationT(t, "SHOAL_BENCH_PODS_WINDOW", 60*time.Second)
	a := benchPodAgent(t)
	cl := podClient(a)
	w := watchPods(t, cl)
	agentPID := a.cmd.Process.Pid
	if comm := procComm(agentPID); comm != "shoal" {
		t.Fatalf("pid %d is %q, not the agent (shoal)", agentPID, comm)
	}
	ctrdPID := childNamed(agentPID, "containerd")
	if ctrdPID == 0 {
		t.Fatal("the agent has no containerd child")
	}
	sock := containerdSocket(a)

	sample := func(label string, pods int) {
		t.Helper()
		if now := childNamed(agentPID, "containerd"); now != ctrdPID {
			t.Logf("containerd restarted (pid %d, now %d)", ctrdPID, now)
			ctrdPID = now
		}
		procs := map[string]int{"agent": agentPID, "containerd": ctrdPID}
		commits0 := agentMetric(a, cl, "shoal_raft_commit_index")
		events0 := w.eventCount()
		cpu0, busy0 := cpuTimes(procs), machineBusy()
		shimCPU0 := cpuTimes(shims(sock))
		start := time.Now()
		mem := map[string][]procMem{}
		for {
			for name, pid := range procs {
				if m, err := readProcMem(pid); err == nil {
					mem[name] = append(mem[name], m)
				}
			}
			if time.Since(start) >= window {
				break
			}
			time.Sleep(min(5*time.Second, window-time.Since(start)))
		}
		elapsed := time.Since(start).Seconds()
		cpu1, busy1 := cpuTimes(procs), machineBusy()
		shimPIDs := shims(sock)
		shimCPU1 := cpuTimes(shimPIDs)
		commits := agentMetric(a, cl, "shoal_raft_commit_index") - commits0
		events := w.eventCount() - events0
		ours := 0.0
		var lines []string
		for _, name := range []string{"agent", "containerd"} {
			used := cpu1[name] - cpu0[name]
			ours += used
			samples := mem[name]
			if len(samples) == 0 {
				lines = append(lines, fmt.Sprintf("%-10s (pid %d): gone during the window", name, procs[name]))
				continue
			}
			var sumRSS, maxRSS, sumAnon float64
			for _, m := range samples {
				sumRSS += m.rss
				maxRSS = max(maxRSS, m.rss)
				sumAnon += m.anon
			}
			n := float64(len(samples))
			lines = append(lines, fmt.Sprintf("%-10s (pid %d): CPU %.2f%% of one core (%.2f s in %.0f s); VmRSS mean %.1f MB, max %.1f MB; RssAnon mean %.1f MB; RssFile %.1f MB",
				name, procs[name], 100*used/elapsed, used, elapsed, sumRSS/n, maxRSS, sumAnon/n, samples[len(samples)-1].file))
		}
		var shimUsed, shimRSS, shimAnon, shimPss float64
		for name, pid := range shimPIDs {
			shimUsed += shimCPU1[name] - shimCPU0[name]
			if m, err := readProcMem(pid); err == nil {
				shimRSS, shimAnon = shimRSS+m.rss, shimAnon+m.anon
			}
			shimPss += procPss(pid)
		}
		lines = append(lines, fmt.Sprintf("%d shims together: CPU %.2f%% of one core; VmRSS %.1f MB (shared pages counted in each), RssAnon %.1f MB, Pss %.1f MB",
			len(shimPIDs), 100*shimUsed/elapsed, shimRSS, shimAnon, shimPss))
		lines = append(lines, fmt.Sprintf("in the window: %.0f Raft commits, %d pod watch events; the rest of the machine used %.2f cores",
			commits, events, max(0, busy1-busy0-ours-shimUsed)/elapsed))
		t.Logf("pod-bench: %s, %d pods:\n  %s", label, pods, strings.Join(lines, "\n  "))
	}

	settle := 15 * time.Second
	t.Logf("baseline: letting the agent idle %s, then sampling for %s", settle, window)
	time.Sleep(settle)
	sample("idle agent, baseline", 0)

	names := make([]string, 50)
	for i := range names {
		names[i] = fmt.Sprintf("idle-%d", i)
	}
	t0 := time.Now()
	createPods(t, cl, w, names, false)
	obs := w.waitReady(t, 300*time.Second, names)
	var last time.Time
	for _, o := range obs {
		if o.ready.After(last) {
			last = o.ready
		}
	}
	t.Logf("50 pods created and Ready in %s", last.Sub(t0).Round(time.Millisecond))
	// Settled: at least one resync interval (10 s) passed, and no pod
	// changed for 10 s.
	time.Sleep(settle)
	waitFor(t, 120*time.Second, "pod statuses to settle", func() (bool, string) {
		n := w.eventCount()
		time.Sleep(10 * time.Second)
		m := w.eventCount()
		return m == n, fmt.Sprintf("%d pod events in 10 s", m-n)
	})
	sample("idle agent", 50)
	deletePods(t, a, cl, names)
}

// procMem is a process's memory in MiB.
type procMem struct{ rss, anon, file float64 }

func readProcMem(pid int) (procMem, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return procMem{}, err
	}
	var m procMem
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || f[2] != "kB" {
			continue
		}
		kb, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "VmRSS:":
			m.rss = kb / 1024
		case "RssAnon:":
			m.anon = kb / 1024
		case "RssFile:":
			m.file = kb / 1024
		}
	}
	return m, nil
}

// procPss is a process's proportional set size in MiB: its private pages
// plus its share of the pages it shares.
func procPss(pid int) float64 {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "Pss:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

func procComm(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	return strings.TrimSpace(string(b))
}

// childNamed returns the child of pid whose command is comm, or 0.
func childNamed(pid int, comm string) int {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, f := range tasks {
		b, _ := os.ReadFile(f)
		for _, c := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(c); err == nil && procComm(n) == comm {
				return n
			}
		}
	}
	return 0
}

// shims finds the containerd shims that serve the containerd at sock, by
// their command line.
func shims(sock string) map[string]int {
	out := map[string]int{}
	if sock == "" {
		return out
	}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		pid, _ := strconv.Atoi(filepath.Base(d))
		if !strings.HasPrefix(procComm(pid), "containerd-shim") {
			continue
		}
		cmdline, _ := os.ReadFile(d + "/cmdline")
		if slices.Contains(strings.Split(string(cmdline), "\x00"), sock) {
			out[fmt.Sprintf("shim-%d", pid)] = pid
		}
	}
	return out
}

// agentMetric reads one unlabelled value from the agent's /metrics.
func agentMetric(a *agent, cl *api.Client, name string) float64 {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, cl.Base+"/metrics", nil)
	resp, err := cl.HTTP.Do(req)
	if err != nil {
		a.t.Logf("metrics: %v", err)
		return 0
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return 0
}

func envInt(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q is not a positive number", name, v)
	}
	return n
}

func envDurationT(t *testing.T, name string, def time.Duration) time.Duration {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		t.Fatalf("%s=%q is not a positive Go duration (such as 60s)", name, v)
	}
	return d
}
