package runtime_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/clock"
	"github.com/shoal-dev/shoal/runtime"
	"github.com/shoal-dev/shoal/runtime/runtimetest"
)

const testImage = "shoal.test/busybox:1"

type fakeControls struct{ f *runtime.Fake }

func (c fakeControls) Image() string                    { return testImage }
func (c fakeControls) HaveImage(ref string) error       { c.f.AddImage(ref); return nil }
func (c fakeControls) Kill(id string) error             { return c.f.Exit(id, 137, false) }
func (c fakeControls) Reopen() (runtime.Runtime, error) { return c.f.Reopen(), nil }

func newFake(clk clock.Clock) *runtime.Fake {
	f := runtime.NewFake(clk)
	f.AddImage(testImage)
	return f
}

func TestFakeContract(t *testing.T) {
	runtimetest.RunContract(t, func(t *testing.T) (runtime.Runtime, runtimetest.Controls) {
		f := newFake(clock.Real{})
		return f, fakeControls{f}
	})
}

func TestFakeTimestampsFollowClock(t *testing.T) {
	ctx := context.Background()
	start := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	clk := clock.NewFake(start)
	f := newFake(clk)
	id, err := f.Create(ctx, runtime.ContainerSpec{PodUID: "u1", Name: "app", Image: testImage})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	clk.Advance(5 * time.Second)
	if err := f.Exit(id, 137, true); err != nil {
		t.Fatal(err)
	}
	l, _ := f.List(ctx)
	st := l[0]
	if !st.StartedAt.Equal(start) || !st.FinishedAt.Equal(start.Add(5*time.Second)) || !st.OOMKilled || st.ExitCode != 137 {
		t.Fatalf("status = %+v", st)
	}
	if err := f.Exit(id, 0, false); err == nil {
		t.Error("Exit of an exited container succeeded")
	}
	if err := f.Exit("nope", 0, false); !errors.Is(err, runtime.ErrNotFound) {
		t.Errorf("Exit of an unknown ID = %v", err)
	}
}

func TestFakePullsAndSpec(t *testing.T) {
	ctx := context.Background()
	f := newFake(clock.Real{})
	f.AddRemoteImage("reg/app:v2")
	if err := f.EnsureImage(ctx, testImage, api.PullIfNotPresent); err != nil {
		t.Fatal(err)
	}
	if err := f.EnsureImage(ctx, "reg/app:v2", api.PullAlways); err != nil {
		t.Fatal(err)
	}
	if err := f.EnsureImage(ctx, "reg/app:v2", api.PullNever); err != nil {
		t.Fatalf("a pulled image is present: %v", err)
	}
	if got := f.Pulls(); len(got) != 1 || got[0] != "reg/app:v2" {
		t.Fatalf("Pulls = %v, want just reg/app:v2", got)
	}
	if err := f.EnsureImage(ctx, "x", "Sometimes"); err == nil {
		t.Error("an unknown pull policy was accepted")
	}

	env := []string{"A=1"}
	spec := runtime.ContainerSpec{PodUID: "u", Name: "c", Image: "reg/app:v2", Env: env,
		Mounts: []runtime.Mount{{Destination: "/tmp", Type: "tmpfs"}}, MemoryLimitBytes: 64 << 20}
	id, err := f.Create(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	env[0] = "A=changed"
	got, ok := f.Spec(id)
	if !ok || got.Env[0] != "A=1" || got.MemoryLimitBytes != 64<<20 || got.Mounts[0].Type != "tmpfs" {
		t.Fatalf("Spec = %+v, %v", got, ok)
	}
}

func TestCreateRejectsBadSpecs(t *testing.T) {
	ctx := context.Background()
	f := newFake(clock.Real{})
	for _, s := range []runtime.ContainerSpec{
		{Name: "c", Image: testImage},
		{PodUID: "u", Image: testImage},
		{PodUID: "u", Name: "c"},
		{PodUID: "u", Name: "c", Image: testImage, Labels: map[string]string{runtime.LabelPodUID: "other"}},
		{PodUID: "u", Name: "c", Image: testImage, Mounts: []runtime.Mount{{Type: "nfs"}}},
	} {
		if _, err := f.Create(ctx, s); err == nil {
			t.Errorf("Create(%+v) succeeded", s)
		}
	}
	if l, _ := f.List(ctx); len(l) != 0 {
		t.Errorf("List = %+v", l)
	}
}

func TestFakeHonoursContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	f := newFake(clock.Real{})
	if _, err := f.List(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("List with a cancelled context = %v", err)
	}
}
