package placement

import (
	"fmt"
	"math/rand"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
)

// --- builders ---

type nodeOpt func(*api.Node)

func mkNode(name, cpu, mem string, opts ...nodeOpt) *api.Node {
	n := &api.Node{TypeMeta: api.TypeMeta{Kind: "Node"}}
	n.Name = name
	n.Labels = map[string]string{LabelHostname: name}
	n.Status.Allocatable = api.ResourceList{
		"cpu":    api.MustParseQuantity(cpu),
		"memory": api.MustParseQuantity(mem),
		"pods":   api.NewQuantity(110, api.DecimalSI),
	}
	n.Status.Conditions = []api.NodeCondition{{Type: "Ready", Status: "True"}}
	for _, o := range opts {
		o(n)
	}
	return n
}

func withLabels(kv ...string) nodeOpt {
	return func(n *api.Node) {
		for i := 0; i+1 < len(kv); i += 2 {
			n.Labels[kv[i]] = kv[i+1]
		}
	}
}

func withTaint(key, value string, effect api.TaintEffect) nodeOpt {
	return func(n *api.Node) {
		n.Spec.Taints = append(n.Spec.Taints, api.Taint{Key: key, Value: value, Effect: effect})
	}
}

func withAlloc(name, q string) nodeOpt {
	return func(n *api.Node) { n.Status.Allocatable[name] = api.MustParseQuantity(q) }
}

func notReady(n *api.Node)      { n.Status.Conditions[0].Status = "Unknown" }
func unschedulable(n *api.Node) { n.Spec.Unschedulable = true }

type podOpt func(*api.Pod)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func mkPod(name, cpu, mem string, opts ...podOpt) *api.Pod {
	p := &api.Pod{TypeMeta: api.TypeMeta{Kind: "Pod"}}
	p.Name, p.Namespace = name, "default"
	p.Labels = map[string]string{}
	req := api.ResourceList{}
	if cpu != "" {
		req["cpu"] = api.MustParseQuantity(cpu)
	}
	if mem != "" {
		req["memory"] = api.MustParseQuantity(mem)
	}
	p.Spec.Containers = []api.Container{{Name: "c", Image: "x", Resources: api.ResourceRequirements{Requests: req}}}
	for _, o := range opts {
		o(p)
	}
	return p
}

func labels(kv ...string) podOpt {
	return func(p *api.Pod) {
		for i := 0; i+1 < len(kv); i += 2 {
			p.Labels[kv[i]] = kv[i+1]
		}
	}
}

func onNode(n string) podOpt { return func(p *api.Pod) { p.Spec.NodeName = n } }

func created(sec int) podOpt {
	return func(p *api.Pod) { p.CreationTimestamp = api.NewTime(epoch.Add(time.Duration(sec) * time.Second)) }
}

func owner(uid string) podOpt {
	return func(p *api.Pod) {
		t := true
		p.OwnerReferences = []api.OwnerReference{{Kind: "ReplicaSet", Name: "rs", UID: uid, Controller: &t}}
	}
}

func request(name, q string) podOpt {
	return func(p *api.Pod) { p.Spec.Containers[0].Resources.Requests[name] = api.MustParseQuantity(q) }
}

func hostPortOpt(port int32) podOpt {
	return func(p *api.Pod) {
		p.Spec.Containers[0].Ports = append(p.Spec.Containers[0].Ports, api.ContainerPort{ContainerPort: 80, HostPort: port})
	}
}

func tolerate(t api.Toleration) podOpt {
	return func(p *api.Pod) { p.Spec.Tolerations = append(p.Spec.Tolerations, t) }
}

func nodeSelector(kv ...string) podOpt {
	return func(p *api.Pod) {
		p.Spec.NodeSelector = map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			p.Spec.NodeSelector[kv[i]] = kv[i+1]
		}
	}
}

func affinity(p *api.Pod) *api.Affinity {
	if p.Spec.Affinity == nil {
		p.Spec.Affinity = &api.Affinity{}
	}
	return p.Spec.Affinity
}

func requiredNode(terms ...api.NodeSelectorTerm) podOpt {
	return func(p *api.Pod) {
		affinity(p).NodeAffinity = &api.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &api.NodeSelector{NodeSelectorTerms: terms}}
	}
}

func expr(key string, op api.NodeSelectorOperator, vals ...string) api.NodeSelectorRequirement {
	return api.NodeSelectorRequirement{Key: key, Operator: op, Values: vals}
}

func term(reqs ...api.NodeSelectorRequirement) api.NodeSelectorTerm {
	return api.NodeSelectorTerm{MatchExpressions: reqs}
}

func podTerm(topo string, kv ...string) api.PodAffinityTerm {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return api.PodAffinityTerm{TopologyKey: topo, LabelSelector: &api.LabelSelector{MatchLabels: m}}
}

func antiAffinity(t api.PodAffinityTerm) podOpt {
	return func(p *api.Pod) {
		affinity(p).PodAntiAffinity = &api.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []api.PodAffinityTerm{t}}
	}
}

func podAffinity(t api.PodAffinityTerm) podOpt {
	return func(p *api.Pod) {
		affinity(p).PodAffinity = &api.PodAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []api.PodAffinityTerm{t}}
	}
}

func spread(topo string, skew int32, when api.UnsatisfiableConstraintAction, kv ...string) podOpt {
	return func(p *api.Pod) {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		p.Spec.TopologySpreadConstraints = append(p.Spec.TopologySpreadConstraints, api.TopologySpreadConstraint{
			MaxSkew: skew, TopologyKey: topo, WhenUnsatisfiable: when, LabelSelector: &api.LabelSelector{MatchLabels: m}})
	}
}

func placedOn(plan Plan) map[string]string {
	out := map[string]string{}
	for _, pl := range plan.Placements {
		out[pl.Pod.Name] = pl.Node
	}
	return out
}

// --- filters, one at a time, with their messages ---

func TestScheduleFilters(t *testing.T) {
	tests := []struct {
		name  string
		nodes []*api.Node
		bound []*api.Pod
		pod   *api.Pod
		want  string // node name, or the unplaced reason
	}{
		{"fits", []*api.Node{mkNode("n1", "2", "4Gi")}, nil, mkPod("p", "1", "1Gi"), "n1"},
		{"not ready", []*api.Node{mkNode("n1", "2", "4Gi", notReady)}, nil, mkPod("p", "1", "1Gi"),
			"0/1 nodes are available: 1 node(s) were not ready."},
		{"unschedulable", []*api.Node{mkNode("n1", "2", "4Gi", unschedulable)}, nil, mkPod("p", "1", "1Gi"),
			"0/1 nodes are available: 1 node(s) were unschedulable."},
		{"unschedulable tolerated", []*api.Node{mkNode("n1", "2", "4Gi", unschedulable)}, nil,
			mkPod("p", "1", "1Gi", tolerate(api.Toleration{Key: TaintUnschedulable, Operator: api.TolerationOpExists})), "n1"},
		{"insufficient cpu", []*api.Node{mkNode("n1", "2", "4Gi")}, []*api.Pod{mkPod("b", "1500m", "", onNode("n1"))}, mkPod("p", "1", "1Gi"),
			"0/1 nodes are available: 1 Insufficient cpu."},
		{"insufficient cpu and memory", []*api.Node{mkNode("n1", "2", "4Gi")}, nil, mkPod("p", "3", "5Gi"),
			"0/1 nodes are available: 1 Insufficient cpu, 1 Insufficient memory."},
		{"insufficient memory", []*api.Node{mkNode("n1", "2", "4Gi")}, []*api.Pod{mkPod("b", "", "3Gi", onNode("n1"))}, mkPod("p", "100m", "2Gi"),
			"0/1 nodes are available: 1 Insufficient memory."},
		{"terminated pods free capacity", []*api.Node{mkNode("n1", "2", "4Gi")},
			[]*api.Pod{mkPod("b", "2", "", onNode("n1"), func(p *api.Pod) { p.Status.Phase = api.PodSucceeded })}, mkPod("p", "1", ""), "n1"},
		{"too many pods", []*api.Node{mkNode("n1", "2", "4Gi", withAlloc("pods", "1"))}, []*api.Pod{mkPod("b", "", "", onNode("n1"))}, mkPod("p", "", ""),
			"0/1 nodes are available: 1 Too many pods."},
		{"gpu", []*api.Node{mkNode("n1", "8", "8Gi"), mkNode("n2", "8", "8Gi", withAlloc("nvidia.com/gpu", "2"))}, nil,
			mkPod("p", "1", "", request("nvidia.com/gpu", "2")), "n2"},
		{"gpu insufficient", []*api.Node{mkNode("n1", "8", "8Gi"), mkNode("n2", "8", "8Gi", withAlloc("nvidia.com/gpu", "2"))},
			[]*api.Pod{mkPod("b", "", "", onNode("n2"), request("nvidia.com/gpu", "1"))},
			mkPod("p", "1", "", request("nvidia.com/gpu", "2")), "0/2 nodes are available: 2 Insufficient nvidia.com/gpu."},
		{"node selector", []*api.Node{mkNode("n1", "2", "4Gi"), mkNode("n2", "2", "4Gi", withLabels("disk", "ssd"))}, nil,
			mkPod("p", "1", "", nodeSelector("disk", "ssd")), "n2"},
		{"node selector none", []*api.Node{mkNode("n1", "2", "4Gi")}, nil, mkPod("p", "1", "", nodeSelector("disk", "ssd")),
			"0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector."},
		{"taint", []*api.Node{mkNode("n1", "2", "4Gi", withTaint("dedicated", "db", api.TaintEffectNoSchedule))}, nil, mkPod("p", "1", ""),
			"0/1 nodes are available: 1 node(s) had untolerated taint {dedicated: db}."},
		{"taint NoExecute", []*api.Node{mkNode("n1", "2", "4Gi", withTaint("k", "", api.TaintEffectNoExecute))}, nil, mkPod("p", "1", ""),
			"0/1 nodes are available: 1 node(s) had untolerated taint {k: }."},
		{"taint PreferNoSchedule does not filter", []*api.Node{mkNode("n1", "2", "4Gi", withTaint("k", "v", api.TaintEffectPreferNoSchedule))}, nil, mkPod("p", "1", ""), "n1"},
		{"host port", []*api.Node{mkNode("n1", "2", "4Gi")}, []*api.Pod{mkPod("b", "", "", onNode("n1"), hostPortOpt(8080))}, mkPod("p", "", "", hostPortOpt(8080)),
			"0/1 nodes are available: 1 node(s) didn't have free ports for the requested pod ports."},
		{"host port other", []*api.Node{mkNode("n1", "2", "4Gi")}, []*api.Pod{mkPod("b", "", "", onNode("n1"), hostPortOpt(8080))}, mkPod("p", "", "", hostPortOpt(8081)), "n1"},
		{"anti-affinity", []*api.Node{mkNode("n1", "2", "4Gi")}, []*api.Pod{mkPod("b", "", "", onNode("n1"), labels("app", "web"))},
			mkPod("p", "", "", labels("app", "web"), antiAffinity(podTerm(LabelHostname, "app", "web"))),
			"0/1 nodes are available: 1 node(s) didn't match pod anti-affinity rules."},
		{"anti-affinity other namespace ignored", []*api.Node{mkNode("n1", "2", "4Gi")},
			[]*api.Pod{mkPod("b", "", "", onNode("n1"), labels("app", "web"), func(p *api.Pod) { p.Namespace = "other" })},
			mkPod("p", "", "", antiAffinity(podTerm(LabelHostname, "app", "web"))), "n1"},
		{"existing anti-affinity", []*api.Node{mkNode("n1", "2", "4Gi")},
			[]*api.Pod{mkPod("b", "", "", onNode("n1"), antiAffinity(podTerm(LabelHostname, "app", "web")))},
			mkPod("p", "", "", labels("app", "web")),
			"0/1 nodes are available: 1 node(s) didn't satisfy existing pods anti-affinity rules."},
		{"affinity", []*api.Node{mkNode("n1", "2", "4Gi"), mkNode("n2", "2", "4Gi")}, []*api.Pod{mkPod("db", "", "", onNode("n2"), labels("app", "db"))},
			mkPod("p", "", "", podAffinity(podTerm(LabelHostname, "app", "db"))), "n2"},
		{"affinity unmet", []*api.Node{mkNode("n1", "2", "4Gi"), mkNode("n2", "2", "4Gi")}, []*api.Pod{mkPod("db", "", "", onNode("n2"), labels("app", "db"))},
			mkPod("p", "", "", nodeSelector(LabelHostname, "n1"), podAffinity(podTerm(LabelHostname, "app", "db"))),
			"0/2 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 1 node(s) didn't match pod affinity rules."},
		{"affinity nothing matches", []*api.Node{mkNode("n1", "2", "4Gi")}, nil,
			mkPod("p", "", "", podAffinity(podTerm(LabelHostname, "app", "db"))),
			"0/1 nodes are available: 1 node(s) didn't match pod affinity rules."},
		{"affinity first of its group", []*api.Node{mkNode("n1", "2", "4Gi")}, nil,
			mkPod("p", "", "", labels("app", "db"), podAffinity(podTerm(LabelHostname, "app", "db"))), "n1"},
		// Taints do not take a node out of the spread domains (nodeTaintsPolicy Ignore).
		{"spread", []*api.Node{mkNode("a", "2", "4Gi", withLabels(LabelZone, "z1")), mkNode("b", "2", "4Gi", withLabels(LabelZone, "z2"), withTaint("k", "v", api.TaintEffectNoSchedule))},
			[]*api.Pod{mkPod("x", "", "", onNode("a"), labels("app", "web"))},
			mkPod("p", "", "", labels("app", "web"), spread(LabelZone, 1, api.DoNotSchedule, "app", "web")),
			"0/2 nodes are available: 1 node(s) didn't match pod topology spread constraints, 1 node(s) had untolerated taint {k: v}."},
		// Node affinity does (nodeAffinityPolicy Honor): z2 is not a domain, so a second pod in z1 is fine.
		{"spread honours node affinity", []*api.Node{mkNode("a", "2", "4Gi", withLabels(LabelZone, "z1")), mkNode("b", "2", "4Gi", withLabels(LabelZone, "z2"))},
			[]*api.Pod{mkPod("x", "", "", onNode("a"), labels("app", "web"))},
			mkPod("p", "", "", labels("app", "web"), nodeSelector(LabelZone, "z1"), spread(LabelZone, 1, api.DoNotSchedule, "app", "web")), "a"},
		{"spread missing label", []*api.Node{mkNode("a", "2", "4Gi")}, nil,
			mkPod("p", "", "", labels("app", "web"), spread(LabelZone, 1, api.DoNotSchedule, "app", "web")),
			"0/1 nodes are available: 1 node(s) didn't match pod topology spread constraints (missing required label)."},
		{"no nodes", nil, nil, mkPod("p", "1", ""), "0/0 nodes are available."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			snap := Snapshot{Nodes: tt.nodes, Pods: tt.bound}
			plan := Schedule(snap, []*api.Pod{tt.pod})
			got := ""
			switch {
			case len(plan.Placements) == 1:
				got = plan.Placements[0].Node
				if err := Fits(snap, tt.pod, got); err != nil {
					t.Errorf("placed on %s but Fits says %v", got, err)
				}
			case len(plan.Unplaced) == 1:
				got = plan.Unplaced[0].Reason
				for _, n := range tt.nodes {
					if Fits(snap, tt.pod, n.Name) == nil {
						t.Errorf("unplaced but Fits accepts %s", n.Name)
					}
				}
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestUnavailableMessageOrder(t *testing.T) {
	nodes := []*api.Node{
		mkNode("a", "1", "1Gi"), mkNode("b", "1", "1Gi"),
		mkNode("c", "8", "8Gi", withLabels("disk", "hdd")),
		mkNode("d", "8", "8Gi", notReady),
	}
	pod := mkPod("p", "2", "", requiredNode(term(expr("disk", api.NodeSelectorOpNotIn, "hdd"))))
	plan := Schedule(Snapshot{Nodes: nodes}, []*api.Pod{pod})
	want := "0/4 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 1 node(s) were not ready, 2 Insufficient cpu."
	if len(plan.Unplaced) != 1 || plan.Unplaced[0].Reason != want {
		t.Fatalf("got %+v, want %q", plan, want)
	}
}

func TestFitsError(t *testing.T) {
	snap := Snapshot{Nodes: []*api.Node{mkNode("n1", "1", "1Gi")}}
	err := Fits(snap, mkPod("p", "2", "2Gi"), "n1")
	fe, ok := err.(*FitError)
	if !ok || !reflect.DeepEqual(fe.Reasons, []string{"Insufficient cpu", "Insufficient memory"}) {
		t.Fatalf("got %v", err)
	}
	if !strings.Contains(err.Error(), "pod default/p does not fit on node n1: Insufficient cpu") {
		t.Errorf("message %q", err.Error())
	}
	if Fits(snap, mkPod("p", "1", ""), "missing") == nil {
		t.Error("unknown node fits")
	}
	// A pod already in the state is not counted against itself.
	bound := mkPod("p", "1", "", onNode("n1"))
	snap.Pods = []*api.Pod{bound}
	if err := Fits(snap, bound, "n1"); err != nil {
		t.Errorf("re-check of bound pod: %v", err)
	}
}

func TestCapacityConsumedWithinCall(t *testing.T) {
	snap := Snapshot{Nodes: []*api.Node{mkNode("n1", "2", "4Gi")}}
	pending := []*api.Pod{mkPod("p1", "1", "", created(1)), mkPod("p2", "1", "", created(2)), mkPod("p3", "1", "", created(3))}
	plan := Schedule(snap, pending)
	if len(plan.Placements) != 2 || plan.Placements[0].Pod.Name != "p1" || plan.Placements[1].Pod.Name != "p2" {
		t.Fatalf("placements %+v", plan.Placements)
	}
	if len(plan.Unplaced) != 1 || plan.Unplaced[0].Pod.Name != "p3" || plan.Unplaced[0].Reason != "0/1 nodes are available: 1 Insufficient cpu." {
		t.Fatalf("unplaced %+v", plan.Unplaced)
	}
}

func TestHostPortsWithinCall(t *testing.T) {
	snap := Snapshot{Nodes: []*api.Node{mkNode("n1", "8", "8Gi"), mkNode("n2", "8", "8Gi")}}
	var pending []*api.Pod
	for i := range 3 {
		pending = append(pending, mkPod(fmt.Sprintf("p%d", i), "", "", hostPortOpt(80)))
	}
	plan := Schedule(snap, pending)
	if len(plan.Placements) != 2 || plan.Placements[0].Node == plan.Placements[1].Node || len(plan.Unplaced) != 1 {
		t.Fatalf("plan %+v", plan)
	}
}

func TestPodRequests(t *testing.T) {
	always := api.ContainerRestartPolicyAlways
	c := func(cpu string) api.Container {
		return api.Container{Name: "c", Resources: api.ResourceRequirements{Requests: api.ResourceList{"cpu": api.MustParseQuantity(cpu)}}}
	}
	side := func(cpu string) api.Container { x := c(cpu); x.RestartPolicy = &always; return x }
	tests := []struct {
		name string
		spec api.PodSpec
		want int64
	}{
		{"sum of containers", api.PodSpec{Containers: []api.Container{c("100m"), c("200m")}}, 300},
		{"init larger", api.PodSpec{InitContainers: []api.Container{c("1")}, Containers: []api.Container{c("100m"), c("200m")}}, 1000},
		{"init smaller", api.PodSpec{InitContainers: []api.Container{c("100m")}, Containers: []api.Container{c("500m")}}, 500},
		{"sidecar adds", api.PodSpec{InitContainers: []api.Container{side("200m")}, Containers: []api.Container{c("500m")}}, 700},
		{"init after sidecar", api.PodSpec{InitContainers: []api.Container{side("200m"), c("1")}, Containers: []api.Container{c("100m")}}, 1200},
		{"init before sidecar", api.PodSpec{InitContainers: []api.Container{c("1"), side("200m")}, Containers: []api.Container{c("100m")}}, 1000},
	}
	for _, tt := range tests {
		if got := PodRequests(&tt.spec)["cpu"]; got != tt.want {
			t.Errorf("%s: got %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestTolerations(t *testing.T) {
	taint := withTaint("gpu", "true", api.TaintEffectNoSchedule)
	tests := []struct {
		name string
		tol  api.Toleration
		fits bool
	}{
		{"equal", api.Toleration{Key: "gpu", Operator: api.TolerationOpEqual, Value: "true", Effect: api.TaintEffectNoSchedule}, true},
		{"equal default operator", api.Toleration{Key: "gpu", Value: "true"}, true},
		{"equal wrong value", api.Toleration{Key: "gpu", Value: "false"}, false},
		{"exists", api.Toleration{Key: "gpu", Operator: api.TolerationOpExists}, true},
		{"exists empty key tolerates all", api.Toleration{Operator: api.TolerationOpExists}, true},
		{"wrong effect", api.Toleration{Key: "gpu", Operator: api.TolerationOpExists, Effect: api.TaintEffectNoExecute}, false},
		{"other key", api.Toleration{Key: "x", Operator: api.TolerationOpExists}, false},
	}
	for _, tt := range tests {
		snap := Snapshot{Nodes: []*api.Node{mkNode("n1", "2", "2Gi", taint)}}
		err := Fits(snap, mkPod("p", "", "", tolerate(tt.tol)), "n1")
		if (err == nil) != tt.fits {
			t.Errorf("%s: fits=%v, want %v (%v)", tt.name, err == nil, tt.fits, err)
		}
	}
}

func TestNodeAffinityOperators(t *testing.T) {
	n := mkNode("n1", "2", "2Gi", withLabels("zone", "a", "cores", "16"))
	tests := []struct {
		name  string
		terms []api.NodeSelectorTerm
		fits  bool
	}{
		{"In", []api.NodeSelectorTerm{term(expr("zone", api.NodeSelectorOpIn, "a", "b"))}, true},
		{"In no", []api.NodeSelectorTerm{term(expr("zone", api.NodeSelectorOpIn, "b"))}, false},
		{"NotIn", []api.NodeSelectorTerm{term(expr("zone", api.NodeSelectorOpNotIn, "b"))}, true},
		{"NotIn no", []api.NodeSelectorTerm{term(expr("zone", api.NodeSelectorOpNotIn, "a"))}, false},
		{"NotIn missing label", []api.NodeSelectorTerm{term(expr("rack", api.NodeSelectorOpNotIn, "a"))}, true},
		{"Exists", []api.NodeSelectorTerm{term(expr("zone", api.NodeSelectorOpExists))}, true},
		{"Exists no", []api.NodeSelectorTerm{term(expr("rack", api.NodeSelectorOpExists))}, false},
		{"DoesNotExist", []api.NodeSelectorTerm{term(expr("rack", api.NodeSelectorOpDoesNotExist))}, true},
		{"DoesNotExist no", []api.NodeSelectorTerm{term(expr("zone", api.NodeSelectorOpDoesNotExist))}, false},
		{"Gt", []api.NodeSelectorTerm{term(expr("cores", api.NodeSelectorOpGt, "8"))}, true},
		{"Gt no", []api.NodeSelectorTerm{term(expr("cores", api.NodeSelectorOpGt, "16"))}, false},
		{"Gt not a number", []api.NodeSelectorTerm{term(expr("zone", api.NodeSelectorOpGt, "1"))}, false},
		{"Lt", []api.NodeSelectorTerm{term(expr("cores", api.NodeSelectorOpLt, "32"))}, true},
		{"Lt no", []api.NodeSelectorTerm{term(expr("cores", api.NodeSelectorOpLt, "16"))}, false},
		{"ANDed", []api.NodeSelectorTerm{term(expr("zone", api.NodeSelectorOpIn, "a"), expr("cores", api.NodeSelectorOpGt, "32"))}, false},
		{"ORed", []api.NodeSelectorTerm{term(expr("zone", api.NodeSelectorOpIn, "b")), term(expr("cores", api.NodeSelectorOpGt, "8"))}, true},
		{"empty term", []api.NodeSelectorTerm{{}}, false},
		{"matchFields name", []api.NodeSelectorTerm{{MatchFields: []api.NodeSelectorRequirement{expr("metadata.name", api.NodeSelectorOpIn, "n1")}}}, true},
		{"matchFields other name", []api.NodeSelectorTerm{{MatchFields: []api.NodeSelectorRequirement{expr("metadata.name", api.NodeSelectorOpIn, "n2")}}}, false},
	}
	for _, tt := range tests {
		err := Fits(Snapshot{Nodes: []*api.Node{n}}, mkPod("p", "", "", requiredNode(tt.terms...)), "n1")
		if (err == nil) != tt.fits {
			t.Errorf("%s: fits=%v, want %v (%v)", tt.name, err == nil, tt.fits, err)
		}
	}
}

func threeNodes(cpu string) []*api.Node {
	return []*api.Node{
		mkNode("n1", cpu, "8Gi", withLabels(LabelZone, "z1")),
		mkNode("n2", cpu, "8Gi", withLabels(LabelZone, "z2")),
		mkNode("n3", cpu, "8Gi", withLabels(LabelZone, "z3")),
	}
}

func TestAntiAffinitySpreadsByHostname(t *testing.T) {
	var pending []*api.Pod
	for i := range 4 {
		pending = append(pending, mkPod(fmt.Sprintf("web-%d", i), "100m", "", created(i), labels("app", "web"), antiAffinity(podTerm(LabelHostname, "app", "web"))))
	}
	plan := Schedule(Snapshot{Nodes: threeNodes("4")}, pending)
	seen := map[string]bool{}
	for _, pl := range plan.Placements {
		if seen[pl.Node] {
			t.Fatalf("two on %s: %+v", pl.Node, plan)
		}
		seen[pl.Node] = true
	}
	if len(plan.Placements) != 3 || len(plan.Unplaced) != 1 ||
		plan.Unplaced[0].Reason != "0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules." {
		t.Fatalf("plan %+v", plan)
	}
}

func TestAffinityCoLocates(t *testing.T) {
	nodes := threeNodes("4")
	bound := []*api.Pod{mkPod("cache", "", "", onNode("n2"), labels("app", "cache"))}
	var pending []*api.Pod
	for i := range 3 {
		pending = append(pending, mkPod(fmt.Sprintf("web-%d", i), "100m", "", created(i), podAffinity(podTerm(LabelHostname, "app", "cache"))))
	}
	plan := Schedule(Snapshot{Nodes: nodes, Pods: bound}, pending)
	if len(plan.Placements) != 3 {
		t.Fatalf("plan %+v", plan)
	}
	for _, pl := range plan.Placements {
		if pl.Node != "n2" {
			t.Fatalf("placed away from cache: %+v", plan)
		}
	}
	// Zone affinity: a group whose first member lands anywhere draws the rest to its zone.
	pending = nil
	for i := range 3 {
		pending = append(pending, mkPod(fmt.Sprintf("g-%d", i), "100m", "", created(i), labels("grp", "a"), podAffinity(podTerm(LabelZone, "grp", "a"))))
	}
	plan = Schedule(Snapshot{Nodes: nodes}, pending)
	if len(plan.Placements) != 3 || plan.Placements[1].Node != plan.Placements[0].Node && plan.Placements[2].Node != plan.Placements[0].Node {
		t.Fatalf("group not together: %+v", plan)
	}
	for _, pl := range plan.Placements {
		if pl.Node != plan.Placements[0].Node {
			t.Fatalf("group split across zones: %+v", plan)
		}
	}
}

func TestTopologySpreadMaxSkew(t *testing.T) {
	// Nodes of very different size, so least-allocated alone would pile up.
	nodes := []*api.Node{
		mkNode("n1", "64", "64Gi", withLabels(LabelZone, "z1")),
		mkNode("n2", "2", "64Gi", withLabels(LabelZone, "z2")),
		mkNode("n3", "2", "64Gi", withLabels(LabelZone, "z3")),
		mkNode("n4", "64", "64Gi", withLabels(LabelZone, "z1")),
	}
	var pending []*api.Pod
	for i := range 6 {
		pending = append(pending, mkPod(fmt.Sprintf("web-%d", i), "100m", "", created(i), labels("app", "web"), spread(LabelZone, 1, api.DoNotSchedule, "app", "web")))
	}
	plan := Schedule(Snapshot{Nodes: nodes}, pending)
	if len(plan.Placements) != 6 {
		t.Fatalf("plan %+v", plan)
	}
	zoneOf := map[string]string{"n1": "z1", "n4": "z1", "n2": "z2", "n3": "z3"}
	counts := map[string]int{}
	for _, pl := range plan.Placements {
		counts[zoneOf[pl.Node]]++
	}
	if counts["z1"] != 2 || counts["z2"] != 2 || counts["z3"] != 2 {
		t.Fatalf("zone counts %v", counts)
	}
	// ScheduleAnyway never refuses, but still prefers the emptier zone.
	bound := []*api.Pod{mkPod("x", "", "", onNode("n1"), labels("app", "api")), mkPod("y", "", "", onNode("n2"), labels("app", "api"))}
	p := mkPod("api-0", "100m", "", labels("app", "api"), spread(LabelZone, 1, api.ScheduleAnyway, "app", "api"))
	plan = Schedule(Snapshot{Nodes: nodes[:3], Pods: bound}, []*api.Pod{p})
	if len(plan.Placements) != 1 || plan.Placements[0].Node != "n3" {
		t.Fatalf("ScheduleAnyway: %+v", plan)
	}
}

func TestDefaultSpreadByOwner(t *testing.T) {
	// n1 is much larger, so least-allocated alone would put all three there.
	nodes := []*api.Node{mkNode("n1", "32", "64Gi"), mkNode("n2", "4", "8Gi"), mkNode("n3", "4", "8Gi")}
	var pending []*api.Pod
	for i := range 3 {
		pending = append(pending, mkPod(fmt.Sprintf("web-%d", i), "500m", "512Mi", created(i), owner("rs-1")))
	}
	plan := Schedule(Snapshot{Nodes: nodes}, pending)
	got := map[string]bool{}
	for _, pl := range plan.Placements {
		got[pl.Node] = true
	}
	if len(plan.Placements) != 3 || len(got) != 3 {
		t.Fatalf("not spread: %+v", plan)
	}
	// Across zones: 2 nodes in z1, 1 in z2; 2 replicas go one per zone.
	nodes = []*api.Node{
		mkNode("a1", "4", "8Gi", withLabels(LabelZone, "z1")),
		mkNode("a2", "4", "8Gi", withLabels(LabelZone, "z1")),
		mkNode("b1", "4", "8Gi", withLabels(LabelZone, "z2")),
	}
	plan = Schedule(Snapshot{Nodes: nodes}, pending[:2])
	zones := map[string]bool{}
	for _, pl := range plan.Placements {
		zones[map[string]string{"a1": "z1", "a2": "z1", "b1": "z2"}[pl.Node]] = true
	}
	if len(zones) != 2 {
		t.Fatalf("not spread across zones: %+v", plan)
	}
}

func TestPreferences(t *testing.T) {
	nodes := threeNodes("4")
	// Preferred node affinity.
	p := mkPod("p", "100m", "", func(p *api.Pod) {
		affinity(p).NodeAffinity = &api.NodeAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []api.PreferredSchedulingTerm{
			{Weight: 10, Preference: term(expr(LabelZone, api.NodeSelectorOpIn, "z2"))},
			{Weight: 1, Preference: term(expr(LabelZone, api.NodeSelectorOpIn, "z3"))},
		}}
	})
	if got := placedOn(Schedule(Snapshot{Nodes: nodes}, []*api.Pod{p}))["p"]; got != "n2" {
		t.Errorf("preferred node affinity: %s", got)
	}
	// PreferNoSchedule taints are avoided.
	tainted := []*api.Node{
		mkNode("n1", "4", "8Gi", withTaint("a", "", api.TaintEffectPreferNoSchedule)),
		mkNode("n2", "4", "8Gi"),
		mkNode("n3", "4", "8Gi", withTaint("b", "", api.TaintEffectPreferNoSchedule)),
	}
	if got := placedOn(Schedule(Snapshot{Nodes: tainted}, []*api.Pod{mkPod("p", "100m", "")}))["p"]; got != "n2" {
		t.Errorf("PreferNoSchedule: %s", got)
	}
	// Preferred pod affinity and anti-affinity.
	bound := []*api.Pod{mkPod("db", "", "", onNode("n3"), labels("app", "db")), mkPod("noisy", "", "", onNode("n1"), labels("app", "noisy"))}
	p = mkPod("p", "100m", "", func(p *api.Pod) {
		affinity(p).PodAffinity = &api.PodAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []api.WeightedPodAffinityTerm{{Weight: 50, PodAffinityTerm: podTerm(LabelHostname, "app", "db")}}}
	})
	if got := placedOn(Schedule(Snapshot{Nodes: nodes, Pods: bound}, []*api.Pod{p}))["p"]; got != "n3" {
		t.Errorf("preferred pod affinity: %s", got)
	}
	p = mkPod("p", "100m", "", func(p *api.Pod) {
		affinity(p).PodAntiAffinity = &api.PodAntiAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []api.WeightedPodAffinityTerm{{Weight: 100, PodAffinityTerm: podTerm(LabelZone, "app", "noisy")}}}
	})
	if got := placedOn(Schedule(Snapshot{Nodes: nodes[:1:1], Pods: nil}, []*api.Pod{p}))["p"]; got != "n1" {
		t.Errorf("single node: %s", got)
	}
	if got := placedOn(Schedule(Snapshot{Nodes: []*api.Node{nodes[0], nodes[1]}, Pods: bound[1:]}, []*api.Pod{p}))["p"]; got != "n2" {
		t.Errorf("preferred anti-affinity: %s", got)
	}
}

// --- determinism and properties ---

func randomCluster(r *rand.Rand) (Snapshot, []*api.Pod) {
	var snap Snapshot
	nn := 1 + r.Intn(8)
	for i := range nn {
		opts := []nodeOpt{withLabels(LabelZone, fmt.Sprintf("z%d", r.Intn(3)), "tier", fmt.Sprint(r.Intn(3)))}
		if r.Intn(5) == 0 {
			opts = append(opts, withAlloc("nvidia.com/gpu", fmt.Sprint(r.Intn(3))))
		}
		if r.Intn(6) == 0 {
			opts = append(opts, withTaint("dedicated", "x", api.TaintEffectNoSchedule))
		}
		if r.Intn(6) == 0 {
			opts = append(opts, withAlloc("pods", fmt.Sprint(r.Intn(4))))
		}
		if r.Intn(10) == 0 {
			opts = append(opts, notReady)
		}
		snap.Nodes = append(snap.Nodes, mkNode(fmt.Sprintf("n%d", i), fmt.Sprintf("%dm", 500+r.Intn(4000)), fmt.Sprintf("%dMi", 512+r.Intn(4096)), opts...))
	}
	apps := []string{"web", "db", "cache"}
	mk := func(name string, i int) *api.Pod {
		app := apps[r.Intn(len(apps))]
		opts := []podOpt{created(r.Intn(50)), labels("app", app), owner("rs-" + app)}
		if r.Intn(8) == 0 {
			opts = append(opts, request("nvidia.com/gpu", "1"))
		}
		if r.Intn(6) == 0 {
			opts = append(opts, hostPortOpt(int32(8000+r.Intn(3))))
		}
		if r.Intn(6) == 0 {
			opts = append(opts, antiAffinity(podTerm(LabelHostname, "app", app)))
		}
		if r.Intn(8) == 0 {
			opts = append(opts, podAffinity(podTerm(LabelZone, "app", apps[r.Intn(len(apps))])))
		}
		if r.Intn(5) == 0 {
			opts = append(opts, spread(LabelZone, int32(1+r.Intn(2)), api.DoNotSchedule, "app", app))
		}
		if r.Intn(6) == 0 {
			opts = append(opts, requiredNode(term(expr("tier", api.NodeSelectorOpLt, "2"))))
		}
		if r.Intn(6) == 0 {
			opts = append(opts, tolerate(api.Toleration{Key: "dedicated", Operator: api.TolerationOpExists}))
		}
		p := mkPod(name, fmt.Sprintf("%dm", r.Intn(1500)), fmt.Sprintf("%dMi", r.Intn(1024)), opts...)
		p.UID = fmt.Sprintf("uid-%d", i)
		return p
	}
	np := r.Intn(30)
	var pending []*api.Pod
	for i := range np {
		pending = append(pending, mk(fmt.Sprintf("p%02d", i), i))
	}
	// Bind a few of them first, through the scheduler itself, so the bound
	// pods respect the rules.
	nb := r.Intn(len(pending) + 1)
	pre := Schedule(snap, pending[:nb])
	byName := map[string]*api.Pod{}
	for _, p := range pending[:nb] {
		byName[p.Name] = p
	}
	for _, pl := range pre.Placements {
		p := api.Copy(byName[pl.Pod.Name])
		p.Spec.NodeName = pl.Node
		snap.Pods = append(snap.Pods, p)
	}
	return snap, pending[nb:]
}

func shuffled[T any](r *rand.Rand, in []T) []T {
	out := append([]T(nil), in...)
	r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

func TestScheduleDeterministic(t *testing.T) {
	for seed := range int64(200) {
		r := rand.New(rand.NewSource(seed))
		snap, pending := randomCluster(r)
		want := Schedule(snap, pending)
		for range 3 {
			s2 := Snapshot{Nodes: shuffled(r, snap.Nodes), Pods: shuffled(r, snap.Pods)}
			got := Schedule(s2, shuffled(r, pending))
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("seed %d: plan depends on input order:\n got %+v\nwant %+v", seed, got, want)
			}
		}
	}
}

// TestScheduleProperties: nothing over-committed, every placement passes
// Fits against the state with the whole plan applied, and no required rule
// is broken.
func TestScheduleProperties(t *testing.T) {
	var stats [2]int
	for seed := range int64(300) {
		r := rand.New(rand.NewSource(seed))
		snap, pending := randomCluster(r)
		plan := Schedule(snap, pending)
		if len(plan.Placements)+len(plan.Unplaced) != len(pending) {
			t.Fatalf("seed %d: %d pending, plan %+v", seed, len(pending), plan)
		}
		byName := map[string]*api.Pod{}
		for _, p := range pending {
			byName[p.Name] = p
		}
		after := Snapshot{Nodes: snap.Nodes, Pods: append([]*api.Pod(nil), snap.Pods...)}
		for _, pl := range plan.Placements {
			p := api.Copy(byName[pl.Pod.Name])
			p.Spec.NodeName = pl.Node
			after.Pods = append(after.Pods, p)
		}
		// Over-commit, summed with quantities rather than the scheduler's
		// own arithmetic (random pods have no init containers).
		used := map[string]api.ResourceList{}
		count := map[string]int64{}
		for _, p := range after.Pods {
			if used[p.Spec.NodeName] == nil {
				used[p.Spec.NodeName] = api.ResourceList{}
			}
			count[p.Spec.NodeName]++
			for _, ctr := range p.Spec.Containers {
				for name, q := range ctr.Resources.Requests {
					used[p.Spec.NodeName][name] = used[p.Spec.NodeName][name].Add(q)
				}
			}
		}
		for _, n := range snap.Nodes {
			for name, q := range used[n.Name] {
				if q.Sign() > 0 && q.Cmp(n.Status.Allocatable[name]) > 0 {
					t.Fatalf("seed %d: node %s over-committed on %s: %s > %s", seed, n.Name, name, q, n.Status.Allocatable[name])
				}
			}
			if count[n.Name] > n.Status.Allocatable["pods"].Value() {
				t.Fatalf("seed %d: node %s has %d pods", seed, n.Name, count[n.Name])
			}
		}
		// Walk the pods in the scheduler's order, as the leader would check
		// the plan: each placement passes Fits against the state just before
		// it, and each unplaced pod fits no node of that state.
		placedAt := map[string]string{}
		for _, pl := range plan.Placements {
			placedAt[pl.Pod.Name] = pl.Node
		}
		ordered := append([]*api.Pod(nil), pending...)
		sort.Slice(ordered, func(i, j int) bool {
			ti, tj := createdAt(ordered[i]), createdAt(ordered[j])
			return ti < tj || ti == tj && ordered[i].Name < ordered[j].Name
		})
		partial := Snapshot{Nodes: snap.Nodes, Pods: append([]*api.Pod(nil), snap.Pods...)}
		for _, p := range ordered {
			node, ok := placedAt[p.Name]
			if !ok {
				for _, n := range snap.Nodes {
					if Fits(partial, p, n.Name) == nil {
						t.Fatalf("seed %d: %s unplaced but fits %s", seed, p.Name, n.Name)
					}
				}
				continue
			}
			if err := Fits(partial, p, node); err != nil {
				t.Fatalf("seed %d: placement of %s on %s fails Fits: %v", seed, p.Name, node, err)
			}
			b := api.Copy(p)
			b.Spec.NodeName = node
			partial.Pods = append(partial.Pods, b)
			stats[0]++
		}
		stats[1] += len(plan.Unplaced)
		// Required anti-affinity and DoNotSchedule skew hold in the end state
		// for every placed pod (Fits against the final state without itself).
		for _, pl := range plan.Placements {
			p := byName[pl.Pod.Name]
			if err := Fits(after, p, pl.Node); err != nil {
				// Pod affinity may only hold thanks to a pod placed later;
				// anything else must still hold.
				var fe *FitError
				fe, _ = err.(*FitError)
				if fe == nil || len(fe.Reasons) != 1 || (fe.Reasons[0] != ReasonSpread && fe.Reasons[0] != ReasonPodAffinity) {
					t.Fatalf("seed %d: %+v no longer fits the final state: %v", seed, pl, err)
				}
			}
		}
		for _, u := range plan.Unplaced {
			if !strings.HasPrefix(u.Reason, fmt.Sprintf("0/%d nodes are available", len(snap.Nodes))) {
				t.Fatalf("seed %d: reason %q", seed, u.Reason)
			}
		}
	}
	if stats[0] < 500 || stats[1] < 100 {
		t.Errorf("property test too weak: %d placed, %d unplaced", stats[0], stats[1])
	}
	t.Logf("%d placed, %d unplaced", stats[0], stats[1])
}

func TestPendingOrder(t *testing.T) {
	snap := Snapshot{Nodes: []*api.Node{mkNode("n1", "1", "1Gi")}}
	// The older pod wins the only slot, whatever the input order.
	old, young := mkPod("b-old", "1", "", created(1)), mkPod("a-young", "1", "", created(2))
	for _, in := range [][]*api.Pod{{old, young}, {young, old}} {
		plan := Schedule(snap, in)
		if len(plan.Placements) != 1 || plan.Placements[0].Pod.Name != "b-old" {
			t.Fatalf("plan %+v", plan)
		}
	}
}

// Replicas that fit nowhere are explained once, but a placement in between
// may make room: here the second web pod can follow the db pod placed
// after the first web pod was refused.
func TestUnplacedReplicasAfterAPlacement(t *testing.T) {
	web := func(name string, sec int) *api.Pod {
		return mkPod(name, "100m", "", created(sec), labels("app", "web"), owner("rs-web"), podAffinity(podTerm(LabelHostname, "app", "db")))
	}
	pending := []*api.Pod{web("web-1", 1), web("web-2", 2), mkPod("db", "100m", "", created(3), labels("app", "db")), web("web-3", 4)}
	plan := Schedule(Snapshot{Nodes: threeNodes("4")}, pending)
	placed := placedOn(plan)
	if len(plan.Unplaced) != 2 || plan.Unplaced[0].Pod.Name != "web-1" || plan.Unplaced[1].Pod.Name != "web-2" ||
		plan.Unplaced[1].Reason != "0/3 nodes are available: 3 node(s) didn't match pod affinity rules." {
		t.Fatalf("unplaced %+v", plan.Unplaced)
	}
	if placed["web-3"] == "" || placed["web-3"] != placed["db"] {
		t.Fatalf("web-3 not placed with db: %v", placed)
	}
}
