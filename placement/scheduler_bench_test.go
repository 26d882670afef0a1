package placement

// Benchmarks of the scheduler alone. Each reports pods/s: pods placed per
// second of Schedule. Run them on one core, as the numbers in BENCHMARKS.md
// were:
//
//	go test -run '^$' -bench 'Schedule' -cpu 1 ./placement/

import (
	"fmt"
	"testing"

	"github.com/shoal-dev/shoal/api"
)

// BenchmarkSchedule: 500 nodes in 3 zones, 2,000 pending pods of 20 owners,
// a tenth with hostname anti-affinity and a tenth with zone spread.
func BenchmarkSchedule(b *testing.B) {
	var snap Snapshot
	for i := range 500 {
		snap.Nodes = append(snap.Nodes, mkNode(fmt.Sprintf("n%03d", i), "16", "64Gi", withLabels(LabelZone, fmt.Sprintf("z%d", i%3))))
	}
	var pending []*api.Pod
	for i := range 2000 {
		app := fmt.Sprintf("app%d", i%20)
		opts := []podOpt{created(i), labels("app", app), owner(app)}
		switch i % 10 {
		case 0:
			opts = append(opts, antiAffinity(podTerm(LabelHostname, "app", app)))
		case 1:
			opts = append(opts, spread(LabelZone, 1, api.DoNotSchedule, "app", app))
		}
		pending = append(pending, mkPod(fmt.Sprintf("p%04d", i), "250m", "256Mi", opts...))
	}
	benchSchedule(b, snap, pending)
}

// BenchmarkSchedule5000Nodes100kPods: 5,000 nodes in 10 zones, half of
// them with disk=ssd, and 100,000 pending pods of 1,000 Deployment-like
// owners of 100 replicas each, created owner after owner. Every pod
// requests cpu and memory. By owner: a fifth select ssd nodes
// (nodeSelector), a fifth prefer two zones (preferred node affinity), a
// tenth keep one replica per node (required anti-affinity on hostname), a
// fifth spread over zones with maxSkew 1 (DoNotSchedule), a tenth spread
// over zones as a preference (ScheduleAnyway), and a fifth state nothing
// (default spreading by owner).
func BenchmarkSchedule5000Nodes100kPods(b *testing.B) {
	snap, pending := bigCluster(5000, 1000, 100)
	benchSchedule(b, snap, pending)
}

// bigCluster builds the workload of BenchmarkSchedule5000Nodes100kPods
// with nodes nodes and owners owners of replicas pods each.
func bigCluster(nodes, owners, replicas int) (Snapshot, []*api.Pod) {
	var snap Snapshot
	for i := range nodes {
		disk := "hdd"
		if i%2 == 0 {
			disk = "ssd"
		}
		snap.Nodes = append(snap.Nodes, mkNode(fmt.Sprintf("node-%05d", i), "32", "128Gi",
			withLabels(LabelZone, fmt.Sprintf("zone-%d", i%10), "disk", disk, "node.kubernetes.io/instance-type", fmt.Sprintf("m%d.xlarge", i%3))))
	}
	cpus := []string{"100m", "250m", "500m"}
	mems := []string{"128Mi", "256Mi", "512Mi"}
	pending := make([]*api.Pod, 0, owners*replicas)
	for o := range owners {
		app := fmt.Sprintf("app-%04d", o)
		var extra []podOpt
		switch o % 10 {
		case 0, 1:
			extra = append(extra, nodeSelector("disk", "ssd"))
		case 2, 3:
			extra = append(extra, func(p *api.Pod) {
				affinity(p).NodeAffinity = &api.NodeAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []api.PreferredSchedulingTerm{
					{Weight: 80, Preference: term(expr(LabelZone, api.NodeSelectorOpIn, fmt.Sprintf("zone-%d", o%10), fmt.Sprintf("zone-%d", (o+1)%10)))},
					{Weight: 20, Preference: term(expr("disk", api.NodeSelectorOpIn, "ssd"))},
				}}
			})
		case 4:
			extra = append(extra, antiAffinity(podTerm(LabelHostname, "app", app)))
		case 5, 6:
			extra = append(extra, spread(LabelZone, 1, api.DoNotSchedule, "app", app))
		case 7:
			extra = append(extra, spread(LabelZone, 1, api.ScheduleAnyway, "app", app))
		}
		for r := range replicas {
			i := o*replicas + r
			opts := append([]podOpt{created(i), labels("app", app, "pod-template-hash", "5d8f7c9b6"), owner("uid-" + app)}, extra...)
			p := mkPod(fmt.Sprintf("%s-%05d", app, r), cpus[(o+r)%3], mems[o%3], opts...)
			p.UID = fmt.Sprintf("pod-uid-%06d", i)
			pending = append(pending, p)
		}
	}
	return snap, pending
}

func benchSchedule(b *testing.B, snap Snapshot, pending []*api.Pod) {
	b.Helper()
	placed := 0
	for b.Loop() {
		plan := Schedule(snap, pending)
		if len(plan.Placements) != len(pending) {
			b.Fatalf("%d unplaced: %v", len(plan.Unplaced), plan.Unplaced[0])
		}
		placed += len(plan.Placements)
	}
	b.ReportMetric(float64(placed)/b.Elapsed().Seconds(), "pods/s")
}

// BenchmarkScheduleUnplaceable5000Nodes: 2,000 replicas of one owner that
// fit no node of 5,000 (each asks for more cpu than a node has), as when a
// Deployment is scaled past what the cluster holds: each must be explained.
func BenchmarkScheduleUnplaceable5000Nodes(b *testing.B) {
	snap, _ := bigCluster(5000, 0, 0)
	var pending []*api.Pod
	for i := range 2000 {
		pending = append(pending, mkPod(fmt.Sprintf("big-%04d", i), "64", "1Gi", created(i), labels("app", "big"), owner("uid-big")))
	}
	placed := 0
	for b.Loop() {
		plan := Schedule(snap, pending)
		if len(plan.Unplaced) != len(pending) {
			b.Fatalf("%d placed", len(plan.Placements))
		}
		placed += len(plan.Unplaced)
	}
	b.ReportMetric(float64(placed)/b.Elapsed().Seconds(), "pods/s")
}
