package runtime

import (
	"context"
	"fmt"
)

// SetStats makes Stats of container id report stats' CPUUsage and
// MemoryWorkingSet (its At is ignored) until the next SetStats. A
// container's numbers start at zero and survive Reopen, as the container
// does. A test drives a CPU rate by raising CPUUsage between samples while
// it advances the clock.
func (f *Fake) SetStats(id string, stats ContainerStats) error {
	f.s.mu.Lock()
	defer f.s.mu.Unlock()
	c, ok := f.s.containers[id]
	if !ok {
		return fmt.Errorf("container %s: %w", id, ErrNotFound)
	}
	c.stats = stats
	return nil
}

// Stats implements Runtime. The sample's At is the clock's time.
func (f *Fake) Stats(ctx context.Context, id string) (ContainerStats, error) {
	if err := ctx.Err(); err != nil {
		return ContainerStats{}, err
	}
	f.s.mu.Lock()
	defer f.s.mu.Unlock()
	c, ok := f.s.containers[id]
	if !ok {
		return ContainerStats{}, fmt.Errorf("stats of container %s: %w", id, ErrNotFound)
	}
	if c.status.State != StateRunning {
		return ContainerStats{}, fmt.Errorf("stats of container %s: %w (it is %s)", id, ErrNotRunning, c.status.State)
	}
	st := c.stats
	st.At = f.clk.Now()
	return st, nil
}
