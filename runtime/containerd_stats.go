package runtime

import (
	"context"
	"fmt"
	"time"

	cg1stats "github.com/containerd/cgroups/v3/cgroup1/stats"
	cg2stats "github.com/containerd/cgroups/v3/cgroup2/stats"
	"github.com/containerd/containerd"
	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/typeurl/v2"
)

// Stats implements Runtime from the task's cgroup metrics, as the shim
// reports them: cgroup v2 (io.containerd.cgroups.v2.Metrics) or v1
// (io.containerd.cgroups.v1.Metrics). The working set is memory usage less
// inactive file pages, floored at zero. Stats takes no lock: it only reads.
func (c *Containerd) Stats(ctx context.Context, id string) (ContainerStats, error) {
	ctr, err := c.client.LoadContainer(ctx, id)
	if errdefs.IsNotFound(err) {
		return ContainerStats{}, fmt.Errorf("stats of container %s: %w", id, ErrNotFound)
	} else if err != nil {
		return ContainerStats{}, fmt.Errorf("stats of container %s: %w", id, err)
	}
	task, err := ctr.Task(ctx, nil)
	if errdefs.IsNotFound(err) {
		return ContainerStats{}, fmt.Errorf("stats of container %s: %w (it has no process: never started, or gone)", id, ErrNotRunning)
	} else if err != nil {
		return ContainerStats{}, fmt.Errorf("stats of container %s: %w", id, err)
	}
	if st, err := task.Status(ctx); err != nil {
		return ContainerStats{}, fmt.Errorf("stats of container %s: task status: %w", id, err)
	} else if st.Status != containerd.Running && st.Status != containerd.Paused && st.Status != containerd.Pausing {
		return ContainerStats{}, fmt.Errorf("stats of container %s: %w (it is %s)", id, ErrNotRunning, st.Status)
	}
	m, err := task.Metrics(ctx)
	if errdefs.IsNotFound(err) {
		return ContainerStats{}, fmt.Errorf("stats of container %s: %w (it exited)", id, ErrNotRunning)
	} else if err != nil {
		return ContainerStats{}, fmt.Errorf("stats of container %s: task metrics: %w", id, err)
	}
	out := ContainerStats{At: time.Now()}
	if ts := m.GetTimestamp(); ts != nil && ts.IsValid() {
		out.At = ts.AsTime()
	}
	if m.GetData() == nil {
		return ContainerStats{}, fmt.Errorf("stats of container %s: the shim sent no metrics", id)
	}
	v, err := typeurl.UnmarshalAny(m.GetData())
	if err != nil {
		return ContainerStats{}, fmt.Errorf("stats of container %s: metrics of type %q do not decode: %w", id, m.GetData().GetTypeUrl(), err)
	}
	switch s := v.(type) {
	case *cg2stats.Metrics:
		out.CPUUsage = time.Duration(s.GetCPU().GetUsageUsec()) * time.Microsecond
		out.MemoryWorkingSet = workingSet(s.GetMemory().GetUsage(), s.GetMemory().GetInactiveFile())
	case *cg1stats.Metrics:
		out.CPUUsage = time.Duration(s.GetCPU().GetUsage().GetTotal())
		out.MemoryWorkingSet = workingSet(s.GetMemory().GetUsage().GetUsage(), s.GetMemory().GetTotalInactiveFile())
	default:
		return ContainerStats{}, fmt.Errorf("stats of container %s: metrics of type %q are not cgroup v1 or v2 metrics", id, m.GetData().GetTypeUrl())
	}
	return out, nil
}

// workingSet is usage less inactive file pages, as the kubelet computes
// it, floored at zero.
func workingSet(usage, inactiveFile uint64) int64 {
	if inactiveFile >= usage {
		return 0
	}
	return int64(usage - inactiveFile)
}
