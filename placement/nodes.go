package placement

import (
	"context"
	"encoding/json"
	"log/slog"
	"maps"
	"net/netip"
	"reflect"
	"runtime"
	"slices"
	"sort"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/clock"
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
type NodeController struct {
	Members  func() []Member
	State    Reader
	Writer   Writer
	IsLeader func() bool
	Clock    clock.Clock
	Logger   *slog.Logger
	Interval time.Duration
	Trigger  <-chan struct{}
	// ClusterCIDR is where each Node's spec.podCIDR (a /24) comes from.
	// The zero prefix hands out none.
	ClusterCIDR netip.Prefix
	// Grace is how long gossip must report a node failed before its Node
	// turns NotReady (and its pods are replaced elsewhere).
	Grace time.Duration
}

// Run makes passes until ctx ends.
func (c *NodeController) Run(ctx context.Context) {
	t := c.Clock.NewTicker(c.Interval)
	defer t.Stop()
	for first := true; ; first = false {
		if !first {
			select {
			case <-ctx.Done():
				return
			case <-t.C():
			case <-c.Trigger:
			}
		}
		if !c.IsLeader() {
			continue
		}
		if err := c.Pass(ctx); err != nil {
			c.Logger.Warn("node controller: pass failed; will retry", "err", err)
		}
	}
}

// Pass converges Node objects on the members, in one command.
func (c *NodeController) Pass(ctx context.Context) error {
	changes := PlanNodes(c.Clock.Now(), c.Members(), c.State, c.ClusterCIDR, c.Grace)
	if len(changes) == 0 {
		return nil
	}
	return c.Writer.Commit(ctx, changes)
}

// PlanNodes computes the Node writes that bring the state in line with the
// members, giving each Node without one a pod CIDR from clusterCIDR (none
// when it is the zero prefix). A member gossip reports failed turns its
// Node's Ready condition Unknown once it has been failed for grace. It is
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
		// Failed, but not for long enough: a blip, or a restart.
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
