package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/clock"
	"github.com/shoal-dev/shoal/gossip"
	"github.com/shoal-dev/shoal/runtime"
)

const podTestImage = "shoal.test/busybox:1"

// withFakeRuntime makes an agent run its pods on a Fake runtime (whose
// logs go under a test directory) and a FakeNetwork.
func withFakeRuntime(t *testing.T, fake **runtime.Fake) func(*Config) {
	return func(cfg *Config) {
		f := runtime.NewFake(clock.Real{})
		f.SetLogDir(t.TempDir())
		f.AddImage(podTestImage)
		netw := runtime.NewFakeNetwork()
		if err := netw.SetPodCIDR(netip.MustParsePrefix("10.244.7.0/24")); err != nil {
			t.Fatal(err)
		}
		cfg.PodRuntime, cfg.PodNetwork = f, netw
		*fake = f
	}
}

// createBoundPod stores a pod bound to node with the named containers and
// returns it as stored (with its UID).
func createBoundPod(t *testing.T, cl *api.Client, name, node string, policy api.RestartPolicy, containers ...string) *api.Pod {
	t.Helper()
	p := &api.Pod{
		TypeMeta:   api.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default"},
		Spec:       api.PodSpec{NodeName: node, RestartPolicy: policy},
	}
	for _, c := range containers {
		p.Spec.Containers = append(p.Spec.Containers, api.Container{Name: c, Image: podTestImage, Command: []string{"sleep", "3600"}})
	}
	obj, err := cl.Create(ctxT(t), p)
	if err != nil {
		t.Fatalf("create pod %s: %v", name, err)
	}
	return obj.(*api.Pod)
}

// runningAttempt waits for the node's reconciler to run attempt n of
// container name of pod, and returns its ID.
func runningAttempt(t *testing.T, fake *runtime.Fake, pod *api.Pod, name string, attempt uint32) string {
	t.Helper()
	var id string
	waitUntil(t, 20*time.Second, fmt.Sprintf("container %s of pod %s (attempt %d) to run", name, pod.Name, attempt), func() (bool, string) {
		l, err := fake.List(context.Background())
		if err != nil {
			return false, err.Error()
		}
		for _, st := range l {
			if st.PodUID == pod.UID && st.Name == name && st.Attempt == attempt && st.State == runtime.StateRunning {
				id = st.ID
				return true, ""
			}
		}
		return false, fmt.Sprintf("%+v", l)
	})
	return id
}

func readPodLogs(t *testing.T, cl *api.Client, pod string, opts api.PodLogOptions) (string, error) {
	t.Helper()
	var b bytes.Buffer
	err := cl.Logs(ctxT(t), "default", pod, opts, &b)
	return b.String(), err
}

func wantAPIStatus(t *testing.T, what string, err error, code int, mentions ...string) {
	t.Helper()
	var st *api.Status
	if !errors.As(err, &st) || st.Code != code {
		t.Fatalf("%s: %v, want a %d Status", what, err, code)
	}
	for _, m := range mentions {
		if !strings.Contains(st.Message, m) {
			t.Errorf("%s: %q does not mention %q", what, st.Message, m)
		}
	}
}

type followBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *followBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *followBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestPodLogsAndExec(t *testing.T) {
	c := newTestCluster(t)
	var fake *runtime.Fake
	c.start("n1", "", withFakeRuntime(t, &fake))
	c.waitRoles("n1")
	cl := c.client("n1")

	_, err := readPodLogs(t, cl, "ghost", api.PodLogOptions{})
	wantAPIStatus(t, "logs of a missing pod", err, http.StatusNotFound, `"ghost"`, "not found")
	_, err = cl.Exec(ctxT(t), "default", "ghost", api.PodExecOptions{Command: []string{"true"}})
	wantAPIStatus(t, "exec in a missing pod", err, http.StatusNotFound, `"ghost"`)

	createBoundPod(t, cl, "two", "n1", "", "app", "sidecar")
	_, err = readPodLogs(t, cl, "two", api.PodLogOptions{})
	wantAPIStatus(t, "logs of a pod with two containers", err, http.StatusBadRequest, "container", "[app sidecar]")
	_, err = readPodLogs(t, cl, "two", api.PodLogOptions{Container: "nope"})
	wantAPIStatus(t, "logs of an unknown container", err, http.StatusBadRequest, `"nope"`, "[app sidecar]")

	pod := createBoundPod(t, cl, "web", "n1", "", "app")
	first := runningAttempt(t, fake, pod, "app", 0)
	if err := fake.WriteLog(first, "line 1\nline 2\nline 3\n"); err != nil {
		t.Fatal(err)
	}
	if got, err := readPodLogs(t, cl, "web", api.PodLogOptions{}); err != nil || got != "line 1\nline 2\nline 3\n" {
		t.Errorf("logs = %q, %v", got, err)
	}
	one := int64(1)
	if got, err := readPodLogs(t, cl, "web", api.PodLogOptions{TailLines: &one}); err != nil || got != "line 3\n" {
		t.Errorf("logs --tail 1 = %q, %v", got, err)
	}
	_, err = readPodLogs(t, cl, "web", api.PodLogOptions{Previous: true})
	wantAPIStatus(t, "previous with one attempt", err, http.StatusBadRequest, `previous terminated container "app" in pod "web" not found`)

	// exec, with the Fake's default shell.
	var stdout, stderr bytes.Buffer
	code, err := cl.Exec(ctxT(t), "default", "web", api.PodExecOptions{
		Command: []string{"sh", "-c", "echo out; echo err >&2; exit 3"}, Stdout: &stdout, Stderr: &stderr,
	})
	if err != nil || code != 3 || stdout.String() != "out\n" || stderr.String() != "err\n" {
		t.Errorf("exec = %d, %v, stdout %q, stderr %q; want 3, out, err", code, err, stdout.String(), stderr.String())
	}
	stdout.Reset()
	code, err = cl.Exec(ctxT(t), "default", "web", api.PodExecOptions{
		Command: []string{"cat"}, Stdin: strings.NewReader("ping\npong\n"), Stdout: &stdout,
	})
	if err != nil || code != 0 || stdout.String() != "ping\npong\n" {
		t.Errorf("exec cat = %d, %v, %q", code, err, stdout.String())
	}
	// A terminal and its size reach the runtime.
	fake.SetExec(func(spec runtime.ContainerSpec, o runtime.ExecOptions) int {
		if !o.TTY {
			return runtime.FakeShell(spec, o) // the reconciler's exec probes, if any
		}
		sz := <-o.Resize
		fmt.Fprintf(o.Stdout, "%s %dx%d", spec.Name, sz.Width, sz.Height)
		return 0
	})
	sizes := make(chan api.TerminalSize, 1)
	sizes <- api.TerminalSize{Width: 80, Height: 24}
	stdout.Reset()
	code, err = cl.Exec(ctxT(t), "default", "web", api.PodExecOptions{Command: []string{"sh"}, TTY: true, Resize: sizes, Stdout: &stdout})
	if err != nil || code != 0 || stdout.String() != "app 80x24" {
		t.Errorf("exec with a TTY = %d, %v, %q", code, err, stdout.String())
	}
	fake.SetExec(nil)

	// Follow: new output streams until the container exits.
	var followed followBuf
	zero := int64(0)
	done := make(chan error, 1)
	go func() {
		done <- cl.Logs(ctxT(t), "default", "web", api.PodLogOptions{Follow: true, TailLines: &zero}, &followed)
	}()
	time.Sleep(200 * time.Millisecond)
	fake.WriteLog(first, "later\n")
	waitUntil(t, 5*time.Second, "followed output", func() (bool, string) {
		return followed.String() == "later\n", followed.String()
	})
	if err := fake.Exit(first, 1, false); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("followed logs ended with %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("followed logs did not end when the container exited")
	}

	// After the restart, --previous reads the attempt that exited. A
	// change to the pod wakes the reconciler sooner than its resync.
	obj, err := cl.Get(ctxT(t), "Pod", "default", "web")
	if err != nil {
		t.Fatal(err)
	}
	obj.GetObjectMeta().Labels = map[string]string{"poke": "1"}
	if _, err := cl.Update(ctxT(t), obj); err != nil {
		t.Fatal(err)
	}
	second := runningAttempt(t, fake, pod, "app", 1)
	fake.WriteLog(second, "second run\n")
	if got, err := readPodLogs(t, cl, "web", api.PodLogOptions{Previous: true}); err != nil || got != "line 1\nline 2\nline 3\nlater\n" {
		t.Errorf("logs --previous = %q, %v", got, err)
	}
	if got, err := readPodLogs(t, cl, "web", api.PodLogOptions{}); err != nil || got != "second run\n" {
		t.Errorf("logs after the restart = %q, %v", got, err)
	}

	once := createBoundPod(t, cl, "once", "n1", api.RestartPolicyNever, "app")
	if err := fake.Exit(runningAttempt(t, fake, once, "app", 0), 0, false); err != nil {
		t.Fatal(err)
	}
	_, err = cl.Exec(ctxT(t), "default", "once", api.PodExecOptions{Command: []string{"true"}})
	wantAPIStatus(t, "exec in an exited container", err, http.StatusBadRequest, "not running")
}

// An agent relays logs and exec to the node that runs the pod.
func TestPodLogsAndExecRelayed(t *testing.T) {
	c := newTestCluster(t)
	c.start("n1", "")
	var fake *runtime.Fake
	c.start("n2", "n1", withFakeRuntime(t, &fake))
	c.waitRoles("n1")
	cl := c.client("n1")
	waitUntil(t, 15*time.Second, "n1 to see n2 alive", func() (bool, string) {
		for _, m := range c.agents["n1"].Gossip().Members() {
			if m.Name == "n2" {
				return m.State == gossip.StateAlive, fmt.Sprint(m.State)
			}
		}
		return false, "not a member"
	})

	pod := createBoundPod(t, cl, "far", "n2", "", "app")
	id := runningAttempt(t, fake, pod, "app", 0)
	fake.WriteLog(id, "from n2\n")

	var followed followBuf
	done := make(chan error, 1)
	go func() {
		done <- cl.Logs(ctxT(t), "default", "far", api.PodLogOptions{Follow: true}, &followed)
	}()
	waitUntil(t, 5*time.Second, "relayed log", func() (bool, string) {
		return followed.String() == "from n2\n", followed.String()
	})
	fake.WriteLog(id, "more\n")
	waitUntil(t, 5*time.Second, "relayed appended log", func() (bool, string) {
		return followed.String() == "from n2\nmore\n", followed.String()
	})

	var stdout bytes.Buffer
	code, err := cl.Exec(ctxT(t), "default", "far", api.PodExecOptions{
		Command: []string{"sh", "-c", "cat; exit 4"}, Stdin: strings.NewReader("through n1\n"), Stdout: &stdout,
	})
	if err != nil || code != 4 || stdout.String() != "through n1\n" {
		t.Errorf("relayed exec = %d, %v, %q; want 4 and the input back", code, err, stdout.String())
	}
	// An error on the far node comes back as it was.
	_, err = cl.Exec(ctxT(t), "default", "far", api.PodExecOptions{Container: "nope", Command: []string{"true"}})
	wantAPIStatus(t, "relayed exec in an unknown container", err, http.StatusBadRequest, `"nope"`)

	if err := fake.Exit(id, 0, false); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("relayed follow ended with %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("relayed follow did not end when the container exited")
	}

	c.stop("n2")
	waitUntil(t, 20*time.Second, "a clear error for a dead node", func() (bool, string) {
		_, err := readPodLogs(t, cl, "far", api.PodLogOptions{})
		var st *api.Status
		return errors.As(err, &st) && st.Code == http.StatusServiceUnavailable && strings.Contains(st.Message, "n2"), fmt.Sprint(err)
	})
}

func TestPodSubresourceAccess(t *testing.T) {
	for _, c := range []struct {
		method, path string
		want         access
	}{
		{"GET", "/api/v1/namespaces/default/pods/web/log", accessRead},
		{"GET", "/api/v1/namespaces/default/pods/secrets-app/log", accessRead},
		{"POST", "/api/v1/namespaces/default/pods/web/exec", accessWrite},
		{"POST", "/api/v1/namespaces/default/pods/web/log", accessWrite},
		{"GET", "/api/v1/namespaces/default/pods/web", accessRead},
		{"GET", "/api/v1/namespaces/default/secrets/log", accessWrite},
	} {
		r, _ := http.NewRequest(c.method, c.path, nil)
		if got := routeAccess(r); got != c.want {
			t.Errorf("%s %s needs %d, want %d", c.method, c.path, got, c.want)
		}
	}
}
