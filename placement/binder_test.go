package placement_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/clock"
	"github.com/shoal-dev/shoal/leader"
	"github.com/shoal-dev/shoal/placement"
)

type fakeWriter struct{ st fakeState }

func (w fakeWriter) Commit(_ context.Context, changes []placement.Change) error {
	w.st.apply(changes)
	return nil
}

type fakeEvents struct {
	mu      sync.Mutex
	reasons []string
}

func (e *fakeEvents) RecordEvent(_ context.Context, _ api.Object, _, reason, msg, _ string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.reasons = append(e.reasons, reason+": "+msg)
	return nil
}

func readyNode(name string, cpu string) *api.Node {
	return &api.Node{
		TypeMeta:   api.TypeMeta{APIVersion: "v1", Kind: "Node"},
		ObjectMeta: api.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name}},
		Status: api.NodeStatus{
			Allocatable: api.ResourceList{"cpu": api.MustParseQuantity(cpu), "memory": api.MustParseQuantity("1Gi"), "pods": api.MustParseQuantity("110")},
			Conditions:  []api.NodeCondition{{Type: "Ready", Status: "True"}},
		},
	}
}

func pendingPod(name, cpu string) *api.Pod {
	return &api.Pod{
		TypeMeta:   api.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default", UID: "uid-" + name},
		Spec: api.PodSpec{Containers: []api.Container{{Name: "c", Image: "x",
			Resources: api.ResourceRequirements{Requests: api.ResourceList{"cpu": api.MustParseQuantity(cpu)}}}}},
	}
}

func TestBinderBindsAndExplains(t *testing.T) {
	st := fakeState{}
	for _, o := range []api.Object{readyNode("n1", "2"), pendingPod("fits", "1"), pendingPod("huge", "64")} {
		st[api.KeyOf(o)] = o
	}
	ev := &fakeEvents{}
	b := &placement.Binder{State: st, Writer: fakeWriter{st}, Events: ev}
	if _, err := b.Pass(context.Background(), binderT0); err != nil {
		t.Fatal(err)
	}
	fits := st[api.Key{Kind: "Pod", Namespace: "default", Name: "fits"}].(*api.Pod)
	if fits.Spec.NodeName != "n1" || fits.Status.Conditions[0].Status != api.ConditionTrue {
		t.Fatalf("fits: node %q conditions %+v", fits.Spec.NodeName, fits.Status.Conditions)
	}
	huge := st[api.Key{Kind: "Pod", Namespace: "default", Name: "huge"}].(*api.Pod)
	c := huge.Status.Conditions[0]
	if huge.Spec.NodeName != "" || c.Status != api.ConditionFalse || !strings.Contains(c.Message, "Insufficient cpu") {
		t.Fatalf("huge: node %q condition %+v", huge.Spec.NodeName, c)
	}
	if len(ev.reasons) != 2 || !strings.HasPrefix(ev.reasons[0], "Scheduled") || !strings.HasPrefix(ev.reasons[1], "FailedScheduling: 0/1 nodes are available") {
		t.Fatalf("events %v", ev.reasons)
	}
	// Room appears: the next pass places the waiting pod.
	st[api.Key{Kind: "Node", Name: "n2"}] = readyNode("n2", "128")
	if _, err := b.Pass(context.Background(), binderT0); err != nil {
		t.Fatal(err)
	}
	if huge := st[api.Key{Kind: "Pod", Namespace: "default", Name: "huge"}].(*api.Pod); huge.Spec.NodeName != "n2" {
		t.Fatalf("huge stayed unbound after room appeared: %q", huge.Spec.NodeName)
	}
}

// casWriter is a Writer with the store's compare-and-set: every write sets
// the object's resourceVersion, a Put that names an older one fails the
// whole command with a conflict. before, if set, runs before each commit
// (the n-th, from 1), to change the state under the Binder's feet.
type casWriter struct {
	st      fakeState
	version int
	commits int
	sizes   []int // pods put by each command that succeeded
	before  func(n int)
}

func (w *casWriter) Commit(_ context.Context, changes []placement.Change) error {
	w.commits++
	if w.before != nil {
		w.before(w.commits)
	}
	for _, c := range changes {
		if c.Put == nil || c.Put.GetObjectMeta().ResourceVersion == "" {
			continue
		}
		cur, ok := w.st[api.KeyOf(c.Put)]
		if !ok {
			return api.NewError(api.ReasonNotFound, "%s is gone", api.KeyOf(c.Put))
		}
		if cur.GetObjectMeta().ResourceVersion != c.Put.GetObjectMeta().ResourceVersion {
			return api.NewError(api.ReasonConflict, "%s changed", api.KeyOf(c.Put))
		}
	}
	w.version++
	pods := 0
	for _, c := range changes {
		if c.Put != nil {
			c.Put.GetObjectMeta().ResourceVersion = strconv.Itoa(w.version)
			if _, ok := c.Put.(*api.Pod); ok {
				pods++
			}
		}
	}
	w.st.apply(changes)
	w.sizes = append(w.sizes, pods)
	return nil
}

// touch writes pod name again, as another writer would, so that the
// Binder's compare-and-set on it fails.
func (w *casWriter) touch(name string) {
	k := api.Key{Kind: "Pod", Namespace: "default", Name: name}
	p := *w.st[k].(*api.Pod)
	w.version++
	p.ResourceVersion = strconv.Itoa(w.version)
	w.st[k] = &p
}

func newCASState(objs ...api.Object) (fakeState, *casWriter) {
	st := fakeState{}
	w := &casWriter{st: st}
	for _, o := range objs {
		w.version++
		o.GetObjectMeta().ResourceVersion = strconv.Itoa(w.version)
		st[api.KeyOf(o)] = o
	}
	return st, w
}

func testBinder(st fakeState, w placement.Writer, ev placement.EventRecorder) *placement.Binder {
	return &placement.Binder{State: st, Writer: w, Events: ev}
}

// One pass binds every pending pod, many to a command, and records an
// event for each.
func TestBinderBatchesBindings(t *testing.T) {
	objs := []api.Object{}
	for i := range 12 {
		objs = append(objs, readyNode(fmt.Sprintf("n%02d", i), "64"))
	}
	for i := range 1200 {
		objs = append(objs, pendingPod(fmt.Sprintf("p%04d", i), "100m"))
	}
	st, w := newCASState(objs...)
	ev := &fakeEvents{}
	if _, err := testBinder(st, w, ev).Pass(context.Background(), binderT0); err != nil {
		t.Fatal(err)
	}
	perNode := map[string]int{}
	for k, o := range st {
		if p, ok := o.(*api.Pod); ok {
			if p.Spec.NodeName == "" {
				t.Fatalf("%s left unbound", k)
			}
			perNode[p.Spec.NodeName]++
		}
	}
	if fmt.Sprint(w.sizes) != "[500 500 200]" {
		t.Errorf("pods per command %v, want [500 500 200]", w.sizes)
	}
	for n, c := range perNode {
		if c > 110 {
			t.Errorf("%s has %d pods, more than its 110", n, c)
		}
	}
	if len(ev.reasons) != 1200 || !strings.HasPrefix(ev.reasons[0], "Scheduled: Successfully assigned default/p") {
		t.Errorf("%d events, first %q", len(ev.reasons), ev.reasons[0])
	}
}

// A pod that changes between the plan and the commit fails its command;
// the rest of the command is bound in smaller ones and the changed pod
// waits for the next pass, which binds it.
func TestBinderConflictFallsBack(t *testing.T) {
	objs := []api.Object{readyNode("n1", "64"), readyNode("n2", "64")}
	for i := range 150 {
		objs = append(objs, pendingPod(fmt.Sprintf("p%03d", i), "100m"))
	}
	st, w := newCASState(objs...)
	w.before = func(n int) {
		if n == 1 {
			w.touch("p077")
		}
	}
	b := testBinder(st, w, nil)
	if _, err := b.Pass(context.Background(), binderT0); err != nil {
		t.Fatal(err)
	}
	unbound := 0
	for _, o := range st {
		if p, ok := o.(*api.Pod); ok && p.Spec.NodeName == "" {
			unbound++
			if p.Name != "p077" {
				t.Errorf("%s left unbound", p.Name)
			}
		}
	}
	if unbound != 1 || w.commits > 4 {
		t.Fatalf("%d unbound after %d commands (%v pods each)", unbound, w.commits, w.sizes)
	}
	if _, err := b.Pass(context.Background(), binderT0); err != nil {
		t.Fatal(err)
	}
	if p := st[api.Key{Kind: "Pod", Namespace: "default", Name: "p077"}].(*api.Pod); p.Spec.NodeName == "" {
		t.Fatal("the changed pod is still unbound after the next pass")
	}
}

// When a command fails, the placements after the pod that failed it are
// checked again without it: here db-1 may only go where db-0 is, and
// db-0's binding fails, so db-1 must not be bound alone.
func TestBinderRechecksAfterConflict(t *testing.T) {
	together := func(p *api.Pod) {
		p.Labels = map[string]string{"app": "db"}
		p.Spec.Affinity = &api.Affinity{PodAffinity: &api.PodAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []api.PodAffinityTerm{
			{TopologyKey: "kubernetes.io/hostname", LabelSelector: &api.LabelSelector{MatchLabels: map[string]string{"app": "db"}}}}}}
	}
	first, second := pendingPod("db-0", "100m"), pendingPod("db-1", "100m")
	together(first)
	together(second)
	second.Labels = map[string]string{"app": "db-client"} // follows db, is not db
	first.CreationTimestamp = api.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	second.CreationTimestamp = api.NewTime(time.Date(2026, 1, 1, 0, 0, 1, 0, time.UTC))
	st, w := newCASState(readyNode("n1", "4"), readyNode("n2", "4"), first, second)
	w.before = func(n int) {
		if n == 1 {
			w.touch("db-0")
		}
	}
	if _, err := testBinder(st, w, nil).Pass(context.Background(), binderT0); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"db-0", "db-1"} {
		if p := st[api.Key{Kind: "Pod", Namespace: "default", Name: name}].(*api.Pod); p.Spec.NodeName != "" {
			t.Errorf("%s bound to %s", name, p.Spec.NodeName)
		}
	}
}

// binderT0 is the time of the binder tests' passes.
var binderT0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Under a loop, with QueueEvents, the events are recorded in the
// background while passes go on.
func TestBinderRunRecordsEvents(t *testing.T) {
	objs := []api.Object{readyNode("n1", "64")}
	for i := range 60 {
		objs = append(objs, pendingPod(fmt.Sprintf("p%02d", i), "100m"))
	}
	st, w := newCASState(objs...)
	ev := &fakeEvents{}
	trigger := make(chan struct{}, 1)
	ctx, cancel := context.WithCancel(context.Background())
	b := testBinder(st, w, placement.QueueEvents(ctx, ev, 8, 1000))
	l := &leader.Loop{
		Name: "binder", Pass: b.Pass, IsLeader: func() bool { return true },
		Clock: clock.NewFake(binderT0), Logger: slog.New(slog.DiscardHandler), Interval: time.Hour, Trigger: trigger,
	}
	done := make(chan struct{})
	go func() { l.Run(ctx); close(done) }()
	trigger <- struct{}{}
	deadline := time.Now().Add(10 * time.Second)
	for {
		ev.mu.Lock()
		n := len(ev.reasons)
		ev.mu.Unlock()
		if n == 60 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of 60 events recorded", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	for _, o := range st {
		if p, ok := o.(*api.Pod); ok && p.Spec.NodeName != "n1" {
			t.Errorf("%s on %q", p.Name, p.Spec.NodeName)
		}
	}
}

// BenchmarkBinderPass: one pass over 10,000 pending pods on 3 nodes that
// take 4,000 each, with a writer that only stores: what the Binder itself
// costs, without Raft. Reports pods bound per second.
func BenchmarkBinderPass(b *testing.B) {
	bound := 0
	for b.Loop() {
		b.StopTimer()
		var objs []api.Object
		for i := range 3 {
			n := readyNode(fmt.Sprintf("n%d", i), "64")
			n.Status.Allocatable["pods"] = api.MustParseQuantity("4000")
			objs = append(objs, n)
		}
		for i := range 10000 {
			p := pendingPod(fmt.Sprintf("web-%05d", i), "1m")
			p.Labels = map[string]string{"app": "web"}
			objs = append(objs, p)
		}
		st, w := newCASState(objs...)
		bd := testBinder(st, w, nil)
		b.StartTimer()
		if _, err := bd.Pass(context.Background(), binderT0); err != nil {
			b.Fatal(err)
		}
		for _, n := range w.sizes {
			bound += n
		}
	}
	b.ReportMetric(float64(bound)/b.Elapsed().Seconds(), "pods/s")
}

// gatedEvents records an event only when its gate lets one through.
type gatedEvents struct {
	fakeEvents
	gate chan struct{}
}

func (e *gatedEvents) RecordEvent(ctx context.Context, obj api.Object, typ, reason, msg, comp string) error {
	<-e.gate
	return e.fakeEvents.RecordEvent(ctx, obj, typ, reason, msg, comp)
}

// QueueEvents takes events without waiting up to its size, then waits for
// room, and records every event it took, in order with one writer.
func TestQueueEventsBoundsAndKeepsOrder(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rec := &gatedEvents{gate: make(chan struct{})}
	q := placement.QueueEvents(ctx, rec, 1, 3)
	pod := pendingPod("p", "1m")
	// The writer takes the first and waits at the gate; three more fill
	// the queue.
	for i := range 4 {
		if err := q.RecordEvent(ctx, pod, "Normal", fmt.Sprint(i), "", "test"); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
	}
	full, stop := context.WithTimeout(ctx, 50*time.Millisecond)
	defer stop()
	if err := q.RecordEvent(full, pod, "Normal", "x", "", "test"); err == nil {
		t.Fatal("a full queue took a fifth event without waiting")
	}
	for range 4 {
		rec.gate <- struct{}{}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		rec.mu.Lock()
		got := slices.Clone(rec.reasons)
		rec.mu.Unlock()
		if len(got) == 4 {
			if want := []string{"0: ", "1: ", "2: ", "3: "}; !slices.Equal(got, want) {
				t.Fatalf("recorded %q, want %q", got, want)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("recorded %q of 4 events", got)
		}
		time.Sleep(time.Millisecond)
	}
}
