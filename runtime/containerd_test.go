package runtime

import (
	"context"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestSocketPathStaysShort(t *testing.T) {
	if got := socketPath("/var/lib/shoal/containerd"); got != "/var/lib/shoal/containerd/containerd.sock" {
		t.Errorf("short dir: %s", got)
	}
	long := "/" + strings.Repeat("d", 120)
	got := socketPath(long)
	if len(got) > maxSocketPath || !strings.HasPrefix(got, "/run/shoal/") {
		t.Errorf("long dir: %s", got)
	}
	if socketPath(long+"x") == got {
		t.Error("two long dirs share a socket")
	}
	// containerd refuses a ttrpc socket path (the gRPC path + ".ttrpc")
	// over 104 bytes: a 99-byte gRPC path is one byte too long.
	edge := "/" + strings.Repeat("e", 99-len("/containerd.sock")-1)
	if got := socketPath(edge); len(got)+len(".ttrpc") > 104 {
		t.Errorf("dir of %d bytes: socket %s (%d bytes) makes a ttrpc path containerd refuses", len(edge), got, len(got))
	}
}

func TestSupervisorConfig(t *testing.T) {
	s := NewSupervisor("/data/containerd", nil)
	cfg := string(s.config())
	for _, want := range []string{
		"version = 2\n",
		`root = "/data/containerd/root"`,
		`state = "/data/containerd/state"`,
		`disabled_plugins = ["io.containerd.grpc.v1.cri"]`,
		"[grpc]\n  address = \"/data/containerd/containerd.sock\"",
	} {
		if !strings.Contains(cfg, want) {
			t.Errorf("config lacks %q:\n%s", want, cfg)
		}
	}
}

func TestSupervisorMissingBinary(t *testing.T) {
	s := NewSupervisor(t.TempDir(), nil)
	s.Binary = "containerd-not-installed-here"
	err := s.Start(context.Background())
	if err == nil || !strings.Contains(err.Error(), "apt-get install -y containerd runc") {
		t.Fatalf("Start = %v, want a hint to install containerd", err)
	}
	if err := s.Stop(); err != nil {
		t.Errorf("Stop after a failed Start: %v", err)
	}
}

// TestSupervisor runs the real containerd: it needs root and containerd in
// PATH, as CI has.
func TestSupervisor(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	if _, err := exec.LookPath("containerd"); err != nil {
		t.Skip("containerd not in PATH (apt-get install -y containerd runc)")
	}
	dir, err := os.MkdirTemp("", "shoal-ctd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	logger := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	s := NewSupervisor(dir, logger)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	t.Cleanup(func() { s.Stop() })

	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if !answers(s.Socket()) {
		t.Fatal("socket does not answer after Start")
	}
	if err := s.Start(ctx); err == nil {
		t.Error("second Start succeeded")
	}

	old := s.pid()
	if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(ctx, t, "a restarted containerd answering", func() bool {
		p := s.pid()
		return p != old && p != 0 && alive(p) && answers(s.Socket())
	})
	if alive(old) {
		t.Errorf("killed pid %d is still alive", old)
	}

	cur := s.pid()
	if err := s.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if alive(cur) {
		t.Errorf("pid %d alive after Stop", cur)
	}
	if answers(s.Socket()) {
		t.Error("socket answers after Stop")
	}
	// No restart after Stop: give the loop more than the first back-off.
	time.Sleep(1500 * time.Millisecond)
	if p := s.pid(); p != cur || answers(s.Socket()) {
		t.Errorf("containerd came back after Stop (pid %d, was %d)", p, cur)
	}
	if err := s.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

func answers(sock string) bool {
	c, err := net.DialTimeout("unix", sock, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// Field 3, after "(comm)", is the state; Z is a zombie.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

func waitFor(ctx context.Context, t *testing.T, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
