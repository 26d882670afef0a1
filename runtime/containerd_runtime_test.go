package runtime_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/integration/testimage"
	"github.com/shoal-dev/shoal/runtime"
	"github.com/shoal-dev/shoal/runtime/runtimetest"
)

// containerdEnv is one supervised containerd with the test image imported.
type containerdEnv struct {
	socket string
	logDir string
	logger *slog.Logger
}

// startContainerd runs a private containerd for the test, or skips it when
// the machine cannot (CI has root, containerd, runc and busybox-static).
func startContainerd(t *testing.T) *containerdEnv {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	for _, bin := range []string{"containerd", "runc"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s not in PATH (apt-get install -y containerd runc)", bin)
		}
	}
	bb, err := testimage.BusyboxPath()
	if err != nil {
		t.Fatalf("the test image needs busybox-static (apt-get install -y busybox-static): %v", err)
	}
	// A short directory: the socket path must fit a sockaddr_un.
	dir, err := os.MkdirTemp("", "shoal-rt-")
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(logWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	sup := runtime.NewSupervisor(filepath.Join(dir, "ctd"), logger)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := sup.Start(ctx); err != nil {
		os.RemoveAll(dir)
		t.Fatal(err)
	}
	env := &containerdEnv{socket: sup.Socket(), logDir: filepath.Join(dir, "logs"), logger: logger}
	t.Cleanup(func() {
		// Kill what is left (a failed test), then containerd, then the files.
		if c, err := env.open(t, context.Background()); err == nil {
			removeAll(t, c)
			c.Close()
		}
		if err := sup.Stop(); err != nil {
			t.Errorf("stop containerd: %v", err)
		}
		// Unmount what a dead shim may have left mounted, then delete.
		_ = exec.Command("sh", "-c", "grep -o ' "+dir+"[^ ]*' /proc/self/mounts | sort -r | xargs -r -n1 umount -l").Run()
		os.RemoveAll(dir)
	})

	var archive bytes.Buffer
	if err := testimage.Build(&archive, bb); err != nil {
		t.Fatalf("build the test image: %v", err)
	}
	c, err := env.open(t, ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	names, err := c.ImportArchive(ctx, &archive)
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 1 || names[0] != testimage.ImageName {
		t.Fatalf("ImportArchive = %v, want [%s]", names, testimage.ImageName)
	}
	return env
}

func (e *containerdEnv) open(t *testing.T, ctx context.Context) (*runtime.Containerd, error) {
	c, err := runtime.NewContainerd(ctx, e.socket, e.logger)
	if err != nil {
		return nil, err
	}
	c.LogDir = e.logDir
	return c, nil
}

// newRuntime gives a Containerd over env with no containers, closed (and
// its containers removed) when t ends.
func (e *containerdEnv) newRuntime(t *testing.T) *runtime.Containerd {
	t.Helper()
	c, err := e.open(t, context.Background())
	if err != nil {
		t.Fatal(err)
	}
	removeAll(t, c)
	t.Cleanup(func() {
		removeAll(t, c)
		c.Close()
	})
	return c
}

func removeAll(t *testing.T, c *runtime.Containerd) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	l, err := c.List(ctx)
	if err != nil {
		t.Errorf("cleanup: %v", err)
		return
	}
	for _, st := range l {
		if err := c.Remove(ctx, st.ID); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	}
}

type containerdControls struct {
	t   *testing.T
	env *containerdEnv
	c   *runtime.Containerd
}

func (ctl containerdControls) Image() string { return testimage.ImageName }

func (ctl containerdControls) HaveImage(ref string) error {
	return ctl.c.TagImage(context.Background(), testimage.ImageName, ref)
}

func (ctl containerdControls) Kill(id string) error {
	ctx := context.Background()
	ctr, err := ctl.c.Client().LoadContainer(ctx, id)
	if err != nil {
		return err
	}
	task, err := ctr.Task(ctx, nil)
	if err != nil {
		return err
	}
	return task.Kill(ctx, syscall.SIGKILL)
}

func (ctl containerdControls) Reopen() (runtime.Runtime, error) {
	c, err := ctl.env.open(ctl.t, context.Background())
	if err != nil {
		return nil, err
	}
	ctl.t.Cleanup(func() { c.Close() })
	return c, nil
}

func TestContainerd(t *testing.T) {
	env := startContainerd(t)

	t.Run("Contract", func(t *testing.T) {
		runtimetest.RunContract(t, func(t *testing.T) (runtime.Runtime, runtimetest.Controls) {
			c := env.newRuntime(t)
			return c, containerdControls{t: t, env: env, c: c}
		})
	})

	t.Run("SpecAndLogs", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		c := env.newRuntime(t)
		host := t.TempDir()
		if err := os.WriteFile(filepath.Join(host, "f"), []byte("from-host"), 0o644); err != nil {
			t.Fatal(err)
		}
		id, err := c.Create(ctx, runtime.ContainerSpec{
			PodUID: "pod-log", PodName: "web-0", Namespace: "default", Name: "app",
			Image:      testimage.ImageName,
			Command:    []string{"sh", "-c"},
			Args:       []string{`echo out:$A; echo err:$(hostname) >&2; pwd; cat /data/f; touch /data/x || echo ro; touch /scratch/y && echo tmpfs-ok`},
			Env:        []string{"A=value-a"},
			WorkingDir: "/tmp",
			Mounts: []runtime.Mount{
				{Source: host, Destination: "/data", ReadOnly: true},
				{Destination: "/scratch", Type: "tmpfs"},
			},
			CPUQuotaMillis:   500,
			MemoryLimitBytes: 64 << 20,
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Start(ctx, id); err != nil {
			t.Fatal(err)
		}
		st := waitExited(t, c, id)
		if st.ExitCode != 0 || st.OOMKilled {
			t.Errorf("status = %+v, want exit 0", st)
		}
		// The shim copies stdout and stderr on their own; the exit can be
		// reported before the last of it reaches the file.
		wants := []string{"out:value-a\n", "err:web-0\n", "/tmp\n", "from-host", "ro\n", "tmpfs-ok\n"}
		var b []byte
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if b, err = os.ReadFile(c.LogPath(id)); err != nil {
				t.Fatal(err)
			}
			missing := 0
			for _, want := range wants {
				if !strings.Contains(string(b), want) {
					missing++
				}
			}
			if missing == 0 || time.Now().After(deadline) {
				break
			}
		}
		for _, want := range wants {
			if !strings.Contains(string(b), want) {
				t.Errorf("log lacks %q:\n%s", want, b)
			}
		}
		if err := c.Remove(ctx, id); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(c.LogPath(id)); !os.IsNotExist(err) {
			t.Errorf("log file survives Remove: %v", err)
		}
	})

	t.Run("OOMKilled", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		c := env.newRuntime(t)
		id, err := c.Create(ctx, runtime.ContainerSpec{
			PodUID: "pod-oom", Name: "hog", Image: testimage.ImageName,
			// Doubles a shell variable until the cgroup limit kills it.
			Command:          []string{"sh", "-c", "x=0123456789abcdef; while true; do x=$x$x; done"},
			MemoryLimitBytes: 16 << 20,
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Start(ctx, id); err != nil {
			t.Fatal(err)
		}
		st := waitExited(t, c, id)
		if st.ExitCode != 137 {
			t.Fatalf("exit code %d, want 137 (killed)", st.ExitCode)
		}
		// The OOM event may trail the exit a little.
		deadline := time.Now().Add(5 * time.Second)
		for !st.OOMKilled && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
			st = waitExited(t, c, id)
		}
		if !st.OOMKilled {
			t.Errorf("status = %+v, want OOMKilled", st)
		}
	})
}

func waitExited(t *testing.T, c *runtime.Containerd, id string) runtime.ContainerStatus {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		l, err := c.List(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range l {
			if st.ID == id && st.State == runtime.StateExited {
				return st
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("container %s has not exited after 10s: %+v", id, l)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type logWriter struct{ t *testing.T }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
