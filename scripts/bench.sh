#!/usr/bin/env bash
# Runs shoal's process-level benchmarks (integration/bench*_test.go) one at
# a time and prints the results. See BENCHMARKS.md for recorded numbers.
#   scripts/bench.sh              all of them (about 3 minutes; BENCH_COUNT=3: 8)
#   scripts/bench.sh failover     BenchmarkLeaderFailover, 20 kills
#   scripts/bench.sh throughput   BenchmarkWriteThroughput (shoal)
#   scripts/bench.sh etcd         BenchmarkEtcdWriteThroughput (needs etcd-server)
#   scripts/bench.sh rss          BenchmarkIdleAgentRSS
#   scripts/bench.sh pods         the node-runtime benchmarks (integration/bench_pods_test.go):
#                                 pod start latency, agent CPU/RSS with 50 idle pods (about
#                                 5 minutes; root, containerd, runc, CNI plugins, busybox-static).
#                                 `all` runs them too when SHOAL_BENCH_PODS=1 is set.
#   scripts/bench.sh dns          BenchmarkDNS: dnsperf against a leader and a follower holding
#                                 1,000 Services and 10,000 Ready pods, and NSD serving the same
#                                 names (about 9 minutes; apt-get install -y dnsperf nsd). Not in `all`.
# Environment:
#   SHOAL_BENCH_DURATION  measured window of the throughput runs (default 10s)
#   SHOAL_BENCH_WARMUP    unmeasured load before it (default 2s)
#   SHOAL_BENCH_IDLE      idle time before RSS is read (default 10s)
#   SHOAL_BENCH_INSECURE  1: agents run with --insecure-dev (no TLS), to see what TLS costs
#   SHOAL_BENCH_LOGS      a directory to keep the agents' logs in
#   SHOAL_BENCH_PERF      a directory: sample the machine with `perf record -a -g`
#                         during each throughput window and write text reports
#   SHOAL_BENCH_PODS_RUNS     pods: single-pod starts per variant (default 20)
#   SHOAL_BENCH_PODS_ROUNDS   pods: rounds of 20 pods at once per variant (default 5)
#   SHOAL_BENCH_PODS_WINDOW   pods: CPU/RSS sampling window (default 60s)
#   BENCH_COUNT           runs of each benchmark (go test -count; default 1)
#   BENCH_OUT             where the raw output goes (default $TMPDIR/shoal-bench.txt)
# The benchmarks start agents (and etcd) on 127.x.y.z loopback addresses;
# run nothing else heavy meanwhile. Benchmarks report, they never fail on
# timings.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${BENCH_OUT:-${TMPDIR:-/tmp}/shoal-bench.txt}
: >"$OUT"

run() { # regexp benchtime
  echo "== load average before the run: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews the numbers; see other-cores)" | tee -a "$OUT"
  echo "== go test -v -count=${BENCH_COUNT:-1} -run '^\$' -bench '$1' -benchtime=$2 ./integration/" | tee -a "$OUT"
  # A failed run (a cluster that did not form, say) does not stop the others.
  go test -v -count="${BENCH_COUNT:-1}" -run '^$' -bench "$1" -benchtime="$2" -timeout 30m ./integration/ 2>&1 | tee -a "$OUT" || status=1
}
# The node-runtime benchmarks are tests gated by SHOAL_BENCH_PODS=1 (they
# need the pod harness); they log their results as "pod-bench:" lines.
runpods() {
  echo "== load average before the run: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT"
  echo "== SHOAL_BENCH_PODS=1 go test -v -count=1 -run '^TestBenchPod' -timeout 30m ./integration/" | tee -a "$OUT"
  SHOAL_BENCH_PODS=1 go test -v -count=1 -run '^TestBenchPod' -timeout 30m ./integration/ 2>&1 | tee -a "$OUT" || status=1
}
status=0

what=${1:-all}
case $what in
  failover | all) run '^BenchmarkLeaderFailover$' 20x ;;&
  throughput | all) run '^BenchmarkWriteThroughput$' 1x ;;&
  etcd | all)
    if [ ! -x /usr/bin/etcd ]; then
      echo "skipping the etcd baseline: install it with apt-get install -y etcd-server" | tee -a "$OUT"
    else
      run '^BenchmarkEtcdWriteThroughput$' 1x
    fi ;;&
  rss | all) run '^BenchmarkIdleAgentRSS$' 1x ;;&
  pods) runpods ;;
  dns) run '^BenchmarkDNS$' 1x ;;
  all) if [ "${SHOAL_BENCH_PODS:-}" = 1 ]; then runpods; fi ;;
  failover | throughput | etcd | rss) ;;
  *) echo "usage: $0 [all|failover|throughput|etcd|rss|pods|dns]" >&2; exit 2 ;;
esac

echo
echo "== results (raw output in $OUT)"
grep -E '^Benchmark[^[:space:]]*[[:space:]]+[0-9]' "$OUT" | sed -E 's/[[:space:]]+/ /g' || true
# A pod-bench result and its indented continuation lines.
awk '/pod-bench:/ { sub(/^.*pod-bench: /, ""); print; more = 1; next } more && /^        / { print; next } { more = 0 }' "$OUT"
grep -E '^--- FAIL' "$OUT" || true
exit $status
