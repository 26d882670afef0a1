package runtime

import (
	"fmt"
	"strconv"
	"time"

	"github.com/shoal-dev/shoal/api"
)

// Labels the reconciler keeps on its containers (ContainerSpec.Labels), so
// that what it decides next can be rebuilt from Runtime.List alone.
const (
	// labelRestartDelay is the crash-loop delay waited before this attempt
	// was created, in milliseconds; the next delay doubles it.
	labelRestartDelay = "shoal.dev/restart-delay-ms"
	// labelGrace is the pod's termination grace period in seconds, so a
	// container whose pod is gone is still stopped as gently as it asked.
	labelGrace = "shoal.dev/grace-seconds"
	// labelInit marks init containers (sidecars included).
	labelInit = "shoal.dev/init"
)

// backoffResetAfter is how long a container must run for its crash-loop
// delay to start over.
const backoffResetAfter = 10 * time.Minute

// podView is everything the plan of one pod is computed from.
type podView struct {
	pod *api.Pod
	now time.Time
	// containers holds the pod's containers by name, oldest attempt first.
	containers map[string][]ContainerStatus
	// probe reports a probe worker's result (see Prober.Result).
	probe func(id string, kind ProbeKind) (ok, known bool)
	// probed reports whether a probe worker has run (see Prober.Probed);
	// nil counts as yes.
	probed                  func(id string, kind ProbeKind) bool
	backoffBase, backoffMax time.Duration
	// waiting, when set, is why containers not yet created cannot be
	// (a missing config map, an image pull failure), by container name;
	// the empty name applies to every container.
	waiting map[string]*api.ContainerStateWaiting
}

// startStep creates and starts one attempt of a container.
type startStep struct {
	c       *api.Container
	init    bool
	attempt uint32
	delay   time.Duration // the crash-loop delay that preceded it
	// existing is the ID of a created but never started container, which
	// is started instead of creating a new attempt.
	existing string
}

// killStep stops a running container.
type killStep struct {
	id, name, reason, message string
}

// podPlan is what a pass does for one pod.
type podPlan struct {
	start  []startStep
	kill   []killStep
	wakeIn time.Duration // the earliest crash-loop delay to expire; 0 for none
	// phase is where the pod stands after the pass; done means it will
	// not run anything again (Succeeded or Failed).
	phase       api.PodPhase
	done        bool
	initialized bool
}

func (v *podView) latest(name string) *ContainerStatus {
	cs := v.containers[name]
	if len(cs) == 0 {
		return nil
	}
	return &cs[len(cs)-1]
}

// started says whether a running container has passed its startup probe.
func (v *podView) started(c *api.Container, st *ContainerStatus) bool {
	if st == nil || st.State != StateRunning {
		return false
	}
	if c.StartupProbe == nil {
		return true
	}
	ok, known := v.probe(st.ID, ProbeStartup)
	return known && ok
}

// ready says whether a container counts as ready.
func (v *podView) ready(c *api.Container, st *ContainerStatus) bool {
	if !v.started(c, st) {
		return false
	}
	if c.ReadinessProbe == nil {
		return true
	}
	if v.probed != nil && !v.probed(st.ID, ProbeReadiness) {
		// Not probed yet: after an agent restart the container it adopted
		// stays as Ready as the replica says it was, until its probe runs,
		// so that a restart does not take it out of its Services.
		return v.wasReady(c.Name, st.ID)
	}
	ok, known := v.probe(st.ID, ProbeReadiness)
	return known && ok
}

// wasReady reports whether the pod's stored status has container name,
// with the runtime ID id, Ready.
func (v *podView) wasReady(name, id string) bool {
	for _, cs := range v.pod.Status.ContainerStatuses {
		if cs.Name == name {
			return cs.Ready && cs.ContainerID == containerIDPrefix+id
		}
	}
	return false
}

// restartDelay is how long after st exited its next attempt may start:
// nothing the first time, then BackoffBase doubling up to BackoffMax, and
// nothing again once an attempt ran for backoffResetAfter.
func (v *podView) restartDelay(st *ContainerStatus) time.Duration {
	if !st.StartedAt.IsZero() && st.FinishedAt.Sub(st.StartedAt) >= backoffResetAfter {
		return 0
	}
	prev, _ := strconv.ParseInt(st.Labels[labelRestartDelay], 10, 64)
	switch d := time.Duration(prev) * time.Millisecond; {
	case st.Attempt == 0:
		return 0
	case d == 0:
		return v.backoffBase
	default:
		return min(2*d, v.backoffMax)
	}
}

// restartable says whether an exited container runs again under policy.
func restartable(policy api.RestartPolicy, exit int32) bool {
	switch policy {
	case api.RestartPolicyNever:
		return false
	case api.RestartPolicyOnFailure:
		return exit != 0
	}
	return true
}

// plan decides the steps of one pass for v.pod. It is pure: it reads only
// v, so a restarted agent decides the same from the same containers.
func (v *podView) plan() podPlan {
	var p podPlan
	pod := v.pod
	if pod.Status.Phase == api.PodSucceeded || pod.Status.Phase == api.PodFailed {
		p.phase, p.done, p.initialized = pod.Status.Phase, true, true
		p.killRunningSidecars(v)
		return p
	}
	p.initialized = true
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		st := v.latest(c.Name)
		if c.IsSidecar() {
			if v.keepRunning(&p, c, true, st) && v.started(c, st) {
				continue
			}
			p.initialized = false
			break
		}
		if st != nil && st.State == StateExited && st.ExitCode == 0 {
			continue
		}
		p.initialized = false
		switch {
		case st == nil || st.State == StateCreated:
			v.startNext(&p, c, true, st)
		case st.State == StateExited && pod.Spec.RestartPolicy == api.RestartPolicyNever:
			p.phase, p.done = api.PodFailed, true
			return p
		case st.State == StateExited:
			v.restartAfterDelay(&p, c, true, st)
		}
		break
	}
	if !p.initialized {
		p.phase = api.PodPending
		return p
	}

	running, finished, failed := 0, 0, 0
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		st := v.latest(c.Name)
		if v.keepRunning(&p, c, false, st) {
			running++
			continue
		}
		finished++
		if st.ExitCode != 0 {
			failed++
		}
	}
	switch {
	case finished == len(pod.Spec.Containers) && failed > 0:
		p.phase, p.done = api.PodFailed, true
	case finished == len(pod.Spec.Containers):
		p.phase, p.done = api.PodSucceeded, true
	case v.allCreated():
		p.phase = api.PodRunning
	default:
		p.phase = api.PodPending
	}
	if p.done {
		p.killRunningSidecars(v)
	}
	return p
}

// keepRunning plans what container c needs to run (start, restart, kill
// on a failed liveness probe) and reports false only when it has finished
// for good under the pod's restart policy. Sidecars always restart.
func (v *podView) keepRunning(p *podPlan, c *api.Container, init bool, st *ContainerStatus) bool {
	switch {
	case st == nil || st.State == StateCreated:
		v.startNext(p, c, init, st)
		return true
	case st.State == StateRunning:
		v.checkLiveness(p, c, st)
		return true
	}
	policy := v.pod.Spec.RestartPolicy
	if init {
		policy = api.RestartPolicyAlways
	}
	if !restartable(policy, st.ExitCode) {
		return false
	}
	v.restartAfterDelay(p, c, init, st)
	return true
}

// checkLiveness plans a kill of a container whose liveness or startup
// probe has failed.
func (v *podView) checkLiveness(p *podPlan, c *api.Container, st *ContainerStatus) {
	if c.StartupProbe != nil {
		if ok, known := v.probe(st.ID, ProbeStartup); known && !ok {
			p.kill = append(p.kill, killStep{id: st.ID, name: c.Name, reason: "Unhealthy",
				message: fmt.Sprintf("container %s failed its startup probe and will be restarted", c.Name)})
			return
		} else if !known || !ok {
			return
		}
	}
	if c.LivenessProbe != nil {
		if ok, known := v.probe(st.ID, ProbeLiveness); known && !ok {
			p.kill = append(p.kill, killStep{id: st.ID, name: c.Name, reason: "Unhealthy",
				message: fmt.Sprintf("container %s failed its liveness probe and will be restarted", c.Name)})
		}
	}
}

func (v *podView) startNext(p *podPlan, c *api.Container, init bool, st *ContainerStatus) {
	s := startStep{c: c, init: init}
	if st != nil {
		s.attempt, s.existing = st.Attempt, st.ID
		s.delay = time.Duration(parseMillis(st.Labels[labelRestartDelay]))
	}
	p.start = append(p.start, s)
}

// restartAfterDelay plans the next attempt of an exited container once its
// crash-loop delay has passed, and a wake-up for then otherwise.
func (v *podView) restartAfterDelay(p *podPlan, c *api.Container, init bool, st *ContainerStatus) {
	d := v.restartDelay(st)
	if wait := st.FinishedAt.Add(d).Sub(v.now); wait > 0 {
		if p.wakeIn == 0 || wait < p.wakeIn {
			p.wakeIn = wait
		}
		return
	}
	p.start = append(p.start, startStep{c: c, init: init, attempt: st.Attempt + 1, delay: d})
}

// backingOff says whether an exited container is waiting out its delay.
func (v *podView) backingOff(st *ContainerStatus) bool {
	return st != nil && st.State == StateExited && st.FinishedAt.Add(v.restartDelay(st)).After(v.now)
}

func (v *podView) allCreated() bool {
	for _, c := range v.pod.Spec.Containers {
		if st := v.latest(c.Name); st == nil || st.State == StateCreated {
			return false
		}
	}
	return true
}

// killRunningSidecars plans stopping sidecars once the pod has finished.
func (p *podPlan) killRunningSidecars(v *podView) {
	p.start = nil
	for _, c := range v.pod.Spec.InitContainers {
		if st := v.latest(c.Name); c.IsSidecar() && st != nil && st.State == StateRunning {
			p.kill = append(p.kill, killStep{id: st.ID, name: c.Name, reason: "Killing",
				message: fmt.Sprintf("stopping sidecar %s: the pod has finished", c.Name)})
		}
	}
}

func parseMillis(s string) time.Duration {
	n, _ := strconv.ParseInt(s, 10, 64)
	return time.Duration(n) * time.Millisecond
}
