package node

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/clock"
	"github.com/shoal-dev/shoal/consensus"
	"github.com/shoal-dev/shoal/runtime"
	"github.com/shoal-dev/shoal/state"
)

// usageWorld is a sampler over a real state store driven without Raft and
// a Fake runtime, with a fake clock.
type usageWorld struct {
	t       *testing.T
	clk     *clock.Fake
	store   *consensus.Store
	rt      *runtime.Fake
	s       *usageSampler
	index   uint64
	commits int
}

func newUsageWorld(t *testing.T) *usageWorld {
	w := &usageWorld{t: t, clk: clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)), store: consensus.NewStore()}
	w.rt = runtime.NewFake(w.clk)
	w.rt.AddImage(podTestImage)
	w.s = &usageSampler{
		node: "n1", runtime: w.rt, state: w.store,
		pods: func() []*api.Pod {
			objs, _ := w.store.List("Pod", "")
			var out []*api.Pod
			for _, o := range objs {
				if p := o.(*api.Pod); p.Spec.NodeName == "n1" {
					out = append(out, p)
				}
			}
			return out
		},
		writer: w,
		clock:  w.clk, interval: UsageInterval, log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	w.put(&api.Node{TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "Node"}, ObjectMeta: api.ObjectMeta{Name: "n1"}})
	return w
}

// Commit is the sampler's state.Writer: the changes go to the store at the
// next index.
func (w *usageWorld) Commit(_ context.Context, changes []state.Change) error {
	w.commits++
	ops, err := consensus.OpsOf(changes)
	if err != nil {
		return err
	}
	return w.apply(ops...)
}

func (w *usageWorld) apply(ops ...consensus.Op) error {
	w.index++
	return w.store.Apply(w.index, consensus.WriteCommand{Time: w.clk.Now(), Ops: ops}).Err
}

func (w *usageWorld) put(obj api.Object) api.Object {
	w.t.Helper()
	op, err := consensus.OpFor(consensus.OpPut, obj)
	if err != nil {
		w.t.Fatal(err)
	}
	if err := w.apply(op); err != nil {
		w.t.Fatal(err)
	}
	got, err := w.store.Get(api.KeyOf(obj))
	if err != nil {
		w.t.Fatal(err)
	}
	return got
}

func (w *usageWorld) delete(key api.Key) {
	w.t.Helper()
	if err := w.apply(consensus.Op{Type: consensus.OpDelete, Key: key}); err != nil {
		w.t.Fatal(err)
	}
}

// runPod stores a pod bound to n1 and starts its containers on the Fake.
func (w *usageWorld) runPod(name string, containers ...string) (*api.Pod, map[string]string) {
	w.t.Helper()
	p := &api.Pod{TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"app": "web"}},
		Spec:       api.PodSpec{NodeName: "n1"}}
	pod := w.put(p).(*api.Pod)
	ids := map[string]string{}
	for _, c := range containers {
		id, err := w.rt.Create(context.Background(), runtime.ContainerSpec{PodUID: pod.UID, PodName: name, Namespace: "default", Name: c, Image: podTestImage})
		if err != nil {
			w.t.Fatal(err)
		}
		if err := w.rt.Start(context.Background(), id); err != nil {
			w.t.Fatal(err)
		}
		ids[c] = id
	}
	return pod, ids
}

func (w *usageWorld) setStats(id string, cpu time.Duration, memory int64) {
	w.t.Helper()
	if err := w.rt.SetStats(id, runtime.ContainerStats{CPUUsage: cpu, MemoryWorkingSet: memory}); err != nil {
		w.t.Fatal(err)
	}
}

func (w *usageWorld) pass() {
	w.t.Helper()
	if err := w.s.pass(context.Background()); err != nil {
		w.t.Fatalf("pass: %v", err)
	}
}

func (w *usageWorld) podMetrics(name string) *api.PodMetrics {
	o, err := w.store.Get(api.Key{Kind: "PodMetrics", Namespace: "default", Name: name})
	if err != nil {
		return nil
	}
	return o.(*api.PodMetrics)
}

func (w *usageWorld) nodeUsage() (cpu, mem string) {
	w.t.Helper()
	o, err := w.store.Get(api.Key{Kind: "NodeMetrics", Name: "n1"})
	if err != nil {
		w.t.Fatalf("NodeMetrics: %v", err)
	}
	u := o.(*api.NodeMetrics).Usage
	return u.Cpu().String(), u.Memory().String()
}

func usageOf(pm *api.PodMetrics) map[string]string {
	out := map[string]string{}
	for _, c := range pm.Containers {
		out[c.Name] = c.Usage.Cpu().String() + "/" + c.Usage.Memory().String()
	}
	return out
}

func TestUsageSamplerReportsRatesOnce(t *testing.T) {
	w := newUsageWorld(t)
	pod, ids := w.runPod("web-1", "app", "side")
	w.setStats(ids["app"], 10*time.Second, 3<<20)
	w.setStats(ids["side"], time.Second, 1<<20+100)

	// The first sample gives no rate: no PodMetrics yet, only memory on
	// the node.
	w.pass()
	if pm := w.podMetrics("web-1"); pm != nil {
		t.Fatalf("PodMetrics after one sample: %+v", pm)
	}
	if cpu, mem := w.nodeUsage(); cpu != "0" || mem != "4Mi" {
		t.Errorf("node usage after one sample = %s, %s; want 0, 4Mi", cpu, mem)
	}

	// 1.5 s and 0.15 s of CPU time over 15 s: 100m and 10m.
	w.clk.Advance(UsageInterval)
	w.setStats(ids["app"], 11500*time.Millisecond, 3<<20)
	w.setStats(ids["side"], 1150*time.Millisecond, 1<<20+100)
	w.pass()
	pm := w.podMetrics("web-1")
	if pm == nil {
		t.Fatal("no PodMetrics after two samples")
	}
	if got := usageOf(pm); got["app"] != "100m/3Mi" || got["side"] != "10m/1Mi" || len(got) != 2 {
		t.Errorf("usage = %v; want app 100m/3Mi and side 10m/1Mi (memory rounded down to KiB)", got)
	}
	if pm.Window.Duration != UsageInterval || !pm.Timestamp.Equal(w.clk.Now()) || pm.Labels["app"] != "web" {
		t.Errorf("window %v timestamp %v labels %v", pm.Window, pm.Timestamp, pm.Labels)
	}
	if len(pm.OwnerReferences) != 1 || pm.OwnerReferences[0].UID != pod.UID || pm.OwnerReferences[0].Kind != "Pod" {
		t.Errorf("ownerReferences %+v; want the pod", pm.OwnerReferences)
	}
	if cpu, mem := w.nodeUsage(); cpu != "110m" || mem != "4Mi" {
		t.Errorf("node usage = %s, %s; want 110m, 4Mi", cpu, mem)
	}

	// The same rates again: nothing to write.
	before := w.commits
	w.clk.Advance(UsageInterval)
	w.setStats(ids["app"], 13*time.Second, 3<<20)
	w.setStats(ids["side"], 1300*time.Millisecond, 1<<20+200)
	w.pass()
	if w.commits != before {
		t.Errorf("%d commits for unchanged numbers, want none", w.commits-before)
	}

	// Deleting the pod deletes its metrics with it.
	w.delete(api.KeyOf(pod))
	if w.podMetrics("web-1") != nil {
		t.Error("the PodMetrics outlived its pod")
	}
}

// A new sampler (an agent restart) starts over: no rate until its
// second sample, and meanwhile the stored numbers stay.
func TestUsageSamplerAfterRestart(t *testing.T) {
	w := newUsageWorld(t)
	_, ids := w.runPod("web-1", "app")
	w.setStats(ids["app"], 0, 1<<20)
	w.pass()
	w.clk.Advance(UsageInterval)
	w.setStats(ids["app"], 3*time.Second, 1<<20)
	w.pass()
	if got := usageOf(w.podMetrics("web-1")); got["app"] != "200m/1Mi" {
		t.Fatalf("usage = %v, want 200m/1Mi", got)
	}
	w.s.prev = nil
	w.clk.Advance(UsageInterval)
	w.setStats(ids["app"], 6*time.Second, 2<<20)
	w.pass()
	if got := usageOf(w.podMetrics("web-1")); got["app"] != "200m/1Mi" {
		t.Errorf("usage after a restart's first sample = %v; want the last numbers kept", got)
	}
	w.clk.Advance(UsageInterval)
	w.setStats(ids["app"], 7500*time.Millisecond, 2<<20)
	w.pass()
	if got := usageOf(w.podMetrics("web-1")); got["app"] != "100m/2Mi" {
		t.Errorf("usage = %v, want 100m/2Mi", got)
	}
}

// PodMetrics of pods this node no longer runs go: the pod finished, or
// the pod was deleted just as its metrics were written.
func TestUsageSamplerDeletesStaleMetrics(t *testing.T) {
	w := newUsageWorld(t)
	done, ids := w.runPod("done", "app")
	_, keepIDs := w.runPod("keep", "app")
	w.pass()
	w.clk.Advance(UsageInterval)
	w.setStats(ids["app"], time.Second, 1<<20)
	w.setStats(keepIDs["app"], time.Second, 1<<20)
	w.pass()
	if w.podMetrics("done") == nil || w.podMetrics("keep") == nil {
		t.Fatal("no PodMetrics")
	}

	// "done" finishes.
	if err := w.rt.Exit(ids["app"], 0, false); err != nil {
		t.Fatal(err)
	}
	fin := api.Copy(done)
	fin.ResourceVersion = ""
	fin.Status.Phase = api.PodSucceeded
	w.put(fin)
	// An orphan: written for a pod that had gone already.
	orphan := &api.PodMetrics{TypeMeta: api.TypeMeta{APIVersion: "metrics.k8s.io/v1beta1", Kind: "PodMetrics"},
		ObjectMeta: api.ObjectMeta{Name: "ghost", Namespace: "default",
			Annotations:     map[string]string{annotationMetricsNode: "n1"},
			OwnerReferences: []api.OwnerReference{{APIVersion: "v1", Kind: "Pod", Name: "ghost", UID: "gone"}}}}
	// Another node's metrics are that node's business.
	other := api.Copy(orphan)
	other.Name, other.Annotations[annotationMetricsNode] = "elsewhere", "n2"
	w.put(orphan)
	w.put(other)

	w.clk.Advance(UsageInterval)
	w.pass()
	if w.podMetrics("done") != nil || w.podMetrics("ghost") != nil {
		t.Error("metrics of a finished pod or a gone pod were kept")
	}
	if w.podMetrics("keep") == nil || w.podMetrics("elsewhere") == nil {
		t.Error("metrics of a running pod, or another node's, were deleted")
	}
}

// run makes a pass on every tick of the clock.
func TestUsageSamplerRunsOnTheClock(t *testing.T) {
	w := newUsageWorld(t)
	passes := make(chan struct{}, 10)
	w.s.writer = writerFunc(func(ctx context.Context, changes []state.Change) error {
		err := w.Commit(ctx, changes)
		passes <- struct{}{}
		return err
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.s.run(ctx) }()
	defer func() { cancel(); <-done }()
	for w.clk.Waiters() == 0 {
		time.Sleep(time.Millisecond)
	}
	w.clk.Advance(UsageInterval)
	select {
	case <-passes:
	case <-time.After(10 * time.Second):
		t.Fatal("no pass after one interval")
	}
	if _, err := w.store.Get(api.Key{Kind: "NodeMetrics", Name: "n1"}); err != nil {
		t.Errorf("NodeMetrics: %v", err)
	}
}

type writerFunc func(ctx context.Context, changes []state.Change) error

func (f writerFunc) Commit(ctx context.Context, changes []state.Change) error { return f(ctx, changes) }
