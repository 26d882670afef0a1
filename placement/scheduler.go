package placement

// The scheduler is a pure function: (snapshot, pods to place) -> plan. It
// reads no clock, does no I/O and uses no global randomness; ties are broken
// by a hash of the pod and the node name, so the same input always gives the
// same plan whatever the order of the nodes and pods in it. The leader runs
// Schedule over a snapshot of the state, then checks each placement against
// the newest state with Fits before it commits the binding. Nomad's
// scheduler/ is the model; the filters, their messages and the scores follow
// kube-scheduler's default plugins.
//
// Schedule and Fits are safe to call concurrently: they only read their
// arguments and never modify them.

import (
	"fmt"
	"hash/fnv"
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
func Schedule(snap Snapshot, pending []*api.Pod) Plan {
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
	c := newCluster(snap, exclude)
	var plan Plan
	for _, p := range order {
		key := podKey(p)
		info := c.prepare(p)
		feasible := make([]*nodeState, 0, len(c.nodes))
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

// Fits reports whether pod fits on the named node of snap, with every
// filter Schedule applies. It returns nil if it fits, or a *FitError with
// the reasons. The pod itself, if snap holds it, is left out first, so a
// plan can be checked against a state that already has the pod.
func Fits(snap Snapshot, pod *api.Pod, node string) error {
	key := podKey(pod)
	c := newCluster(snap, map[api.Key]bool{key: true})
	n := c.byName[node]
	if n == nil {
		return &FitError{Pod: key, Node: node, Reasons: []string{"node not found"}}
	}
	if reasons := c.filter(c.prepare(pod), n); len(reasons) > 0 {
		return &FitError{Pod: key, Node: node, Reasons: reasons}
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

// tieHash is the deterministic tie-breaker: randomness seeded from the input.
func tieHash(pod *api.Pod, node string) uint64 {
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
