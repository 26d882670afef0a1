package placement

import (
	"context"
	"encoding/json"
	"maps"
	"net/netip"
	"reflect"
	"runtime"
	"slices"
	"sort"
	"time"

	"github.com/shoal-dev/shoal/api"
)

// Member is a cluster member as gossip reports it.
type Member struct {
	Name        string
	ID          string
	Address     string // node IP
	Alive       bool   // alive or suspect in gossip
	Left        bool   // left the cluster on purpose
	Since       time.Time
	Labels      map[string]string
	CPUMillis   int64
	MemoryBytes int64
	Resources   map[string]int64 // extended resources, e.g. nvidia.com/gpu
	Version     string
}

// DefaultMaxPods is the pods capacity every node advertises.
const DefaultMaxPods = 110

// NodeController keeps a Node object per member: labels, capacity and
// addresses from gossip, the Ready condition from liveness. Members that
// left have their Node deleted.
//
// Liveness is gossip's: the Ready condition turns Unknown (NotReady) once
// gossip has reported the member failed for Grace, and back to True when
// gossip reports it alive. Gossip's failure detector already waits out
// the node's grace (a member is declared failed only after it has been
// silent that long), so the agent's Grace is zero and a failure makes the
// Node NotReady in the pass it triggers. Pass is a leader.Pass: it reads
// the members and the state and converges, and asks to come back when a
// failed member's Grace ends.
type NodeController struct {
	Members func() []Member
	State   Reader
	Writer  Writer
	// ClusterCIDR is where each Node's spec.podCIDR (a /24) comes from.
	// The zero prefix hands out none.
	ClusterCIDR netip.Prefix
	// Grace is how long gossip must report a member failed before its
	// Node turns NotReady (and its pods are replaced elsewhere): the part
	// of the node grace that gossip's failure detector does not already
	// wait out. Zero makes a failed member's Node NotReady at once.
	Grace time.Duration
}

// Pass converges Node objects on the members, in one command, and returns
// how long until the Grace of a failed member ends (0 if none is within
// its Grace).
func (c *NodeController) Pass(ctx context.Context, now time.Time) (time.Duration, error) {
	members := c.Members()
	next := graceLeft(now, members, c.Grace)
	changes := PlanNodes(now, members, c.State, c.ClusterCIDR, c.Grace)
	if len(changes) == 0 {
		return next, nil
	}
	return next, c.Writer.Commit(ctx, changes)
}

// graceLeft is the time until the first failed member's grace ends, or
// 0 if no failed member is within its grace.
func graceLeft(now time.Time, members []Member, grace time.Duration) time.Duration {
	var next time.Duration
	for _, m := range members {
		if m.Alive || m.Left {
			continue
		}
		if left := m.Since.Add(grace).Sub(now); left > 0 && (next == 0 || left < next) {
			next = left
		}
	}
	return next
}

// PlanNodes computes the Node writes that bring the state in line with the
// members, giving each Node without one a pod CIDR from clusterCIDR (none
// when it is the zero prefix). A member gossip reports failed turns its
// Node's Ready condition Unknown once it has been failed for grace (at
// once when grace is zero); a member alive again turns it True. It is
// pure apart from reading state.
func PlanNodes(now time.Time, members []Member, state Reader, clusterCIDR netip.Prefix, grace time.Duration) []Change {
	members = slices.Clone(members)
	sort.Slice(members, func(i, j int) bool { return members[i].Name < members[j].Name })
	var changes []Change
	var cidrs *podCIDRAllocator
	if clusterCIDR.IsValid() {
		cidrs = newPodCIDRAllocator(clusterCIDR, state)
	}
	for _, m := range members {
		key := api.Key{Kind: "Node", Name: m.Name}
		cur, _ := state.Get(key)
		if m.Left {
			if cur != nil && cur.(*api.Node).Labels[nodeIDLabel] == m.ID {
				changes = append(changes, Change{Delete: &key})
			}
			continue
		}
		var old *api.Node
		if cur != nil {
			old = cur.(*api.Node)
		}
		want := desiredNode(now, m, old, grace)
		if want.Spec.PodCIDR == "" && cidrs != nil {
			if p, ok := cidrs.take(); ok {
				want.Spec.PodCIDR = p.String()
			}
		}
		if old != nil && sameNode(old, want) {
			continue
		}
		changes = append(changes, Change{Put: want})
	}
	return changes
}

// nodeIDLabel carries the node's ID, so a Node is only touched by the
// member it belongs to.
const nodeIDLabel = "shoal.dev/node-id"

func desiredNode(now time.Time, m Member, old *api.Node, grace time.Duration) *api.Node {
	n := &api.Node{TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "Node"}}
	if old != nil {
		n = api.Copy(old)
	}
	n.Name = m.Name
	labels := maps.Clone(m.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	labels["kubernetes.io/hostname"] = m.Name
	labels["kubernetes.io/os"] = runtime.GOOS
	labels["kubernetes.io/arch"] = runtime.GOARCH
	labels[nodeIDLabel] = m.ID
	n.Labels = labels
	capacity := api.ResourceList{
		"cpu":    api.NewMilliQuantity(m.CPUMillis, api.DecimalSI),
		"memory": api.NewQuantity(m.MemoryBytes, api.BinarySI),
		"pods":   api.NewQuantity(DefaultMaxPods, api.DecimalSI),
	}
	for name, v := range m.Resources {
		capacity[name] = api.NewQuantity(v, api.DecimalSI)
	}
	n.Status.Capacity = capacity
	n.Status.Allocatable = maps.Clone(capacity)
	n.Status.Addresses = []api.NodeAddress{{Type: "InternalIP", Address: m.Address}, {Type: "Hostname", Address: m.Name}}
	n.Status.NodeInfo.KubeletVersion = m.Version
	n.Status.NodeInfo.OperatingSystem = runtime.GOOS
	n.Status.NodeInfo.Architecture = runtime.GOARCH
	ready := api.NodeCondition{Type: "Ready", Status: "True", Reason: "NodeAlive", Message: "gossip reports the node alive"}
	if !m.Alive && now.Sub(m.Since) < grace && old != nil {
		// Failed, but not for grace yet: the condition stays as it was.
		for _, c := range old.Status.Conditions {
			if c.Type == "Ready" {
				ready = c
			}
		}
	} else if !m.Alive {
		ready = api.NodeCondition{Type: "Ready", Status: "Unknown", Reason: "NodeStatusUnknown", Message: "gossip reports the node failed"}
	}
	ready.LastTransitionTime = api.NewTime(now)
	for _, c := range n.Status.Conditions {
		if c.Type == "Ready" && c.Status == ready.Status {
			ready.LastTransitionTime = c.LastTransitionTime
		}
	}
	n.Status.Conditions = []api.NodeCondition{ready}
	return n
}

// sameNode compares what the controller owns, ignoring metadata the store
// sets. It compares encodings, since quantities that print the same may
// differ inside.
func sameNode(a, b *api.Node) bool {
	ja, _ := json.Marshal(a.Status)
	jb, _ := json.Marshal(b.Status)
	return reflect.DeepEqual(a.Labels, b.Labels) && a.Spec.PodCIDR == b.Spec.PodCIDR && string(ja) == string(jb)
}
