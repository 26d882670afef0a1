package runtime

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/shoal-dev/shoal/api"
)

// podWorker converges one pod. Its goroutine runs while the pod is
// assigned here and until its containers, network and files are gone once
// it is not. Only that goroutine calls sync and terminate.
type podWorker struct {
	r    *Reconciler
	uid  string
	wake chan struct{}

	mu  sync.Mutex
	pod *api.Pod // the newest pod; nil once it is no longer assigned here

	// pulls remembers image pull failures by image, for ImagePullBackOff.
	// It is the only state a restart forgets, and forgetting it only
	// retries a pull sooner.
	pulls map[string]pullFailure
}

type pullFailure struct {
	at    time.Time
	delay time.Duration
	err   error
}

// update hands the worker the newest pod (nil: not assigned here) and wakes
// it if the pod changed or force is set.
func (w *podWorker) update(p *api.Pod, force bool) {
	w.mu.Lock()
	changed := p == nil || w.pod == nil || p.ResourceVersion != w.pod.ResourceVersion
	w.pod = p
	w.mu.Unlock()
	if !changed && !force {
		return
	}
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *podWorker) current() *api.Pod {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pod
}

// run syncs the pod each time it is woken, or when a crash-loop delay
// expires, and returns once the pod is gone and cleaned up.
func (w *podWorker) run(ctx context.Context) {
	var timer <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.wake:
		case <-timer:
		}
		timer = nil
		pod := w.current()
		if pod == nil {
			if err := w.terminate(ctx); err != nil && ctx.Err() == nil {
				w.r.Logger.Warn("cleaning up a pod that is no longer here; will retry", "uid", w.uid, "err", err)
				timer = w.r.Clock.After(2 * time.Second)
				continue
			}
			return
		}
		if d := w.sync(ctx, pod); d > 0 {
			timer = w.r.Clock.After(d)
		}
	}
}

// list returns this pod's containers by name, oldest attempt first.
func (w *podWorker) list(ctx context.Context) (map[string][]ContainerStatus, error) {
	var all []ContainerStatus
	var err error
	if pl, ok := w.r.Runtime.(PodLister); ok {
		all, err = pl.ListPod(ctx, w.uid)
	} else {
		all, err = w.r.Runtime.List(ctx)
	}
	if err != nil {
		return nil, err
	}
	out := map[string][]ContainerStatus{}
	for _, c := range all {
		if c.PodUID != w.uid {
			continue
		}
		if c.State == StateUnknown {
			// Started, but its process is gone without a trace (the node
			// rebooted, its shim died): it ended, and runs again as its
			// restart policy says.
			c.State, c.ExitCode = StateExited, 137
		}
		out[c.Name] = append(out[c.Name], c)
	}
	for _, cs := range out {
		sort.Slice(cs, func(i, j int) bool { return cs[i].Attempt < cs[j].Attempt })
	}
	return out, nil
}

// sync makes one pass over pod and reports its status. It returns when it
// wants to run again on its own (a crash-loop delay, a retry), or 0.
func (w *podWorker) sync(ctx context.Context, pod *api.Pod) time.Duration {
	r := w.r
	containers, err := w.list(ctx)
	if err != nil {
		if ctx.Err() == nil {
			r.Logger.Warn("listing containers; will retry", "pod", podKey(pod), "err", err)
		}
		return 2 * time.Second
	}
	v := &podView{pod: pod, now: r.Clock.Now(), containers: containers, probe: r.prober.Result, probed: r.prober.Probed,
		backoffBase: r.BackoffBase, backoffMax: r.BackoffMax, waiting: map[string]*api.ContainerStateWaiting{}}
	retry := time.Duration(0)
	soon := func(d time.Duration) {
		if retry == 0 || d < retry {
			retry = d
		}
	}
	var reason, message, podIP string

	netStatus, err := r.Network.Setup(ctx, PodNetSpec{UID: pod.UID, Namespace: pod.Namespace, Name: pod.Name, Ports: portMappings(pod)})
	if err != nil {
		reason, message = "NetworkNotReady", err.Error()
		v.waiting[""] = &api.ContainerStateWaiting{Reason: "ContainerCreating", Message: "waiting for the pod network: " + err.Error()}
		soon(2 * time.Second)
	} else {
		podIP = netStatus.IP.String()
		if err := w.writeFiles(pod, podIP, netStatus.Gateway); err != nil {
			v.waiting[""] = configError(err)
			soon(2 * time.Second)
		}
	}

	p := v.plan()
	if v.waiting[""] == nil && !(pod.Status.Phase == api.PodSucceeded || pod.Status.Phase == api.PodFailed) {
		for _, s := range p.start {
			if d := w.start(ctx, v, pod, s, netStatus.NetNSPath, podIP); d > 0 {
				soon(d)
			}
		}
	}
	for _, k := range p.kill {
		w.kill(ctx, pod, k)
	}
	if p.wakeIn > 0 {
		soon(p.wakeIn)
	}
	if len(p.start) > 0 || len(p.kill) > 0 {
		// What was done shows in the next pass's status; run it now.
		soon(time.Millisecond)
	}
	r.setProbes(pod.UID, v.probeSpecs(containers, podIP, r.Runtime))
	r.status.set(pod, v.podStatus(p, podIP, r.HostIP, reason, message))
	w.gcAttempts(ctx, containers)
	return retry
}

// start creates and starts one attempt of a container; it returns a retry
// delay when that failed.
func (w *podWorker) start(ctx context.Context, v *podView, pod *api.Pod, s startStep, netns, podIP string) time.Duration {
	r := w.r
	c := s.c
	id := s.existing
	if id == "" {
		if d, err := w.ensureImage(ctx, pod, c); err != nil {
			v.waiting[c.Name] = pullWaiting(c, err, d > 0 && w.pulls[c.Image].delay > 0)
			return d
		}
		spec, err := w.containerSpec(pod, c, s, netns, podIP)
		if err != nil {
			v.waiting[c.Name] = configError(err)
			w.event(pod, "Warning", "Failed", err.Error())
			return 2 * time.Second
		}
		id, err = r.Runtime.Create(ctx, spec)
		if err != nil && !errors.Is(err, ErrAlreadyExists) {
			v.waiting[c.Name] = &api.ContainerStateWaiting{Reason: "CreateContainerError", Message: err.Error()}
			w.event(pod, "Warning", "Failed", err.Error())
			return 2 * time.Second
		}
	}
	if err := r.Runtime.Start(ctx, id); err != nil {
		v.waiting[c.Name] = &api.ContainerStateWaiting{Reason: "RunContainerError", Message: err.Error()}
		w.event(pod, "Warning", "Failed", fmt.Sprintf("starting container %s: %v", c.Name, err))
		// A container that cannot start is removed, so the next pass
		// creates it afresh.
		if rerr := r.Runtime.Remove(ctx, id); rerr != nil {
			r.Logger.Warn("removing a container that failed to start", "pod", podKey(pod), "container", c.Name, "err", rerr)
		}
		return 2 * time.Second
	}
	w.event(pod, "Normal", "Started", fmt.Sprintf("Started container %s", c.Name))
	return 0
}

// ensureImage puts c's image in place as its pull policy says, backing
// off after failures. It returns the time to wait before trying again.
func (w *podWorker) ensureImage(ctx context.Context, pod *api.Pod, c *api.Container) (time.Duration, error) {
	now := w.r.Clock.Now()
	if f, ok := w.pulls[c.Image]; ok && now.Before(f.at.Add(f.delay)) {
		return f.at.Add(f.delay).Sub(now), f.err
	}
	err := w.r.Runtime.EnsureImage(ctx, c.Image, c.ImagePullPolicy)
	if err == nil {
		delete(w.pulls, c.Image)
		return 0, nil
	}
	if w.pulls == nil {
		w.pulls = map[string]pullFailure{}
	}
	f := w.pulls[c.Image]
	f.delay = min(max(2*f.delay, w.r.BackoffBase), w.r.BackoffMax)
	f.at, f.err = now, err
	w.pulls[c.Image] = f
	w.event(pod, "Warning", "Failed", fmt.Sprintf("Failed to pull image %q: %v", c.Image, err))
	return f.delay, err
}

// pullWaiting is the waiting state of a container whose image is missing.
func pullWaiting(c *api.Container, err error, backingOff bool) *api.ContainerStateWaiting {
	reason := "ErrImagePull"
	if errors.Is(err, ErrImageNotPresent) {
		reason = "ErrImageNeverPull"
	} else if backingOff {
		reason = "ImagePullBackOff"
	}
	return &api.ContainerStateWaiting{Reason: reason, Message: err.Error()}
}

func configError(err error) *api.ContainerStateWaiting {
	return &api.ContainerStateWaiting{Reason: "CreateContainerConfigError", Message: err.Error()}
}

// kill stops a container, waiting out the pod's grace period at most; only
// this pod's worker waits.
func (w *podWorker) kill(ctx context.Context, pod *api.Pod, k killStep) {
	w.event(pod, "Normal", "Killing", k.message)
	if k.reason == "Unhealthy" {
		w.event(pod, "Warning", "Unhealthy", k.message)
	}
	if err := w.r.Runtime.Stop(ctx, k.id, graceOf(pod)); err != nil {
		w.r.Logger.Warn("stopping a container", "pod", podKey(pod), "container", k.name, "err", err)
	}
}

// gcAttempts removes exited attempts older than the one before the newest:
// the newest and the previous one stay, for status and `logs --previous`.
func (w *podWorker) gcAttempts(ctx context.Context, containers map[string][]ContainerStatus) {
	for _, hist := range containers {
		for i := 0; i+2 < len(hist); i++ {
			if hist[i].State == StateExited {
				if err := w.r.Runtime.Remove(ctx, hist[i].ID); err != nil {
					w.r.Logger.Warn("removing an old container attempt", "id", hist[i].ID, "err", err)
				}
				os.Remove(w.r.Runtime.LogPath(hist[i].ID))
			}
		}
		if n := len(hist); n > 0 {
			if _, err := RotateLog(w.r.Runtime.LogPath(hist[n-1].ID), w.r.LogMaxBytes); err != nil && !errors.Is(err, os.ErrNotExist) {
				w.r.Logger.Debug("rotating a container log", "id", hist[n-1].ID, "err", err)
			}
		}
	}
}

// terminate stops and removes everything of a pod that is no longer here:
// app containers first, then init containers and sidecars, each with the
// grace period its pod gave it; then the network and the pod's files.
func (w *podWorker) terminate(ctx context.Context) error {
	r := w.r
	containers, err := w.list(ctx)
	if err != nil {
		return err
	}
	var apps, inits []ContainerStatus
	for _, hist := range containers {
		for _, c := range hist {
			if c.Labels[labelInit] == "true" {
				inits = append(inits, c)
			} else {
				apps = append(apps, c)
			}
		}
	}
	for _, group := range [][]ContainerStatus{apps, inits} {
		var wg sync.WaitGroup
		errs := make([]error, len(group))
		for i, c := range group {
			wg.Add(1)
			go func() {
				defer wg.Done()
				grace := 30 * time.Second
				if s, err := strconv.ParseInt(c.Labels[labelGrace], 10, 64); err == nil {
					grace = time.Duration(s) * time.Second
				}
				if err := r.Runtime.Stop(ctx, c.ID, grace); err != nil {
					errs[i] = err
					return
				}
				errs[i] = r.Runtime.Remove(ctx, c.ID)
				os.Remove(r.Runtime.LogPath(c.ID))
				os.Remove(r.Runtime.LogPath(c.ID) + ".1")
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return err
		}
	}
	if err := r.Network.Teardown(ctx, w.uid); err != nil {
		return err
	}
	if err := removePodDir(r.podDir(w.uid)); err != nil {
		return err
	}
	r.status.forget(w.uid)
	r.Logger.Info("pod stopped and removed", "uid", w.uid, "containers", len(apps)+len(inits))
	return nil
}

func (w *podWorker) event(pod *api.Pod, typ, reason, msg string) {
	if w.r.Events != nil {
		w.r.Events.RecordPodEvent(pod, typ, reason, msg)
	}
}

// graceOf is the pod's termination grace period.
func graceOf(pod *api.Pod) time.Duration {
	if g := pod.Spec.TerminationGracePeriodSeconds; g != nil {
		return time.Duration(*g) * time.Second
	}
	return 30 * time.Second
}

// portMappings are the pod's hostPorts.
func portMappings(pod *api.Pod) []PortMapping {
	var out []PortMapping
	for _, cs := range [][]api.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range cs {
			for _, p := range c.Ports {
				if p.HostPort == 0 {
					continue
				}
				proto := strings.ToLower(string(p.Protocol))
				if proto == "" {
					proto = "tcp"
				}
				out = append(out, PortMapping{HostPort: p.HostPort, ContainerPort: p.ContainerPort, Protocol: proto})
			}
		}
	}
	return out
}

func podKey(pod *api.Pod) string { return pod.Namespace + "/" + pod.Name }
