package runtime

import (
	"context"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/clock"
)

// ProbeKind says what a probe decides about its container.
type ProbeKind string

const (
	// ProbeLiveness: once it fails, the container must be restarted.
	ProbeLiveness ProbeKind = "liveness"
	// ProbeReadiness: the container is Ready while it passes.
	ProbeReadiness ProbeKind = "readiness"
	// ProbeStartup: until it passes, the container's liveness and
	// readiness probes do not run; once it fails, the container must be
	// restarted.
	ProbeStartup ProbeKind = "startup"
)

// ProbeSpec asks for one probe worker: probe Kind of container
// ContainerID, checked as Probe says against Target.
type ProbeSpec struct {
	ContainerID string
	Kind        ProbeKind
	Probe       *api.Probe
	Target      ProbeTarget
}

// probeKey names a worker.
type probeKey struct {
	containerID string
	kind        ProbeKind
}

// Prober runs one worker goroutine per (container, probe kind) and keeps
// each worker's current result, as the kubelet's prober manager does. The
// reconciler owns the Prober: each pass it calls Sync with the probes of
// the containers that run now, and reads Result and Failed to set
// readiness and to restart containers. The Prober owns its workers and
// their goroutines; Stop ends them all.
//
// A worker waits initialDelaySeconds from when Sync first asked for it,
// then probes every periodSeconds (10 when unset), each run bounded by
// timeoutSeconds (1 when unset). Its result turns to failure only after
// failureThreshold (3) failures in a row and to success only after
// successThreshold (1; always 1 for liveness and startup) successes in a
// row. Results start as: readiness not ready, liveness alive, startup
// unknown. A liveness or startup worker that reaches failureThreshold
// stops probing and keeps its failure until Sync removes it: the
// container is to be restarted, and the new one has a new ID. A startup
// worker stops probing once it passes. While a container has a startup
// worker that has not passed, its liveness and readiness workers skip
// their runs and keep their initial results.
//
// Every wait goes through the injected clock; the probes themselves do
// real I/O with real timeouts. All methods are safe for concurrent use.
type Prober struct {
	clk      clock.Clock
	onChange func()

	mu      sync.Mutex
	workers map[probeKey]*probeWorker
	stopped bool

	wg      sync.WaitGroup // worker goroutines still running
	running atomic.Int32   // the same count, for tests to read
}

// probeWorker is one probe of one container. Its fixed fields are set
// before its goroutine starts; the rest is guarded by Prober.mu.
type probeWorker struct {
	key    probeKey
	probe  *api.Probe // a private copy; never changed
	start  time.Time  // when Sync first asked for it
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{} // closed when the goroutine has returned

	target  ProbeTarget
	ok      bool   // the current result
	known   bool   // false until a startup probe decides
	failed  bool   // liveness or startup reached failureThreshold
	message string // what the last run said
	last    int8   // the last run: 0 none yet, +1 passed, -1 failed
	streak  int    // runs in a row that ended as last
}

// NewProber returns a Prober whose waits go through clk (the wall clock
// when nil). onChange, when not nil, is called whenever a result changes,
// including when a liveness or startup probe reaches failureThreshold. It
// is called from worker goroutines, perhaps several at once, with no lock
// held: it should be quick, such as marking the reconciler dirty. It may
// call Result, Failed and Sync, but not Stop, which waits for the worker
// that is calling it.
func NewProber(clk clock.Clock, onChange func()) *Prober {
	if clk == nil {
		clk = clock.Real{}
	}
	return &Prober{clk: clk, onChange: onChange, workers: map[probeKey]*probeWorker{}}
}

// Sync makes the running workers exactly want, keyed by (ContainerID,
// Kind): it starts the workers that are new, stops those that are no
// longer wanted, and restarts, with fresh results, those whose Probe
// changed. A worker whose Probe is unchanged keeps its results and its
// schedule and uses the new Target from its next run on. Specs with a nil
// Probe or an unknown Kind are ignored; when want names a key twice, the
// last one counts. Sync copies what it keeps, so the caller may reuse
// want. It does not wait for stopped workers to return. Sync is
// idempotent; after Stop it does nothing.
func (p *Prober) Sync(want []ProbeSpec) {
	wanted := make(map[probeKey]ProbeSpec, len(want))
	for _, s := range want {
		switch s.Kind {
		case ProbeLiveness, ProbeReadiness, ProbeStartup:
		default:
			continue
		}
		if s.Probe != nil {
			wanted[probeKey{s.ContainerID, s.Kind}] = s
		}
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return
	}
	for k, w := range p.workers {
		if s, ok := wanted[k]; ok && reflect.DeepEqual(w.probe, s.Probe) {
			w.target = cloneTarget(s.Target)
			continue
		}
		w.cancel()
		delete(p.workers, k)
	}
	now := p.clk.Now()
	for k, s := range wanted {
		if _, ok := p.workers[k]; ok {
			continue
		}
		ctx, cancel := context.WithCancel(context.Background())
		w := &probeWorker{
			key:    k,
			probe:  cloneProbe(s.Probe),
			start:  now,
			ctx:    ctx,
			cancel: cancel,
			done:   make(chan struct{}),
			target: cloneTarget(s.Target),
			ok:     k.kind == ProbeLiveness,
			known:  k.kind != ProbeStartup,
		}
		p.workers[k] = w
		p.wg.Add(1)
		p.running.Add(1)
		go p.run(w)
	}
}

// Result reports the current result of the worker for (containerID,
// kind). known is false when no such worker runs, and, for a startup
// probe, until it has passed or reached failureThreshold. A readiness
// worker is known from the start, as not ready, and a liveness worker as
// alive.
func (p *Prober) Result(containerID string, kind ProbeKind) (ok, known bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	w := p.workers[probeKey{containerID, kind}]
	if w == nil {
		return false, false
	}
	return w.ok, w.known
}

// Probed reports whether the worker for (containerID, kind) has finished a
// run. Until then a readiness result is only the initial one, which says
// nothing about a container that was running before this Prober.
func (p *Prober) Probed(containerID string, kind ProbeKind) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	w := p.workers[probeKey{containerID, kind}]
	return w != nil && w.last != 0
}

// Failed reports whether the liveness or startup worker for (containerID,
// kind) has reached failureThreshold, in which case the container must be
// killed and restarted. message is what the last run said, such as
// "HTTP probe failed with statuscode: 500", for an event or the
// container's status. A readiness worker never reports Failed: failing
// readiness only makes the container not Ready (see Result).
func (p *Prober) Failed(containerID string, kind ProbeKind) (failed bool, message string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	w := p.workers[probeKey{containerID, kind}]
	if w == nil || !w.failed {
		return false, ""
	}
	return true, w.message
}

// Stop stops every worker and returns once their goroutines have
// returned. Afterwards Result knows nothing and Sync does nothing. Stop is
// idempotent.
func (p *Prober) Stop() {
	p.mu.Lock()
	p.stopped = true
	for k, w := range p.workers {
		w.cancel()
		delete(p.workers, k)
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// run is a worker's goroutine. Its schedule is fixed from w.start, so a
// goroutine that starts late, or a probe that runs long, skips runs rather
// than shifting the ones after.
func (p *Prober) run(w *probeWorker) {
	defer func() {
		p.running.Add(-1)
		close(w.done)
		p.wg.Done()
	}()
	period := probePeriod(w.probe)
	next := w.start.Add(time.Duration(max(w.probe.InitialDelaySeconds, 0)) * time.Second)
	for {
		if d := next.Sub(p.clk.Now()); d > 0 {
			select {
			case <-w.ctx.Done():
				return
			case <-p.clk.After(d):
			}
		}
		if w.ctx.Err() != nil || !p.probeOnce(w) {
			return
		}
		if now := p.clk.Now(); !next.After(now) {
			next = next.Add((now.Sub(next)/period + 1) * period)
		}
	}
}

// probeOnce runs w's probe once, unless a startup probe holds it back, and
// records the outcome. It reports whether w should keep probing.
func (p *Prober) probeOnce(w *probeWorker) (again bool) {
	p.mu.Lock()
	if w.key.kind != ProbeStartup {
		if s := p.workers[probeKey{w.key.containerID, ProbeStartup}]; s != nil && !(s.known && s.ok) {
			p.mu.Unlock()
			return true
		}
	}
	target := w.target
	p.mu.Unlock()

	pass, msg := runProbe(w.ctx, w.probe, target)
	if w.ctx.Err() != nil {
		return false // removed while probing: nobody reads this worker any more
	}

	p.mu.Lock()
	first := w.last == 0
	changed, again := w.record(pass, msg)
	p.mu.Unlock()
	// The first run also changes what Probed says.
	changed = changed || first && w.key.kind == ProbeReadiness
	if changed && p.onChange != nil {
		p.onChange()
	}
	return again
}

// record applies one run's outcome and reports whether the result changed
// and whether w should keep probing. The caller holds Prober.mu.
func (w *probeWorker) record(pass bool, msg string) (changed, again bool) {
	outcome := int8(-1)
	if pass {
		outcome = 1
	}
	if outcome == w.last {
		w.streak++
	} else {
		w.last, w.streak = outcome, 1
	}
	w.message = msg

	need := threshold(w.probe.FailureThreshold, defaultFailureThreshold)
	if pass {
		need = threshold(w.probe.SuccessThreshold, defaultSuccessThreshold)
		if w.key.kind != ProbeReadiness {
			need = 1
		}
	}
	if w.streak < need {
		return false, true
	}
	changed = w.ok != pass || !w.known
	w.ok, w.known = pass, true
	switch {
	case !pass && w.key.kind != ProbeReadiness:
		w.failed = true
		return changed, false
	case pass && w.key.kind == ProbeStartup:
		return changed, false
	}
	return changed, true
}

// probePeriod is the time between p's runs.
func probePeriod(p *api.Probe) time.Duration {
	if p.PeriodSeconds <= 0 {
		return defaultProbePeriod
	}
	return time.Duration(p.PeriodSeconds) * time.Second
}

// threshold is v, or def when v is unset.
func threshold(v int32, def int) int {
	if v <= 0 {
		return def
	}
	return int(v)
}

// cloneProbe copies p deeply, so a worker is immune to later changes of
// the caller's pod object.
func cloneProbe(p *api.Probe) *api.Probe {
	c := *p
	if p.Exec != nil {
		e := *p.Exec
		e.Command = slices.Clone(e.Command)
		c.Exec = &e
	}
	if p.HTTPGet != nil {
		h := *p.HTTPGet
		h.HTTPHeaders = slices.Clone(h.HTTPHeaders)
		c.HTTPGet = &h
	}
	if p.TCPSocket != nil {
		t := *p.TCPSocket
		c.TCPSocket = &t
	}
	return &c
}

// cloneTarget copies t's ports, for the same reason.
func cloneTarget(t ProbeTarget) ProbeTarget {
	t.Ports = slices.Clone(t.Ports)
	return t
}
