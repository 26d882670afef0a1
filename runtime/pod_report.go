package runtime

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/state"
)

// statusBatcher gathers the statuses pod workers compute and writes those
// that changed, in one command per StatusBatch: a state.PutStatus change
// per pod, which the uid guards against writing onto a pod deleted and
// created again under its name. A failed
// write is retried with the newest statuses; nothing is queued twice.
type statusBatcher struct {
	r       *Reconciler
	mu      sync.Mutex
	pending map[string]*api.Pod // by pod UID
	// written is the last status written per UID until a pod with it
	// comes back from the replica, so a worker holding the pod from before
	// the write does not write the same status again.
	written map[string]api.PodStatus
	kick    chan struct{}
}

func newStatusBatcher(r *Reconciler) *statusBatcher {
	return &statusBatcher{r: r, pending: map[string]*api.Pod{}, written: map[string]api.PodStatus{}, kick: make(chan struct{}, 1)}
}

// set queues pod's status unless the store or the last write has it.
func (b *statusBatcher) set(pod *api.Pod, st api.PodStatus) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if w, ok := b.written[pod.UID]; ok && sameStatus(pod.Status, w) {
		delete(b.written, pod.UID) // the write is in the replica
	} else if ok && sameStatus(w, st) {
		delete(b.pending, pod.UID)
		return
	}
	if sameStatus(pod.Status, st) {
		delete(b.pending, pod.UID)
		return
	}
	b.pending[pod.UID] = statusOnly(pod, st)
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

// forget drops what is known of a pod that is gone.
func (b *statusBatcher) forget(uid string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.pending, uid)
	delete(b.written, uid)
}

func (b *statusBatcher) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-b.kick:
		}
		// Let the statuses of a burst of changes gather.
		select {
		case <-ctx.Done():
			return
		case <-b.r.Clock.After(b.r.StatusBatch):
		}
		b.mu.Lock()
		batch := make([]*api.Pod, 0, len(b.pending))
		for _, rep := range b.pending {
			batch = append(batch, rep)
		}
		b.pending = map[string]*api.Pod{}
		b.mu.Unlock()
		if len(batch) == 0 {
			continue
		}
		sort.Slice(batch, func(i, j int) bool { return batch[i].UID < batch[j].UID })
		changes := make([]state.Change, len(batch))
		for i, p := range batch {
			changes[i] = state.Change{Put: p, Mode: state.PutStatus}
		}
		if err := b.r.Status.Commit(ctx, changes); err != nil {
			b.r.Logger.Warn("writing pod statuses; will retry", "pods", len(batch), "err", err)
			b.mu.Lock()
			for _, rep := range batch {
				if _, newer := b.pending[rep.UID]; !newer {
					b.pending[rep.UID] = rep
				}
			}
			b.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-b.r.Clock.After(time.Second):
			}
			select {
			case b.kick <- struct{}{}:
			default:
			}
			continue
		}
		b.mu.Lock()
		for _, rep := range batch {
			b.written[rep.UID] = rep.Status
		}
		b.mu.Unlock()
	}
}

// statusOnly is the pod that carries st as pod's status: its key, uid and
// the status, which is all a state.PutStatus change reads.
func statusOnly(pod *api.Pod, st api.PodStatus) *api.Pod {
	p := &api.Pod{TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "Pod"}, Status: st}
	p.Name, p.Namespace, p.UID = pod.Name, pod.Namespace, pod.UID
	return p
}
