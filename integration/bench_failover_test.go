package integration

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/devnet"
)

// Failover of workloads on hosts in network namespaces (root, containerd):
// a Deployment of 6 with a Service on 3 hosts. Run with -benchtime=10x;
// see BENCHMARKS.md. They report p50/p99 through b.ReportMetric and never
// assert timings.

func percentileMS(ds []time.Duration, p float64) float64 {
	s := append([]time.Duration{}, ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s) == 0 {
		return 0
	}
	i := int(p*float64(len(s))+0.5) - 1
	i = min(max(i, 0), len(s)-1)
	return float64(s[i].Microseconds()) / 1000
}

// victimWithReplicas waits for the 6 replicas to be Ready and returns the
// host other than n1 (where the benchmark watches from) that runs the most
// of them; when none does (a lost host gets no replicas back by itself), a
// rollout restart spreads them again.
func victimWithReplicas(b testing.TB, c *podCluster) *agent {
	a := c.agents[0]
	for attempt := 0; ; attempt++ {
		var per map[string]int
		waitFor(b, 120*time.Second, "6 web pods Ready", func() (bool, string) {
			pods, err := a.pods("web")
			if err != nil {
				return false, err.Error()
			}
			var n int
			per, n = spread(pods)
			return n == 6 && len(pods) == 6, describeSpread(per)
		})
		best := c.agents[1]
		if per[c.agents[2].name] > per[best.name] {
			best = c.agents[2]
		}
		if per[best.name] > 0 || attempt == 3 {
			return best
		}
		if out, err := a.cli("rollout", "restart", "deployment/web"); err != nil {
			b.Fatalf("rollout restart: %v %s", err, out)
		}
		if out, err := a.cli("rollout", "status", "deployment/web", "--timeout", "120s"); err != nil {
			b.Fatalf("rollout status: %v %s", err, out)
		}
	}
}

// BenchmarkHostFailover powers off the host of some replicas (agent,
// containerd and pods at once) and measures the time until all 6 replicas
// are Running and Ready on the other hosts, and until service DNS on a
// surviving node no longer answers with the dead host's pod IPs. The host
// comes back between iterations (not timed).
func BenchmarkHostFailover(b *testing.B) {
	c := startPodCluster(b, 3)
	a := c.agents[0]
	a.apply(b, scenarioWeb)
	var ready, dns []time.Duration
	phases := durs{} // where the time goes, for the record
	for b.Loop() {
		b.StopTimer()
		victim := victimWithReplicas(b, c)
		watcher := c.agents[0]
		pods, _ := a.pods("web")
		dead := map[string]bool{}
		for _, p := range pods {
			if p.Spec.NodeName == victim.name {
				dead[p.Status.PodIP] = true
			}
		}
		b.StartTimer()
		t0 := time.Now()
		victim.powerCut()
		var tReady, tDNS time.Duration
		seen := map[string]time.Time{}
		mark := func(phase string, done bool) {
			if _, ok := seen[phase]; !ok && done {
				seen[phase] = time.Now()
			}
		}
		deadline := time.Now().Add(3 * time.Minute)
		for (tReady == 0 || tDNS == 0) && time.Now().Before(deadline) {
			if tDNS == 0 {
				if got, err := lookup(watcher.ip, "web.default.svc.cluster.local"); err == nil {
					stale := false
					for _, ip := range got {
						stale = stale || dead[ip]
					}
					if !stale {
						tDNS = time.Since(t0)
					}
				}
			}
			if tReady == 0 {
				if pods, err := a.pods("web"); err == nil {
					gone, bound, running := true, 0, 0
					for _, p := range pods {
						gone = gone && p.Spec.NodeName != victim.name
						if p.Spec.NodeName != "" && p.Spec.NodeName != victim.name {
							bound++
							if p.Status.Phase == api.PodRunning {
								running++
							}
						}
					}
					mark("1-dead-pods-deleted", gone)
					mark("2-replacements-bound", gone && bound == 6)
					mark("3-replacements-running", gone && running == 6)
					if per, n := spread(pods); n == 6 && per[victim.name] == 0 {
						tReady = time.Since(t0)
					}
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
		b.StopTimer()
		if tReady == 0 || tDNS == 0 {
			b.Fatalf("not recovered within 3 minutes (ready %s, dns %s)", tReady, tDNS)
		}
		ready, dns = append(ready, tReady), append(dns, tDNS)
		for phase, at := range seen {
			phases.add(phase, t0, at)
		}
		victim.boot()
		waitFor(b, 60*time.Second, victim.name+" back with no leftover containers", func() (bool, string) {
			n, err := victim.containers()
			return err == nil && n == 0, fmt.Sprint(n, err)
		})
		b.StartTimer()
	}
	b.ReportMetric(percentileMS(ready, 0.5), "ready-p50-ms")
	b.ReportMetric(percentileMS(ready, 0.99), "ready-p99-ms")
	b.ReportMetric(percentileMS(dns, 0.5), "dns-p50-ms")
	b.ReportMetric(percentileMS(dns, 0.99), "dns-p99-ms")
	for _, phase := range slices.Sorted(maps.Keys(phases)) {
		b.Logf("host kill -> %s: p50 %.0f ms, p99 %.0f ms", phase[2:], percentileMS(phases[phase], 0.5), percentileMS(phases[phase], 0.99))
	}
	b.Logf("host kill -> all Ready elsewhere: %v", ready)
	b.Logf("host kill -> DNS without the dead pods: %v", dns)
}

// BenchmarkPartitionHeal cuts a host off until the majority has replaced
// its pods, heals, and measures the time from the heal until the cluster
// has converged: every node agrees on the leader and the host that was cut
// off has stopped the containers of its replaced pods.
func BenchmarkPartitionHeal(b *testing.B) {
	c := startPodCluster(b, 3)
	a := c.agents[0]
	a.apply(b, scenarioWeb)
	var heals []time.Duration
	for b.Loop() {
		b.StopTimer()
		victim := victimWithReplicas(b, c)
		var rest []devnet.Host
		var all []devnet.Host
		for _, o := range c.agents {
			all = append(all, o.host)
			if o != victim {
				rest = append(rest, o.host)
			}
		}
		if err := devnet.Partition([]devnet.Host{victim.host}, rest); err != nil {
			b.Fatal(err)
		}
		waitFor(b, 120*time.Second, "the majority to replace "+victim.name+"'s pods", func() (bool, string) {
			pods, err := a.pods("web")
			if err != nil {
				return false, err.Error()
			}
			per, n := spread(pods)
			return n == 6 && per[victim.name] == 0 && len(pods) == 6, describeSpread(per)
		})
		b.StartTimer()
		t0 := time.Now()
		if err := devnet.Heal(all); err != nil {
			b.Fatal(err)
		}
		waitFor(b, 120*time.Second, "convergence after the heal", func() (bool, string) {
			n, err := victim.runningTasks()
			if err != nil || n != 0 {
				return false, fmt.Sprintf("%d containers still running on %s (%v)", n, victim.name, err)
			}
			var leaders []string
			for _, o := range c.agents {
				st, err := status(o)
				if err != nil || st.Leader == nil {
					return false, fmt.Sprint(o.name, err)
				}
				leaders = append(leaders, st.Leader.Name)
			}
			return leaders[0] == leaders[1] && leaders[1] == leaders[2], strings.Join(leaders, " ")
		})
		heals = append(heals, time.Since(t0))
	}
	b.ReportMetric(percentileMS(heals, 0.5), "heal-p50-ms")
	b.ReportMetric(percentileMS(heals, 0.99), "heal-p99-ms")
	b.Logf("partition heal -> converged: %v", heals)
}
