package node

import (
	"context"
	"errors"
	"log/slog"
	"sort"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/clock"
	"github.com/shoal-dev/shoal/runtime"
	"github.com/shoal-dev/shoal/state"
)

// UsageInterval is how often a node that runs pods samples its containers'
// resource use and reports it as PodMetrics and NodeMetrics.
const UsageInterval = 15 * time.Second

// annotationMetricsNode names, on a PodMetrics, the node that wrote it: the
// one node that deletes it once its pod is gone from that node.
const annotationMetricsNode = "shoal.dev/metrics-node"

// usageSampler turns samples of this node's running containers into
// PodMetrics (one per pod) and a NodeMetrics (the pods' sum), committed as
// one command per pass, with only the objects whose numbers changed.
//
// A container's cpu is the rate of its CPU time between two samples, so a
// container appears from its second sample on; a pod is reported only
// once every running container of it has a rate, and the node's cpu sums
// the containers that have one. Memory is the working set, rounded down
// to KiB.
//
// A PodMetrics is owned by its pod (ownerReferences), so deleting the pod
// deletes it in the same command. One written just as its pod went, or
// left by a pod that finished or left this node, is deleted by the node
// named in its shoal.dev/metrics-node annotation. The NodeMetrics is owned
// by the Node.
//
// The previous samples live in memory only: after an agent restart the
// first pass reports nothing, and the next one reports again. run and pass
// must be called from one goroutine.
type usageSampler struct {
	node     string
	runtime  runtime.Runtime
	state    state.Reader
	writer   state.Writer
	pods     func() []*api.Pod // the pods bound to this node
	clock    clock.Clock
	interval time.Duration
	log      *slog.Logger

	prev map[string]runtime.ContainerStats // by container ID
}

// sampleUsage runs the usage sampler on rt once the replica has caught up
// with the local log, until ctx ends.
func (a *Agent) sampleUsage(ctx context.Context, rt runtime.Runtime) {
	if err := a.store.WaitForIndex(ctx, a.startIndex); err != nil {
		return
	}
	s := &usageSampler{
		node: a.cfg.Name, runtime: rt, state: a.store, pods: a.AssignedPods,
		writer: a,
		clock:  a.cfg.Clock, interval: UsageInterval, log: a.log.With("component", "usage"),
	}
	s.run(ctx)
}

// run makes a pass every interval until ctx ends.
func (s *usageSampler) run(ctx context.Context) {
	t := s.clock.NewTicker(s.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
		pctx, cancel := context.WithTimeout(ctx, s.interval)
		err := s.pass(pctx)
		cancel()
		if err != nil && ctx.Err() == nil {
			s.log.Warn("reporting resource use failed; will retry", "err", err)
		}
	}
}

// containerUsage is what one pass learned of one running container.
type containerUsage struct {
	name     string
	attempt  uint32
	cpuMilli int64 // valid when hasRate
	hasRate  bool
	memory   int64
	window   time.Duration
	at       time.Time
}

// pass samples every running container of the pods bound to this node
// and commits what changed. It returns the commit's error; a container
// that cannot be sampled is left out of this pass.
func (s *usageSampler) pass(ctx context.Context) error {
	if s.prev == nil {
		s.prev = map[string]runtime.ContainerStats{}
	}
	now := s.clock.Now()
	active := map[string]*api.Pod{} // by UID
	for _, p := range s.pods() {
		if p.Spec.NodeName == s.node && p.Status.Phase != api.PodSucceeded && p.Status.Phase != api.PodFailed {
			active[p.UID] = p
		}
	}
	list, err := s.runtime.List(ctx)
	if err != nil {
		return err
	}
	next := map[string]runtime.ContainerStats{}
	byPod := map[string]map[string]containerUsage{} // pod UID → container name → usage
	incomplete := map[string]bool{}                 // pod UIDs with a container lacking a rate
	for _, c := range list {
		if c.State != runtime.StateRunning || active[c.PodUID] == nil {
			continue
		}
		st, err := s.runtime.Stats(ctx, c.ID)
		if err != nil {
			if !errors.Is(err, runtime.ErrNotRunning) && !errors.Is(err, runtime.ErrNotFound) {
				s.log.Debug("sampling a container", "pod", c.Namespace+"/"+c.PodName, "container", c.Name, "err", err)
			}
			incomplete[c.PodUID] = true
			continue
		}
		next[c.ID] = st
		u := containerUsage{name: c.Name, attempt: c.Attempt, memory: st.MemoryWorkingSet, at: st.At}
		if prev, ok := s.prev[c.ID]; ok && st.At.After(prev.At) && st.CPUUsage >= prev.CPUUsage {
			u.window = st.At.Sub(prev.At)
			u.cpuMilli = (int64(st.CPUUsage-prev.CPUUsage)*1000 + int64(u.window)/2) / int64(u.window)
			u.hasRate = true
		}
		if byPod[c.PodUID] == nil {
			byPod[c.PodUID] = map[string]containerUsage{}
		}
		// Two running attempts of one container (a restart in progress):
		// the newer one counts.
		if old, ok := byPod[c.PodUID][c.Name]; !ok || c.Attempt > old.attempt {
			byPod[c.PodUID][c.Name] = u
		}
	}
	s.prev = next

	var changes []state.Change
	var nodeCPU, nodeMem int64
	var nodeWindow time.Duration
	written := map[api.Key]bool{}
	uids := make([]string, 0, len(byPod))
	for uid := range byPod {
		uids = append(uids, uid)
	}
	sort.Strings(uids)
	for _, uid := range uids {
		pod, cs := active[uid], byPod[uid]
		names := make([]string, 0, len(cs))
		for n, u := range cs {
			names = append(names, n)
			nodeMem += u.memory
			if u.hasRate {
				nodeCPU += u.cpuMilli
				nodeWindow = max(nodeWindow, u.window)
			} else {
				incomplete[uid] = true
			}
		}
		if incomplete[uid] {
			continue // the last numbers stay until the next full sample
		}
		sort.Strings(names)
		pm := &api.PodMetrics{TypeMeta: api.TypeMeta{APIVersion: "metrics.k8s.io/v1beta1", Kind: "PodMetrics"}}
		pm.Name, pm.Namespace = pod.Name, pod.Namespace
		pm.Labels = pod.Labels
		pm.Annotations = map[string]string{annotationMetricsNode: s.node}
		pm.OwnerReferences = []api.OwnerReference{{APIVersion: "v1", Kind: "Pod", Name: pod.Name, UID: pod.UID}}
		var window time.Duration
		var at time.Time
		for _, n := range names {
			u := cs[n]
			window = max(window, u.window)
			if u.at.After(at) {
				at = u.at
			}
			pm.Containers = append(pm.Containers, api.ContainerMetrics{Name: n, Usage: usageList(u.cpuMilli, u.memory)})
		}
		pm.Timestamp = *api.NewTime(at)
		pm.Window = api.Duration{Duration: window.Round(time.Second)}
		written[api.KeyOf(pm)] = true
		if s.unchangedPod(pm) {
			continue
		}
		changes = append(changes, state.Change{Put: pm})
	}

	// PodMetrics this node wrote for pods it no longer runs (gone,
	// finished, or replaced by a pod of the same name).
	objs, _ := s.state.List("PodMetrics", "")
	for _, o := range objs {
		pm := o.(*api.PodMetrics)
		if pm.Annotations[annotationMetricsNode] != s.node || written[api.KeyOf(pm)] {
			continue
		}
		if p := active[ownerUID(pm)]; p != nil && p.Name == pm.Name && p.Namespace == pm.Namespace {
			continue
		}
		changes = append(changes, state.DeleteOf(pm))
	}

	if nm := s.nodeMetrics(now, nodeCPU, nodeMem, nodeWindow); nm != nil {
		changes = append(changes, state.Change{Put: nm})
	}
	if len(changes) == 0 {
		return nil
	}
	return s.writer.Commit(ctx, changes)
}

// usageList is a ResourceList of cpu in millicores and memory in bytes
// (rounded down to KiB, so it prints as "3Mi" or "1234Ki").
func usageList(cpuMilli, memory int64) api.ResourceList {
	return api.ResourceList{
		api.ResourceCPU:    api.NewMilliQuantity(max(cpuMilli, 0), api.DecimalSI),
		api.ResourceMemory: api.NewQuantity(max(memory, 0)/1024*1024, api.BinarySI),
	}
}

func ownerUID(o api.Object) string {
	for _, r := range o.GetObjectMeta().OwnerReferences {
		if r.Kind == "Pod" {
			return r.UID
		}
	}
	return ""
}

// unchangedPod reports whether the stored PodMetrics already says what pm
// says, but for its timestamp and window.
func (s *usageSampler) unchangedPod(pm *api.PodMetrics) bool {
	o, err := s.state.Get(api.KeyOf(pm))
	if err != nil {
		return false
	}
	old := o.(*api.PodMetrics)
	if ownerUID(old) != ownerUID(pm) || old.Annotations[annotationMetricsNode] != s.node ||
		!sameLabels(old.Labels, pm.Labels) || len(old.Containers) != len(pm.Containers) {
		return false
	}
	for i, c := range pm.Containers {
		if old.Containers[i].Name != c.Name || !sameUsage(old.Containers[i].Usage, c.Usage) {
			return false
		}
	}
	return true
}

// nodeMetrics returns the NodeMetrics to write, or nil when the stored
// one already has these numbers or the Node (its owner) is not there.
func (s *usageSampler) nodeMetrics(now time.Time, cpuMilli, memory int64, window time.Duration) *api.NodeMetrics {
	node, err := s.state.Get(api.Key{Kind: "Node", Name: s.node})
	if err != nil {
		return nil
	}
	usage := usageList(cpuMilli, memory)
	if o, err := s.state.Get(api.Key{Kind: "NodeMetrics", Name: s.node}); err == nil {
		old := o.(*api.NodeMetrics)
		if sameUsage(old.Usage, usage) && len(old.OwnerReferences) == 1 && old.OwnerReferences[0].UID == node.GetObjectMeta().UID {
			return nil
		}
	}
	nm := &api.NodeMetrics{TypeMeta: api.TypeMeta{APIVersion: "metrics.k8s.io/v1beta1", Kind: "NodeMetrics"}}
	nm.Name = s.node
	nm.OwnerReferences = []api.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: s.node, UID: node.GetObjectMeta().UID}}
	nm.Timestamp = *api.NewTime(now)
	if window == 0 {
		window = s.interval
	}
	nm.Window = api.Duration{Duration: window.Round(time.Second)}
	nm.Usage = usage
	return nm
}

func sameUsage(a, b api.ResourceList) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		w, ok := b[k]
		if !ok || !v.Equal(w) {
			return false
		}
	}
	return true
}

func sameLabels(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || v != w {
			return false
		}
	}
	return true
}
