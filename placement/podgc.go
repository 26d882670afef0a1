package placement

import (
	"context"
	"time"

	"github.com/shoal-dev/shoal/api"
)

// PodGC replaces the pods of lost nodes: a pod bound to a Node that is not
// Ready (gossip has reported it failed for longer than the node grace) is
// deleted when a controller owns it, so that controller makes a new one
// elsewhere; pods of a DaemonSet stay, since their node is their point.
// A pod bound to a node that no longer exists is deleted whoever owns it.
// When a lost node comes back, its runtime finds these pods gone and stops
// their containers.
type PodGC struct {
	State  Reader
	Writer Writer
}

// Pass deletes the pods PlanPodGC names, in one command.
func (g *PodGC) Pass(ctx context.Context, _ time.Time) (time.Duration, error) {
	changes := PlanPodGC(g.State)
	if len(changes) == 0 {
		return 0, nil
	}
	err := g.Writer.Commit(ctx, changes)
	if api.IsNotFound(err) {
		return time.Millisecond, nil // one was deleted meanwhile: plan again
	}
	return 0, err
}

// PlanPodGC lists the pods to delete; pure over the state.
func PlanPodGC(state Reader) []Change {
	nodes, _ := state.List("Node", "")
	ready := map[string]bool{}
	for _, o := range nodes {
		n := o.(*api.Node)
		ready[n.Name] = false
		for _, c := range n.Status.Conditions {
			if c.Type == "Ready" && c.Status == string(api.ConditionTrue) {
				ready[n.Name] = true
			}
		}
	}
	pods, _ := state.List("Pod", "")
	var changes []Change
	for _, o := range pods {
		p := o.(*api.Pod)
		if p.Spec.NodeName == "" {
			continue
		}
		isReady, known := ready[p.Spec.NodeName]
		ref := controllerRef(p)
		switch {
		case !known:
		case isReady, ref == nil, ref.Kind == "DaemonSet", !podActive(p):
			continue
		}
		k := api.KeyOf(p)
		changes = append(changes, Change{Delete: &k})
	}
	return changes
}
