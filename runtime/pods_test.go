package runtime

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/clock"
	"github.com/shoal-dev/shoal/state"
)

// podState is an in-memory PodSource and StatusReporter: statuses
// reported are stored on its pods, as the cluster would.
type podState struct {
	mu      sync.Mutex
	pods    map[string]*api.Pod // by UID
	cms     map[string]*api.ConfigMap
	secrets map[string]*api.Secret
	reports int // Commit calls
	written int // statuses written
	rv      int
	changed chan struct{} // pods changed
	resync  chan struct{} // config maps or secrets changed
}

func newPodState() *podState {
	return &podState{pods: map[string]*api.Pod{}, cms: map[string]*api.ConfigMap{}, secrets: map[string]*api.Secret{}, changed: make(chan struct{}, 1), resync: make(chan struct{}, 1)}
}

func (s *podState) AssignedPods() []*api.Pod {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*api.Pod
	for _, p := range s.pods {
		out = append(out, api.Copy(p))
	}
	return out
}

func (s *podState) ConfigMap(ns, name string) (*api.ConfigMap, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.cms[ns+"/"+name]; ok {
		return c, nil
	}
	return nil, api.NewError(api.ReasonNotFound, "configmap %s not found", name)
}

func (s *podState) Secret(ns, name string) (*api.Secret, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.secrets[ns+"/"+name]; ok {
		return c, nil
	}
	return nil, api.NewError(api.ReasonNotFound, "secret %s not found", name)
}

// Commit takes the status reports of the reconciler (state.PutStatus) and
// refuses any other change.
func (s *podState) Commit(_ context.Context, changes []state.Change) error {
	for _, c := range changes {
		if c.Mode != state.PutStatus {
			return fmt.Errorf("podState: only status reports are written here, got %+v", c)
		}
	}
	s.mu.Lock()
	s.reports++
	for _, c := range changes {
		r := c.Put.(*api.Pod)
		if p, ok := s.pods[r.UID]; ok {
			p.Status = r.Status
			s.written++
			s.rv++
			p.ResourceVersion = strconv.Itoa(s.rv)
		}
	}
	s.mu.Unlock()
	s.poke()
	return nil
}

func (s *podState) poke() {
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

func (s *podState) add(p *api.Pod) {
	s.mu.Lock()
	s.rv++
	p.ResourceVersion = strconv.Itoa(s.rv)
	s.pods[p.UID] = p
	s.mu.Unlock()
	s.poke()
}

func (s *podState) remove(uid string) {
	s.mu.Lock()
	delete(s.pods, uid)
	s.mu.Unlock()
	s.poke()
}

func (s *podState) pod(uid string) *api.Pod {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.pods[uid]; ok {
		return api.Copy(p)
	}
	return nil
}

type podHarness struct {
	t      *testing.T
	clk    *clock.Fake
	rt     *Fake
	net    *FakeNetwork
	state  *podState
	dir    string
	cancel context.CancelFunc
	done   chan struct{}
}

func newPodHarness(t *testing.T) *podHarness {
	h := &podHarness{t: t, clk: clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)), state: newPodState(), dir: t.TempDir()}
	h.rt = NewFake(h.clk)
	h.rt.AddImage("img:1")
	h.net = NewFakeNetwork()
	h.net.SetPodCIDR(netip.MustParsePrefix("10.244.3.0/24"))
	h.start()
	return h
}

func (h *podHarness) start() {
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel, h.done = cancel, make(chan struct{})
	r := &Reconciler{Runtime: h.rt, Network: h.net, Pods: h.state, Status: h.state, Clock: h.clk,
		Trigger: h.state.changed, Resync: h.state.resync, Dir: h.dir, HostIP: "192.0.2.10", DNS: DNSConfig{Nameserver: "10.244.3.1"}}
	go func() { defer close(h.done); r.Run(ctx) }()
	h.t.Cleanup(h.stop)
}

// stop stops the reconciler, as an agent shutdown would.
func (h *podHarness) stop() {
	if h.cancel != nil {
		h.cancel()
		<-h.done
		h.cancel = nil
	}
}

// until advances the fake clock in small steps until cond holds.
func (h *podHarness) until(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting until %s", what)
		}
		h.clk.Advance(50 * time.Millisecond)
		time.Sleep(time.Millisecond)
	}
}

// container returns the newest attempt of a container of pod uid.
func (h *podHarness) container(uid, name string) *ContainerStatus {
	cs, _ := h.rt.List(context.Background())
	var out *ContainerStatus
	for i := range cs {
		if cs[i].PodUID == uid && cs[i].Name == name && (out == nil || cs[i].Attempt > out.Attempt) {
			out = &cs[i]
		}
	}
	return out
}

func (h *podHarness) phase(uid string) api.PodPhase {
	if p := h.state.pod(uid); p != nil {
		return p.Status.Phase
	}
	return ""
}

func testPod(uid string, containers ...api.Container) *api.Pod {
	p := &api.Pod{TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "Pod"}}
	p.Name, p.Namespace, p.UID = "pod-"+uid, "default", uid
	p.Spec.NodeName = "n1"
	p.Spec.Containers = containers
	api.SetDefaults(p)
	return p
}

func TestReconcilerRunsAPodAndReportsIt(t *testing.T) {
	h := newPodHarness(t)
	h.state.cms["default/cfg"] = &api.ConfigMap{Data: map[string]string{"greeting": "hello", "app.conf": "x=1"}}
	pod := testPod("u1", api.Container{Name: "app", Image: "img:1", Command: []string{"sh", "-c", "echo $(GREETING)"},
		Env: []api.EnvVar{
			{Name: "GREETING", ValueFrom: &api.EnvVarSource{ConfigMapKeyRef: &api.ConfigMapKeySelector{LocalObjectReference: api.LocalObjectReference{Name: "cfg"}, Key: "greeting"}}},
			{Name: "MY_IP", ValueFrom: &api.EnvVarSource{FieldRef: &api.ObjectFieldSelector{FieldPath: "status.podIP"}}},
			{Name: "BOTH", Value: "$(GREETING)-$(MISSING)"},
		},
		VolumeMounts: []api.VolumeMount{{Name: "conf", MountPath: "/conf"}, {Name: "scratch", MountPath: "/scratch"}},
		Resources:    api.ResourceRequirements{Limits: api.ResourceList{"cpu": api.MustParseQuantity("500m"), "memory": api.MustParseQuantity("64Mi")}},
	})
	pod.Spec.Volumes = []api.Volume{
		{Name: "conf", VolumeSource: api.VolumeSource{ConfigMap: &api.ConfigMapVolumeSource{LocalObjectReference: api.LocalObjectReference{Name: "cfg"}}}},
		{Name: "scratch", VolumeSource: api.VolumeSource{EmptyDir: &api.EmptyDirVolumeSource{}}},
	}
	h.state.add(pod)
	h.until("the pod is Running and Ready", func() bool {
		p := h.state.pod("u1")
		return p.Status.Phase == api.PodRunning && len(p.Status.Conditions) == 4 && p.Status.Conditions[3].Status == api.ConditionTrue
	})
	p := h.state.pod("u1")
	if ip, err := netip.ParseAddr(p.Status.PodIP); err != nil || !netip.MustParsePrefix("10.244.3.0/24").Contains(ip) || p.Status.HostIP != "192.0.2.10" {
		t.Fatalf("podIP %q hostIP %q", p.Status.PodIP, p.Status.HostIP)
	}
	cs := p.Status.ContainerStatuses[0]
	if cs.State.Running == nil || !cs.Ready || cs.RestartCount != 0 || !strings.HasPrefix(cs.ContainerID, "containerd://") {
		t.Fatalf("container status %+v", cs)
	}
	c := h.container("u1", "app")
	spec, _ := h.rt.Spec(c.ID)
	env := strings.Join(spec.Env, " ")
	for _, want := range []string{"GREETING=hello", "MY_IP=" + p.Status.PodIP, "BOTH=hello-$(MISSING)"} {
		if !strings.Contains(env, want) {
			t.Errorf("env %q lacks %q", env, want)
		}
	}
	if got := strings.Join(spec.Command, " "); got != "sh -c echo hello" {
		t.Errorf("command %q: $(GREETING) not expanded", got)
	}
	if spec.CPUQuotaMillis != 500 || spec.MemoryLimitBytes != 64<<20 {
		t.Errorf("limits cpu %dm memory %d", spec.CPUQuotaMillis, spec.MemoryLimitBytes)
	}
	mounts := map[string]Mount{}
	for _, m := range spec.Mounts {
		mounts[m.Destination] = m
	}
	resolv, err := os.ReadFile(mounts["/etc/resolv.conf"].Source)
	if err != nil || !strings.Contains(string(resolv), "nameserver 10.244.3.1\nsearch default.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5") {
		t.Errorf("resolv.conf %q (%v)", resolv, err)
	}
	hosts, _ := os.ReadFile(mounts["/etc/hosts"].Source)
	if !strings.Contains(string(hosts), p.Status.PodIP+"\tpod-u1") {
		t.Errorf("hosts %q lacks the pod's name", hosts)
	}
	conf := mounts["/conf"]
	if b, err := os.ReadFile(filepath.Join(conf.Source, "app.conf")); err != nil || string(b) != "x=1" || !conf.ReadOnly {
		t.Errorf("configMap volume: %q %v (read-only %v)", b, err, conf.ReadOnly)
	}
	if fi, err := os.Stat(mounts["/scratch"].Source); err != nil || !fi.IsDir() {
		t.Errorf("emptyDir: %v", err)
	}

	// A config map change shows in the volume in place.
	h.state.mu.Lock()
	h.state.cms["default/cfg"] = &api.ConfigMap{Data: map[string]string{"greeting": "hello", "app.conf": "x=2"}}
	h.state.mu.Unlock()
	h.state.resync <- struct{}{}
	h.until("the volume shows the new config", func() bool {
		b, _ := os.ReadFile(filepath.Join(conf.Source, "app.conf"))
		return string(b) == "x=2"
	})

	// Nothing changes: no more status writes.
	h.state.mu.Lock()
	before := h.state.written
	h.state.mu.Unlock()
	h.clk.Advance(time.Minute)
	h.until("a resync", func() bool { return true })
	h.state.mu.Lock()
	after := h.state.written
	h.state.mu.Unlock()
	if after != before {
		t.Errorf("%d status writes while nothing changed", after-before)
	}

	// Deleting the pod stops and removes its containers, network and files.
	h.state.remove("u1")
	h.until("the pod is cleaned up", func() bool {
		uids, _ := h.net.List(context.Background())
		_, err := os.Stat(filepath.Join(h.dir, "u1"))
		return h.container("u1", "app") == nil && len(uids) == 0 && os.IsNotExist(err)
	})
}

func TestReconcilerInitContainersRunInOrder(t *testing.T) {
	h := newPodHarness(t)
	pod := testPod("u2", api.Container{Name: "app", Image: "img:1"})
	always := api.ContainerRestartPolicyAlways
	pod.Spec.InitContainers = []api.Container{{Name: "first", Image: "img:1"}, {Name: "side", Image: "img:1", RestartPolicy: &always}, {Name: "second", Image: "img:1"}}
	api.SetDefaults(pod)
	h.state.add(pod)
	h.until("first runs", func() bool { return h.container("u2", "first") != nil })
	h.clk.Advance(time.Second)
	if h.container("u2", "side") != nil || h.container("u2", "app") != nil {
		t.Fatal("a later container started before the first init container finished")
	}
	h.until("the pod reports it is initialising", func() bool {
		p := h.state.pod("u2")
		return p.Status.Phase == api.PodPending && len(p.Status.ContainerStatuses) == 1 &&
			p.Status.ContainerStatuses[0].State.Waiting != nil && p.Status.ContainerStatuses[0].State.Waiting.Reason == "PodInitializing"
	})
	h.rt.Exit(h.container("u2", "first").ID, 0, false)
	h.until("the sidecar and then the second init container run", func() bool {
		return h.container("u2", "side") != nil && h.container("u2", "second") != nil
	})
	if h.container("u2", "app") != nil {
		t.Fatal("the app started before the second init container finished")
	}
	h.rt.Exit(h.container("u2", "second").ID, 0, false)
	h.until("the app runs with the sidecar", func() bool {
		a, s := h.container("u2", "app"), h.container("u2", "side")
		return a != nil && a.State == StateRunning && s.State == StateRunning && h.phase("u2") == api.PodRunning
	})
	// A sidecar that dies restarts even though init is over.
	h.rt.Exit(h.container("u2", "side").ID, 1, false)
	h.until("the sidecar restarts", func() bool { c := h.container("u2", "side"); return c.Attempt == 1 && c.State == StateRunning })
}

func TestReconcilerRestartPolicies(t *testing.T) {
	h := newPodHarness(t)
	always := testPod("always", api.Container{Name: "c", Image: "img:1"})
	never := testPod("never", api.Container{Name: "c", Image: "img:1"})
	never.Spec.RestartPolicy = api.RestartPolicyNever
	onFailure := testPod("onfailure", api.Container{Name: "c", Image: "img:1"})
	onFailure.Spec.RestartPolicy = api.RestartPolicyOnFailure
	for _, p := range []*api.Pod{always, never, onFailure} {
		h.state.add(p)
	}
	for _, uid := range []string{"always", "never", "onfailure"} {
		h.until(uid+" runs", func() bool { c := h.container(uid, "c"); return c != nil && c.State == StateRunning })
	}
	h.rt.Exit(h.container("never", "c").ID, 3, false)
	h.rt.Exit(h.container("onfailure", "c").ID, 0, false)
	h.until("never Failed and onfailure Succeeded", func() bool {
		return h.phase("never") == api.PodFailed && h.phase("onfailure") == api.PodSucceeded
	})
	st := h.state.pod("never").Status.ContainerStatuses[0]
	if st.State.Terminated == nil || st.State.Terminated.ExitCode != 3 || st.State.Terminated.Reason != "Error" {
		t.Fatalf("never's container: %+v", st.State)
	}

	// Always: the first crash restarts at once, the next after 10 s, then 20 s.
	h.rt.Exit(h.container("always", "c").ID, 1, false)
	h.until("attempt 1 runs", func() bool { c := h.container("always", "c"); return c.Attempt == 1 && c.State == StateRunning })
	h.rt.Exit(h.container("always", "c").ID, 137, true)
	h.until("the pod reports CrashLoopBackOff", func() bool {
		cs := h.state.pod("always").Status.ContainerStatuses[0]
		return cs.State.Waiting != nil && cs.State.Waiting.Reason == "CrashLoopBackOff" &&
			cs.LastTerminationState.Terminated != nil && cs.LastTerminationState.Terminated.Reason == "OOMKilled"
	})
	exited := h.clk.Now()
	h.until("attempt 2 runs", func() bool { c := h.container("always", "c"); return c.Attempt == 2 && c.State == StateRunning })
	if waited := h.clk.Now().Sub(exited); waited < 9*time.Second || waited > 11*time.Second {
		t.Fatalf("restarted after %s, want the 10 s back-off", waited)
	}
	if rc := h.state.pod("always").Status.ContainerStatuses[0].RestartCount; rc != 2 {
		h.until("restartCount 2", func() bool { return h.state.pod("always").Status.ContainerStatuses[0].RestartCount == 2 })
	}
}

func TestReconcilerAdoptsContainersAfterRestart(t *testing.T) {
	h := newPodHarness(t)
	h.state.add(testPod("u3", api.Container{Name: "app", Image: "img:1"}))
	h.until("the pod runs", func() bool { return h.phase("u3") == api.PodRunning })
	before := *h.container("u3", "app")
	h.stop()
	h.rt = h.rt.Reopen()
	h.net = h.net.Reopen()
	h.start()
	h.clk.Advance(time.Minute)
	h.until("a pass", func() bool { return true })
	after := h.container("u3", "app")
	if after.ID != before.ID || after.Attempt != 0 || !after.StartedAt.Equal(before.StartedAt) || after.State != StateRunning {
		t.Fatalf("after a restart the container is %+v, was %+v", after, before)
	}
}

func TestReconcilerLivenessAndReadiness(t *testing.T) {
	h := newPodHarness(t)
	var mu sync.Mutex
	healthy, ready := true, false
	h.rt.SetExec(func(spec ContainerSpec, opts ExecOptions) int {
		mu.Lock()
		defer mu.Unlock()
		switch opts.Command[0] {
		case "live":
			if healthy {
				return 0
			}
		case "ready":
			if ready {
				return 0
			}
		}
		return 1
	})
	probe := func(cmd string) *api.Probe {
		return &api.Probe{ProbeHandler: api.ProbeHandler{Exec: &api.ExecAction{Command: []string{cmd}}}, PeriodSeconds: 1, FailureThreshold: 2}
	}
	h.state.add(testPod("u4", api.Container{Name: "app", Image: "img:1", LivenessProbe: probe("live"), ReadinessProbe: probe("ready")}))
	h.until("the pod runs, not ready", func() bool {
		p := h.state.pod("u4")
		return p.Status.Phase == api.PodRunning && p.Status.Conditions[3].Status == api.ConditionFalse
	})
	mu.Lock()
	ready = true
	mu.Unlock()
	h.until("the pod is Ready", func() bool { return h.state.pod("u4").Status.Conditions[3].Status == api.ConditionTrue })
	mu.Lock()
	ready = false
	mu.Unlock()
	h.until("the pod is not Ready again", func() bool { return h.state.pod("u4").Status.Conditions[3].Status == api.ConditionFalse })
	mu.Lock()
	healthy = false
	mu.Unlock()
	h.until("the container is restarted", func() bool { c := h.container("u4", "app"); return c.Attempt == 1 })
}

// An agent restart does not take an adopted container out of its
// Services: until its readiness probe has run again, it stays as Ready as
// the replica says; from the first run on, the probe decides.
func TestReconcilerKeepsReadinessAcrossRestart(t *testing.T) {
	h := newPodHarness(t)
	var mu sync.Mutex
	ready := true
	h.rt.SetExec(func(spec ContainerSpec, opts ExecOptions) int {
		mu.Lock()
		defer mu.Unlock()
		if ready {
			return 0
		}
		return 1
	})
	probe := &api.Probe{ProbeHandler: api.ProbeHandler{Exec: &api.ExecAction{Command: []string{"ready"}}}, InitialDelaySeconds: 30, PeriodSeconds: 30, FailureThreshold: 1}
	h.state.add(testPod("u5", api.Container{Name: "app", Image: "img:1", ReadinessProbe: probe}))
	isReady := func() bool {
		for _, c := range h.state.pod("u5").Status.Conditions {
			if c.Type == api.PodReady {
				return c.Status == api.ConditionTrue
			}
		}
		return false
	}
	h.until("the pod is Ready", isReady)
	h.stop()
	h.rt = h.rt.Reopen()
	h.net = h.net.Reopen()
	mu.Lock()
	ready = false
	mu.Unlock()
	h.start()
	for range 40 { // 2 s of passes and status batches, well before the probe's first run
		h.clk.Advance(50 * time.Millisecond)
		time.Sleep(time.Millisecond)
	}
	if !isReady() {
		t.Fatal("the restarted agent reported its adopted container not Ready before probing it")
	}
	h.until("the probe's first run makes it not Ready", func() bool { return !isReady() })
}
