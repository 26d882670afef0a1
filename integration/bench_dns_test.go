package integration

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/shoal-dev/shoal/api"
)

// BenchmarkDNS measures, with dnsperf, the DNS server of agents whose
// replica holds 1,000 Services of 10 Ready pods each (10,000 pods, in 100
// namespaces), and NSD serving the same names in the same run as the
// reference ceiling of an established authoritative server. It needs
// dnsperf and nsd (apt-get install -y dnsperf nsd). Run with
// -benchtime=1x: one iteration is every measurement below.
//
// Two agents: the leader, which also runs the controllers (their passes
// over all pods compete with DNS for the process's CPU), and a follower
// holding the same replica, as most nodes of a cluster are. Per agent and
// for NSD: the Service names (A, each answered with 10 records), and
// 1,000 names of another zone, which the agents forward to NSD and answer
// from their caches (warmed before). Each is measured at saturation
// (dnsperf with SHOAL_BENCH_DNS_Q queries outstanding, 200 by default),
// once for the rate and once with -v, whose per-query latencies give
// p50/p99; then at fixed rates below saturation (SHOAL_BENCH_DNS_RATES,
// queries/s, comma-separated) with -v. Each window lasts
// SHOAL_BENCH_DURATION (10 s); the CPU the server, dnsperf and the rest of
// the machine used in it is reported with it. SHOAL_BENCH_DNS_RUNS, a
// regular expression, keeps only the runs it matches (such as "-cluster$"
// for the Service names alone). Run with -v, or go test truncates the log
// of the windows.
func BenchmarkDNS(b *testing.B) {
	dnsperf, err := exec.LookPath("dnsperf")
	if err != nil {
		b.Skip("needs dnsperf: apt-get install -y dnsperf")
	}
	nsdBin, err := exec.LookPath("nsd")
	if err != nil {
		if _, err := os.Stat("/usr/sbin/nsd"); err != nil {
			b.Skip("needs nsd: apt-get install -y nsd")
		}
		nsdBin = "/usr/sbin/nsd"
	}
	const port = "5300"
	dir := b.TempDir()
	w := newDNSWorld(1000, 10, 100)
	agentIP, followerIP, nsdIP := freeDNSIP(b, port), freeDNSIP(b, port), freeDNSIP(b, port)
	if agentIP == followerIP || agentIP == nsdIP || followerIP == nsdIP {
		b.Fatal("picked one loopback address twice; run again")
	}
	nsd := startNSD(b, nsdBin, dir, nsdIP, port, w)
	nsdAddr := net.JoinHostPort(nsdIP, port)
	a := startAgent(b, "n1", agentIP, filepath.Join(dir, "n1"), "--insecure-dev", "--log-level", "info",
		"--dns-addr", agentIP+":"+port, "--dns-upstream", nsdAddr)
	f := startAgent(b, "n2", followerIP, filepath.Join(dir, "n2"), "--insecure-dev", "--log-level", "info",
		"--dns-addr", followerIP+":"+port, "--dns-upstream", nsdAddr,
		"--join", agentIP, "--token-file", filepath.Join(dir, "n1", "token"))
	t0 := time.Now()
	w.populate(b, a)
	b.Logf("wrote %d namespaces, %d pods (with status) and %d Services in %s", w.namespaces, len(w.services)*w.podsPer, len(w.services), time.Since(t0).Round(time.Millisecond))
	leaderAddr, followerAddr := net.JoinHostPort(agentIP, port), net.JoinHostPort(followerIP, port)
	w.waitAnswers(b, leaderAddr)
	w.waitAnswers(b, followerAddr)
	b.Logf("every Service answers with its 10 Ready pods on both nodes after %s", time.Since(t0).Round(time.Millisecond))

	cluster := filepath.Join(dir, "cluster.queries")
	forwarded := filepath.Join(dir, "forwarded.queries")
	w.writeQueries(b, cluster, forwarded)
	warmCache(b, leaderAddr, w)
	warmCache(b, followerAddr, w)

	leaderPIDs := func() map[string]int { return map[string]int{"server": a.cmd.Process.Pid} }
	followerPIDs := func() map[string]int { return map[string]int{"server": f.cmd.Process.Pid} }
	nsdPIDs := func() map[string]int { return processTree(nsd.Process.Pid) }
	dur := benchDuration(b)
	outstanding := 200
	if v := os.Getenv("SHOAL_BENCH_DNS_Q"); v != "" {
		if outstanding, err = strconv.Atoi(v); err != nil || outstanding <= 0 {
			b.Fatalf("SHOAL_BENCH_DNS_Q=%q is not a positive number", v)
		}
	}
	rates := benchRates(b)
	runs := []dnsRun{
		{"leader-cluster", leaderAddr, cluster, leaderPIDs},
		{"follower-cluster", followerAddr, cluster, followerPIDs},
		{"nsd-cluster", nsdAddr, cluster, nsdPIDs},
		{"leader-forwarded-cached", leaderAddr, forwarded, leaderPIDs},
		{"follower-forwarded-cached", followerAddr, forwarded, followerPIDs},
		{"nsd-forwarded-names", nsdAddr, forwarded, nsdPIDs},
	}
	if only := os.Getenv("SHOAL_BENCH_DNS_RUNS"); only != "" {
		re, err := regexp.Compile(only)
		if err != nil {
			b.Fatalf("SHOAL_BENCH_DNS_RUNS=%q is not a regular expression: %v", only, err)
		}
		runs = slices.DeleteFunc(runs, func(r dnsRun) bool { return !re.MatchString(r.name) })
	}
	for b.Loop() {
		b.StopTimer()
		for _, run := range runs {
			r := runDNSPerf(b, dnsperf, run.addr, run.file, dur, outstanding, 0, false, run.pids())
			b.Logf("%-25s saturation:       %s", run.name, r)
			b.ReportMetric(r.qps, run.name+"-qps")
			r = runDNSPerf(b, dnsperf, run.addr, run.file, dur, outstanding, 0, true, run.pids())
			b.Logf("%-25s saturation, -v:   %s", run.name, r)
			b.ReportMetric(r.p99*1000, run.name+"-sat-p99-ms")
		}
		for _, rate := range rates {
			for _, run := range runs {
				r := runDNSPerf(b, dnsperf, run.addr, run.file, dur, outstanding, rate, true, run.pids())
				b.Logf("%-25s at %6d q/s, -v: %s", run.name, rate, r)
				b.ReportMetric(r.p99*1000, fmt.Sprintf("%s-%dk-p99-ms", run.name, rate/1000))
			}
		}
		b.StartTimer()
	}
	b.ReportMetric(0, "ns/op")
}

// dnsRun is one target of BenchmarkDNS: a server and the names asked of it.
type dnsRun struct {
	name, addr, file string
	pids             func() map[string]int
}

// benchRates are the fixed query rates of the latency runs.
func benchRates(b *testing.B) []int {
	s := os.Getenv("SHOAL_BENCH_DNS_RATES")
	if s == "" {
		s = "25000,50000,75000,100000"
	}
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			b.Fatalf("SHOAL_BENCH_DNS_RATES=%q: want queries per second, comma-separated (such as 10000,40000)", s)
		}
		out = append(out, n)
	}
	return out
}

// freeDNSIP picks a loopback address whose port is free for UDP and TCP.
func freeDNSIP(b *testing.B, port string) string {
	for range 100 {
		ip := fmt.Sprintf("127.%d.%d.%d", 10+rand.IntN(200), rand.IntN(256), 1+rand.IntN(250))
		if !portsFree(ip) {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort(ip, port))
		if err != nil {
			continue
		}
		l.Close()
		u, err := net.ListenPacket("udp", net.JoinHostPort(ip, port))
		if err != nil {
			continue
		}
		u.Close()
		return ip
	}
	b.Fatal("no free loopback address")
	return ""
}

// dnsWorld is the state of the benchmark: Services svc-<i> in namespaces
// ns-<i/per-namespace>, each selecting podsPer pods svc-<i>-<j>.
type dnsWorld struct {
	namespaces, podsPer int
	services            []dnsService
}

type dnsService struct {
	ns, name string
	ips      []string
}

func newDNSWorld(services, podsPer, namespaces int) *dnsWorld {
	w := &dnsWorld{namespaces: namespaces, podsPer: podsPer}
	for i := range services {
		s := dnsService{ns: fmt.Sprintf("ns-%d", i%namespaces), name: fmt.Sprintf("svc-%d", i)}
		for j := range podsPer {
			n := i*podsPer + j
			s.ips = append(s.ips, fmt.Sprintf("10.%d.%d.%d", 100+n/62500, n/250%250, 1+n%250))
		}
		w.services = append(w.services, s)
	}
	return w
}

func (s dnsService) fqdn() string { return s.name + "." + s.ns + ".svc.cluster.local." }

// populate writes the world through the agent's API: namespaces, pods
// bound to the agent's node (which runs no containers, so nothing else
// touches them) with a Running, Ready status, and the Services; the
// leader's endpoints controller makes the Endpoints.
func (w *dnsWorld) populate(b *testing.B, a *agent) {
	b.Helper()
	cl := benchAPIClient(a)
	cl.HTTP = newBenchHTTPClient(64, nil)
	ctx := context.Background()
	t0 := time.Now()
	var jobs []func() error
	for i := range w.namespaces {
		ns := &api.Namespace{TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "Namespace"}}
		ns.Name = fmt.Sprintf("ns-%d", i)
		jobs = append(jobs, func() error { _, err := cl.Create(ctx, ns); return err })
	}
	parallel(b, 64, jobs)
	b.Logf("namespaces written after %s", time.Since(t0).Round(time.Millisecond))
	jobs = nil
	for _, s := range w.services {
		for j, ip := range s.ips {
			p := &api.Pod{TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "Pod"}}
			p.Namespace, p.Name = s.ns, fmt.Sprintf("%s-%d", s.name, j)
			p.Labels = map[string]string{"app": s.name}
			p.Spec.NodeName = a.name
			p.Spec.Containers = []api.Container{{Name: "c", Image: "shoal.test/busybox:1", Ports: []api.ContainerPort{{Name: "http", ContainerPort: 8080}}}}
			jobs = append(jobs, func() error {
				if _, err := cl.Create(ctx, p); err != nil {
					return err
				}
				st := *p
				st.Status = api.PodStatus{Phase: api.PodRunning, PodIP: ip, PodIPs: []api.PodIP{{IP: ip}}, HostIP: a.ip,
					Conditions: []api.PodCondition{{Type: api.PodReady, Status: api.ConditionTrue}, {Type: api.ContainersReady, Status: api.ConditionTrue}}}
				_, err := cl.Do(ctx, "PUT", fmt.Sprintf("/api/v1/namespaces/%s/pods/%s/status", p.Namespace, p.Name), &st, nil)
				return err
			})
		}
	}
	parallel(b, 64, jobs)
	b.Logf("pods written after %s", time.Since(t0).Round(time.Millisecond))
	jobs = nil
	for _, s := range w.services {
		svc := &api.Service{TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "Service"}}
		svc.Namespace, svc.Name = s.ns, s.name
		svc.Spec = api.ServiceSpec{Selector: map[string]string{"app": s.name}, Ports: []api.ServicePort{{Name: "http", Port: 80, TargetPort: api.FromString("http")}}}
		jobs = append(jobs, func() error { _, err := cl.Create(ctx, svc); return err })
	}
	parallel(b, 64, jobs)
}

// parallel runs jobs on n workers and fails b on the first error.
func parallel(b *testing.B, n int, jobs []func() error) {
	b.Helper()
	ch := make(chan func() error)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range ch {
				if err := j(); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for _, j := range jobs {
		ch <- j
	}
	close(ch)
	wg.Wait()
	if first != nil {
		b.Fatal(first)
	}
}

// waitAnswers waits until every Service answers with all its pods.
func (w *dnsWorld) waitAnswers(b *testing.B, addr string) {
	b.Helper()
	c := &mdns.Client{Timeout: time.Second}
	next := 0
	waitFor(b, 5*time.Minute, "every Service to answer with its Ready pods", func() (bool, string) {
		for ; next < len(w.services); next++ {
			s := w.services[next]
			q := new(mdns.Msg)
			q.SetQuestion(s.fqdn(), mdns.TypeA)
			m, _, err := c.Exchange(q, addr)
			if err != nil {
				return false, err.Error()
			}
			if len(m.Answer) != len(s.ips) {
				return false, fmt.Sprintf("%s: %d of %d answers", s.fqdn(), len(m.Answer), len(s.ips))
			}
		}
		return true, ""
	})
}

// forwardedName is the i-th name of the other zone.
func forwardedName(i int) string { return fmt.Sprintf("h%d.example.test.", i) }

func (w *dnsWorld) writeQueries(b *testing.B, cluster, forwarded string) {
	b.Helper()
	var cb, fb strings.Builder
	for i, s := range w.services {
		fmt.Fprintf(&cb, "%s A\n", strings.TrimSuffix(s.fqdn(), "."))
		fmt.Fprintf(&fb, "%s A\n", strings.TrimSuffix(forwardedName(i), "."))
	}
	for p, s := range map[string]string{cluster: cb.String(), forwarded: fb.String()} {
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			b.Fatal(err)
		}
	}
}

// warmCache asks shoal every forwarded name once, so the runs measure its
// cache.
func warmCache(b *testing.B, addr string, w *dnsWorld) {
	b.Helper()
	c := &mdns.Client{Timeout: 2 * time.Second}
	for i := range w.services {
		q := new(mdns.Msg)
		q.SetQuestion(forwardedName(i), mdns.TypeA)
		m, _, err := c.Exchange(q, addr)
		if err != nil || len(m.Answer) != 1 {
			b.Fatalf("forwarding %s: %v %v", forwardedName(i), m, err)
		}
	}
}

// startNSD runs NSD on ip:port with two zones: cluster.local, holding the
// world's Service names with the same records, and example.test, the
// names shoal forwards (TTL one hour, so they stay in shoal's cache).
// It uses both cores (server-count 2, reuseport), as shoal does.
func startNSD(b *testing.B, bin, dir, ip, port string, w *dnsWorld) *exec.Cmd {
	b.Helper()
	nd := filepath.Join(dir, "nsd")
	os.MkdirAll(nd, 0o755)
	var z strings.Builder
	z.WriteString("$ORIGIN cluster.local.\n$TTL 5\n@ IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 1 7200 1800 86400 5\n@ IN NS ns.dns.cluster.local.\nns.dns IN A " + ip + "\n")
	for _, s := range w.services {
		for _, a := range s.ips {
			fmt.Fprintf(&z, "%s IN A %s\n", s.fqdn(), a)
		}
	}
	var f strings.Builder
	f.WriteString("$ORIGIN example.test.\n$TTL 3600\n@ IN SOA ns.example.test. hostmaster.example.test. 1 7200 1800 86400 60\n@ IN NS ns.example.test.\nns IN A " + ip + "\n")
	for i := range w.services {
		fmt.Fprintf(&f, "%s IN A 192.0.2.%d\n", forwardedName(i), 1+i%250)
	}
	conf := fmt.Sprintf(`server:
	ip-address: %s@%s
	port: %s
	server-count: 2
	reuseport: yes
	username: ""
	chroot: ""
	zonesdir: %q
	pidfile: %q
	database: ""
	xfrdfile: %q
	zonelistfile: %q
	logfile: %q
	verbosity: 0
remote-control:
	control-enable: no
zone:
	name: cluster.local
	zonefile: cluster.local.zone
zone:
	name: example.test
	zonefile: example.test.zone
`, ip, port, port, nd, filepath.Join(nd, "nsd.pid"), filepath.Join(nd, "xfrd.state"), filepath.Join(nd, "zone.list"), filepath.Join(nd, "nsd.log"))
	for name, body := range map[string]string{"cluster.local.zone": z.String(), "example.test.zone": f.String(), "nsd.conf": conf} {
		if err := os.WriteFile(filepath.Join(nd, name), []byte(body), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	cmd := exec.Command(bin, "-d", "-c", filepath.Join(nd, "nsd.conf"))
	logf, _ := os.Create(filepath.Join(nd, "stderr.log"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		tree := processTree(cmd.Process.Pid)
		cmd.Process.Signal(syscall.SIGTERM) // NSD stops its other processes
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
		for _, p := range tree {
			syscall.Kill(p, syscall.SIGKILL) // any that did not stop
		}
		<-done
		logf.Close()
	})
	c := &mdns.Client{Timeout: 500 * time.Millisecond}
	waitFor(b, 20*time.Second, "nsd to answer", func() (bool, string) {
		q := new(mdns.Msg)
		q.SetQuestion(w.services[0].fqdn(), mdns.TypeA)
		m, _, err := c.Exchange(q, net.JoinHostPort(ip, port))
		if err != nil {
			log, _ := os.ReadFile(filepath.Join(nd, "stderr.log"))
			nlog, _ := os.ReadFile(filepath.Join(nd, "nsd.log"))
			return false, err.Error() + "\n" + string(log) + string(nlog)
		}
		return len(m.Answer) == len(w.services[0].ips), m.String()
	})
	return cmd
}

// processTree is pid and its descendants, by pid, for CPU accounting
// (NSD's servers are its grandchildren).
func processTree(pid int) map[string]int {
	parents := map[int]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
		if err != nil {
			continue
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) > 1 {
			parents[p], _ = strconv.Atoi(f[1])
		}
	}
	out := map[string]int{"server": pid}
	in := map[int]bool{pid: true}
	for grew := true; grew; {
		grew = false
		for p, pp := range parents {
			if in[pp] && !in[p] {
				in[p] = true
				out[fmt.Sprintf("server-%d", p)] = p
				grew = true
			}
		}
	}
	return out
}

// dnsperfResult is what one dnsperf window measured.
type dnsperfResult struct {
	qps               float64
	sent, completed   int
	lost              int
	avg, p50, p99     float64 // seconds; p50/p99 only with per-query output
	serverCPU, perfCP float64 // CPU seconds in the window
	other             float64 // CPU seconds of everything else on the machine
	dur               time.Duration
	rate              int
}

func (r dnsperfResult) String() string {
	s := fmt.Sprintf("%8.0f q/s, %d/%d completed (%d lost), avg %.3f ms", r.qps, r.completed, r.sent, r.lost, r.avg*1000)
	if r.p50 > 0 {
		s += fmt.Sprintf(", p50 %.3f ms, p99 %.3f ms", r.p50*1000, r.p99*1000)
	}
	secs := r.dur.Seconds()
	return s + fmt.Sprintf("; CPU: server %.2f cores, dnsperf %.2f, other %.2f", r.serverCPU/secs, r.perfCP/secs, r.other/secs)
}

// runDNSPerf runs one dnsperf window against addr with the queries of
// file: at most outstanding queries in flight, at rate queries/s if
// rate > 0, and with verbose every query's latency is kept (-v, which
// costs dnsperf about 7% of its rate) for p50/p99.
func runDNSPerf(b *testing.B, bin, addr, file string, dur time.Duration, outstanding, rate int, verbose bool, pids map[string]int) dnsperfResult {
	b.Helper()
	host, port, _ := net.SplitHostPort(addr)
	args := []string{"-s", host, "-p", port, "-d", file, "-l", strconv.Itoa(int(dur.Seconds())), "-c", "4", "-T", "2", "-q", strconv.Itoa(outstanding)}
	if rate > 0 {
		args = append(args, "-Q", strconv.Itoa(rate))
	}
	if verbose {
		args = append(args, "-v")
	}
	cmd := exec.Command(bin, args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	cpu0, busy0 := cpuTimes(pids), machineBusy()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	r := dnsperfResult{rate: rate}
	var lat []float64
	var text strings.Builder
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "> ") {
			f := strings.Fields(line)
			if v, err := strconv.ParseFloat(f[len(f)-1], 64); err == nil {
				lat = append(lat, v)
			}
			continue
		}
		text.WriteString(line + "\n")
	}
	if err := cmd.Wait(); err != nil {
		b.Fatalf("dnsperf %s: %v\n%s%s", strings.Join(args, " "), err, text.String(), stderr.String())
	}
	cpu1, busy1 := cpuTimes(pids), machineBusy()
	for name, v := range cpu1 {
		r.serverCPU += v - cpu0[name]
	}
	r.perfCP = (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()
	r.other = max(busy1-busy0-r.serverCPU-r.perfCP, 0)
	for _, line := range strings.Split(text.String(), "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		switch k {
		case "Queries sent":
			r.sent, _ = strconv.Atoi(f[0])
		case "Queries completed":
			r.completed, _ = strconv.Atoi(f[0])
		case "Queries lost":
			r.lost, _ = strconv.Atoi(f[0])
		case "Queries per second":
			r.qps, _ = strconv.ParseFloat(f[0], 64)
		case "Average Latency (s)":
			r.avg, _ = strconv.ParseFloat(f[0], 64)
		case "Run time (s)":
			secs, _ := strconv.ParseFloat(f[0], 64)
			r.dur = time.Duration(secs * float64(time.Second))
		}
	}
	if r.dur == 0 {
		r.dur = dur
	}
	if len(lat) > 0 {
		sort.Float64s(lat)
		r.p50 = lat[len(lat)/2]
		r.p99 = lat[min(len(lat)*99/100, len(lat)-1)]
	}
	return r
}
