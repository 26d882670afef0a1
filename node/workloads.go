package node

import (
	"context"
	"time"

	"github.com/shoal-dev/shoal/leader"
	"github.com/shoal-dev/shoal/placement"
)

// watchKinds returns a channel that receives (without ever blocking the
// sender) whenever an object of one of kinds changes.
func (a *Agent) watchKinds(kinds ...string) <-chan struct{} {
	ch := make(chan struct{}, 1)
	for _, kind := range kinds {
		a.goLoop(func(ctx context.Context) {
			a.follow(ctx, kind, func() {
				select {
				case ch <- struct{}{}:
				default:
				}
			})
		})
	}
	return ch
}

// runLoop starts a leader-only controller loop.
func (a *Agent) runLoop(name string, pass leader.Pass, kinds ...string) {
	a.goLoop(a.leaderLoop(name, pass, 5*time.Second, a.watchKinds(kinds...), nil).Run)
}

// startWorkloadControllers starts the controllers that turn workloads into
// pods.
func (a *Agent) startWorkloadControllers() {
	d := &placement.DeploymentController{State: a.store, Writer: a}
	a.runLoop("deployments", d.Pass, "Deployment", "ReplicaSet", "Pod")
	rs := &placement.ReplicaSetController{State: a.store, Writer: a}
	a.runLoop("replicasets", rs.Pass, "ReplicaSet", "Pod")
	gc := &placement.PodGC{State: a.store, Writer: a}
	a.runLoop("pod-gc", gc.Pass, "Node", "Pod")
	hpa := &placement.HPAController{State: a.store, Writer: a}
	a.runLoop("autoscaler", hpa.Pass, "HorizontalPodAutoscaler", "PodMetrics")
}
