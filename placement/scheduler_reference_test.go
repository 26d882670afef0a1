package placement

// The reference scheduler of the property tests: the scheduler as it was
// before it was indexed and sampled. It filters every node for every pod
// and counts by scanning the bound pods: slow and plainly correct.

import (
	"hash/fnv"
	"sort"

	"github.com/shoal-dev/shoal/api"
)

// refSchedule places pending pods on the snapshot's nodes. Pods are taken in
// creation order (creationTimestamp, then namespace/name), and each pod
// placed counts against the nodes for the pods after it. Pods in pending
// that also appear in snap.Pods are taken to be unbound.
func refSchedule(snap Snapshot, pending []*api.Pod) Plan {
	order := make([]*api.Pod, 0, len(pending))
	exclude := make(map[api.Key]bool, len(pending))
	for _, p := range pending {
		if p == nil || exclude[podKey(p)] {
			continue
		}
		exclude[podKey(p)] = true
		order = append(order, p)
	}
	sort.SliceStable(order, func(i, j int) bool {
		ti, tj := createdAt(order[i]), createdAt(order[j])
		if ti != tj {
			return ti < tj
		}
		return podKey(order[i]).String() < podKey(order[j]).String()
	})
	c := refNewCluster(snap, exclude)
	var plan Plan
	for _, p := range order {
		key := podKey(p)
		info := c.prepare(p)
		feasible := make([]*refNodeState, 0, len(c.nodes))
		counts := map[string]int{}
		for _, n := range c.nodes {
			reasons := c.filter(info, n)
			if len(reasons) == 0 {
				feasible = append(feasible, n)
				continue
			}
			for _, r := range reasons {
				counts[r]++
			}
		}
		if len(feasible) == 0 {
			plan.Unplaced = append(plan.Unplaced, Unplaced{Pod: key, Reason: unavailableMessage(len(c.nodes), counts)})
			continue
		}
		best := c.pick(info, feasible)
		c.add(p, best)
		plan.Placements = append(plan.Placements, Placement{Pod: key, Node: best.name})
	}
	return plan
}

// refFits reports whether pod fits on the named node of snap, with every
// filter refSchedule applies. It returns nil if it fits, or a *FitError with
// the reasons. The pod itself, if snap holds it, is left out first, so a
// plan can be checked against a state that already has the pod.
func refFits(snap Snapshot, pod *api.Pod, node string) error {
	key := podKey(pod)
	c := refNewCluster(snap, map[api.Key]bool{key: true})
	n := c.byName[node]
	if n == nil {
		return &FitError{Pod: key, Node: node, Reasons: []string{"node not found"}}
	}
	if reasons := c.filter(c.prepare(pod), n); len(reasons) > 0 {
		return &FitError{Pod: key, Node: node, Reasons: reasons}
	}
	return nil
}

// refTieHash is the deterministic tie-breaker: randomness seeded from the input.
func refTieHash(pod *api.Pod, node string) uint64 {
	h := fnv.New64a()
	if pod.UID != "" {
		h.Write([]byte(pod.UID))
	} else {
		h.Write([]byte(podKey(pod).String()))
	}
	h.Write([]byte{0})
	h.Write([]byte(node))
	return h.Sum64()
}

// refNodeState is a node with what is bound to it so far.
type refNodeState struct {
	node    *api.Node
	name    string
	labels  map[string]string
	ready   bool
	alloc   map[string]int64
	maxPods int64 // -1: the node sets no pods limit
	used    map[string]int64
	pods    int64
	nzCPU   int64 // requests with kube-scheduler's non-zero defaults, for scoring
	nzMem   int64
	ports   map[hostPort]bool
}

type refBoundPod struct {
	pod  *api.Pod
	node *refNodeState
	anti []refCompiledTerm // required anti-affinity terms
}

// refCompiledTerm is a pod affinity term with its selector converted once.
type refCompiledTerm struct {
	ns         string // namespace of the pod that wrote the term
	namespaces []string
	sel        api.Selector
	key        string
}

func refCompileTerm(ns string, t api.PodAffinityTerm) refCompiledTerm {
	return refCompiledTerm{ns: ns, namespaces: t.Namespaces, sel: compileSelector(t.LabelSelector), key: t.TopologyKey}
}

type refOwnerCounts struct {
	node map[string]int
	zone map[string]int
}

// refCluster is the scheduler's working state for one call.
type refCluster struct {
	nodes    []*refNodeState // sorted by name
	byName   map[string]*refNodeState
	pods     []refBoundPod
	antiPods []refBoundPod // bound pods with required anti-affinity terms
	owners   map[string]*refOwnerCounts
}

func refNewCluster(snap Snapshot, exclude map[api.Key]bool) *refCluster {
	c := &refCluster{byName: map[string]*refNodeState{}, owners: map[string]*refOwnerCounts{}}
	for _, n := range snap.Nodes {
		if n == nil || c.byName[n.Name] != nil {
			continue
		}
		ns := &refNodeState{node: n, name: n.Name, labels: n.Labels, used: map[string]int64{}, ports: map[hostPort]bool{}, maxPods: -1}
		for _, cond := range n.Status.Conditions {
			if cond.Type == "Ready" && cond.Status == string(api.ConditionTrue) {
				ns.ready = true
			}
		}
		alloc := n.Status.Allocatable
		if len(alloc) == 0 {
			alloc = n.Status.Capacity
		}
		ns.alloc = make(map[string]int64, len(alloc))
		for name, q := range alloc {
			if name == "pods" {
				ns.maxPods = q.Value()
				continue
			}
			ns.alloc[name] = resourceAmount(name, q)
		}
		c.byName[n.Name] = ns
		c.nodes = append(c.nodes, ns)
	}
	sort.Slice(c.nodes, func(i, j int) bool { return c.nodes[i].name < c.nodes[j].name })
	// Bound pods in a canonical order, so that nothing depends on input order.
	var bound []*api.Pod
	for _, p := range snap.Pods {
		if p == nil || p.Spec.NodeName == "" || terminated(p) || exclude[podKey(p)] || c.byName[p.Spec.NodeName] == nil {
			continue
		}
		bound = append(bound, p)
	}
	sort.SliceStable(bound, func(i, j int) bool { return podKey(bound[i]).String() < podKey(bound[j]).String() })
	for _, p := range bound {
		c.add(p, c.byName[p.Spec.NodeName])
	}
	return c
}

// add counts pod as bound to n.
func (c *refCluster) add(p *api.Pod, n *refNodeState) {
	req := PodRequests(&p.Spec)
	for k, v := range req {
		n.used[k] += v
	}
	n.pods++
	n.nzCPU += nonZero(req[api.ResourceCPU], defaultCPUMillis)
	n.nzMem += nonZero(req[api.ResourceMemory], defaultMemoryBytes)
	for _, hp := range podHostPorts(&p.Spec) {
		n.ports[hp] = true
	}
	bp := refBoundPod{pod: p, node: n}
	if a := p.Spec.Affinity; a != nil && a.PodAntiAffinity != nil {
		for _, t := range a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution {
			bp.anti = append(bp.anti, refCompileTerm(p.Namespace, t))
		}
	}
	c.pods = append(c.pods, bp)
	if len(bp.anti) > 0 {
		c.antiPods = append(c.antiPods, bp)
	}
	if uid := controllerUID(p); uid != "" {
		oc := c.owners[uid]
		if oc == nil {
			oc = &refOwnerCounts{node: map[string]int{}, zone: map[string]int{}}
			c.owners[uid] = oc
		}
		oc.node[n.name]++
		if z, ok := n.labels[LabelZone]; ok {
			oc.zone[z]++
		}
	}
}

// refTermCounts counts, per topology value, the bound pods matching a pod
// affinity term.
type refTermCounts struct {
	key    string
	weight int64
	counts map[string]int
}

type refSpreadCounts struct {
	c      api.TopologySpreadConstraint
	counts map[string]int // per domain among eligible nodes
	min    int
	self   int // 1 if the pod matches its own selector
}

// refPodInfo is what the filters and scores need about the pod being placed,
// computed once per pod.
type refPodInfo struct {
	pod       *api.Pod
	req       map[string]int64
	reqNames  []string // keys of req, cpu and memory first
	ports     []hostPort
	affinity  []refTermCounts
	anti      []refTermCounts
	selfMatch bool // pod matches all its required affinity terms itself
	forbidden map[string]map[string]bool
	spread    []refSpreadCounts // DoNotSchedule
	soft      []refSpreadCounts // ScheduleAnyway
	prefAff   []refTermCounts   // preferred affinity (+weight) and anti-affinity (-weight)
}

func (c *refCluster) prepare(p *api.Pod) *refPodInfo {
	info := &refPodInfo{pod: p, req: PodRequests(&p.Spec), ports: podHostPorts(&p.Spec)}
	for name := range info.req {
		info.reqNames = append(info.reqNames, name)
	}
	sort.Slice(info.reqNames, func(i, j int) bool {
		a, b := info.reqNames[i], info.reqNames[j]
		return resourceRank(a) < resourceRank(b) || resourceRank(a) == resourceRank(b) && a < b
	})
	if a := p.Spec.Affinity; a != nil {
		if pa := a.PodAffinity; pa != nil {
			info.selfMatch = true
			for _, t := range pa.RequiredDuringSchedulingIgnoredDuringExecution {
				info.affinity = append(info.affinity, c.countTerm(p, t, 0))
				if !refTermMatches(refCompileTerm(p.Namespace, t), p) {
					info.selfMatch = false
				}
			}
			for _, w := range pa.PreferredDuringSchedulingIgnoredDuringExecution {
				info.prefAff = append(info.prefAff, c.countTerm(p, w.PodAffinityTerm, int64(w.Weight)))
			}
		}
		if pa := a.PodAntiAffinity; pa != nil {
			for _, t := range pa.RequiredDuringSchedulingIgnoredDuringExecution {
				info.anti = append(info.anti, c.countTerm(p, t, 0))
			}
			for _, w := range pa.PreferredDuringSchedulingIgnoredDuringExecution {
				info.prefAff = append(info.prefAff, c.countTerm(p, w.PodAffinityTerm, -int64(w.Weight)))
			}
		}
	}
	// Existing pods whose required anti-affinity rejects this pod.
	for _, e := range c.antiPods {
		for _, t := range e.anti {
			v, ok := e.node.labels[t.key]
			if !ok || !refTermMatches(t, p) {
				continue
			}
			if info.forbidden == nil {
				info.forbidden = map[string]map[string]bool{}
			}
			if info.forbidden[t.key] == nil {
				info.forbidden[t.key] = map[string]bool{}
			}
			info.forbidden[t.key][v] = true
		}
	}
	for _, tsc := range p.Spec.TopologySpreadConstraints {
		sc := c.countSpread(p, tsc)
		if tsc.WhenUnsatisfiable == api.ScheduleAnyway {
			info.soft = append(info.soft, sc)
		} else {
			info.spread = append(info.spread, sc)
		}
	}
	return info
}

// refTermMatches reports whether pod matches term t.
func refTermMatches(t refCompiledTerm, pod *api.Pod) bool {
	if len(t.namespaces) == 0 {
		if pod.Namespace != t.ns {
			return false
		}
	} else if !contains(t.namespaces, pod.Namespace) {
		return false
	}
	return t.sel.Matches(pod.Labels)
}

func (c *refCluster) countTerm(p *api.Pod, t api.PodAffinityTerm, weight int64) refTermCounts {
	tc := refTermCounts{key: t.TopologyKey, weight: weight, counts: map[string]int{}}
	ct := refCompileTerm(p.Namespace, t)
	for _, b := range c.pods {
		v, ok := b.node.labels[t.TopologyKey]
		if ok && refTermMatches(ct, b.pod) {
			tc.counts[v]++
		}
	}
	return tc
}

// refSpreadEligible reports whether n counts for p's spread constraints: it
// passes p's node selector and affinity and has every constraint's key.
func refSpreadEligible(p *api.Pod, n *refNodeState) bool {
	if !refMatchesNodeSelector(p, n) {
		return false
	}
	for _, c := range p.Spec.TopologySpreadConstraints {
		if _, ok := n.labels[c.TopologyKey]; !ok {
			return false
		}
	}
	return true
}

func (c *refCluster) countSpread(p *api.Pod, tsc api.TopologySpreadConstraint) refSpreadCounts {
	sc := refSpreadCounts{c: tsc, counts: map[string]int{}}
	eligible := map[*refNodeState]bool{}
	for _, n := range c.nodes {
		if refSpreadEligible(p, n) {
			eligible[n] = true
			sc.counts[n.labels[tsc.TopologyKey]] += 0
		}
	}
	sel := compileSelector(tsc.LabelSelector)
	for _, b := range c.pods {
		if !eligible[b.node] {
			continue
		}
		if b.pod.Namespace == p.Namespace && b.pod.DeletionTimestamp == nil && sel.Matches(b.pod.Labels) {
			v := b.node.labels[tsc.TopologyKey]
			sc.counts[v]++
		}
	}
	first := true
	for _, n := range sc.counts {
		if first || n < sc.min {
			sc.min, first = n, false
		}
	}
	if sel.Matches(p.Labels) {
		sc.self = 1
	}
	return sc
}

// filter returns why info's pod does not fit on n, or nil. Filters run in
// kube-scheduler's order (inter-pod: affinity, anti-affinity, existing
// pods' anti-affinity) and, like kube-scheduler, it stops at the first filter that fails; the resources
// filter reports every resource that is short.
func (c *refCluster) filter(info *refPodInfo, n *refNodeState) []string {
	p := info.pod
	if !n.ready && !tolerates(p, api.Taint{Key: TaintNotReady, Effect: api.TaintEffectNoSchedule}) {
		return []string{ReasonNotReady}
	}
	if n.node.Spec.Unschedulable && !tolerates(p, api.Taint{Key: TaintUnschedulable, Effect: api.TaintEffectNoSchedule}) {
		return []string{ReasonUnschedulable}
	}
	for _, t := range n.node.Spec.Taints {
		if t.Effect != api.TaintEffectNoSchedule && t.Effect != api.TaintEffectNoExecute {
			continue
		}
		if !tolerates(p, t) {
			return []string{"node(s) had untolerated taint {" + t.Key + ": " + t.Value + "}"}
		}
	}
	if !refMatchesNodeSelector(p, n) {
		return []string{ReasonNodeAffinity}
	}
	for _, hp := range info.ports {
		if n.ports[hp] {
			return []string{ReasonPorts}
		}
	}
	if r := refFitsResources(info, n); len(r) > 0 {
		return r
	}
	for _, sc := range info.spread {
		v, ok := n.labels[sc.c.TopologyKey]
		if !ok {
			return []string{ReasonSpreadMissingLabel}
		}
		if int32(sc.counts[v]+sc.self-sc.min) > sc.c.MaxSkew {
			return []string{ReasonSpread}
		}
	}
	if len(info.affinity) > 0 {
		ok, any := true, false
		for _, tc := range info.affinity {
			if len(tc.counts) > 0 {
				any = true
			}
			v, has := n.labels[tc.key]
			if !has || tc.counts[v] == 0 {
				ok = false
			}
		}
		// The first pod of a group that must be together may go anywhere.
		if !ok && !(!any && info.selfMatch) {
			return []string{ReasonPodAffinity}
		}
	}
	for _, tc := range info.anti {
		if v, has := n.labels[tc.key]; has && tc.counts[v] > 0 {
			return []string{ReasonPodAntiAffinity}
		}
	}
	for key, vals := range info.forbidden {
		if v, ok := n.labels[key]; ok && vals[v] {
			return []string{ReasonExistingAntiAffin}
		}
	}
	return nil
}

func refFitsResources(info *refPodInfo, n *refNodeState) []string {
	var out []string
	if n.maxPods >= 0 && n.pods+1 > n.maxPods {
		out = append(out, ReasonTooManyPods)
	}
	for _, name := range info.reqNames {
		if r := info.req[name]; r > 0 && n.used[name]+r > n.alloc[name] {
			out = append(out, "Insufficient "+name)
		}
	}
	return out
}

// refMatchesNodeSelector checks spec.nodeSelector and required node affinity.
func refMatchesNodeSelector(p *api.Pod, n *refNodeState) bool {
	for k, v := range p.Spec.NodeSelector {
		if got, ok := n.labels[k]; !ok || got != v {
			return false
		}
	}
	a := p.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return true
	}
	for _, term := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		if refTermMatchesNode(term, n) {
			return true
		}
	}
	return false
}

// refTermMatchesNode ANDs a term's requirements; an empty term matches nothing.
func refTermMatchesNode(t api.NodeSelectorTerm, n *refNodeState) bool {
	if len(t.MatchExpressions) == 0 && len(t.MatchFields) == 0 {
		return false
	}
	for _, r := range t.MatchExpressions {
		if !requirementMatches(r, n.labels) {
			return false
		}
	}
	for _, r := range t.MatchFields {
		if r.Key != "metadata.name" || !requirementMatches(api.NodeSelectorRequirement{Key: r.Key, Operator: r.Operator, Values: r.Values}, map[string]string{"metadata.name": n.name}) {
			return false
		}
	}
	return true
}

// pick scores the feasible nodes and returns the best. Each score is
// normalised to 0..100 over the feasible nodes and weighted, as in
// kube-scheduler; ties go to the highest refTieHash.
func (c *refCluster) pick(info *refPodInfo, feasible []*refNodeState) *refNodeState {
	if len(feasible) == 1 {
		return feasible[0]
	}
	p := info.pod
	total := make([]int64, len(feasible))
	raw := make([]int64, len(feasible))

	// Preferred node affinity: sum of matching weights, scaled to the max.
	if a := p.Spec.Affinity; a != nil && a.NodeAffinity != nil && len(a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution) > 0 {
		for i, n := range feasible {
			raw[i] = 0
			for _, t := range a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
				if refTermMatchesNode(t.Preference, n) {
					raw[i] += int64(t.Weight)
				}
			}
		}
		addScaled(total, raw, weightNodeAffinity, false)
	}

	// PreferNoSchedule taints: fewer untolerated is better.
	for i, n := range feasible {
		raw[i] = 0
		for _, t := range n.node.Spec.Taints {
			if t.Effect == api.TaintEffectPreferNoSchedule && !tolerates(p, t) {
				raw[i]++
			}
		}
	}
	addScaled(total, raw, weightTaints, true)

	// Preferred pod affinity and anti-affinity: weight per matching pod in
	// the node's domain, scaled between min and max.
	if len(info.prefAff) > 0 {
		for i, n := range feasible {
			raw[i] = 0
			for _, tc := range info.prefAff {
				if v, ok := n.labels[tc.key]; ok {
					raw[i] += tc.weight * int64(tc.counts[v])
				}
			}
		}
		addMinMax(total, raw, weightPodAffinity)
	}

	// Topology spread, ScheduleAnyway: fewer matching pods in the domain is
	// better.
	if len(info.soft) > 0 {
		for i, n := range feasible {
			raw[i] = 0
			for _, sc := range info.soft {
				if v, ok := n.labels[sc.c.TopologyKey]; ok {
					raw[i] += int64(sc.counts[v])
				} else {
					raw[i] += int64(len(c.pods)) + 1 // a node outside every domain scores lowest
				}
			}
		}
		addMinMaxReverse(total, raw, weightSpread)
	}

	// Default spread of one owner's replicas over nodes and zones, unless the
	// pod states its own spread constraints.
	if uid := controllerUID(p); uid != "" && len(p.Spec.TopologySpreadConstraints) == 0 {
		if oc := c.owners[uid]; oc != nil {
			var maxNode, maxZone int
			zones := false
			for _, n := range feasible {
				maxNode = max(maxNode, oc.node[n.name])
				if z, ok := n.labels[LabelZone]; ok {
					zones = true
					maxZone = max(maxZone, oc.zone[z])
				}
			}
			for i, n := range feasible {
				s := int64(100)
				if maxNode > 0 {
					s = int64(100 * (maxNode - oc.node[n.name]) / maxNode)
				}
				if z, ok := n.labels[LabelZone]; zones && ok {
					zs := int64(100)
					if maxZone > 0 {
						zs = int64(100 * (maxZone - oc.zone[z]) / maxZone)
					}
					s = (s + 2*zs) / 3
				}
				total[i] += weightDefaultSpread * s
			}
		}
	}

	// Least allocated cpu and memory, counting this pod.
	cpu := nonZero(info.req[api.ResourceCPU], defaultCPUMillis)
	mem := nonZero(info.req[api.ResourceMemory], defaultMemoryBytes)
	for i, n := range feasible {
		s := (leastAllocated(n.nzCPU+cpu, n.alloc[api.ResourceCPU]) + leastAllocated(n.nzMem+mem, n.alloc[api.ResourceMemory])) / 2
		total[i] += weightLeastAllocated * s
	}

	best := 0
	bestHash := refTieHash(p, feasible[0].name)
	for i := 1; i < len(feasible); i++ {
		if total[i] < total[best] {
			continue
		}
		h := refTieHash(p, feasible[i].name)
		if total[i] > total[best] || h > bestHash {
			best, bestHash = i, h
		}
	}
	return feasible[best]
}
