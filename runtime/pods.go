package runtime

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/clock"
	"github.com/shoal-dev/shoal/state"
)

// PodSource is the reconciler's read view of the cluster state: this
// node's replica. Every method is safe for concurrent use.
type PodSource interface {
	// AssignedPods returns the pods whose spec.nodeName is this node.
	AssignedPods() []*api.Pod
	// ConfigMap and Secret return the object, or an error wrapping a
	// NotFound api.Status. Secrets come back with Data readable.
	ConfigMap(namespace, name string) (*api.ConfigMap, error)
	Secret(namespace, name string) (*api.Secret, error)
}

// EventRecorder records an event about a pod (Pulled, Started, Killing,
// Unhealthy, BackOff...). eventType is "Normal" or "Warning".
type EventRecorder interface {
	RecordPodEvent(pod *api.Pod, eventType, reason, message string)
}

// PodLister is a Runtime that lists one pod's containers for less than a
// whole List costs (containerd asks only that pod's shims). ListPod is
// List restricted to the pod, in the same order.
type PodLister interface {
	ListPod(ctx context.Context, podUID string) ([]ContainerStatus, error)
}

// ExitNotifier is a Runtime that says when a container's process ends, so
// that the reconciler reacts at once instead of at its next resync.
type ExitNotifier interface {
	OnExit(f func(id string))
}

// DNSConfig is what pods' /etc/resolv.conf says.
type DNSConfig struct {
	Nameserver    string // the node's DNS as pods reach it; default the pod's gateway
	ClusterDomain string // cluster.local by default
}

// Reconciler makes this node's containers match the pods assigned to it
// and reports their status: the kubelet. It is level-triggered: Trigger
// (any change to pods, config maps or secrets) and a periodic resync only
// wake it; each pass reads the assigned pods and what the runtime holds,
// and converges. Each pod has a worker goroutine, so a slow pull or a long
// grace period holds up only its own pod. Statuses are written in batches,
// and only when they changed.
//
// Set the fields, then call Run once. Nothing the Reconciler keeps in
// memory is needed after a restart: containers are adopted from
// Runtime.List and networks from PodNetwork.
type Reconciler struct {
	Runtime Runtime
	Network PodNetwork
	Pods    PodSource
	Status  state.Writer
	Events  EventRecorder // optional
	Clock   clock.Clock
	Logger  *slog.Logger
	// Trigger says pods changed: workers whose pod changed sync. Resync
	// says something pods read changed (config maps, secrets, the node):
	// every worker syncs. Each Interval (default 10 s) every worker syncs
	// as well.
	Trigger  <-chan struct{}
	Resync   <-chan struct{}
	Interval time.Duration
	// Dir holds each pod's volumes and generated files, Dir/<uid>.
	Dir    string
	HostIP string
	DNS    DNSConfig
	// BackoffBase is the first crash-loop delay, doubled per quick exit
	// up to BackoffMax; defaults 10 s and 5 min, as in Kubernetes.
	BackoffBase, BackoffMax time.Duration
	// StatusBatch is how long status changes gather before one write;
	// default 100 ms.
	StatusBatch time.Duration
	// LogMaxBytes rotates a container's log file past this size; default
	// 10 MiB.
	LogMaxBytes int64

	prober *Prober
	status *statusBatcher
	wake   chan struct{}

	mu      sync.Mutex
	workers map[string]*podWorker // by pod UID
	probes  map[string][]ProbeSpec
	wg      sync.WaitGroup
}

func (r *Reconciler) setDefaults() {
	if r.Interval == 0 {
		r.Interval = 10 * time.Second
	}
	if r.BackoffBase == 0 {
		r.BackoffBase = 10 * time.Second
	}
	if r.BackoffMax == 0 {
		r.BackoffMax = 5 * time.Minute
	}
	if r.StatusBatch == 0 {
		r.StatusBatch = 100 * time.Millisecond
	}
	if r.LogMaxBytes == 0 {
		r.LogMaxBytes = 10 << 20
	}
	if r.Logger == nil {
		r.Logger = slog.Default()
	}
	if r.DNS.ClusterDomain == "" {
		r.DNS.ClusterDomain = "cluster.local"
	}
}

// Run reconciles until ctx ends. It leaves containers running when it
// returns: stopping the agent is not stopping the pods.
func (r *Reconciler) Run(ctx context.Context) {
	r.setDefaults()
	r.wake = make(chan struct{}, 1)
	r.workers = map[string]*podWorker{}
	r.probes = map[string][]ProbeSpec{}
	r.prober = NewProber(r.Clock, r.poke)
	r.status = newStatusBatcher(r)
	if n, ok := r.Runtime.(ExitNotifier); ok {
		n.OnExit(func(string) { r.poke() })
		defer n.OnExit(nil)
	}
	defer r.prober.Stop()
	r.wg.Add(1)
	go func() { defer r.wg.Done(); r.status.run(ctx) }()
	defer r.wg.Wait()

	t := r.Clock.NewTicker(r.Interval)
	defer t.Stop()
	for force := true; ; {
		r.pass(ctx, force)
		select {
		case <-ctx.Done():
			return
		case <-t.C():
			force = true
		case <-r.Resync:
			force = true
		case <-r.wake:
			force = true
		case <-r.Trigger:
			force = false
		}
	}
}

// poke asks for a pass soon; it never blocks.
func (r *Reconciler) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// pass hands every assigned pod to its worker and starts a cleanup worker
// for each pod that has containers or a network here but is no longer
// assigned (deleted, moved while this node was away). Unless forced, only
// workers whose pod changed are woken.
func (r *Reconciler) pass(ctx context.Context, force bool) {
	assigned := map[string]*api.Pod{}
	for _, p := range r.Pods.AssignedPods() {
		if p.UID != "" {
			assigned[p.UID] = p
		}
	}
	present := map[string]bool{}
	if cs, err := r.Runtime.List(ctx); err != nil {
		if ctx.Err() != nil {
			return
		}
		r.Logger.Warn("listing containers; will retry", "err", err)
	} else {
		for _, c := range cs {
			present[c.PodUID] = true
		}
	}
	if uids, err := r.Network.List(ctx); err != nil {
		r.Logger.Warn("listing pod networks; will retry", "err", err)
	} else {
		for _, u := range uids {
			present[u] = true
		}
	}
	if entries, err := os.ReadDir(r.Dir); err == nil {
		for _, e := range entries {
			if e.IsDir() {
				present[e.Name()] = true
			}
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for uid, p := range assigned {
		r.workerLocked(ctx, uid).update(p, force)
	}
	for uid := range present {
		if assigned[uid] == nil {
			r.workerLocked(ctx, uid).update(nil, true)
		}
	}
}

// workerLocked returns the worker of uid, starting one if needed.
func (r *Reconciler) workerLocked(ctx context.Context, uid string) *podWorker {
	w := r.workers[uid]
	if w == nil {
		w = &podWorker{r: r, uid: uid, wake: make(chan struct{}, 1)}
		r.workers[uid] = w
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			w.run(ctx)
			r.mu.Lock()
			delete(r.workers, uid)
			delete(r.probes, uid)
			r.mu.Unlock()
			r.syncProbes()
		}()
	}
	return w
}

// setProbes records the probes pod uid wants and updates the prober.
func (r *Reconciler) setProbes(uid string, specs []ProbeSpec) {
	r.mu.Lock()
	r.probes[uid] = specs
	r.mu.Unlock()
	r.syncProbes()
}

func (r *Reconciler) syncProbes() {
	r.mu.Lock()
	var all []ProbeSpec
	for _, s := range r.probes {
		all = append(all, s...)
	}
	r.mu.Unlock()
	r.prober.Sync(all)
}

// podDir is where pod uid's volumes and generated files live.
func (r *Reconciler) podDir(uid string) string { return filepath.Join(r.Dir, uid) }
