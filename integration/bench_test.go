package integration

// Benchmarks of whole agents running as processes on loopback. They run
// only with -bench; see BENCHMARKS.md and scripts/bench.sh for how and for
// the recorded results. They report through b.ReportMetric and never assert
// timings.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
)

// BenchmarkLeaderFailover kills -9 the leader of three voters and measures
// the time from the kill to the first successful write through a survivor.
// The killed node is restarted and the cluster waits for three voters again
// between iterations (not timed). Run with -benchtime=20x.
//
// Besides p50/p99 of kill-to-write it reports elect-p50-ms: the time from the
// kill until a survivor reports itself Leader, so the two can be compared.
func BenchmarkLeaderFailover(b *testing.B) {
	var extra []string // the harness's flags: debug logs, to explain slow failovers
	if benchInsecure() {
		extra = append(extra, "--insecure-dev")
	}
	c := startCluster(b, 3, extra...)
	keepLogs(b, c)
	var writes, elections []time.Duration
	iter := 0
	for b.Loop() {
		b.StopTimer()
		iter++
		old := c.leader()
		var survivors []*agent
		for _, a := range c.agents {
			if a != old {
				survivors = append(survivors, a)
			}
		}
		via := survivors[iter%len(survivors)]
		// The write path through the survivor works before the kill.
		if err := failoverWrite(via, fmt.Sprintf("warm-%d", iter), 10*time.Second); err != nil {
			b.Fatalf("iteration %d: write through %s before the kill: %v", iter, via.name, err)
		}

		b.StartTimer()
		electedC := watchForLeader(survivors)
		t0 := time.Now()
		old.kill9()
		name := fmt.Sprintf("after-kill-%d", iter)
		attempts := 0
		for {
			attempts++
			err := failoverWrite(via, name, 300*time.Millisecond)
			if err == nil || api.IsConflict(err) { // AlreadyExists: an earlier timed-out attempt committed
				break
			}
			if time.Since(t0) > 60*time.Second {
				b.Fatalf("iteration %d: no write through %s within 60s of killing %s: %v", iter, via.name, old.name, err)
			}
			time.Sleep(5 * time.Millisecond)
		}
		d := time.Since(t0)
		b.StopTimer()
		elected := <-electedC
		writes = append(writes, d)
		if elected > 0 {
			elections = append(elections, elected)
		}
		b.Logf("iteration %d: killed %s; leader elected after %s; write through %s after %s (%d attempts)",
			iter, old.name, elected.Round(time.Millisecond), via.name, d.Round(time.Millisecond), attempts)

		old.start()
		c.waitVoters(3)
		// The restarted node takes writes again (it knows the leader and
		// gossip knows it) before the next kill.
		if err := failoverWrite(old, fmt.Sprintf("rejoined-%d", iter), 20*time.Second); err != nil {
			b.Fatalf("iteration %d: write through restarted %s: %v", iter, old.name, err)
		}
		b.StartTimer()
	}
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(ms(percentile(writes, 0.50)), "p50-ms")
	b.ReportMetric(ms(percentile(writes, 0.99)), "p99-ms")
	b.ReportMetric(ms(percentile(writes, 1)), "max-ms")
	b.ReportMetric(ms(percentile(elections, 0.50)), "elect-p50-ms")
	b.ReportMetric(ms(percentile(elections, 0.99)), "elect-p99-ms")
}

// failoverWrite creates a ConfigMap through a, giving up after timeout.
func failoverWrite(a *agent, name string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	_, err := benchAPIClient(a).Create(ctx, configMap(name))
	return err
}

// benchAPIClient is an API client for a whose keep-alive connections are
// shared by every call (a.client() makes a new client each time).
// The credential is loaded once per agent, not on every call.
func benchAPIClient(a *agent) *api.Client {
	key := a.url() + " " + a.adminConf
	benchClientsMu.Lock()
	defer benchClientsMu.Unlock()
	cl := benchClients[key]
	if cl == nil {
		t := targetOf(a)
		cl = &api.Client{Base: t.base, HTTP: newBenchHTTPClient(4, t.tls)}
		benchClients[key] = cl
	}
	return cl
}

var (
	benchClientsMu sync.Mutex
	benchClients   = map[string]*api.Client{}
)

// watchForLeader polls the survivors' status until one of them reports
// itself Leader and sends the time since the call (0 if none did in 60s).
func watchForLeader(survivors []*agent) <-chan time.Duration {
	out := make(chan time.Duration, 1)
	t0 := time.Now()
	go func() {
		for time.Since(t0) < 60*time.Second {
			for _, a := range survivors {
				ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
				st, err := benchAPIClient(a).Status(ctx)
				cancel()
				if err == nil && st.Self.RaftState == "Leader" {
					out <- time.Since(t0)
					return
				}
			}
			time.Sleep(10 * time.Millisecond)
		}
		out <- 0
	}()
	return out
}

// BenchmarkWriteThroughput runs closed-loop ConfigMap creates (256 bytes of
// data each) against the leader of three voters, with 1 and with 64 clients,
// each client its own keep-alive connection. Each iteration is one measured
// window of SHOAL_BENCH_DURATION (default 10s) after SHOAL_BENCH_WARMUP
// (default 2s); run with -benchtime=1x. The agents log at info, the default,
// and use TLS unless SHOAL_BENCH_INSECURE=1.
func BenchmarkWriteThroughput(b *testing.B) {
	for _, clients := range []int{1, 64} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			c := startCluster(b, 3, benchAgentFlags(b)...)
			keepLogs(b, c)
			leader := c.leader()
			target := targetOf(leader)
			url := target.base + "/api/v1/namespaces/default/configmaps"
			var run atomic.Int64
			warmup, dur := benchWarmup(b), benchDuration(b)
			var total loadResult
			for b.Loop() {
				r := run.Add(1)
				total.add(runLoad(b, loadSpec{
					name: b.Name(), clients: clients, tls: target.tls, warmup: warmup, dur: dur, procs: agentPIDs(c, leader),
					write: func(ctx context.Context, hc *http.Client, w, seq int) error {
						return postJSON(ctx, hc, url, configMapJSON(fmt.Sprintf("bench-r%d-c%d-%d", r, w, seq)), http.StatusCreated)
					},
				}))
			}
			reportLoad(b, total)
			if st, err := status(leader); err == nil && st.Self.RaftState != "Leader" {
				b.Logf("note: %s lost leadership during the run", leader.name)
			}
			logAgentMetrics(b, leader)
		})
	}
}

// agentPIDs names the running agents' processes for CPU accounting:
// "leader" and "follower-<name>".
func agentPIDs(c *cluster, leader *agent) map[string]int {
	out := map[string]int{}
	for _, a := range c.agents {
		if a.cmd == nil || a.cmd.Process == nil {
			continue
		}
		if a == leader {
			out["leader"] = a.cmd.Process.Pid
		} else {
			out["follower-"+a.name] = a.cmd.Process.Pid
		}
	}
	return out
}

// logAgentMetrics logs the agent's own latency summaries from /metrics:
// API request time and Raft commit time, as sum/count means.
func logAgentMetrics(b *testing.B, a *agent) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cl := benchAPIClient(a)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, cl.Base+"/metrics", nil)
	resp, err := cl.HTTP.Do(req)
	if err != nil {
		b.Logf("metrics of %s: %v", a.name, err)
		return
	}
	defer resp.Body.Close()
	vals := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		for _, want := range []string{
			`shoal_api_request_duration_seconds_sum{method="POST"}`, `shoal_api_request_duration_seconds_count{method="POST"}`,
			"shoal_raft_commit_duration_seconds_sum", "shoal_raft_commit_duration_seconds_count",
			"process_cpu_seconds_total", "process_resident_memory_bytes",
		} {
			if v, ok := strings.CutPrefix(line, want+" "); ok {
				vals[want], _ = strconv.ParseFloat(v, 64)
			}
		}
	}
	mean := func(sum, count string) float64 {
		if vals[count] == 0 {
			return 0
		}
		return 1000 * vals[sum] / vals[count]
	}
	b.Logf("%s /metrics: mean POST request %.2f ms, mean raft commit %.2f ms over %.0f commits; cpu %.1f s; rss %.1f MiB",
		a.name,
		mean(`shoal_api_request_duration_seconds_sum{method="POST"}`, `shoal_api_request_duration_seconds_count{method="POST"}`),
		mean("shoal_raft_commit_duration_seconds_sum", "shoal_raft_commit_duration_seconds_count"),
		vals["shoal_raft_commit_duration_seconds_count"], vals["process_cpu_seconds_total"],
		vals["process_resident_memory_bytes"]/(1<<20))
}

// BenchmarkIdleAgentRSS starts three agents, lets them idle for
// SHOAL_BENCH_IDLE (default 10s) and reads each one's VmRSS. MB here is
// MiB (2^20 bytes). With SHOAL_BENCH_HEAPPROFILE=prefix it saves each
// agent's heap profile after reading its RSS. Run with -benchtime=1x.
func BenchmarkIdleAgentRSS(b *testing.B) {
	idle := envDuration(b, "SHOAL_BENCH_IDLE", 10*time.Second)
	c := startCluster(b, 3, benchAgentFlags(b)...)
	var maxRSS, sumRSS, maxHWM float64
	n := 0
	for b.Loop() {
		time.Sleep(idle)
		for _, a := range c.agents {
			rss, hwm, err := procRSS(a.cmd.Process.Pid)
			if err != nil {
				b.Fatalf("%s: %v", a.name, err)
			}
			b.Logf("%s (pid %d): VmRSS %.1f MiB, VmHWM %.1f MiB", a.name, a.cmd.Process.Pid, rss, hwm)
			if prefix := os.Getenv("SHOAL_BENCH_HEAPPROFILE"); prefix != "" {
				saveProfile(b, benchAPIClient(a), "heap", prefix+"."+a.name)
			}
			maxRSS, maxHWM = max(maxRSS, rss), max(maxHWM, hwm)
			sumRSS += rss
			n++
		}
	}
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(maxRSS, "max-MB")
	b.ReportMetric(sumRSS/float64(n), "mean-MB")
	b.ReportMetric(maxHWM, "max-hwm-MB")
}

// procRSS reads VmRSS and VmHWM of pid in MiB.
func procRSS(pid int) (rss, hwm float64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	found := 0
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 3 || fields[2] != "kB" {
			continue
		}
		kb, _ := strconv.ParseFloat(fields[1], 64)
		switch fields[0] {
		case "VmRSS:":
			rss, found = kb/1024, found+1
		case "VmHWM:":
			hwm, found = kb/1024, found+1
		}
	}
	if found < 2 {
		return 0, 0, errors.New("no VmRSS/VmHWM in /proc/<pid>/status")
	}
	return rss, hwm, sc.Err()
}

// keepLogs copies the agents' logs to $SHOAL_BENCH_LOGS/<benchmark>/ when
// the benchmark ends, if that variable is set; otherwise they go with the
// temporary directory.
func keepLogs(b *testing.B, c *cluster) {
	dir := os.Getenv("SHOAL_BENCH_LOGS")
	if dir == "" {
		return
	}
	dst := filepath.Join(dir, strings.NewReplacer("/", "_", "=", "").Replace(b.Name()))
	b.Cleanup(func() {
		if err := os.MkdirAll(dst, 0o755); err != nil {
			b.Logf("keep logs: %v", err)
			return
		}
		for _, a := range c.agents {
			if data, err := os.ReadFile(a.logPath); err == nil {
				os.WriteFile(filepath.Join(dst, a.name+".log"), data, 0o644)
			}
		}
		b.Logf("agent logs kept in %s", dst)
	})
}
