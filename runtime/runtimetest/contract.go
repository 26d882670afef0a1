// Package runtimetest holds the contract suite that every runtime.Runtime
// must pass: the in-memory Fake in unit tests, and the containerd-backed
// Runtime in CI (as root). A behaviour the reconciler relies on belongs here,
// so that the fake cannot drift from containerd.
package runtimetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/runtime"
)

// Controls lets the suite change the world in ways the Runtime interface
// cannot: put images in place, kill a container's process from outside, and
// restart the agent.
type Controls interface {
	// Image names an image present on the node whose filesystem has a
	// busybox (sh, sleep, echo, cat): the suite runs `sleep 3600` in it,
	// and execs echo, cat and `sh -c` scripts (the Fake's FakeShell
	// interprets those).
	Image() string
	// HaveImage makes ref present on the node (by tagging Image as ref, or
	// importing it), without a registry.
	HaveImage(ref string) error
	// Kill makes container id's process die of SIGKILL from outside the
	// Runtime, as the OOM killer or an operator would.
	Kill(id string) error
	// Reopen returns a new Runtime over the same backing store, as a
	// restarted agent would get.
	Reopen() (runtime.Runtime, error)
}

// A reference no registry answers for: 127.0.0.1:1 refuses connections, so
// a real pull fails fast.
const missingRef = "127.0.0.1:1/shoal-contract/missing:v1"

// RunContract runs the suite. newRuntime is called once per subtest and
// must give a Runtime with no containers; it registers its own cleanup.
func RunContract(t *testing.T, newRuntime func(t *testing.T) (runtime.Runtime, Controls)) {
	ctx := context.Background()
	spec := func(ctl Controls, pod, name string) runtime.ContainerSpec {
		return runtime.ContainerSpec{
			PodUID: pod, PodName: "web-" + pod, Namespace: "default", Name: name,
			Image:   ctl.Image(),
			Command: []string{"sleep", "3600"},
			Env:     []string{"A=1"},
			Labels:  map[string]string{"spec-hash": "abc123"},
		}
	}
	createStart := func(t *testing.T, rt runtime.Runtime, s runtime.ContainerSpec) string {
		t.Helper()
		id, err := rt.Create(ctx, s)
		if err != nil {
			t.Fatalf("Create(%s/%s): %v", s.PodUID, s.Name, err)
		}
		if err := rt.Start(ctx, id); err != nil {
			t.Fatalf("Start(%s): %v", id, err)
		}
		return id
	}

	t.Run("EnsureImagePolicies", func(t *testing.T) {
		rt, ctl := newRuntime(t)
		present := "127.0.0.1:1/shoal-contract/present:v1"
		if err := ctl.HaveImage(present); err != nil {
			t.Fatalf("HaveImage: %v", err)
		}
		for _, c := range []struct {
			ref    string
			policy api.PullPolicy
			want   error
		}{
			{present, api.PullNever, nil},
			{present, api.PullIfNotPresent, nil},
			{present, "", nil},
			{missingRef, api.PullNever, runtime.ErrImageNotPresent},
			{missingRef, api.PullIfNotPresent, runtime.ErrImagePull},
			// Always asks the registry even when the image is present.
			{present, api.PullAlways, runtime.ErrImagePull},
		} {
			err := rt.EnsureImage(ctx, c.ref, c.policy)
			if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
				t.Errorf("EnsureImage(%s, %q) = %v, want %v", c.ref, c.policy, err, c.want)
			}
		}
	})

	t.Run("CreateNeedsImage", func(t *testing.T) {
		rt, ctl := newRuntime(t)
		s := spec(ctl, "pod-noimg", "app")
		s.Image = missingRef
		if _, err := rt.Create(ctx, s); !errors.Is(err, runtime.ErrImageNotPresent) {
			t.Fatalf("Create with a missing image = %v, want ErrImageNotPresent", err)
		}
	})

	t.Run("CreateIsIdempotent", func(t *testing.T) {
		rt, ctl := newRuntime(t)
		s := spec(ctl, "pod-a", "app")
		id, err := rt.Create(ctx, s)
		if err != nil || id == "" {
			t.Fatalf("Create = %q, %v", id, err)
		}
		id2, err := rt.Create(ctx, s)
		if !errors.Is(err, runtime.ErrAlreadyExists) || id2 != id {
			t.Fatalf("second Create = %q, %v; want %q, ErrAlreadyExists", id2, err, id)
		}
		s.Attempt = 1
		id3, err := rt.Create(ctx, s)
		if err != nil || id3 == id {
			t.Fatalf("Create of attempt 1 = %q, %v; want a new container", id3, err)
		}
		list := mustList(t, rt)
		if len(list) != 2 {
			t.Fatalf("List has %d containers, want 2: %+v", len(list), list)
		}
		for _, st := range list {
			if st.State != runtime.StateCreated {
				t.Errorf("%s: state %s, want created", st.ID, st.State)
			}
		}
	})

	t.Run("ConcurrentCreateMakesOne", func(t *testing.T) {
		rt, ctl := newRuntime(t)
		s := spec(ctl, "pod-c", "app")
		const n = 8
		ids := make([]string, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ids[i], errs[i] = rt.Create(ctx, s)
			}()
		}
		wg.Wait()
		ok := 0
		for i := range n {
			switch {
			case errs[i] == nil:
				ok++
			case !errors.Is(errs[i], runtime.ErrAlreadyExists):
				t.Errorf("Create #%d: %v", i, errs[i])
			}
			if ids[i] != ids[0] {
				t.Errorf("Create #%d returned %q, #0 returned %q", i, ids[i], ids[0])
			}
		}
		if ok != 1 {
			t.Errorf("%d Creates succeeded, want exactly 1", ok)
		}
		if l := mustList(t, rt); len(l) != 1 {
			t.Errorf("List has %d containers, want 1", len(l))
		}
	})

	t.Run("StartRunsAndLabelsRoundTrip", func(t *testing.T) {
		rt, ctl := newRuntime(t)
		s := spec(ctl, "pod-b", "app")
		s.Attempt = 2
		id := createStart(t, rt, s)
		if err := rt.Start(ctx, id); err != nil {
			t.Errorf("Start of a running container = %v, want nil", err)
		}
		st := find(t, rt, id)
		if st.State != runtime.StateRunning || st.StartedAt.IsZero() || !st.FinishedAt.IsZero() {
			t.Errorf("after Start: state %s, startedAt %v, finishedAt %v", st.State, st.StartedAt, st.FinishedAt)
		}
		if st.PodUID != s.PodUID || st.PodName != s.PodName || st.Namespace != s.Namespace ||
			st.Name != s.Name || st.Attempt != 2 || st.Image != s.Image {
			t.Errorf("identity did not round-trip: %+v", st)
		}
		if len(st.Labels) != 1 || st.Labels["spec-hash"] != "abc123" {
			t.Errorf("Labels = %v, want just spec-hash=abc123", st.Labels)
		}
		if err := rt.Start(ctx, "no-such-container"); !errors.Is(err, runtime.ErrNotFound) {
			t.Errorf("Start of an unknown ID = %v, want ErrNotFound", err)
		}
	})

	t.Run("StopIsIdempotent", func(t *testing.T) {
		rt, ctl := newRuntime(t)
		id := createStart(t, rt, spec(ctl, "pod-s", "app"))
		for i := range 2 {
			if err := rt.Stop(ctx, id, time.Second); err != nil {
				t.Fatalf("Stop #%d: %v", i, err)
			}
		}
		st := find(t, rt, id)
		// 143 if the process honoured SIGTERM, 137 if it took SIGKILL (a
		// shell as PID 1 ignores SIGTERM).
		if st.State != runtime.StateExited || (st.ExitCode != 143 && st.ExitCode != 137) {
			t.Errorf("after Stop: state %s, exit code %d; want exited, 143 or 137", st.State, st.ExitCode)
		}
		if st.FinishedAt.IsZero() || st.FinishedAt.Before(st.StartedAt) {
			t.Errorf("after Stop: startedAt %v, finishedAt %v", st.StartedAt, st.FinishedAt)
		}
		if err := rt.Start(ctx, id); err == nil {
			t.Errorf("Start of an exited container succeeded; want an error")
		}
		if err := rt.Stop(ctx, "no-such-container", time.Second); err != nil {
			t.Errorf("Stop of an unknown ID = %v, want nil", err)
		}
	})

	t.Run("RemoveIsIdempotent", func(t *testing.T) {
		rt, ctl := newRuntime(t)
		running := createStart(t, rt, spec(ctl, "pod-r", "app"))
		created, err := rt.Create(ctx, spec(ctl, "pod-r", "side"))
		if err != nil {
			t.Fatal(err)
		}
		keep := createStart(t, rt, spec(ctl, "pod-k", "app"))
		for _, id := range []string{running, created, running, "no-such-container"} {
			if err := rt.Remove(ctx, id); err != nil {
				t.Errorf("Remove(%s): %v", id, err)
			}
		}
		list := mustList(t, rt)
		if len(list) != 1 || list[0].ID != keep {
			t.Errorf("after Remove, List = %+v; want only %s", list, keep)
		}
		// The same container can be created again once removed.
		if _, err := rt.Create(ctx, spec(ctl, "pod-r", "app")); err != nil {
			t.Errorf("Create after Remove: %v", err)
		}
	})

	t.Run("ExitFromOutside", func(t *testing.T) {
		rt, ctl := newRuntime(t)
		id := createStart(t, rt, spec(ctl, "pod-x", "app"))
		if err := ctl.Kill(id); err != nil {
			t.Fatalf("Kill: %v", err)
		}
		st := eventually(t, rt, id, func(st runtime.ContainerStatus) bool { return st.State == runtime.StateExited })
		if st.ExitCode != 137 || st.FinishedAt.IsZero() {
			t.Errorf("after Kill: exit code %d, finishedAt %v; want 137 and a time", st.ExitCode, st.FinishedAt)
		}
	})

	t.Run("ListPodIsListOfOnePod", func(t *testing.T) {
		rt, ctl := newRuntime(t)
		pl, ok := rt.(runtime.PodLister)
		if !ok {
			t.Skip("this runtime has no ListPod")
		}
		createStart(t, rt, spec(ctl, "pod-l1", "app"))
		createStart(t, rt, spec(ctl, "pod-l2", "app"))
		if _, err := rt.Create(ctx, spec(ctl, "pod-l1", "side")); err != nil {
			t.Fatal(err)
		}
		all, err := rt.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var want []runtime.ContainerStatus
		for _, c := range all {
			if c.PodUID == "pod-l1" {
				want = append(want, c)
			}
		}
		got, err := pl.ListPod(ctx, "pod-l1")
		if err != nil || len(got) != 2 || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("ListPod(pod-l1) = %v, %v; want %v", got, err, want)
		}
		if got, err := pl.ListPod(ctx, "no-such-pod"); err != nil || len(got) != 0 {
			t.Fatalf("ListPod of an unknown pod = %v, %v; want nothing", got, err)
		}
	})

	t.Run("Exec", func(t *testing.T) {
		rt, ctl := newRuntime(t)
		id := createStart(t, rt, spec(ctl, "pod-e", "app"))
		for _, c := range []struct {
			name           string
			cmd            []string
			stdin          string
			code           int
			stdout, stderr string
		}{
			{"echo", []string{"echo", "hi"}, "", 0, "hi\n", ""},
			{"stderr and exit code", []string{"sh", "-c", "echo err >&2; exit 3"}, "", 3, "", "err\n"},
			{"stdin", []string{"cat"}, "line 1\nline 2\n", 0, "line 1\nline 2\n", ""},
			{"container env", []string{"sh", "-c", "echo $A"}, "", 0, "1\n", ""},
		} {
			var stdout, stderr syncBuffer
			opts := runtime.ExecOptions{Command: c.cmd, Stdout: &stdout, Stderr: &stderr}
			if c.stdin != "" {
				opts.Stdin = strings.NewReader(c.stdin)
			}
			tctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			code, err := rt.Exec(tctx, id, opts)
			cancel()
			if err != nil || code != c.code || stdout.String() != c.stdout || stderr.String() != c.stderr {
				t.Errorf("%s: Exec(%q) = %d, %v, stdout %q, stderr %q; want %d, nil, %q, %q",
					c.name, c.cmd, code, err, stdout.String(), stderr.String(), c.code, c.stdout, c.stderr)
			}
		}
		// Nil streams are allowed: no stdin, output discarded.
		if code, err := rt.Exec(ctx, id, runtime.ExecOptions{Command: []string{"echo", "unseen"}}); err != nil || code != 0 {
			t.Errorf("Exec with no streams = %d, %v; want 0, nil", code, err)
		}
		// With a terminal, everything goes to Stdout.
		var tty syncBuffer
		if code, err := rt.Exec(ctx, id, runtime.ExecOptions{Command: []string{"echo", "hi"}, Stdout: &tty, TTY: true}); err != nil || code != 0 || !strings.Contains(tty.String(), "hi") {
			t.Errorf("Exec with a TTY = %d, %v, output %q; want 0, nil, hi", code, err, tty.String())
		}
		if _, err := rt.Exec(ctx, "no-such-container", runtime.ExecOptions{Command: []string{"true"}}); !errors.Is(err, runtime.ErrNotFound) {
			t.Errorf("Exec in an unknown ID = %v, want ErrNotFound", err)
		}
		// Exec does not disturb the container.
		if st := find(t, rt, id); st.State != runtime.StateRunning {
			t.Errorf("after Exec the container is %s, want running", st.State)
		}
	})

	t.Run("ExecNeedsARunningContainer", func(t *testing.T) {
		rt, ctl := newRuntime(t)
		created, err := rt.Create(ctx, spec(ctl, "pod-n", "app"))
		if err != nil {
			t.Fatal(err)
		}
		exited := createStart(t, rt, spec(ctl, "pod-n", "side"))
		if err := rt.Stop(ctx, exited, time.Second); err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{created, exited} {
			if _, err := rt.Exec(ctx, id, runtime.ExecOptions{Command: []string{"echo", "hi"}}); !errors.Is(err, runtime.ErrNotRunning) {
				t.Errorf("Exec in %s container %s = %v, want ErrNotRunning", find(t, rt, id).State, id, err)
			}
		}
	})

	t.Run("ExecEndsWithContext", func(t *testing.T) {
		rt, ctl := newRuntime(t)
		id := createStart(t, rt, spec(ctl, "pod-ec", "app"))
		// cat waits for stdin that never ends, until ctx kills it.
		pr, pw := io.Pipe()
		defer pw.Close()
		tctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := rt.Exec(tctx, id, runtime.ExecOptions{Command: []string{"cat"}, Stdin: pr})
		if err == nil || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Exec past its deadline = %v, want context.DeadlineExceeded", err)
		}
		if d := time.Since(start); d > 15*time.Second {
			t.Errorf("Exec returned %v after its deadline", d)
		}
		if st := find(t, rt, id); st.State != runtime.StateRunning {
			t.Errorf("a cancelled Exec left the container %s, want running", st.State)
		}
	})

	t.Run("Stats", func(t *testing.T) {
		rt, ctl := newRuntime(t)
		running := createStart(t, rt, spec(ctl, "pod-st", "app"))
		first, err := rt.Stats(ctx, running)
		if err != nil {
			t.Fatalf("Stats of a running container: %v", err)
		}
		if first.At.IsZero() || first.CPUUsage < 0 || first.MemoryWorkingSet < 0 {
			t.Errorf("Stats = %+v; want At set and no negative numbers", first)
		}
		second, err := rt.Stats(ctx, running)
		if err != nil {
			t.Fatalf("second Stats: %v", err)
		}
		// CPU time is cumulative: a later sample never shows less.
		if second.At.Before(first.At) || second.CPUUsage < first.CPUUsage {
			t.Errorf("a later sample went back: %+v, then %+v", first, second)
		}
		if st := find(t, rt, running); st.State != runtime.StateRunning {
			t.Errorf("after Stats the container is %s, want running", st.State)
		}

		created, err := rt.Create(ctx, spec(ctl, "pod-st", "created"))
		if err != nil {
			t.Fatal(err)
		}
		exited := createStart(t, rt, spec(ctl, "pod-st", "exited"))
		if err := rt.Stop(ctx, exited, time.Second); err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{created, exited} {
			if _, err := rt.Stats(ctx, id); !errors.Is(err, runtime.ErrNotRunning) {
				t.Errorf("Stats of %s container %s = %v, want ErrNotRunning", find(t, rt, id).State, id, err)
			}
		}
		if _, err := rt.Stats(ctx, "no-such-container"); !errors.Is(err, runtime.ErrNotFound) {
			t.Errorf("Stats of an unknown ID = %v, want ErrNotFound", err)
		}
	})

	t.Run("ListSurvivesRestart", func(t *testing.T) {
		rt, ctl := newRuntime(t)
		running := createStart(t, rt, spec(ctl, "pod-1", "app"))
		created, err := rt.Create(ctx, spec(ctl, "pod-2", "app"))
		if err != nil {
			t.Fatal(err)
		}
		before := mustList(t, rt)
		rt2, err := ctl.Reopen()
		if err != nil {
			t.Fatalf("Reopen: %v", err)
		}
		after := mustList(t, rt2)
		if len(after) != 2 {
			t.Fatalf("after Reopen, List = %+v; want 2 containers", after)
		}
		for i := range after {
			b, a := before[i], after[i]
			if a.ID != b.ID || a.State != b.State || !a.StartedAt.Equal(b.StartedAt) || a.PodUID != b.PodUID || a.Name != b.Name {
				t.Errorf("after Reopen:\n got %+v\nwant %+v", a, b)
			}
		}
		if st := find(t, rt2, running); st.State != runtime.StateRunning {
			t.Errorf("running container is %s after Reopen", st.State)
		}
		// The new Runtime drives the old containers.
		if _, err := rt2.Create(ctx, spec(ctl, "pod-1", "app")); !errors.Is(err, runtime.ErrAlreadyExists) {
			t.Errorf("Create after Reopen = %v, want ErrAlreadyExists", err)
		}
		if err := rt2.Start(ctx, created); err != nil {
			t.Errorf("Start after Reopen: %v", err)
		}
		if err := rt2.Stop(ctx, running, time.Second); err != nil {
			t.Errorf("Stop after Reopen: %v", err)
		}
		if st := find(t, rt2, running); st.State != runtime.StateExited {
			t.Errorf("after Stop via the reopened Runtime: %s", st.State)
		}
	})
}

func mustList(t *testing.T, rt runtime.Runtime) []runtime.ContainerStatus {
	t.Helper()
	l, err := rt.List(context.Background())
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	return l
}

func find(t *testing.T, rt runtime.Runtime, id string) runtime.ContainerStatus {
	t.Helper()
	st, err := lookup(rt, id)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func lookup(rt runtime.Runtime, id string) (runtime.ContainerStatus, error) {
	l, err := rt.List(context.Background())
	if err != nil {
		return runtime.ContainerStatus{}, err
	}
	for _, st := range l {
		if st.ID == id {
			return st, nil
		}
	}
	return runtime.ContainerStatus{}, fmt.Errorf("container %s is not in List (%d containers)", id, len(l))
}

// eventually polls List until cond holds for container id, for at most
// 10 s: a real runtime learns of an exit asynchronously.
func eventually(t *testing.T, rt runtime.Runtime, id string, cond func(runtime.ContainerStatus) bool) runtime.ContainerStatus {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := lookup(rt, id)
		if err == nil && cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("container %s: condition not met after 10s: %+v, %v", id, st, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a
// runtime's output copiers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
