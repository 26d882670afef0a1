package integration

// Benchmarks of the write path as users drive it: unconditional updates
// (PUT without metadata.resourceVersion, answered 200) of existing
// ConfigMaps, each write of a key picked at random from a pool, so that
// concurrent clients update the same keys. A 409 Conflict is an error, and
// is also reported on its own as the metric conflicts; there should be none.
//
// BenchmarkWritesVsEtcd runs that load against three shoal agents and, in
// the same run, against a three-member etcd 3.4 cluster (default fsync)
// with the same values as POST /v3/kv/put. Client w writes through node
// w%3 of each system, the leader being node 0; each system forwards a write
// to its leader itself. BenchmarkFollowerWriteLatency compares writing
// through the leader with writing through a follower, with one client, and
// 64 clients all on the leader with 64 spread over every node.
//
// A benchmark runs SHOAL_BENCH_ROUNDS rounds (default 3); each round
// measures one system or path and then the other, so that whatever else
// loads the machine hits both alike. Each window is SHOAL_BENCH_WARMUP
// (default 2s) of unmeasured load, then SHOAL_BENCH_DURATION (default 10s)
// measured. The agents log at info and always run with --insecure-dev:
// plain HTTP without authentication, as etcd serves here. Run with:
//
//	go test -run XXX -bench 'BenchmarkWritesVsEtcd|BenchmarkFollowerWriteLatency' -benchtime=1x -timeout 30m ./integration/
//
// Totals over the rounds go to b.ReportMetric, one b.Logf line per round
// gives that round's numbers; timings are never asserted.

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// writePoolKeys is how many keys the updates pick from: four per client of
// the 64-client runs.
const writePoolKeys = 64 * 4

func poolKey(k int) string { return fmt.Sprintf("bench-pool-%03d", k) }

// BenchmarkWritesVsEtcd measures updates of the pool's keys by 1 and by 64
// closed-loop clients spread over the nodes, against shoal and etcd in turn
// in each round. Each sub-benchmark runs one cluster of each for all its
// rounds. Run with -benchtime=1x.
func BenchmarkWritesVsEtcd(b *testing.B) {
	skipWithoutEtcd(b)
	for _, clients := range []int{1, 64} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			c := startCluster(b, 3, writeBenchFlags(b)...)
			keepLogs(b, c)
			members := startEtcdCluster(b, 3)
			createPool(b, c.leader())
			putEtcdPool(b, etcdLeader(b, members))
			rounds := benchRounds(b)
			var shoal, etcd loadResult
			conflicts := 0
			for b.Loop() {
				for round := 1; round <= rounds; round++ {
					leader := c.leader()
					sr, sc := shoalUpdates(leaderFirst(c.agents, leader)).run(b, fmt.Sprintf("shoal-r%d", round), clients, agentPIDs(c, leader))
					noteLeaderMoved(b, c, leader, round)
					eLeader := etcdLeader(b, members)
					er, ec := etcdUpdates(leaderFirst(members, eLeader)).run(b, fmt.Sprintf("etcd-r%d", round), clients, etcdPIDs(members, eLeader))
					shoal.add(sr)
					etcd.add(er)
					conflicts += sc
					b.Logf("round %d/%d, clients=%d: shoal %s | etcd %s | shoal/etcd writes/s %.2f, p50 %.2f",
						round, rounds, clients, summary(sr, sc), summary(er, ec),
						ratio(writesPerSec(sr), writesPerSec(er)), ratio(p50(sr), p50(er)))
				}
			}
			reportLoadAs(b, "shoal-", shoal)
			reportLoadAs(b, "etcd-", etcd)
			b.ReportMetric(float64(conflicts), "conflicts")
			b.ReportMetric(ratio(writesPerSec(shoal), writesPerSec(etcd)), "shoal/etcd")
			b.ReportMetric(ratio(p50(shoal), p50(etcd)), "shoal/etcd-p50")
		})
	}
}

// BenchmarkFollowerWriteLatency measures, on one cluster of three agents,
// what writing through a follower (which forwards to the leader) costs:
// one client through the leader, then through a follower (the two
// followers in turn), in each round; and 64 clients all on the leader, then
// spread over every node. Run with -benchtime=1x.
func BenchmarkFollowerWriteLatency(b *testing.B) {
	c := startCluster(b, 3, writeBenchFlags(b)...)
	keepLogs(b, c)
	createPool(b, c.leader())
	rounds := benchRounds(b)

	b.Run("clients=1", func(b *testing.B) {
		var viaLeader, viaFollower loadResult
		conflicts := 0
		for b.Loop() {
			for round := 1; round <= rounds; round++ {
				leader := c.leader()
				follower := leaderFirst(c.agents, leader)[1+round%2]
				lr, lc := shoalUpdates([]*agent{leader}).run(b, fmt.Sprintf("leader-r%d", round), 1, agentPIDs(c, leader))
				fr, fc := shoalUpdates([]*agent{follower}).run(b, fmt.Sprintf("follower-r%d", round), 1, agentPIDs(c, leader))
				noteLeaderMoved(b, c, leader, round)
				viaLeader.add(lr)
				viaFollower.add(fr)
				conflicts += lc + fc
				b.Logf("round %d/%d, clients=1: through leader %s %s | through follower %s %s | follower/leader p50 %.2f, writes/s %.2f",
					round, rounds, leader.name, summary(lr, lc), follower.name, summary(fr, fc),
					ratio(p50(fr), p50(lr)), ratio(writesPerSec(fr), writesPerSec(lr)))
			}
		}
		reportLoadAs(b, "leader-", viaLeader)
		reportLoadAs(b, "follower-", viaFollower)
		b.ReportMetric(float64(conflicts), "conflicts")
		b.ReportMetric(ratio(p50(viaFollower), p50(viaLeader)), "follower/leader-p50")
		b.ReportMetric(ratio(writesPerSec(viaFollower), writesPerSec(viaLeader)), "follower/leader")
	})

	b.Run("clients=64", func(b *testing.B) {
		var onLeader, spread loadResult
		conflicts := 0
		for b.Loop() {
			for round := 1; round <= rounds; round++ {
				leader := c.leader()
				lr, lc := shoalUpdates([]*agent{leader}).run(b, fmt.Sprintf("leader-r%d", round), 64, agentPIDs(c, leader))
				others := leaderFirst(c.agents, leader)
				prof := fmt.Sprintf("%s.spread-r%d", os.Getenv("SHOAL_BENCH_CPUPROFILE"), round)
				pl, pf := profileCPU(b, benchAPIClient(leader), prof+".leader"), profileCPU(b, benchAPIClient(others[1]), prof+".follower")
				sr, sc := shoalUpdates(others).run(b, fmt.Sprintf("spread-r%d", round), 64, agentPIDs(c, leader))
				<-pl
				<-pf
				noteLeaderMoved(b, c, leader, round)
				onLeader.add(lr)
				spread.add(sr)
				conflicts += lc + sc
				b.Logf("round %d/%d, clients=64: all on leader %s %s | spread over all nodes %s | spread/leader writes/s %.2f, p50 %.2f",
					round, rounds, leader.name, summary(lr, lc), summary(sr, sc),
					ratio(writesPerSec(sr), writesPerSec(lr)), ratio(p50(sr), p50(lr)))
			}
		}
		reportLoadAs(b, "leader-", onLeader)
		reportLoadAs(b, "spread-", spread)
		b.ReportMetric(float64(conflicts), "conflicts")
		b.ReportMetric(ratio(writesPerSec(spread), writesPerSec(onLeader)), "spread/leader")
	})
}

// writeBenchFlags are benchAgentFlags with --insecure-dev whatever
// SHOAL_BENCH_INSECURE says: etcd serves plain HTTP without authentication
// here, so shoal does too.
func writeBenchFlags(b *testing.B) []string {
	flags := benchAgentFlags(b)
	if !containsArg(flags, "--insecure-dev") {
		flags = append(flags, "--insecure-dev")
	}
	return flags
}

// benchRounds is SHOAL_BENCH_ROUNDS, 3 by default.
func benchRounds(b *testing.B) int {
	v := os.Getenv("SHOAL_BENCH_ROUNDS")
	if v == "" {
		return 3
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		b.Fatalf("SHOAL_BENCH_ROUNDS=%q is not a positive number (such as 3)", v)
	}
	return n
}

// leaderFirst orders nodes with the leader first. With one client both
// systems then write through their leader, and with 64 the leader of each
// serves 22 of them.
func leaderFirst[T comparable](nodes []T, leader T) []T {
	out := []T{leader}
	for _, n := range nodes {
		if n != leader {
			out = append(out, n)
		}
	}
	return out
}

// noteLeaderMoved logs if leadership moved away from leader during a round,
// which makes that round's numbers worth less.
func noteLeaderMoved(b *testing.B, c *cluster, leader *agent, round int) {
	b.Helper()
	if now := c.leader(); now != leader {
		b.Logf("note: leadership moved from %s to %s during round %d", leader.name, now.name, round)
	}
}

// createPool creates the pool's ConfigMaps through a.
func createPool(b *testing.B, a *agent) {
	b.Helper()
	t := targetOf(a)
	hc := newBenchHTTPClient(1, t.tls)
	defer hc.CloseIdleConnections()
	for k := range writePoolKeys {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := postJSON(ctx, hc, t.base+"/api/v1/namespaces/default/configmaps", configMapJSON(poolKey(k)), http.StatusCreated)
		cancel()
		if err != nil {
			b.Fatalf("create ConfigMap %s through %s: %v; see its log %s", poolKey(k), a.name, err, a.logPath)
		}
	}
}

// putEtcdPool writes the pool's keys to etcd through m.
func putEtcdPool(b *testing.B, m *etcdMember) {
	b.Helper()
	u := etcdUpdates([]*etcdMember{m})
	hc := newBenchHTTPClient(1, nil)
	defer hc.CloseIdleConnections()
	for k := range u.bodies {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := postJSON(ctx, hc, u.urls[0][k], u.bodies[k], http.StatusOK)
		cancel()
		if err != nil {
			b.Fatalf("put %s to etcd %s: %v; see its log %s", poolKey(k), m.name, err, m.logPath)
		}
	}
}

// updates is the workload of a window: client w sends each write to
// urls[w%len(urls)][k] with bodies[k], for a key k picked at random.
type updates struct {
	method string
	urls   [][]string // per node the clients use, per key
	bodies [][]byte   // per key
	tls    *tls.Config
}

// shoalUpdates PUTs the pool's ConfigMaps through nodes.
func shoalUpdates(nodes []*agent) updates {
	u := updates{method: http.MethodPut, tls: targetOf(nodes[0]).tls}
	for k := range writePoolKeys {
		u.bodies = append(u.bodies, configMapJSON(poolKey(k)))
	}
	for _, a := range nodes {
		base := targetOf(a).base + "/api/v1/namespaces/default/configmaps/"
		urls := make([]string, writePoolKeys)
		for k := range urls {
			urls[k] = base + poolKey(k)
		}
		u.urls = append(u.urls, urls)
	}
	return u
}

// etcdUpdates puts the same values under Kubernetes-style keys through
// members.
func etcdUpdates(members []*etcdMember) updates {
	u := updates{method: http.MethodPost}
	for k := range writePoolKeys {
		u.bodies = append(u.bodies, etcdPutJSON("/registry/configmaps/default/"+poolKey(k), configMapJSON(poolKey(k))))
	}
	for _, m := range members {
		u.urls = append(u.urls, slices.Repeat([]string{"http://" + m.ip + ":2379/v3/kv/put"}, writePoolKeys))
	}
	return u
}

// run runs one window of u with closed-loop clients and returns its result
// and how many writes that completed in the measured window were refused
// with 409 Conflict (counted among its errors too).
func (u updates) run(b *testing.B, name string, clients int, procs map[string]int) (loadResult, int) {
	b.Helper()
	warmup, dur := benchWarmup(b), benchDuration(b)
	from := time.Now().Add(warmup) // as runLoad measures, to within its start-up
	until := from.Add(dur)
	var conflicts atomic.Int64
	r := runLoad(b, loadSpec{
		name: b.Name() + "-" + name, clients: clients, tls: u.tls, warmup: warmup, dur: dur, procs: procs,
		write: func(ctx context.Context, hc *http.Client, w, seq int) error {
			k := rand.IntN(len(u.bodies))
			err := sendJSON(ctx, hc, u.method, u.urls[w%len(u.urls)][k], u.bodies[k], http.StatusOK)
			var se *statusError
			if errors.As(err, &se) && se.code == http.StatusConflict {
				if t := time.Now(); !t.Before(from) && !t.After(until) {
					conflicts.Add(1)
				}
			}
			return err
		},
	})
	return r, int(conflicts.Load())
}

// summary is one window's numbers for a round's log line.
func summary(r loadResult, conflicts int) string {
	s := fmt.Sprintf("%.0f writes/s, p50 %.2f ms, p99 %.2f ms, %d errors (%d conflicts)",
		writesPerSec(r), p50(r), ms(percentile(r.lat, 0.99)), r.errs, conflicts)
	if r.ok > 0 && len(r.cpu) > 0 {
		var server float64
		for n, v := range r.cpu {
			if n != "loadgen" && n != otherCPU {
				server += v
			}
		}
		s += fmt.Sprintf(", %.0f µs server CPU/write", 1e6*server/float64(r.ok))
	}
	if r.firstErr != nil {
		s += fmt.Sprintf(" [first error: %v]", r.firstErr)
	}
	return s
}

func writesPerSec(r loadResult) float64 {
	if r.window <= 0 {
		return 0
	}
	return float64(r.ok) / r.window.Seconds()
}

func p50(r loadResult) float64 { return ms(percentile(r.lat, 0.50)) }

// ratio is a/b, or 0 if b is 0.
func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}
