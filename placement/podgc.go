package placement

import (
	"context"
	"time"

	"github.com/shoal-dev/shoal/api"
)

// PodGC replaces the pods of lost nodes: a pod bound to a Node that is not
// Ready (gossip has reported it failed for longer than the node grace) is
// deleted when a controller owns it, so that controller makes a new one
// elsewhere; pods of a DaemonSet, and pods of no controller, stay, since
// their node is their point, but their Ready condition turns False
// (reason NodeNotReady), as Kubernetes' node lifecycle controller does, so
// they leave their Services until their node reports them again.
// A pod bound to a node that no longer exists is deleted whoever owns it.
// When a lost node comes back, its runtime finds these pods gone and stops
// their containers.
type PodGC struct {
	State  Reader
	Writer Writer
}

// Pass deletes and marks the pods PlanPodGC names, in one command.
func (g *PodGC) Pass(ctx context.Context, now time.Time) (time.Duration, error) {
	changes := PlanPodGC(g.State, now)
	if len(changes) == 0 {
		return 0, nil
	}
	err := g.Writer.Commit(ctx, changes)
	if api.IsNotFound(err) {
		return time.Millisecond, nil // one was deleted meanwhile: plan again
	}
	return 0, err
}

// PlanPodGC lists the pods to delete, and the pods to mark not Ready (as
// of now); pure over the state. It reads only the pods of nodes that are
// not Ready or gone, from the node index: a healthy cluster costs it a
// look at its Nodes.
func PlanPodGC(state Reader, now time.Time) []Change {
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
	var changes []Change
	for _, node := range state.PodNodes() {
		isReady, known := ready[node]
		if node == "" || isReady {
			continue
		}
		for _, o := range state.PodsOnNode(node) {
			p := o.(*api.Pod)
			ref := controllerRef(p)
			switch {
			case !known:
			case !podActive(p):
				continue
			case ref == nil, ref.Kind == "DaemonSet":
				// It stays, but nobody knows that it serves: it leaves its
				// Services' endpoints until its node reports on it again.
				if np := podNotReady(p, now); np != nil {
					changes = append(changes, Change{Put: np})
				}
				continue
			}
			k := api.KeyOf(p)
			changes = append(changes, Change{Delete: &k})
		}
	}
	return changes
}

// podNotReady is p with its Ready condition False since now because its
// node is not Ready, or nil when it is not Ready already.
func podNotReady(p *api.Pod, now time.Time) *api.Pod {
	for i, c := range p.Status.Conditions {
		if c.Type == api.PodReady && c.Status == api.ConditionTrue {
			np := api.Copy(p)
			np.Status.Conditions[i].Status = api.ConditionFalse
			np.Status.Conditions[i].Reason = "NodeNotReady"
			np.Status.Conditions[i].Message = "node " + p.Spec.NodeName + " is not ready"
			np.Status.Conditions[i].LastTransitionTime = api.NewTime(now)
			return np
		}
	}
	return nil
}
