package placement

import (
	"encoding/json"
	"sort"
	"strconv"
	"strings"

	"github.com/shoal-dev/shoal/api"
)

// The scheduler's working state for one call is indexed so that placing a
// pod costs work in proportion to the nodes it looks at, not to the whole
// cluster:
//
//   - nodes carry their free resources in slices indexed by resource;
//   - each topology key (hostname, zone, ...) maps every node to a domain
//     number once, so counts per domain are slices;
//   - pods with the same namespace and labels form a group; a selector is
//     matched against a group once, not against each of its pods;
//   - every distinct pod affinity term, topology spread constraint and
//     required anti-affinity term of a bound pod keeps its counts per
//     domain, built when first needed and updated as pods are placed;
//   - the nodes that pass a pod's static filters (readiness, cordon,
//     taints, node selector and affinity) are computed once per distinct
//     set of tolerations, selector and affinity, and the preferred node
//     affinity of a node once per distinct set of preferences.

// nodeState is a node with what is bound to it so far.
type nodeState struct {
	node    *api.Node
	name    string
	idx     int32 // position in cluster.nodes
	labels  map[string]string
	ready   bool
	alloc   []int64 // by resource index (cluster.resIdx)
	maxPods int64   // -1: the node sets no pods limit
	used    []int64
	pods    int64
	nzCPU   int64 // requests with kube-scheduler's non-zero defaults, for scoring
	nzMem   int64
	ports   map[hostPort]bool
	soft    bool // has a PreferNoSchedule taint
}

// Resource indexes: cpu and memory always have these.
const (
	resCPU = 0
	resMem = 1
)

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

// id is the term's identity: terms with equal ids match the same pods and
// count them by the same key.
func (t compiledTerm) id() string {
	return t.ns + "\x00" + strings.Join(t.namespaces, ",") + "\x00" + selectorID(t.sel) + "\x00" + t.key
}

// compileSelector converts ls; nil or invalid selectors match nothing.
func compileSelector(ls *api.LabelSelector) api.Selector {
	s, err := ls.AsSelector()
	if err != nil {
		return api.Nothing()
	}
	return s
}

// selectorID is a canonical spelling of s that tells Nothing() from
// Everything().
func selectorID(s api.Selector) string {
	if !s.Empty() && len(s.Requirements()) == 0 {
		return "\x01nothing"
	}
	return s.String()
}

// topology numbers the values of one node label: nodeDom[i] is the domain
// of node i, -1 when the node lacks the label.
type topology struct {
	key     string
	values  []string
	nodeDom []int32
}

// podGroup is the pods of one namespace with the same labels (and the same
// deletion state): every selector matches all of them or none.
type podGroup struct {
	ns       string
	labels   map[string]string
	deleting bool
	placed   []int32         // node index of each bound pod of the group
	terms    []*termIndex    // terms that match the group
	spreads  []*spreadIndex  // spread constraints that count the group
	carriers []*carrierIndex // bound pods' anti-affinity terms that match the group
}

// termIndex counts, per domain of its topology key, the bound pods that
// match a pod (anti-)affinity term.
type termIndex struct {
	ct     compiledTerm
	topo   *topology
	counts []int32
	total  int // pods counted: those on a node with the key
}

// carrierIndex counts, per domain, the bound pods that carry a required
// anti-affinity term: no pod the term matches may join those domains.
type carrierIndex struct {
	ct     compiledTerm
	topo   *topology
	counts []int32
}

// spreadIndex counts, per domain, the bound pods a topology spread
// constraint selects on the nodes eligible for it, and keeps the minimum
// over the domains that have an eligible node.
type spreadIndex struct {
	ns      string
	sel     api.Selector
	topo    *topology
	elig    []bool // per node
	present []bool // per domain: has an eligible node
	counts  []int32
	min     int32
	atMin   int // domains present with counts == min
}

func (s *spreadIndex) matches(g *podGroup) bool {
	return g.ns == s.ns && !g.deleting && s.sel.Matches(g.labels)
}

func (s *spreadIndex) inc(d int32) {
	s.counts[d]++
	if s.counts[d]-1 != s.min {
		return
	}
	if s.atMin--; s.atMin == 0 {
		s.recomputeMin()
	}
}

func (s *spreadIndex) recomputeMin() {
	first := true
	s.min, s.atMin = 0, 0
	for d, ok := range s.present {
		if !ok {
			continue
		}
		switch n := s.counts[d]; {
		case first || n < s.min:
			s.min, s.atMin, first = n, 1, false
		case n == s.min:
			s.atMin++
		}
	}
}

// staticFit is the nodes that pass the filters that depend only on the pod
// spec and the node: readiness, cordon, taints, node selector and affinity.
type staticFit struct {
	nodes []int32 // in walk order
}

// ownerCounts counts one owner's bound pods per node and per zone. The
// counts per node are a map while the owner has few pods, a slice over all
// nodes once it has many.
type ownerCounts struct {
	sparse map[int32]int32
	dense  []int32
	zone   []int32 // per domain of LabelZone
}

// denseOwner is when an owner's counts per node become a slice.
const denseOwner = 64

func (o *ownerCounts) on(n int32) int32 {
	if o.dense != nil {
		return o.dense[n]
	}
	return o.sparse[n]
}

func (o *ownerCounts) inc(n int32, nodes int) {
	if o.dense != nil {
		o.dense[n]++
		return
	}
	o.sparse[n]++
	if len(o.sparse) >= denseOwner {
		o.dense = make([]int32, nodes)
		for k, v := range o.sparse {
			o.dense[k] = v
		}
		o.sparse = nil
	}
}

// cluster is the scheduler's working state for one call.
type cluster struct {
	nodes   []*nodeState // sorted by name
	walk    []int32      // the order nodes are tried in (see zoneOrder)
	byName  map[string]*nodeState
	resIdx  map[string]int
	topos   map[string]*topology
	groups  map[string]*podGroup
	glist   []*podGroup
	terms   map[string]*termIndex
	tlist   []*termIndex
	spreads map[string]*spreadIndex
	slist   []*spreadIndex
	carry   map[string]*carrierIndex
	clist   []*carrierIndex
	statics map[string]*staticFit
	eligs   map[string][]bool
	prefs   map[string][]int32
	owners  map[string]*ownerCounts
	bound   int  // pods counted as bound
	soft    bool // some node has a PreferNoSchedule taint

	// scratch space for one placement
	feasible []*nodeState
	total    []int64
	raw      []int64
}

func newCluster(snap Snapshot, exclude map[api.Key]bool) *cluster {
	c := &cluster{
		byName: map[string]*nodeState{}, resIdx: map[string]int{api.ResourceCPU: resCPU, api.ResourceMemory: resMem},
		topos: map[string]*topology{}, groups: map[string]*podGroup{}, terms: map[string]*termIndex{},
		spreads: map[string]*spreadIndex{}, carry: map[string]*carrierIndex{}, statics: map[string]*staticFit{},
		eligs: map[string][]bool{}, prefs: map[string][]int32{}, owners: map[string]*ownerCounts{},
	}
	for _, n := range snap.Nodes {
		if n == nil || c.byName[n.Name] != nil {
			continue
		}
		ns := &nodeState{node: n, name: n.Name, labels: n.Labels, maxPods: -1}
		for _, cond := range n.Status.Conditions {
			if cond.Type == "Ready" && cond.Status == string(api.ConditionTrue) {
				ns.ready = true
			}
		}
		for _, t := range n.Spec.Taints {
			if t.Effect == api.TaintEffectPreferNoSchedule {
				ns.soft, c.soft = true, true
			}
		}
		c.byName[n.Name] = ns
		c.nodes = append(c.nodes, ns)
	}
	sort.Slice(c.nodes, func(i, j int) bool { return c.nodes[i].name < c.nodes[j].name })
	c.walk = zoneOrder(c.nodes)
	var names []string
	for _, ns := range c.nodes {
		for name := range allocatable(ns.node) {
			if _, ok := c.resIdx[name]; !ok && name != "pods" {
				c.resIdx[name] = -1
				names = append(names, name)
			}
		}
	}
	sort.Strings(names)
	for i, name := range names {
		c.resIdx[name] = 2 + i
	}
	for i, ns := range c.nodes {
		ns.idx = int32(i)
		ns.alloc = make([]int64, 2+len(names))
		ns.used = make([]int64, 2+len(names))
		for name, q := range allocatable(ns.node) {
			if name == "pods" {
				ns.maxPods = q.Value()
				continue
			}
			ns.alloc[c.resIdx[name]] = resourceAmount(name, q)
		}
	}
	// Bound pods in a canonical order, so that nothing depends on input order.
	type boundPod struct {
		p   *api.Pod
		key string
	}
	var bound []boundPod
	for _, p := range snap.Pods {
		if p == nil || p.Spec.NodeName == "" || terminated(p) || exclude[podKey(p)] || c.byName[p.Spec.NodeName] == nil {
			continue
		}
		bound = append(bound, boundPod{p, podKey(p).String()})
	}
	sort.SliceStable(bound, func(i, j int) bool { return bound[i].key < bound[j].key })
	for _, b := range bound {
		c.add(c.basics(b.p), c.byName[b.p.Spec.NodeName])
	}
	return c
}

// zoneOrder lists the nodes round robin over the zones (region and zone),
// each zone's nodes in name order, as kube-scheduler's node tree lists
// them: a run of nodes from anywhere in the list spans the zones, so a
// sample of them does too.
func zoneOrder(nodes []*nodeState) []int32 {
	byZone := map[string][]int32{}
	var zones []string
	for i, n := range nodes {
		z := n.labels[LabelRegion] + "\x00" + n.labels[LabelZone]
		if _, ok := byZone[z]; !ok {
			zones = append(zones, z)
		}
		byZone[z] = append(byZone[z], int32(i))
	}
	sort.Strings(zones)
	out := make([]int32, 0, len(nodes))
	for round := 0; len(zones) > 0; round++ {
		left := zones[:0]
		for _, z := range zones {
			if round < len(byZone[z]) {
				out = append(out, byZone[z][round])
				left = append(left, z)
			}
		}
		zones = left
	}
	return out
}

func allocatable(n *api.Node) api.ResourceList {
	if len(n.Status.Allocatable) == 0 {
		return n.Status.Capacity
	}
	return n.Status.Allocatable
}

// topology returns the domains of key, numbering them the first time.
func (c *cluster) topology(key string) *topology {
	if t := c.topos[key]; t != nil {
		return t
	}
	t := &topology{key: key, nodeDom: make([]int32, len(c.nodes))}
	ids := map[string]int32{}
	for i, n := range c.nodes {
		v, ok := n.labels[key]
		if !ok {
			t.nodeDom[i] = -1
			continue
		}
		d, seen := ids[v]
		if !seen {
			d = int32(len(t.values))
			ids[v] = d
			t.values = append(t.values, v)
		}
		t.nodeDom[i] = d
	}
	c.topos[key] = t
	return t
}

// group returns p's group, making it (and matching it against every index
// so far) the first time.
func (c *cluster) group(p *api.Pod) *podGroup {
	keys := make([]string, 0, len(p.Labels))
	for k := range p.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(p.Namespace)
	if p.DeletionTimestamp != nil {
		b.WriteString("\x00deleting")
	}
	for _, k := range keys {
		b.WriteString("\x00")
		b.WriteString(k)
		b.WriteString("=")
		b.WriteString(p.Labels[k])
	}
	id := b.String()
	if g := c.groups[id]; g != nil {
		return g
	}
	g := &podGroup{ns: p.Namespace, labels: p.Labels, deleting: p.DeletionTimestamp != nil}
	for _, t := range c.tlist {
		if groupMatches(t.ct, g) {
			g.terms = append(g.terms, t)
		}
	}
	for _, s := range c.slist {
		if s.matches(g) {
			g.spreads = append(g.spreads, s)
		}
	}
	for _, k := range c.clist {
		if groupMatches(k.ct, g) {
			g.carriers = append(g.carriers, k)
		}
	}
	c.groups[id] = g
	c.glist = append(c.glist, g)
	return g
}

// groupMatches reports whether the pods of g match term t.
func groupMatches(t compiledTerm, g *podGroup) bool {
	if len(t.namespaces) == 0 {
		if g.ns != t.ns {
			return false
		}
	} else if !contains(t.namespaces, g.ns) {
		return false
	}
	return t.sel.Matches(g.labels)
}

// term returns the counts of the bound pods matching t.
func (c *cluster) term(t compiledTerm) *termIndex {
	id := t.id()
	if ti := c.terms[id]; ti != nil {
		return ti
	}
	ti := &termIndex{ct: t, topo: c.topology(t.key)}
	ti.counts = make([]int32, len(ti.topo.values))
	for _, g := range c.glist {
		if !groupMatches(t, g) {
			continue
		}
		g.terms = append(g.terms, ti)
		for _, n := range g.placed {
			if d := ti.topo.nodeDom[n]; d >= 0 {
				ti.counts[d]++
				ti.total++
			}
		}
	}
	c.terms[id] = ti
	c.tlist = append(c.tlist, ti)
	return ti
}

// carrier returns the counts of the bound pods carrying anti-affinity term t.
func (c *cluster) carrier(t compiledTerm) *carrierIndex {
	id := t.id()
	if k := c.carry[id]; k != nil {
		return k
	}
	k := &carrierIndex{ct: t, topo: c.topology(t.key)}
	k.counts = make([]int32, len(k.topo.values))
	for _, g := range c.glist {
		if groupMatches(t, g) {
			g.carriers = append(g.carriers, k)
		}
	}
	c.carry[id] = k
	c.clist = append(c.clist, k)
	return k
}

// eligible returns, per node, whether it counts for p's spread
// constraints (see spreadEligible), and an id for that set of nodes.
func (c *cluster) eligible(p *api.Pod) ([]bool, string) {
	var keys []string
	for _, tsc := range p.Spec.TopologySpreadConstraints {
		keys = append(keys, tsc.TopologyKey)
	}
	id := nodeSelectorID(p) + "\x00" + strings.Join(keys, "\x00")
	if e, ok := c.eligs[id]; ok {
		return e, id
	}
	e := make([]bool, len(c.nodes))
	for i, n := range c.nodes {
		e[i] = spreadEligible(p, n)
	}
	c.eligs[id] = e
	return e, id
}

// spread returns the counts for one of p's spread constraints.
func (c *cluster) spread(p *api.Pod, tsc api.TopologySpreadConstraint) *spreadIndex {
	elig, eid := c.eligible(p)
	sel := compileSelector(tsc.LabelSelector)
	id := p.Namespace + "\x00" + selectorID(sel) + "\x00" + tsc.TopologyKey + "\x00" + eid
	if s := c.spreads[id]; s != nil {
		return s
	}
	s := &spreadIndex{ns: p.Namespace, sel: sel, topo: c.topology(tsc.TopologyKey), elig: elig}
	s.present = make([]bool, len(s.topo.values))
	s.counts = make([]int32, len(s.topo.values))
	for i, ok := range elig {
		if d := s.topo.nodeDom[i]; ok && d >= 0 {
			s.present[d] = true
		}
	}
	for _, g := range c.glist {
		if !s.matches(g) {
			continue
		}
		g.spreads = append(g.spreads, s)
		for _, n := range g.placed {
			if d := s.topo.nodeDom[n]; elig[n] && d >= 0 {
				s.counts[d]++
			}
		}
	}
	s.recomputeMin()
	c.spreads[id] = s
	c.slist = append(c.slist, s)
	return s
}

// nodeSelectorID spells p's node selector and required node affinity
// canonically ("" when it has neither).
func nodeSelectorID(p *api.Pod) string {
	var req *api.NodeSelector
	if a := p.Spec.Affinity; a != nil && a.NodeAffinity != nil {
		req = a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution
	}
	if len(p.Spec.NodeSelector) == 0 && req == nil {
		return ""
	}
	b, _ := json.Marshal(struct {
		S map[string]string
		A *api.NodeSelector
	}{p.Spec.NodeSelector, req})
	return string(b)
}

// static returns the nodes that pass p's static filters.
func (c *cluster) static(p *api.Pod) *staticFit {
	id := nodeSelectorID(p)
	if len(p.Spec.Tolerations) > 0 {
		b, _ := json.Marshal(p.Spec.Tolerations)
		id += "\x00" + string(b)
	}
	if s := c.statics[id]; s != nil {
		return s
	}
	s := &staticFit{}
	for _, i := range c.walk {
		if staticReason(p, c.nodes[i]) == "" {
			s.nodes = append(s.nodes, i)
		}
	}
	c.statics[id] = s
	return s
}

// podInfo is what the filters and scores need about a pod, computed once
// per pod.
type podInfo struct {
	pod       *api.Pod
	seed      uint64 // FNV-1a state after the pod's identity, for tieHash
	group     *podGroup
	req       []resRequest // cpu and memory first, then by name
	cpu, mem  int64        // requests, 0 if none
	ports     []hostPort
	carries   []compiledTerm // its required anti-affinity terms
	owner     string         // controller UID
	static    *staticFit
	affinity  []*termIndex
	anti      []*termIndex
	selfMatch bool        // pod matches all its required affinity terms itself
	spread    []spreadRef // DoNotSchedule
	soft      []spreadRef // ScheduleAnyway
	prefAff   []weightedTerm
	prefNode  []int32 // preferred node affinity weight per node, -1 until computed
}

type resRequest struct {
	name string
	idx  int // -1: no node has the resource
	v    int64
}

type spreadRef struct {
	s       *spreadIndex
	maxSkew int32
	self    int32 // 1 if the pod matches the constraint's selector
}

// weightedTerm is a preferred affinity (+weight) or anti-affinity
// (-weight) term.
type weightedTerm struct {
	t      *termIndex
	weight int64
}

// basics is what adding p as a bound pod needs.
func (c *cluster) basics(p *api.Pod) *podInfo {
	info := &podInfo{pod: p, group: c.group(p), ports: podHostPorts(&p.Spec), owner: controllerUID(p)}
	for name, v := range PodRequests(&p.Spec) {
		idx, ok := c.resIdx[name]
		if !ok {
			idx = -1
		}
		info.req = append(info.req, resRequest{name, idx, v})
		switch name {
		case api.ResourceCPU:
			info.cpu = v
		case api.ResourceMemory:
			info.mem = v
		}
	}
	sort.Slice(info.req, func(i, j int) bool {
		a, b := info.req[i].name, info.req[j].name
		return resourceRank(a) < resourceRank(b) || resourceRank(a) == resourceRank(b) && a < b
	})
	if a := p.Spec.Affinity; a != nil && a.PodAntiAffinity != nil {
		for _, t := range a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution {
			info.carries = append(info.carries, compileTerm(p.Namespace, t))
		}
	}
	return info
}

// prepare is everything about p that placing it needs.
func (c *cluster) prepare(p *api.Pod) *podInfo {
	info := c.basics(p)
	info.seed = podSeed(p)
	info.static = c.static(p)
	if a := p.Spec.Affinity; a != nil && a.NodeAffinity != nil && len(a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution) > 0 {
		b, _ := json.Marshal(a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution)
		w := c.prefs[string(b)]
		if w == nil {
			w = make([]int32, len(c.nodes))
			for i := range w {
				w[i] = -1
			}
			c.prefs[string(b)] = w
		}
		info.prefNode = w
	}
	if a := p.Spec.Affinity; a != nil {
		if pa := a.PodAffinity; pa != nil {
			info.selfMatch = true
			for _, t := range pa.RequiredDuringSchedulingIgnoredDuringExecution {
				ct := compileTerm(p.Namespace, t)
				info.affinity = append(info.affinity, c.term(ct))
				if !termMatches(ct, p) {
					info.selfMatch = false
				}
			}
			for _, w := range pa.PreferredDuringSchedulingIgnoredDuringExecution {
				info.prefAff = append(info.prefAff, weightedTerm{c.term(compileTerm(p.Namespace, w.PodAffinityTerm)), int64(w.Weight)})
			}
		}
		if pa := a.PodAntiAffinity; pa != nil {
			for _, ct := range info.carries {
				info.anti = append(info.anti, c.term(ct))
			}
			for _, w := range pa.PreferredDuringSchedulingIgnoredDuringExecution {
				info.prefAff = append(info.prefAff, weightedTerm{c.term(compileTerm(p.Namespace, w.PodAffinityTerm)), -int64(w.Weight)})
			}
		}
	}
	for _, tsc := range p.Spec.TopologySpreadConstraints {
		ref := spreadRef{s: c.spread(p, tsc), maxSkew: tsc.MaxSkew}
		if ref.s.sel.Matches(p.Labels) {
			ref.self = 1
		}
		if tsc.WhenUnsatisfiable == api.ScheduleAnyway {
			info.soft = append(info.soft, ref)
		} else {
			info.spread = append(info.spread, ref)
		}
	}
	return info
}

// add counts the pod of info as bound to n.
func (c *cluster) add(info *podInfo, n *nodeState) {
	for _, r := range info.req {
		if r.idx >= 0 {
			n.used[r.idx] += r.v
		}
	}
	n.pods++
	n.nzCPU += nonZero(info.cpu, defaultCPUMillis)
	n.nzMem += nonZero(info.mem, defaultMemoryBytes)
	for _, hp := range info.ports {
		if n.ports == nil {
			n.ports = map[hostPort]bool{}
		}
		n.ports[hp] = true
	}
	g := info.group
	g.placed = append(g.placed, n.idx)
	for _, t := range g.terms {
		if d := t.topo.nodeDom[n.idx]; d >= 0 {
			t.counts[d]++
			t.total++
		}
	}
	for _, s := range g.spreads {
		if d := s.topo.nodeDom[n.idx]; s.elig[n.idx] && d >= 0 {
			s.inc(d)
		}
	}
	for _, ct := range info.carries {
		k := c.carrier(ct)
		if d := k.topo.nodeDom[n.idx]; d >= 0 {
			k.counts[d]++
		}
	}
	if info.owner != "" {
		oc := c.owners[info.owner]
		if oc == nil {
			oc = &ownerCounts{sparse: map[int32]int32{}, zone: make([]int32, len(c.topology(LabelZone).values))}
			c.owners[info.owner] = oc
		}
		oc.inc(n.idx, len(c.nodes))
		if d := c.topology(LabelZone).nodeDom[n.idx]; d >= 0 {
			oc.zone[d]++
		}
	}
	c.bound++
}

func nonZero(v, def int64) int64 {
	if v == 0 {
		return def
	}
	return v
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

// A failure is the first dynamic filter a node fails for a pod.
type failure int8

const (
	fitOK failure = iota
	failPorts
	failResources
	failSpreadMissingLabel
	failSpread
	failPodAffinity
	failPodAntiAffinity
	failExistingAntiAffinity
)

// staticReason returns why p may never go to n whatever is bound there,
// or "": readiness, cordon, taints, node selector and affinity, checked in
// kube-scheduler's order.
func staticReason(p *api.Pod, n *nodeState) string {
	if !n.ready && !tolerates(p, api.Taint{Key: TaintNotReady, Effect: api.TaintEffectNoSchedule}) {
		return ReasonNotReady
	}
	if n.node.Spec.Unschedulable && !tolerates(p, api.Taint{Key: TaintUnschedulable, Effect: api.TaintEffectNoSchedule}) {
		return ReasonUnschedulable
	}
	for _, t := range n.node.Spec.Taints {
		if t.Effect != api.TaintEffectNoSchedule && t.Effect != api.TaintEffectNoExecute {
			continue
		}
		if !tolerates(p, t) {
			return "node(s) had untolerated taint {" + t.Key + ": " + t.Value + "}"
		}
	}
	if !matchesNodeSelector(p, n) {
		return ReasonNodeAffinity
	}
	return ""
}

// check returns the first filter that depends on the bound pods that n
// fails for info, in kube-scheduler's order (inter-pod: affinity,
// anti-affinity, existing pods' anti-affinity), or fitOK. It is the whole
// filter for nodes that pass the static ones.
func (c *cluster) check(info *podInfo, n *nodeState) failure {
	for _, hp := range info.ports {
		if n.ports[hp] {
			return failPorts
		}
	}
	if n.maxPods >= 0 && n.pods+1 > n.maxPods {
		return failResources
	}
	for _, r := range info.req {
		if r.v > 0 && (r.idx < 0 || n.used[r.idx]+r.v > n.alloc[r.idx]) {
			return failResources
		}
	}
	for _, sc := range info.spread {
		d := sc.s.topo.nodeDom[n.idx]
		if d < 0 {
			return failSpreadMissingLabel
		}
		if sc.s.counts[d]+sc.self-sc.s.min > sc.maxSkew {
			return failSpread
		}
	}
	if len(info.affinity) > 0 {
		ok, any := true, false
		for _, t := range info.affinity {
			if t.total > 0 {
				any = true
			}
			if d := t.topo.nodeDom[n.idx]; d < 0 || t.counts[d] == 0 {
				ok = false
			}
		}
		// The first pod of a group that must be together may go anywhere.
		if !ok && !(!any && info.selfMatch) {
			return failPodAffinity
		}
	}
	for _, t := range info.anti {
		if d := t.topo.nodeDom[n.idx]; d >= 0 && t.counts[d] > 0 {
			return failPodAntiAffinity
		}
	}
	for _, k := range info.group.carriers {
		if d := k.topo.nodeDom[n.idx]; d >= 0 && k.counts[d] > 0 {
			return failExistingAntiAffinity
		}
	}
	return fitOK
}

// reasons returns why info's pod does not fit on n, or nil. Like
// kube-scheduler it stops at the first filter that fails; the resources
// filter reports every resource that is short.
func (c *cluster) reasons(info *podInfo, n *nodeState) []string {
	if r := staticReason(info.pod, n); r != "" {
		return []string{r}
	}
	switch c.check(info, n) {
	case fitOK:
		return nil
	case failPorts:
		return []string{ReasonPorts}
	case failResources:
		var out []string
		if n.maxPods >= 0 && n.pods+1 > n.maxPods {
			out = append(out, ReasonTooManyPods)
		}
		for _, r := range info.req {
			if r.v > 0 && (r.idx < 0 || n.used[r.idx]+r.v > n.alloc[r.idx]) {
				out = append(out, "Insufficient "+r.name)
			}
		}
		return out
	case failSpreadMissingLabel:
		return []string{ReasonSpreadMissingLabel}
	case failSpread:
		return []string{ReasonSpread}
	case failPodAffinity:
		return []string{ReasonPodAffinity}
	case failPodAntiAffinity:
		return []string{ReasonPodAntiAffinity}
	default:
		return []string{ReasonExistingAntiAffin}
	}
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
// It reads only n's name and labels.
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
