package placement_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/clock"
	"github.com/shoal-dev/shoal/placement"
)

type fakeWriter struct{ st fakeState }

func (w fakeWriter) Commit(_ context.Context, changes []placement.Change) error {
	w.st.apply(changes)
	return nil
}

type fakeEvents struct{ reasons []string }

func (e *fakeEvents) RecordEvent(_ context.Context, _ api.Object, _, reason, msg, _ string) error {
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
	b := &placement.Binder{State: st, Writer: fakeWriter{st}, Events: ev, IsLeader: func() bool { return true },
		Clock: clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if err := b.Pass(context.Background()); err != nil {
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
	if err := b.Pass(context.Background()); err != nil {
		t.Fatal(err)
	}
	if huge := st[api.Key{Kind: "Pod", Namespace: "default", Name: "huge"}].(*api.Pod); huge.Spec.NodeName != "n2" {
		t.Fatalf("huge stayed unbound after room appeared: %q", huge.Spec.NodeName)
	}
}
