package node

import (
	"context"
	"fmt"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/consensus"
	"github.com/shoal-dev/shoal/runtime"
)

// The agent is the pod reconciler's view of the cluster (runtime.PodSource)
// and its way to report (runtime.StatusReporter, runtime.EventRecorder).
var (
	_ runtime.PodSource      = (*Agent)(nil)
	_ runtime.StatusReporter = (*Agent)(nil)
	_ runtime.EventRecorder  = (*Agent)(nil)
)

// AssignedPods returns the pods in the local replica bound to this node.
func (a *Agent) AssignedPods() []*api.Pod {
	objs, _ := a.store.List("Pod", "")
	var out []*api.Pod
	for _, o := range objs {
		if p := o.(*api.Pod); p.Spec.NodeName == a.cfg.Name {
			out = append(out, p)
		}
	}
	return out
}

// ConfigMap reads a config map from the local replica.
func (a *Agent) ConfigMap(namespace, name string) (*api.ConfigMap, error) {
	o, err := a.store.Get(api.Key{Kind: "ConfigMap", Namespace: namespace, Name: name})
	if err != nil {
		return nil, err
	}
	return o.(*api.ConfigMap), nil
}

// Secret reads a secret from the local replica, its data opened.
func (a *Agent) Secret(namespace, name string) (*api.Secret, error) {
	o, err := a.store.Get(api.Key{Kind: "Secret", Namespace: namespace, Name: name})
	if err != nil {
		return nil, err
	}
	s := a.present(o).(*api.Secret)
	if s.Sealed != nil {
		return nil, fmt.Errorf("secret %s/%s cannot be opened on this node; see the agent's log", namespace, name)
	}
	return s, nil
}

// ReportPodStatus writes pod statuses in one command. A pod deleted or
// replaced since is skipped (consensus.OpStatus).
func (a *Agent) ReportPodStatus(ctx context.Context, reports []runtime.PodStatusReport) error {
	ops := make([]consensus.Op, 0, len(reports))
	for _, r := range reports {
		p := &api.Pod{TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "Pod"}, Status: r.Status}
		p.Name, p.Namespace, p.UID = r.Name, r.Namespace, r.UID
		op, err := consensus.OpFor(consensus.OpStatus, p)
		if err != nil {
			return err
		}
		ops = append(ops, op)
	}
	_, err := a.commitOps(ctx, ops...)
	return err
}

// RecordPodEvent records an event about a pod in the background: events
// are for people, and a pod's progress never waits on one.
func (a *Agent) RecordPodEvent(pod *api.Pod, eventType, reason, message string) {
	a.goLoop(func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := a.RecordEvent(ctx, pod, eventType, reason, message, "shoal-agent"); err != nil && ctx.Err() == nil {
			a.log.Debug("recording a pod event", "pod", pod.Namespace+"/"+pod.Name, "reason", reason, "err", err)
		}
	})
}
