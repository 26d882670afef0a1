package node

import (
	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics is one agent's Prometheus registry; each agent has its own so
// several can run in one process.
type metrics struct {
	reg            *prometheus.Registry
	requests       *prometheus.CounterVec
	requestLatency *prometheus.HistogramVec
	applyLatency   prometheus.Histogram
	authRejected   *prometheus.CounterVec
}

func newMetrics(a *Agent) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "shoal_api_requests_total", Help: "API requests by method and status code.",
	}, []string{"method", "code"})
	m.requestLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "shoal_api_request_duration_seconds", Help: "API request latency.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
	}, []string{"method"})
	m.applyLatency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "shoal_raft_commit_duration_seconds", Help: "Time from proposing a write to having it committed and applied.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
	})
	m.authRejected = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "shoal_auth_rejected_total", Help: "Requests, joins and peer connections refused, by reason.",
	}, []string{"reason"})
	// The gauges read the agent's parts when scraped, so metrics can exist
	// before Raft and gossip start.
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 {
			if a.raft == nil || a.gossip == nil {
				return 0
			}
			return f()
		})
	}
	r := func() *raft.Raft { return a.raft.Raw() }
	m.reg.MustRegister(
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.requests, m.requestLatency, m.applyLatency, m.authRejected,
		gauge("shoal_raft_leader", "1 if this node is the Raft leader.", func() float64 { return b2f(r().State() == raft.Leader) }),
		gauge("shoal_raft_state", "Raft state: 0 follower, 1 candidate, 2 leader, 3 shutdown.", func() float64 { return float64(r().State()) }),
		gauge("shoal_raft_term", "Current Raft term.", func() float64 { return float64(r().CurrentTerm()) }),
		gauge("shoal_raft_commit_index", "Raft commit index.", func() float64 { return float64(r().CommitIndex()) }),
		gauge("shoal_raft_applied_index", "Index applied to the local replica.", func() float64 { return float64(a.store.Index()) }),
		gauge("shoal_gossip_members_alive", "Gossip members alive.", func() float64 { return float64(a.gossip.NumAlive()) }),
		gauge("shoal_gossip_members", "Gossip members known, in any state.", func() float64 { return float64(len(a.gossip.Members())) }),
	)
	return m
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
