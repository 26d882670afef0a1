package placement

// Property tests of the scheduler (pgregory.net/rapid), against an
// independent check of the required rules and against the reference
// scheduler in scheduler_reference_test.go: the scheduler as it was before it was
// indexed and sampled, which filters every node for every pod and counts
// by scanning the bound pods. It is slow and plainly correct. On clusters
// of under 100 nodes (where nothing is sampled) the scheduler must give
// the same plans as the reference, messages included; on larger ones every
// placement must pass the reference's filters against the state before it,
// and a pod left unplaced must fit no node of that state.

import (
	"fmt"
	"reflect"
	"sort"
	"testing"

	"github.com/shoal-dev/shoal/api"
	"pgregory.net/rapid"
)

var (
	propApps  = []string{"web", "db", "cache", "api"}
	propZones = []string{"z0", "z1", "z2", "z3"}
)

// genNode draws one node: its size, labels, taints, readiness, cordon. A
// plain node is Ready and has no taints and no pods limit of its own.
func genNode(t *rapid.T, name string, plain bool) *api.Node {
	var opts []nodeOpt
	if rapid.IntRange(0, 9).Draw(t, "zoneless") > 0 {
		opts = append(opts, withLabels(LabelZone, rapid.SampledFrom(propZones).Draw(t, "zone")))
	}
	opts = append(opts, withLabels("tier", fmt.Sprint(rapid.IntRange(0, 3).Draw(t, "tier"))))
	if rapid.Bool().Draw(t, "ssd") {
		opts = append(opts, withLabels("disk", "ssd"))
	}
	if rapid.IntRange(0, 4).Draw(t, "gpu?") == 0 {
		opts = append(opts, withAlloc("nvidia.com/gpu", fmt.Sprint(rapid.IntRange(0, 2).Draw(t, "gpus"))))
	}
	if !plain && rapid.IntRange(0, 4).Draw(t, "podsLimit?") == 0 {
		opts = append(opts, withAlloc("pods", fmt.Sprint(rapid.IntRange(0, 4).Draw(t, "pods"))))
	}
	if plain {
		return mkNode(name, fmt.Sprintf("%dm", rapid.IntRange(2000, 8000).Draw(t, "cpu")), fmt.Sprintf("%dMi", rapid.IntRange(2048, 8192).Draw(t, "mem")), opts...)
	}
	switch rapid.IntRange(0, 9).Draw(t, "taint") {
	case 0:
		opts = append(opts, withTaint("dedicated", "x", api.TaintEffectNoSchedule))
	case 1:
		opts = append(opts, withTaint("evict", "", api.TaintEffectNoExecute))
	case 2, 3:
		opts = append(opts, withTaint("soft", "y", api.TaintEffectPreferNoSchedule))
	}
	if rapid.IntRange(0, 11).Draw(t, "notReady") == 0 {
		opts = append(opts, notReady)
	}
	if rapid.IntRange(0, 11).Draw(t, "cordoned") == 0 {
		opts = append(opts, unschedulable)
	}
	n := mkNode(name, fmt.Sprintf("%dm", rapid.IntRange(500, 4000).Draw(t, "cpu")), fmt.Sprintf("%dMi", rapid.IntRange(512, 4096).Draw(t, "mem")), opts...)
	if rapid.IntRange(0, 19).Draw(t, "noPodsLimit") == 0 {
		delete(n.Status.Allocatable, "pods")
	}
	return n
}

// genPod draws one pod with a mix of every rule the scheduler knows.
func genPod(t *rapid.T, i int) *api.Pod {
	app := rapid.SampledFrom(propApps).Draw(t, "app")
	other := rapid.SampledFrom(propApps).Draw(t, "other")
	topo := rapid.SampledFrom([]string{LabelHostname, LabelZone}).Draw(t, "topo")
	opts := []podOpt{created(rapid.IntRange(0, 20).Draw(t, "created")), labels("app", app)}
	if rapid.IntRange(0, 4).Draw(t, "orphan") > 0 {
		opts = append(opts, owner("rs-"+app))
	}
	if rapid.IntRange(0, 9).Draw(t, "otherNS") == 0 {
		opts = append(opts, func(p *api.Pod) { p.Namespace = "other" })
	}
	if rapid.IntRange(0, 7).Draw(t, "gpu") == 0 {
		opts = append(opts, request("nvidia.com/gpu", "1"))
	}
	if rapid.IntRange(0, 7).Draw(t, "hostPort") == 0 {
		opts = append(opts, hostPortOpt(int32(8000+rapid.IntRange(0, 2).Draw(t, "port"))))
	}
	if rapid.IntRange(0, 7).Draw(t, "nodeSelector") == 0 {
		opts = append(opts, nodeSelector("disk", "ssd"))
	}
	switch rapid.IntRange(0, 9).Draw(t, "requiredNode") {
	case 0:
		opts = append(opts, requiredNode(term(expr("tier", api.NodeSelectorOpLt, "2"))))
	case 1:
		opts = append(opts, requiredNode(term(expr(LabelZone, api.NodeSelectorOpIn, "z0", "z1")), term(expr("tier", api.NodeSelectorOpGt, "2"))))
	case 2:
		opts = append(opts, requiredNode(term(expr(LabelZone, api.NodeSelectorOpNotIn, "z2"), expr("disk", api.NodeSelectorOpDoesNotExist))))
	}
	if rapid.IntRange(0, 5).Draw(t, "preferredNode") == 0 {
		opts = append(opts, func(p *api.Pod) {
			if affinity(p).NodeAffinity == nil {
				affinity(p).NodeAffinity = &api.NodeAffinity{}
			}
			affinity(p).NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution = []api.PreferredSchedulingTerm{
				{Weight: 10, Preference: term(expr(LabelZone, api.NodeSelectorOpIn, "z1"))},
				{Weight: 3, Preference: term(expr("disk", api.NodeSelectorOpExists))},
			}
		})
	}
	if rapid.IntRange(0, 4).Draw(t, "anti") == 0 {
		opts = append(opts, antiAffinity(podTerm(topo, "app", app)))
	}
	if rapid.IntRange(0, 7).Draw(t, "affinity") == 0 {
		opts = append(opts, podAffinity(podTerm(topo, "app", other)))
	}
	if rapid.IntRange(0, 7).Draw(t, "preferredPod") == 0 {
		w := int32(rapid.IntRange(1, 100).Draw(t, "weight"))
		opts = append(opts, func(p *api.Pod) {
			wt := []api.WeightedPodAffinityTerm{{Weight: w, PodAffinityTerm: podTerm(topo, "app", other)}}
			if w%2 == 0 {
				if affinity(p).PodAffinity == nil {
					affinity(p).PodAffinity = &api.PodAffinity{}
				}
				affinity(p).PodAffinity.PreferredDuringSchedulingIgnoredDuringExecution = wt
			} else {
				if affinity(p).PodAntiAffinity == nil {
					affinity(p).PodAntiAffinity = &api.PodAntiAffinity{}
				}
				affinity(p).PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution = wt
			}
		})
	}
	switch rapid.IntRange(0, 7).Draw(t, "spread") {
	case 0, 1:
		opts = append(opts, spread(topo, int32(rapid.IntRange(1, 2).Draw(t, "maxSkew")), api.DoNotSchedule, "app", app))
	case 2:
		opts = append(opts, spread(LabelZone, 1, api.ScheduleAnyway, "app", app))
	}
	switch rapid.IntRange(0, 9).Draw(t, "toleration") {
	case 0:
		opts = append(opts, tolerate(api.Toleration{Key: "dedicated", Operator: api.TolerationOpExists}))
	case 1:
		opts = append(opts, tolerate(api.Toleration{Operator: api.TolerationOpExists}))
	case 2:
		opts = append(opts, tolerate(api.Toleration{Key: "soft", Value: "y", Effect: api.TaintEffectPreferNoSchedule}))
	}
	cpu := fmt.Sprintf("%dm", rapid.IntRange(0, 1500).Draw(t, "cpuReq"))
	mem := fmt.Sprintf("%dMi", rapid.IntRange(0, 1024).Draw(t, "memReq"))
	p := mkPod(fmt.Sprintf("p%03d", i), cpu, mem, opts...)
	if rapid.IntRange(0, 9).Draw(t, "noUID") > 0 {
		p.UID = fmt.Sprintf("uid-%d", i)
	}
	return p
}

// genCluster draws a snapshot of nodes (a number in a range, plainPct%
// of them plain) with bound pods, bound anywhere (they may break rules and
// over-commit: the state may hold what no scheduler would do), some
// finished or being deleted, and the pending pods.
func genCluster(t *rapid.T, minNodes, maxNodes, plainPct, maxBound, maxPending int) (Snapshot, []*api.Pod) {
	var snap Snapshot
	for i := range rapid.IntRange(minNodes, maxNodes).Draw(t, "nodes") {
		plain := rapid.IntRange(0, 99).Draw(t, "plain") < plainPct
		snap.Nodes = append(snap.Nodes, genNode(t, fmt.Sprintf("n%03d", i), plain))
	}
	nb := rapid.IntRange(0, maxBound).Draw(t, "bound")
	for i := range nb {
		p := genPod(t, i)
		p.Name = fmt.Sprintf("b%03d", i)
		if len(snap.Nodes) > 0 {
			p.Spec.NodeName = snap.Nodes[rapid.IntRange(0, len(snap.Nodes)-1).Draw(t, "on")].Name
		}
		switch rapid.IntRange(0, 9).Draw(t, "boundState") {
		case 0:
			p.Status.Phase = api.PodSucceeded
		case 1:
			p.DeletionTimestamp = api.NewTime(epoch)
		}
		snap.Pods = append(snap.Pods, p)
	}
	var pending []*api.Pod
	for i := range rapid.IntRange(0, maxPending).Draw(t, "pending") {
		if i > 0 && rapid.IntRange(0, 2).Draw(t, "replica") == 0 {
			// Another replica of the pod before: the same but for its name.
			p := api.Copy(pending[i-1])
			p.Name = fmt.Sprintf("p%03d", nb+i)
			if p.UID != "" {
				p.UID = fmt.Sprintf("uid-%d", nb+i)
			}
			pending = append(pending, p)
			continue
		}
		pending = append(pending, genPod(t, nb+i))
	}
	return snap, pending
}

// scheduleOrder is the order Schedule takes pods in.
func scheduleOrder(pending []*api.Pod) []*api.Pod {
	out := append([]*api.Pod(nil), pending...)
	sort.SliceStable(out, func(i, j int) bool {
		ti, tj := createdAt(out[i]), createdAt(out[j])
		return ti < tj || ti == tj && podKey(out[i]).String() < podKey(out[j]).String()
	})
	return out
}

func permuted[T any](t *rapid.T, in []T, label string) []T {
	out := append([]T(nil), in...)
	for i := len(out) - 1; i > 0; i-- {
		j := rapid.IntRange(0, i).Draw(t, label)
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// On clusters too small to sample, the plan is the reference's, and Fits
// agrees with the reference's Fits.
func TestPropSameAsReference(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		snap, pending := genCluster(t, 1, 12, 0, 15, 25)
		got, want := Schedule(snap, pending), refSchedule(snap, pending)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("plan differs from the reference:\n got %+v\nwant %+v", got, want)
		}
		if len(pending) > 0 {
			p := pending[rapid.IntRange(0, len(pending)-1).Draw(t, "pod")]
			n := snap.Nodes[rapid.IntRange(0, len(snap.Nodes)-1).Draw(t, "node")].Name
			if got, want := Fits(snap, p, n), refFits(snap, p, n); !reflect.DeepEqual(got, want) {
				t.Fatalf("Fits(%s, %s) = %v, reference says %v", p.Name, n, got, want)
			}
		}
	})
}

// On clusters large enough to sample, every placement passes the
// reference's filters, an unplaced pod fits nowhere and is told why in the
// reference's words, the checker the Binder uses agrees with the
// reference, and no required rule is broken.
func TestPropLargeClusters(t *testing.T) {
	var sampled, placed, unplacedN int
	rapid.Check(t, func(t *rapid.T) {
		snap, pending := genCluster(t, 150, 300, 85, 80, 60)
		plan := Schedule(snap, pending)
		if len(plan.Placements)+len(plan.Unplaced) != len(pending) {
			t.Fatalf("%d pending, plan %+v", len(pending), plan)
		}
		placedAt := map[string]string{}
		for _, pl := range plan.Placements {
			placedAt[pl.Pod.Name] = pl.Node
		}
		unplaced := map[string]string{}
		for _, u := range plan.Unplaced {
			unplaced[u.Pod.Name] = u.Reason
		}
		chk := newChecker(snap, pending)
		partial := Snapshot{Nodes: snap.Nodes, Pods: append([]*api.Pod(nil), snap.Pods...)}
		for _, p := range scheduleOrder(pending) {
			other := snap.Nodes[rapid.IntRange(0, len(snap.Nodes)-1).Draw(t, "other")].Name
			if got, want := chk.fits(p, other, false), refFits(partial, p, other); !reflect.DeepEqual(got, want) {
				t.Fatalf("checker: %s on %s: %v, reference says %v", p.Name, other, got, want)
			}
			node, ok := placedAt[p.Name]
			if !ok {
				ref := refSchedule(partial, []*api.Pod{p})
				if len(ref.Unplaced) != 1 || ref.Unplaced[0].Reason != unplaced[p.Name] {
					t.Fatalf("%s unplaced (%q), reference plan %+v", p.Name, unplaced[p.Name], ref)
				}
				unplacedN++
				continue
			}
			if err := refFits(partial, p, node); err != nil {
				t.Fatalf("placement of %s on %s fails the reference's filters: %v", p.Name, node, err)
			}
			fit := 0
			rc := refNewCluster(partial, nil)
			info := rc.prepare(p)
			for _, n := range rc.nodes {
				if len(rc.filter(info, n)) == 0 {
					fit++
				}
			}
			if fit > numFeasibleNodesToFind(len(snap.Nodes)) {
				sampled++
			}
			placed++
			if err := chk.fits(p, node, true); err != nil {
				t.Fatalf("checker refuses %s on %s: %v", p.Name, node, err)
			}
			checkRequiredRules(t, partial, p, node)
			b := api.Copy(p)
			b.Spec.NodeName = node
			partial.Pods = append(partial.Pods, b)
		}
		checkNoOvercommit(t, snap, partial, placedAt)
	})
	t.Logf("%d placed, %d of them chosen from a sample; %d unplaced", placed, sampled, unplacedN)
	if sampled < placed/4 || unplacedN == 0 {
		t.Errorf("too few sampled placements or unplaced pods to test much")
	}
}

// The plan does not depend on the order of the nodes, the bound pods or
// the pending pods, sampled or not.
func TestPropDeterministic(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		snap, pending := genCluster(t, 1, 200, 50, 60, 60)
		want := Schedule(snap, pending)
		got := Schedule(Snapshot{Nodes: permuted(t, snap.Nodes, "n"), Pods: permuted(t, snap.Pods, "b")}, permuted(t, pending, "p"))
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("plan depends on input order:\n got %+v\nwant %+v", got, want)
		}
	})
}

// checkRequiredRules checks p on node against the state before it, by the
// rules themselves rather than the scheduler's code: readiness, cordon,
// NoSchedule and NoExecute taints, node selector, required node affinity,
// required pod affinity and anti-affinity (both ways) and DoNotSchedule
// spread.
func checkRequiredRules(t *rapid.T, state Snapshot, p *api.Pod, node string) {
	nodes := map[string]*api.Node{}
	for _, n := range state.Nodes {
		nodes[n.Name] = n
	}
	n := nodes[node]
	tol := func(taint api.Taint) bool {
		for _, tl := range p.Spec.Tolerations {
			if tl.ToleratesTaint(&taint) {
				return true
			}
		}
		return false
	}
	ready := false
	for _, c := range n.Status.Conditions {
		ready = ready || c.Type == "Ready" && c.Status == "True"
	}
	if !ready && !tol(api.Taint{Key: TaintNotReady, Effect: api.TaintEffectNoSchedule}) {
		t.Fatalf("%s placed on NotReady %s", p.Name, node)
	}
	if n.Spec.Unschedulable && !tol(api.Taint{Key: TaintUnschedulable, Effect: api.TaintEffectNoSchedule}) {
		t.Fatalf("%s placed on cordoned %s", p.Name, node)
	}
	for _, taint := range n.Spec.Taints {
		if taint.Effect != api.TaintEffectPreferNoSchedule && !tol(taint) {
			t.Fatalf("%s placed on %s despite taint %+v", p.Name, node, taint)
		}
	}
	if !nodeMatches(p, n) {
		t.Fatalf("%s placed on %s against its node selector or affinity", p.Name, node)
	}
	var live []*api.Pod
	for _, q := range state.Pods {
		if q.Spec.NodeName != "" && nodes[q.Spec.NodeName] != nil && !terminated(q) {
			live = append(live, q)
		}
	}
	sameDomain := func(key string, q *api.Pod) bool {
		v, ok := n.Labels[key]
		w, ok2 := nodes[q.Spec.NodeName].Labels[key]
		return ok && ok2 && v == w
	}
	matches := func(owner *api.Pod, tm api.PodAffinityTerm, q *api.Pod) bool {
		ns := tm.Namespaces
		if len(ns) == 0 {
			ns = []string{owner.Namespace}
		}
		return contains(ns, q.Namespace) && tm.LabelSelector.Matches(q.Labels)
	}
	if a := p.Spec.Affinity; a != nil && a.PodAntiAffinity != nil {
		for _, tm := range a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution {
			for _, q := range live {
				if matches(p, tm, q) && sameDomain(tm.TopologyKey, q) {
					t.Fatalf("%s on %s: its anti-affinity rejects %s on %s", p.Name, node, q.Name, q.Spec.NodeName)
				}
			}
		}
	}
	for _, q := range live {
		if a := q.Spec.Affinity; a != nil && a.PodAntiAffinity != nil {
			for _, tm := range a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution {
				if matches(q, tm, p) && sameDomain(tm.TopologyKey, q) {
					t.Fatalf("%s on %s: the anti-affinity of %s on %s rejects it", p.Name, node, q.Name, q.Spec.NodeName)
				}
			}
		}
	}
	if a := p.Spec.Affinity; a != nil && a.PodAffinity != nil {
		// Every term needs a matching pod in the node's domain, unless no
		// term matches a pod anywhere and the pod matches them all itself:
		// the first of a group that must be together.
		here, anywhere, self := true, false, true
		for _, tm := range a.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution {
			found := false
			for _, q := range live {
				if !matches(p, tm, q) {
					continue
				}
				if _, ok := nodes[q.Spec.NodeName].Labels[tm.TopologyKey]; ok {
					anywhere = true
				}
				found = found || sameDomain(tm.TopologyKey, q)
			}
			here = here && found
			self = self && matches(p, tm, p)
		}
		if !here && (anywhere || !self) {
			t.Fatalf("%s on %s: no pod there matches its required affinity", p.Name, node)
		}
	}
	for _, c := range p.Spec.TopologySpreadConstraints {
		if c.WhenUnsatisfiable != api.DoNotSchedule {
			continue
		}
		counts := map[string]int{}
		for _, m := range state.Nodes {
			if v, ok := m.Labels[c.TopologyKey]; ok && spreadNodeOK(p, m) {
				counts[v] += 0
			}
		}
		for _, q := range live {
			m := nodes[q.Spec.NodeName]
			if v, ok := m.Labels[c.TopologyKey]; ok && spreadNodeOK(p, m) && q.Namespace == p.Namespace && q.DeletionTimestamp == nil && c.LabelSelector.Matches(q.Labels) {
				counts[v]++
			}
		}
		lo := -1
		for _, k := range counts {
			if lo < 0 || k < lo {
				lo = k
			}
		}
		self := 0
		if c.LabelSelector.Matches(p.Labels) {
			self = 1
		}
		v, ok := n.Labels[c.TopologyKey]
		if !ok || counts[v]+self-lo > int(c.MaxSkew) {
			t.Fatalf("%s on %s breaks its spread over %s: counts %v", p.Name, node, c.TopologyKey, counts)
		}
	}
}

// spreadNodeOK: n counts for p's spread constraints.
func spreadNodeOK(p *api.Pod, n *api.Node) bool {
	for _, c := range p.Spec.TopologySpreadConstraints {
		if _, ok := n.Labels[c.TopologyKey]; !ok {
			return false
		}
	}
	return nodeMatches(p, n)
}

// nodeMatches evaluates p's node selector and required node affinity on n.
func nodeMatches(p *api.Pod, n *api.Node) bool {
	for k, v := range p.Spec.NodeSelector {
		if n.Labels[k] != v {
			return false
		}
	}
	a := p.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return true
	}
	for _, tm := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		all := len(tm.MatchExpressions) > 0
		for _, r := range tm.MatchExpressions {
			v, ok := n.Labels[r.Key]
			var num, want int
			fmt.Sscan(v, &num)
			if len(r.Values) > 0 {
				fmt.Sscan(r.Values[0], &want)
			}
			switch r.Operator {
			case api.NodeSelectorOpIn:
				all = all && ok && contains(r.Values, v)
			case api.NodeSelectorOpNotIn:
				all = all && !(ok && contains(r.Values, v))
			case api.NodeSelectorOpExists:
				all = all && ok
			case api.NodeSelectorOpDoesNotExist:
				all = all && !ok
			case api.NodeSelectorOpGt:
				all = all && ok && num > want
			case api.NodeSelectorOpLt:
				all = all && ok && num < want
			}
		}
		if all {
			return true
		}
	}
	return false
}

// checkNoOvercommit: on every node that got a pod, the requests of all its
// pods, summed as quantities, stay within what the node has of each
// resource a new pod asked for, and the pod count within its limit.
func checkNoOvercommit(t *rapid.T, snap, final Snapshot, placedAt map[string]string) {
	asked := map[string]map[string]bool{}
	for _, p := range final.Pods {
		if node, ok := placedAt[p.Name]; ok && p.Spec.NodeName == node {
			if asked[node] == nil {
				asked[node] = map[string]bool{}
			}
			for _, c := range p.Spec.Containers {
				for name, q := range c.Resources.Requests {
					if q.Sign() > 0 {
						asked[node][name] = true
					}
				}
			}
		}
	}
	used := map[string]api.ResourceList{}
	count := map[string]int64{}
	for _, p := range final.Pods {
		if terminated(p) {
			continue
		}
		if used[p.Spec.NodeName] == nil {
			used[p.Spec.NodeName] = api.ResourceList{}
		}
		count[p.Spec.NodeName]++
		for _, c := range p.Spec.Containers {
			for name, q := range c.Resources.Requests {
				used[p.Spec.NodeName][name] = used[p.Spec.NodeName][name].Add(q)
			}
		}
	}
	for _, n := range snap.Nodes {
		if asked[n.Name] == nil {
			continue
		}
		for name := range asked[n.Name] {
			if q := used[n.Name][name]; q.Cmp(n.Status.Allocatable[name]) > 0 {
				t.Fatalf("node %s over-committed on %s: %s > %s", n.Name, name, q.String(), n.Status.Allocatable[name].String())
			}
		}
		if limit, ok := n.Status.Allocatable["pods"]; ok && count[n.Name] > limit.Value() {
			t.Fatalf("node %s has %d pods, more than its %d", n.Name, count[n.Name], limit.Value())
		}
	}
}
