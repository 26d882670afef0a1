package placement

// The scheduler is a pure function: (snapshot, pods to place) -> plan. It
// reads no clock, does no I/O and uses no global randomness; ties are broken
// by a hash of the pod and the node name, and which nodes a large cluster
// scores for a pod is chosen by a hash of the pod, so the same input always
// gives the same plan whatever the order of the nodes and pods in it. The
// leader runs Schedule over a snapshot of the state, then checks each
// placement against the newest state, with every filter Fits applies,
// before it commits the binding. Nomad's scheduler/ is the model; the
// filters, their messages, the scores and the share of nodes scored follow
// kube-scheduler's default plugins and percentageOfNodesToScore.
//
// The cost of placing a pod grows with the nodes it looks at, not with the
// cluster: the state of one call is indexed (see scheduler_filter.go), and
// once enough feasible nodes are found the rest are not looked at.
//
// Schedule and Fits are safe to call concurrently: they only read their
// arguments and never modify them.

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/shoal-dev/shoal/api"
)

// Snapshot is what the scheduler sees: the nodes and the pods already bound
// to them (spec.nodeName set). Pods that have terminated (phase Succeeded or
// Failed), have no nodeName, or name a node not in Nodes are ignored.
type Snapshot struct {
	Nodes []*api.Node
	Pods  []*api.Pod
}

// Placement binds one pod to one node.
type Placement struct {
	Pod  api.Key
	Node string
}

// Unplaced is a pod that fits on no node, with the reason in Kubernetes'
// words: "0/3 nodes are available: 1 node(s) didn't match Pod's node
// affinity/selector, 2 Insufficient cpu."
type Unplaced struct {
	Pod    api.Key
	Reason string
}

// Plan is the result of one Schedule call. Placements are in the order the
// pods were placed; a later placement assumes the earlier ones.
type Plan struct {
	Placements []Placement
	Unplaced   []Unplaced
}

// Failure reasons, worded as kube-scheduler words them.
const (
	ReasonNotReady           = "node(s) were not ready"
	ReasonUnschedulable      = "node(s) were unschedulable"
	ReasonNodeAffinity       = "node(s) didn't match Pod's node affinity/selector"
	ReasonPorts              = "node(s) didn't have free ports for the requested pod ports"
	ReasonTooManyPods        = "Too many pods"
	ReasonPodAffinity        = "node(s) didn't match pod affinity rules"
	ReasonPodAntiAffinity    = "node(s) didn't match pod anti-affinity rules"
	ReasonExistingAntiAffin  = "node(s) didn't satisfy existing pods anti-affinity rules"
	ReasonSpread             = "node(s) didn't match pod topology spread constraints"
	ReasonSpreadMissingLabel = "node(s) didn't match pod topology spread constraints (missing required label)"
)

// Well-known labels and taints.
const (
	LabelHostname        = "kubernetes.io/hostname"
	LabelZone            = "topology.kubernetes.io/zone"
	LabelRegion          = "topology.kubernetes.io/region"
	TaintNotReady        = "node.kubernetes.io/not-ready"
	TaintUnschedulable   = "node.kubernetes.io/unschedulable"
	defaultCPUMillis     = 100               // kube-scheduler's non-zero default for scoring
	defaultMemoryBytes   = 200 * 1024 * 1024 // likewise
	weightNodeAffinity   = 2
	weightPodAffinity    = 2
	weightTaints         = 3
	weightSpread         = 2
	weightDefaultSpread  = 2
	weightLeastAllocated = 1
)

// FitError says why a pod does not fit on a node.
type FitError struct {
	Pod     api.Key
	Node    string
	Reasons []string
}

func (e *FitError) Error() string {
	return fmt.Sprintf("placement: pod %s/%s does not fit on node %s: %s", e.Pod.Namespace, e.Pod.Name, e.Node, strings.Join(e.Reasons, ", "))
}

// Schedule places pending pods on the snapshot's nodes. Pods are taken in
// creation order (creationTimestamp, then namespace/name), and each pod
// placed counts against the nodes for the pods after it. Pods in pending
// that also appear in snap.Pods are taken to be unbound.
//
// Like kube-scheduler, it does not score every node for every pod in a
// large cluster: it walks the nodes that pass the pod's static filters from
// a start that a hash of the pod picks, and scores the first
// numFeasibleNodesToFind that pass every filter. Only when no node fits
// does it evaluate every node, to say why.
func Schedule(snap Snapshot, pending []*api.Pod) Plan {
	type item struct {
		pod *api.Pod
		key api.Key
		id  string
		at  int64
	}
	order := make([]item, 0, len(pending))
	exclude := make(map[api.Key]bool, len(pending))
	for _, p := range pending {
		if p == nil || exclude[podKey(p)] {
			continue
		}
		k := podKey(p)
		exclude[k] = true
		order = append(order, item{p, k, k.String(), createdAt(p)})
	}
	sort.SliceStable(order, func(i, j int) bool {
		if order[i].at != order[j].at {
			return order[i].at < order[j].at
		}
		return order[i].id < order[j].id
	})
	c := newCluster(snap, exclude)
	var plan Plan
	// Why pods fit nowhere, by what the filters read of them, since the
	// last placement: a pod that reads the same as one that did not fit,
	// with nothing placed in between, does not fit either, for the same
	// reasons. So the replicas of a Deployment that the cluster cannot
	// hold are explained once, not each by a walk over every node.
	unfit := map[string]string{}
	for _, it := range order {
		var fkey string
		if len(unfit) > 0 {
			fkey = filterKey(it.pod)
			if reason, ok := unfit[fkey]; ok {
				plan.Unplaced = append(plan.Unplaced, Unplaced{Pod: it.key, Reason: reason})
				continue
			}
		}
		info := c.prepare(it.pod)
		best := c.place(info)
		if best == nil {
			reason := c.explain(info)
			if fkey == "" {
				fkey = filterKey(it.pod)
			}
			unfit[fkey] = reason
			plan.Unplaced = append(plan.Unplaced, Unplaced{Pod: it.key, Reason: reason})
			continue
		}
		c.add(info, best)
		clear(unfit)
		plan.Placements = append(plan.Placements, Placement{Pod: it.key, Node: best.name})
	}
	return plan
}

// filterKey spells what the filters read of p: its namespace, labels,
// deletion and spec (whatever else it holds, a node name it has not).
func filterKey(p *api.Pod) string {
	spec := p.Spec
	spec.NodeName = ""
	b, _ := json.Marshal(struct {
		NS       string
		Labels   map[string]string
		Deleting bool
		Spec     api.PodSpec
	}{p.Namespace, p.Labels, p.DeletionTimestamp != nil, spec})
	return string(b)
}

// Sampling, as kube-scheduler's percentageOfNodesToScore does it by default.
const (
	minFeasibleNodesToFind        = 100
	minFeasibleNodesPercentToFind = 5
	basePercentageOfNodesToScore  = 50
)

// numFeasibleNodesToFind is how many feasible nodes are enough to score:
// all of them up to 100 nodes, then a share that falls from 50% as the
// cluster grows (10% of 5,000 nodes), never under 5% or 100 nodes.
func numFeasibleNodesToFind(nodes int) int {
	if nodes < minFeasibleNodesToFind {
		return nodes
	}
	pct := max(basePercentageOfNodesToScore-nodes/125, minFeasibleNodesPercentToFind)
	return max(nodes*pct/100, minFeasibleNodesToFind)
}

// place returns the best node for info among the first feasible ones found
// walking from the pod's start, or nil if no node fits.
func (c *cluster) place(info *podInfo) *nodeState {
	cand := info.static.nodes
	if len(cand) == 0 {
		return nil
	}
	want := numFeasibleNodesToFind(len(c.nodes))
	feasible := c.feasible[:0]
	start := int(mix(info.seed) % uint64(len(cand)))
	for _, part := range [2][]int32{cand[start:], cand[:start]} {
		for _, i := range part {
			n := c.nodes[i]
			if c.check(info, n) == fitOK {
				feasible = append(feasible, n)
				if len(feasible) == want {
					break
				}
			}
		}
		if len(feasible) == want {
			break
		}
	}
	c.feasible = feasible
	if len(feasible) == 0 {
		return nil
	}
	return c.pick(info, feasible)
}

// explain evaluates every node for a pod that fits none and says why, in
// kube-scheduler's words.
func (c *cluster) explain(info *podInfo) string {
	counts := map[string]int{}
	for _, n := range c.nodes {
		for _, r := range c.reasons(info, n) {
			counts[r]++
		}
	}
	return unavailableMessage(len(c.nodes), counts)
}

// Fits reports whether pod fits on the named node of snap, with every
// filter Schedule applies. It returns nil if it fits, or a *FitError with
// the reasons. The pod itself, if snap holds it, is left out first, so a
// plan can be checked against a state that already has the pod.
func Fits(snap Snapshot, pod *api.Pod, node string) error {
	return newChecker(snap, []*api.Pod{pod}).fits(pod, node, false)
}

// checker checks placements one after another against one snapshot, each
// counting the placements accepted before it: Fits for a whole plan
// without building the state again for every pod.
type checker struct{ c *cluster }

// newChecker checks against snap, leaving out the pods of snap that
// pending names, as Schedule does.
func newChecker(snap Snapshot, pending []*api.Pod) *checker {
	exclude := make(map[api.Key]bool, len(pending))
	for _, p := range pending {
		exclude[podKey(p)] = true
	}
	return &checker{newCluster(snap, exclude)}
}

// fits is Fits against the snapshot and what was accepted so far; with
// accept, a pod that fits counts as bound to node from then on.
func (k *checker) fits(pod *api.Pod, node string, accept bool) error {
	key := podKey(pod)
	n := k.c.byName[node]
	if n == nil {
		return &FitError{Pod: key, Node: node, Reasons: []string{"node not found"}}
	}
	info := k.c.prepare(pod)
	if reasons := k.c.reasons(info, n); len(reasons) > 0 {
		return &FitError{Pod: key, Node: node, Reasons: reasons}
	}
	if accept {
		k.c.add(info, n)
	}
	return nil
}

// unavailableMessage builds kube-scheduler's FitError message. Like
// Kubernetes it sorts the "COUNT REASON" strings as strings.
func unavailableMessage(total int, counts map[string]int) string {
	msg := fmt.Sprintf("0/%d nodes are available", total)
	if len(counts) == 0 {
		return msg + "."
	}
	parts := make([]string, 0, len(counts))
	for r, n := range counts {
		parts = append(parts, fmt.Sprintf("%d %s", n, r))
	}
	sort.Strings(parts)
	return msg + ": " + strings.Join(parts, ", ") + "."
}

func podKey(p *api.Pod) api.Key {
	return api.Key{Kind: "Pod", Namespace: p.Namespace, Name: p.Name}
}

func createdAt(p *api.Pod) int64 {
	if p.CreationTimestamp == nil {
		return 0
	}
	return p.CreationTimestamp.UnixNano()
}

func terminated(p *api.Pod) bool {
	return p.Status.Phase == api.PodSucceeded || p.Status.Phase == api.PodFailed
}

// The deterministic tie-breaker, randomness seeded from the input: FNV-1a
// of the pod's UID (or namespace/name), a zero byte and the node name.
const (
	fnvOffset64 = 14695981039346656037
	fnvPrime64  = 1099511628211
)

// podSeed is the FNV-1a state after the pod's part of the tie hash.
func podSeed(pod *api.Pod) uint64 {
	id := pod.UID
	if id == "" {
		id = podKey(pod).String()
	}
	h := uint64(fnvOffset64)
	for i := 0; i < len(id); i++ {
		h ^= uint64(id[i])
		h *= fnvPrime64
	}
	h *= fnvPrime64 // the zero byte: h ^= 0
	return h
}

// nodeHash finishes the tie hash of the pod whose seed it is with node.
func nodeHash(seed uint64, node string) uint64 {
	h := seed
	for i := 0; i < len(node); i++ {
		h ^= uint64(node[i])
		h *= fnvPrime64
	}
	return h
}

// mix scrambles a seed (splitmix64's finaliser), for the start of the walk.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// controllerUID returns the UID of the pod's controller owner, or "".
func controllerUID(p *api.Pod) string {
	for _, o := range p.OwnerReferences {
		if o.Controller != nil && *o.Controller {
			return o.UID
		}
	}
	return ""
}

// hostPort is one host port a pod binds.
type hostPort struct {
	proto api.Protocol
	port  int32
}

func podHostPorts(spec *api.PodSpec) []hostPort {
	var out []hostPort
	add := func(cs []api.Container) {
		for _, c := range cs {
			for _, p := range c.Ports {
				if p.HostPort <= 0 {
					continue
				}
				proto := p.Protocol
				if proto == "" {
					proto = api.ProtocolTCP
				}
				out = append(out, hostPort{proto, p.HostPort})
			}
		}
	}
	add(spec.InitContainers)
	add(spec.Containers)
	return out
}

// resourceAmount converts a quantity to the scheduler's integer units:
// millicores for cpu, whole units (bytes, devices) for the rest.
func resourceAmount(name string, q api.Quantity) int64 {
	if name == api.ResourceCPU {
		return q.MilliValue()
	}
	return q.Value()
}

func containerRequests(c *api.Container) map[string]int64 {
	out := map[string]int64{}
	for name, q := range c.Resources.Limits {
		out[name] = resourceAmount(name, q)
	}
	for name, q := range c.Resources.Requests {
		out[name] = resourceAmount(name, q)
	}
	return out
}

// PodRequests returns the pod's effective requests as Kubernetes computes
// them: the sum of the app containers and the sidecars (init containers
// with restartPolicy Always), or, if larger, for each resource, the largest
// request of a plain init container plus the sidecars started before it.
// cpu is in millicores, other resources in whole units. A container that
// sets only a limit requests its limit.
func PodRequests(spec *api.PodSpec) map[string]int64 {
	req := map[string]int64{}
	for i := range spec.Containers {
		for k, v := range containerRequests(&spec.Containers[i]) {
			req[k] += v
		}
	}
	sidecars := map[string]int64{}
	initMax := map[string]int64{}
	for i := range spec.InitContainers {
		c := &spec.InitContainers[i]
		r := containerRequests(c)
		if c.IsSidecar() {
			for k, v := range r {
				sidecars[k] += v
			}
			for k, v := range sidecars {
				initMax[k] = max(initMax[k], v)
			}
			continue
		}
		for k, v := range r {
			initMax[k] = max(initMax[k], v+sidecars[k])
		}
	}
	for k, v := range sidecars {
		req[k] += v
	}
	for k, v := range initMax {
		req[k] = max(req[k], v)
	}
	for k, v := range req {
		if v == 0 {
			delete(req, k)
		}
	}
	return req
}
