package runtime_test

import (
	"context"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/integration/testimage"
	"github.com/shoal-dev/shoal/runtime"
)

// A busy container's samples show CPU time growing at about the rate it
// burns, and the memory it holds.
func TestContainerdStatsMeasure(t *testing.T) {
	env := startContainerd(t)
	c := env.newRuntime(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	id, err := c.Create(ctx, runtime.ContainerSpec{
		PodUID: "pod-busy", PodName: "busy", Namespace: "default", Name: "app",
		Image:   testimage.ImageName,
		Command: []string{"sh", "-c", "while :; do :; done"},
		// Half a CPU at most, so the rate has a known ceiling.
		CPUQuotaMillis: 500,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	first, err := c.Stats(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	second, err := c.Stats(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	window := second.At.Sub(first.At)
	if window <= 0 {
		t.Fatalf("samples at %v then %v", first.At, second.At)
	}
	millicores := int64(second.CPUUsage-first.CPUUsage) * 1000 / int64(window)
	t.Logf("%dm over %v; working set %d bytes", millicores, window, second.MemoryWorkingSet)
	if millicores < 100 || millicores > 650 {
		t.Errorf("a busy loop limited to 500m used %dm over %v", millicores, window)
	}
	if second.MemoryWorkingSet <= 0 || second.MemoryWorkingSet > 64<<20 {
		t.Errorf("working set %d bytes; want some, and less than 64 MiB for a shell", second.MemoryWorkingSet)
	}
}
