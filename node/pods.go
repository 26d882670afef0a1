package node

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/runtime"
	"github.com/shoal-dev/shoal/state"
)

// The agent is the pod reconciler's view of the cluster (runtime.PodSource)
// and its way to report (state.Writer, runtime.EventRecorder).
var (
	_ runtime.PodSource     = (*Agent)(nil)
	_ state.Writer          = (*Agent)(nil)
	_ runtime.EventRecorder = (*Agent)(nil)
)

// AssignedPods returns the pods in the local replica bound to this node.
func (a *Agent) AssignedPods() []*api.Pod {
	objs := a.store.PodsOnNode(a.cfg.Name)
	out := make([]*api.Pod, len(objs))
	for i, o := range objs {
		out[i] = o.(*api.Pod)
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

// startPods runs the pod reconciler once the replica has caught up with the
// local log: before that, pods this node runs might be missing from it, and
// their containers would be taken for leftovers.
func (a *Agent) startPods() {
	rt := a.podRuntime()
	if rt == nil {
		return
	}
	podsChanged, resync := make(chan struct{}, 1), make(chan struct{}, 1)
	poke := func(ch chan struct{}) func() {
		return func() {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}
	network := a.cfg.PodNetwork
	if network == nil {
		pn, err := a.newPodNetwork()
		if err != nil {
			a.log.Error("no pod network: this node runs no pods", "err", err)
			return
		}
		network = pn.cni
		a.goLoop(func(ctx context.Context) { a.followNetwork(ctx, pn, poke(resync)) })
	}
	rec := &runtime.Reconciler{
		Runtime: rt, Network: network, Pods: a, Status: a, Events: a,
		Clock: a.cfg.Clock, Logger: a.log.With("component", "pods"),
		Trigger: podsChanged, Resync: resync,
		Dir: filepath.Join(a.cfg.DataDir, "pods"), HostIP: a.cfg.AdvertiseAddr,
		DNS: runtime.DNSConfig{ClusterDomain: a.cfg.ClusterDomain},
	}
	a.goLoop(func(ctx context.Context) { a.sampleUsage(ctx, rt) })
	a.goLoop(func(ctx context.Context) {
		if err := a.store.WaitForIndex(ctx, a.startIndex); err != nil {
			return
		}
		for _, kind := range []string{"ConfigMap", "Secret"} {
			a.goLoop(func(ctx context.Context) { a.follow(ctx, kind, poke(resync)) })
		}
		a.goLoop(func(ctx context.Context) { a.follow(ctx, "Pod", poke(podsChanged)) })
		rec.Run(ctx)
	})
}
