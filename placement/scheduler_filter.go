package placement

import (
	"sort"
	"strconv"

	"github.com/shoal-dev/shoal/api"
)

// nodeState is a node with what is bound to it so far.
type nodeState struct {
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

type boundPod struct {
	pod  *api.Pod
	node *nodeState
	anti []compiledTerm // required anti-affinity terms
}

// compiledTerm is a pod affinity term with its selector converted once.
type compiledTerm struct {
	ns         string // namespace of the pod that wrote the term
	namespaces []string
	sel        api.Selector
	key        string
}

func compileTerm(ns string, t api.PodAffinityTerm) compiledTerm {
	return compiledTerm{ns: ns, namespaces: t.Namespaces, sel: compileSelector(t.LabelSelector), key: t.TopologyKey}
}

// compileSelector converts ls; nil or invalid selectors match nothing.
func compileSelector(ls *api.LabelSelector) api.Selector {
	s, err := ls.AsSelector()
	if err != nil {
		return api.Nothing()
	}
	return s
}

type ownerCounts struct {
	node map[string]int
	zone map[string]int
}

// cluster is the scheduler's working state for one call.
type cluster struct {
	nodes    []*nodeState // sorted by name
	byName   map[string]*nodeState
	pods     []boundPod
	antiPods []boundPod // bound pods with required anti-affinity terms
	owners   map[string]*ownerCounts
}

func newCluster(snap Snapshot, exclude map[api.Key]bool) *cluster {
	c := &cluster{byName: map[string]*nodeState{}, owners: map[string]*ownerCounts{}}
	for _, n := range snap.Nodes {
		if n == nil || c.byName[n.Name] != nil {
			continue
		}
		ns := &nodeState{node: n, name: n.Name, labels: n.Labels, used: map[string]int64{}, ports: map[hostPort]bool{}, maxPods: -1}
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
func (c *cluster) add(p *api.Pod, n *nodeState) {
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
	bp := boundPod{pod: p, node: n}
	if a := p.Spec.Affinity; a != nil && a.PodAntiAffinity != nil {
		for _, t := range a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution {
			bp.anti = append(bp.anti, compileTerm(p.Namespace, t))
		}
	}
	c.pods = append(c.pods, bp)
	if len(bp.anti) > 0 {
		c.antiPods = append(c.antiPods, bp)
	}
	if uid := controllerUID(p); uid != "" {
		oc := c.owners[uid]
		if oc == nil {
			oc = &ownerCounts{node: map[string]int{}, zone: map[string]int{}}
			c.owners[uid] = oc
		}
		oc.node[n.name]++
		if z, ok := n.labels[LabelZone]; ok {
			oc.zone[z]++
		}
	}
}

func nonZero(v, def int64) int64 {
	if v == 0 {
		return def
	}
	return v
}

// termCounts counts, per topology value, the bound pods matching a pod
// affinity term.
type termCounts struct {
	key    string
	weight int64
	counts map[string]int
}

type spreadCounts struct {
	c      api.TopologySpreadConstraint
	counts map[string]int // per domain among eligible nodes
	min    int
	self   int // 1 if the pod matches its own selector
}

// podInfo is what the filters and scores need about the pod being placed,
// computed once per pod.
type podInfo struct {
	pod       *api.Pod
	req       map[string]int64
	reqNames  []string // keys of req, cpu and memory first
	ports     []hostPort
	affinity  []termCounts
	anti      []termCounts
	selfMatch bool // pod matches all its required affinity terms itself
	forbidden map[string]map[string]bool
	spread    []spreadCounts // DoNotSchedule
	soft      []spreadCounts // ScheduleAnyway
	prefAff   []termCounts   // preferred affinity (+weight) and anti-affinity (-weight)
}

func (c *cluster) prepare(p *api.Pod) *podInfo {
	info := &podInfo{pod: p, req: PodRequests(&p.Spec), ports: podHostPorts(&p.Spec)}
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
				if !termMatches(compileTerm(p.Namespace, t), p) {
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
			if !ok || !termMatches(t, p) {
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

// termMatches reports whether pod matches term t.
func termMatches(t compiledTerm, pod *api.Pod) bool {
	if len(t.namespaces) == 0 {
		if pod.Namespace != t.ns {
			return false
		}
	} else if !contains(t.namespaces, pod.Namespace) {
		return false
	}
	return t.sel.Matches(pod.Labels)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func (c *cluster) countTerm(p *api.Pod, t api.PodAffinityTerm, weight int64) termCounts {
	tc := termCounts{key: t.TopologyKey, weight: weight, counts: map[string]int{}}
	ct := compileTerm(p.Namespace, t)
	for _, b := range c.pods {
		v, ok := b.node.labels[t.TopologyKey]
		if ok && termMatches(ct, b.pod) {
			tc.counts[v]++
		}
	}
	return tc
}

// spreadEligible reports whether n counts for p's spread constraints: it
// passes p's node selector and affinity and has every constraint's key.
func spreadEligible(p *api.Pod, n *nodeState) bool {
	if !matchesNodeSelector(p, n) {
		return false
	}
	for _, c := range p.Spec.TopologySpreadConstraints {
		if _, ok := n.labels[c.TopologyKey]; !ok {
			return false
		}
	}
	return true
}

func (c *cluster) countSpread(p *api.Pod, tsc api.TopologySpreadConstraint) spreadCounts {
	sc := spreadCounts{c: tsc, counts: map[string]int{}}
	eligible := map[*nodeState]bool{}
	for _, n := range c.nodes {
		if spreadEligible(p, n) {
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
func (c *cluster) filter(info *podInfo, n *nodeState) []string {
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
	if !matchesNodeSelector(p, n) {
		return []string{ReasonNodeAffinity}
	}
	for _, hp := range info.ports {
		if n.ports[hp] {
			return []string{ReasonPorts}
		}
	}
	if r := fitsResources(info, n); len(r) > 0 {
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

func fitsResources(info *podInfo, n *nodeState) []string {
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

func resourceRank(name string) int {
	switch name {
	case api.ResourceCPU:
		return 0
	case api.ResourceMemory:
		return 1
	case api.ResourceEphemeralStorage:
		return 2
	}
	return 3
}

// tolerates reports whether any of p's tolerations tolerates taint.
func tolerates(p *api.Pod, taint api.Taint) bool {
	for i := range p.Spec.Tolerations {
		if p.Spec.Tolerations[i].ToleratesTaint(&taint) {
			return true
		}
	}
	return false
}

// matchesNodeSelector checks spec.nodeSelector and required node affinity.
func matchesNodeSelector(p *api.Pod, n *nodeState) bool {
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
		if termMatchesNode(term, n) {
			return true
		}
	}
	return false
}

// termMatchesNode ANDs a term's requirements; an empty term matches nothing.
func termMatchesNode(t api.NodeSelectorTerm, n *nodeState) bool {
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

func requirementMatches(r api.NodeSelectorRequirement, labels map[string]string) bool {
	v, ok := labels[r.Key]
	switch r.Operator {
	case api.NodeSelectorOpIn:
		return ok && contains(r.Values, v)
	case api.NodeSelectorOpNotIn:
		return !ok || !contains(r.Values, v)
	case api.NodeSelectorOpExists:
		return ok
	case api.NodeSelectorOpDoesNotExist:
		return !ok
	case api.NodeSelectorOpGt, api.NodeSelectorOpLt:
		if !ok || len(r.Values) != 1 {
			return false
		}
		have, err1 := strconv.ParseInt(v, 10, 64)
		want, err2 := strconv.ParseInt(r.Values[0], 10, 64)
		if err1 != nil || err2 != nil {
			return false
		}
		if r.Operator == api.NodeSelectorOpGt {
			return have > want
		}
		return have < want
	}
	return false
}
