package integration

// Shared pieces of the benchmarks: a closed-loop load generator with one
// keep-alive HTTP client per worker, percentiles, and the object bodies.
// Benchmarks report numbers through b.ReportMetric and never assert timings.

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"maps"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// benchPayloadBytes is the size of each ConfigMap's data value.
const benchPayloadBytes = 256

var benchPayload = strings.Repeat("0123456789abcdef", benchPayloadBytes/16)

// benchDuration is how long one measured load window lasts:
// SHOAL_BENCH_DURATION (a Go duration), 10s by default.
func benchDuration(b *testing.B) time.Duration {
	return envDuration(b, "SHOAL_BENCH_DURATION", 10*time.Second)
}

// benchAgentFlags are the extra agent flags of the throughput and memory
// benchmarks: the default log level (the harness asks for debug), and with
// SHOAL_BENCH_INSECURE=1 --insecure-dev (no TLS, no authentication), to
// measure what security costs.
func benchAgentFlags(b *testing.B) []string {
	flags := []string{"--log-level", "info"}
	if benchInsecure() {
		b.Log("SHOAL_BENCH_INSECURE=1: agents run with --insecure-dev")
		flags = append(flags, "--insecure-dev")
	}
	return flags
}

func benchInsecure() bool { return os.Getenv("SHOAL_BENCH_INSECURE") == "1" }

// benchWarmup is the unmeasured load before each window:
// SHOAL_BENCH_WARMUP, 2s by default.
func benchWarmup(b *testing.B) time.Duration {
	return envDuration(b, "SHOAL_BENCH_WARMUP", 2*time.Second)
}

func envDuration(b *testing.B, name string, def time.Duration) time.Duration {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		b.Fatalf("%s=%q is not a positive Go duration (such as 10s)", name, v)
	}
	return d
}

// configMapJSON is the body of a ConfigMap create: about 370 bytes, of
// which benchPayloadBytes are data.
func configMapJSON(name string) []byte {
	return fmt.Appendf(nil, `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":%q,"namespace":"default"},"data":{"value":%q}}`, name, benchPayload)
}

// newBenchHTTPClient is one worker's keep-alive client. Its transport keeps
// up to conns idle connections per host, so connections are reused instead
// of being closed after each request.
func newBenchHTTPClient(conns int, tlsConf *tls.Config) *http.Client {
	if tlsConf != nil {
		tlsConf = tlsConf.Clone()
		tlsConf.NextProtos = []string{"http/1.1"} // one HTTP/1.1 connection per client
	}
	return &http.Client{Transport: &http.Transport{
		TLSClientConfig:     tlsConf,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     0,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}}
}

// postJSON sends body and drains the answer; a status other than want is
// an error.
func postJSON(ctx context.Context, hc *http.Client, url string, body []byte, want int) error {
	return sendJSON(ctx, hc, http.MethodPost, url, body, want)
}

// statusError is an answer with another status than the one wanted.
type statusError struct {
	code int
	msg  string
}

func (e *statusError) Error() string { return e.msg }

// sendJSON is postJSON with any method; a status other than want is a
// *statusError.
func sendJSON(ctx context.Context, hc *http.Client, method, url string, body []byte, want int) error {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return &statusError{code: resp.StatusCode, msg: fmt.Sprintf("%s %s: %s: %s", method, url, resp.Status, strings.TrimSpace(string(msg)))}
	}
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}

// loadResult is what one or more measured windows produced.
type loadResult struct {
	ok, errs int
	lat      []time.Duration // of successful writes in the window
	window   time.Duration   // total measured time
	firstErr error
	cpu      map[string]float64 // CPU seconds per process over the window
}

func (r *loadResult) add(o loadResult) {
	r.ok += o.ok
	r.errs += o.errs
	r.lat = append(r.lat, o.lat...)
	r.window += o.window
	if r.firstErr == nil {
		r.firstErr = o.firstErr
	}
	for k, v := range o.cpu {
		if r.cpu == nil {
			r.cpu = map[string]float64{}
		}
		r.cpu[k] += v
	}
}

// apiTarget is how to reach one agent's API: the base URL and the TLS
// settings of the harness's own client for it (nil for plain HTTP), so the
// benchmarks follow whatever the harness uses.
type apiTarget struct {
	base string
	tls  *tls.Config
}

func targetOf(a *agent) apiTarget {
	cl := a.client()
	t := apiTarget{base: cl.Base}
	if cl.HTTP != nil {
		if tr, ok := cl.HTTP.Transport.(*http.Transport); ok && tr.TLSClientConfig != nil {
			t.tls = tr.TLSClientConfig
		}
	}
	return t
}

// writeFunc performs write number seq of worker w with that worker's client.
type writeFunc func(ctx context.Context, hc *http.Client, w, seq int) error

// loadSpec describes one load window.
type loadSpec struct {
	name        string // for the perf profile's file name
	clients     int
	tls         *tls.Config // nil: plain HTTP
	warmup, dur time.Duration
	write       writeFunc
	procs       map[string]int // processes (name: pid) whose CPU time is measured; "loadgen" (this process) is added
}

// runLoad runs spec.clients closed-loop workers, each with its own
// keep-alive client: warmup unmeasured, then dur measured. Writes that
// complete inside the measured window count; their latencies are kept, and
// the CPU time each process used in the window is measured. With
// SHOAL_BENCH_PERF=<dir> the whole machine is sampled with perf during the
// window.
func runLoad(b *testing.B, spec loadSpec) loadResult {
	start := time.Now()
	from, until := start.Add(spec.warmup), start.Add(spec.warmup+spec.dur)
	procs := map[string]int{"loadgen": os.Getpid()}
	for k, v := range spec.procs {
		procs[k] = v
	}
	cpuDone := make(chan map[string]float64, 1)
	go func() {
		time.Sleep(time.Until(from))
		before, busyBefore := cpuTimes(procs), machineBusy()
		stopPerf := startPerf(b, spec.name, spec.dur)
		time.Sleep(time.Until(until))
		after, busyAfter := cpuTimes(procs), machineBusy()
		used := map[string]float64{}
		ours := 0.0
		for k, v := range after {
			used[k] = v - before[k]
			ours += used[k]
		}
		// What else ran meanwhile (other processes, kernel threads):
		// a busy machine makes the numbers worth less.
		used[otherCPU] = max(0, busyAfter-busyBefore-ours)
		stopPerf()
		cpuDone <- used
	}()
	type workerResult struct {
		ok, errs int
		lat      []time.Duration
		firstErr error
	}
	results := make([]workerResult, spec.clients)
	var wg sync.WaitGroup
	for w := range spec.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hc := newBenchHTTPClient(spec.clients, spec.tls)
			defer hc.CloseIdleConnections()
			res := &results[w]
			res.lat = make([]time.Duration, 0, 4096)
			for seq := 0; ; seq++ {
				t0 := time.Now()
				if !t0.Before(until) {
					return
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				err := spec.write(ctx, hc, w, seq)
				cancel()
				t1 := time.Now()
				if t1.Before(from) || t1.After(until) {
					if err != nil {
						time.Sleep(10 * time.Millisecond)
					}
					continue
				}
				if err != nil {
					res.errs++
					if res.firstErr == nil {
						res.firstErr = err
					}
					time.Sleep(10 * time.Millisecond)
					continue
				}
				res.ok++
				res.lat = append(res.lat, t1.Sub(t0))
			}
		}()
	}
	wg.Wait()
	out := loadResult{window: spec.dur, cpu: <-cpuDone}
	for _, r := range results {
		out.add(loadResult{ok: r.ok, errs: r.errs, lat: r.lat, firstErr: r.firstErr})
	}
	return out
}

// cpuTimes reads the user+system CPU seconds of each process.
func cpuTimes(procs map[string]int) map[string]float64 {
	out := map[string]float64{}
	for name, pid := range procs {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// Fields after the command (which may hold spaces) in parentheses.
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) < 13 {
			continue
		}
		utime, _ := strconv.ParseFloat(f[11], 64)
		stime, _ := strconv.ParseFloat(f[12], 64)
		out[name] = (utime + stime) / 100 // USER_HZ is 100 on Linux
	}
	return out
}

// otherCPU names, in loadResult.cpu, the CPU time used by everything else
// on the machine during the window.
const otherCPU = "other"

// machineBusy reads the machine's total non-idle CPU seconds from /proc/stat.
func machineBusy() float64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	busy := 0.0
	for i, v := range f[1:] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		if i >= 8 { // guest time is already counted in user
			break
		}
		n, _ := strconv.ParseFloat(v, 64)
		busy += n
	}
	return busy / 100
}

// startPerf samples every CPU with `perf record -g` for d if
// SHOAL_BENCH_PERF names a directory, and returns a function that waits for
// it and writes a text report next to the data (while the sampled binaries
// still exist, so that symbols resolve).
func startPerf(b *testing.B, name string, d time.Duration) func() {
	dir := os.Getenv("SHOAL_BENCH_PERF")
	if dir == "" {
		return func() {}
	}
	os.MkdirAll(dir, 0o755)
	base := filepath.Join(dir, strings.NewReplacer("/", "_", "=", "").Replace(name))
	cmd := exec.Command("perf", "record", "-a", "-g", "-F", "499", "-o", base+".data", "--", "sleep", strconv.FormatFloat(d.Seconds(), 'f', 1, 64))
	if err := cmd.Start(); err != nil {
		b.Logf("perf: %v", err)
		return func() {}
	}
	return func() {
		cmd.Wait()
		for _, r := range []struct{ suffix, children, sort string }{
			{"-comm.txt", "--no-children", "comm"},
			{"-sym.txt", "--no-children", "comm,sym"},    // self time
			{"-inclusive.txt", "--children", "comm,sym"}, // time in a function and what it calls
		} {
			out, err := exec.Command("perf", "report", "-i", base+".data", "--stdio", r.children, "-g", "none", "--percent-limit", "0.3", "--sort", r.sort).Output()
			if err != nil {
				b.Logf("perf report: %v", err)
				return
			}
			os.WriteFile(base+r.suffix, out, 0o644)
		}
		b.Logf("perf profile in %s.data, reports in %s-{comm,sym,inclusive}.txt", base, base)
	}
}

// reportLoad reports writes/s, latency percentiles, errors, and CPU time
// per write of the processes named server (all but the load generator).
func reportLoad(b *testing.B, r loadResult) {
	b.Helper()
	reportLoadAs(b, "", r)
}

// reportLoadAs is reportLoad with every metric's unit prefixed by who
// ("shoal-" reports shoal-writes/s) and the log lines by who's name, so
// that one benchmark can report several systems or paths. With who ""
// it is reportLoad.
func reportLoadAs(b *testing.B, who string, r loadResult) {
	b.Helper()
	label := ""
	if who != "" {
		label = strings.TrimSuffix(who, "-") + ": "
	}
	if r.firstErr != nil {
		b.Logf("%s%d writes failed; the first: %v", label, r.errs, r.firstErr)
	}
	b.ReportMetric(0, "ns/op") // an op is a whole load window; meaningless
	if r.window > 0 {
		b.ReportMetric(float64(r.ok)/r.window.Seconds(), who+"writes/s")
	}
	b.ReportMetric(ms(percentile(r.lat, 0.50)), who+"p50-ms")
	b.ReportMetric(ms(percentile(r.lat, 0.99)), who+"p99-ms")
	b.ReportMetric(float64(r.errs), who+"errors")
	b.Logf("%s%d writes in %s: %.0f writes/s, p50 %.2f ms, p99 %.2f ms, max %.2f ms, %d errors",
		label, r.ok, r.window, float64(r.ok)/r.window.Seconds(), ms(percentile(r.lat, 0.5)),
		ms(percentile(r.lat, 0.99)), ms(percentile(r.lat, 1)), r.errs)
	if len(r.cpu) > 0 && r.ok > 0 {
		var server float64
		names := slices.Sorted(maps.Keys(r.cpu))
		var parts []string
		for _, n := range names {
			parts = append(parts, fmt.Sprintf("%s %.2fs (%.0f µs/write)", n, r.cpu[n], 1e6*r.cpu[n]/float64(r.ok)))
			if n != "loadgen" && n != otherCPU {
				server += r.cpu[n]
			}
		}
		b.ReportMetric(1e6*server/float64(r.ok), who+"server-cpu-us/write")
		b.ReportMetric(r.cpu[otherCPU]/r.window.Seconds(), who+"other-cores")
		b.Logf("%sCPU in the window (%.1f cores used of %d by the benchmark, %.1f by everything else): %s",
			label, (server+r.cpu["loadgen"])/r.window.Seconds(), runtime.NumCPU(), r.cpu[otherCPU]/r.window.Seconds(), strings.Join(parts, ", "))
	}
}

// percentile is the nearest-rank percentile p (0..1] of ds; 0 if empty.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(p*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
