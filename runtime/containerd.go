package runtime

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/shoal-dev/shoal/clock"
)

// Supervisor runs the node's own containerd as a child process, in the
// manner of k3s: its config, root, state and socket live under one
// directory, it is restarted with back-off (1 s doubling to 30 s) if it
// dies, and it is stopped with the agent. Containers outlive a containerd
// restart: their shims keep them running.
//
// Set Clock, Binary and StateDir, if at all, before Start. Start and Stop may be
// called from any goroutine; Socket at any time.
type Supervisor struct {
	// Clock times back-off, the readiness deadline and the stop grace.
	// It defaults to the wall clock.
	Clock clock.Clock
	// Binary is the containerd executable, looked up in PATH. It defaults
	// to "containerd".
	Binary string
	// StateDir is containerd's state: tasks, shim sockets, bundles. Keep it
	// on a tmpfs so a reboot clears it, as /run/containerd is. It defaults
	// to <dir>/state.
	StateDir string

	dir    string
	socket string
	logger *slog.Logger

	mu       sync.Mutex
	started  bool
	stopping bool
	cmd      *exec.Cmd
	exited   chan struct{} // closed when cmd has exited
	stopCh   chan struct{} // closed by Stop
	loopDone chan struct{} // closed when the restart loop has returned
}

const (
	readyTimeout = 30 * time.Second
	stopGrace    = 10 * time.Second
	minBackoff   = time.Second
	maxBackoff   = 30 * time.Second
	// A child that ran this long before dying restarts after minBackoff.
	stableAfter = time.Minute
	// containerd refuses socket paths over 104 bytes (the smallest limit
	// of the systems it runs on), and puts its ttrpc socket at the gRPC
	// path plus ".ttrpc".
	maxSocketPath = 104 - len(".ttrpc")
)

// NewSupervisor returns a Supervisor for a containerd living under dir.
// Nothing happens until Start.
func NewSupervisor(dir string, logger *slog.Logger) *Supervisor {
	if logger == nil {
		logger = slog.Default()
	}
	return &Supervisor{
		Clock:  clock.Real{},
		Binary: "containerd",
		dir:    dir,
		socket: socketPath(dir),
		logger: logger.With("component", "containerd"),
	}
}

// socketPath is dir/containerd.sock, or a short path under /run/shoal named
// by a hash of dir when that would be too long for a unix socket.
func socketPath(dir string) string {
	p := filepath.Join(dir, "containerd.sock")
	if len(p) <= maxSocketPath {
		return p
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		abs = dir
	}
	h := sha256.Sum256([]byte(abs))
	return filepath.Join("/run/shoal", hex.EncodeToString(h[:8]), "containerd.sock")
}

func (s *Supervisor) stateDir() string {
	if s.StateDir != "" {
		return s.StateDir
	}
	return filepath.Join(s.dir, "state")
}

// Socket is the address of containerd's gRPC socket.
func (s *Supervisor) Socket() string { return s.socket }

// LogPath is the file containerd's own output is appended to.
func (s *Supervisor) LogPath() string { return filepath.Join(s.dir, "containerd.log") }

// ConfigPath is the config file Start writes.
func (s *Supervisor) ConfigPath() string { return filepath.Join(s.dir, "config.toml") }

func (s *Supervisor) config() []byte {
	var b bytes.Buffer
	b.WriteString("# Written by shoal on every start; edits are lost.\n")
	b.WriteString("version = 2\n")
	fmt.Fprintf(&b, "root = %q\n", filepath.Join(s.dir, "root"))
	fmt.Fprintf(&b, "state = %q\n", s.stateDir())
	b.WriteString("disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\n")
	b.WriteString("[grpc]\n")
	fmt.Fprintf(&b, "  address = %q\n", s.socket)
	return b.Bytes()
}

// Start writes dir/config.toml, starts containerd and waits until its socket
// accepts connections (at most 30 s, or until ctx is done). From then on the
// Supervisor restarts containerd whenever it dies, until Stop. ctx bounds
// only the wait: it does not stop containerd.
func (s *Supervisor) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return errors.New("containerd supervisor: already started")
	}
	bin, err := exec.LookPath(s.Binary)
	if err != nil {
		return fmt.Errorf("containerd supervisor: %s not found in PATH (install containerd: apt-get install -y containerd runc): %w", s.Binary, err)
	}
	for _, d := range []string{s.dir, filepath.Join(s.dir, "root"), s.stateDir(), filepath.Dir(s.socket)} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("containerd supervisor: %w", err)
		}
	}
	if err := os.WriteFile(s.ConfigPath(), s.config(), 0o600); err != nil {
		return fmt.Errorf("containerd supervisor: %w", err)
	}
	if err := s.spawnLocked(bin); err != nil {
		return err
	}
	if err := s.waitReady(ctx, s.exited); err != nil {
		s.killLocked()
		return err
	}
	s.started = true
	s.stopCh = make(chan struct{})
	s.loopDone = make(chan struct{})
	go s.loop(bin)
	return nil
}

// spawnLocked starts one containerd process. s.mu is held.
func (s *Supervisor) spawnLocked(bin string) error {
	cmd := exec.Command(bin, "--config", s.ConfigPath())
	// containerd's output goes to a file, not a pipe to the agent: shims
	// inherit it, and a shim that wrote to a pipe whose reader (a stopped
	// agent) is gone would die of SIGPIPE and take its container's state
	// with it.
	logf, err := os.OpenFile(s.LogPath(), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("containerd supervisor: %w", err)
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid: true, // a ^C to the agent is the agent's to handle
		// If the agent dies without Stop, containerd dies too, so the
		// next agent can start its own; the shims keep the containers.
		Pdeathsig: syscall.SIGKILL,
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("containerd supervisor: start %s: %w", bin, err)
	}
	exited := make(chan struct{})
	go func() {
		err := cmd.Wait()
		s.logger.Debug("containerd exited", "pid", cmd.Process.Pid, "err", err)
		close(exited)
	}()
	s.cmd, s.exited = cmd, exited
	s.logger.Info("containerd started", "pid", cmd.Process.Pid, "socket", s.socket)
	return nil
}

// lastWords is the last line containerd wrote to its log, as ": line",
// or "" when there is none: what it said when it gave up.
func (s *Supervisor) lastWords() string {
	b, err := os.ReadFile(s.LogPath())
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if last := strings.TrimSpace(lines[len(lines)-1]); last != "" {
		return ": " + last
	}
	return ""
}

// killLocked kills the current child and waits for it. s.mu is held.
func (s *Supervisor) killLocked() {
	_ = s.cmd.Process.Kill()
	<-s.exited
}

// waitReady polls the socket until it accepts a connection.
func (s *Supervisor) waitReady(ctx context.Context, exited <-chan struct{}) error {
	deadline := s.Clock.After(readyTimeout)
	tick := s.Clock.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if c, err := net.DialTimeout("unix", s.socket, time.Second); err == nil {
			c.Close()
			return nil
		}
		select {
		case <-tick.C():
		case <-exited:
			return fmt.Errorf("containerd supervisor: containerd exited before its socket %s answered%s (see %s, or run `%s --config %s`)", s.socket, s.lastWords(), s.LogPath(), s.Binary, s.ConfigPath())
		case <-deadline:
			return fmt.Errorf("containerd supervisor: socket %s did not answer within %s", s.socket, readyTimeout)
		case <-ctx.Done():
			return fmt.Errorf("containerd supervisor: waiting for %s: %w", s.socket, ctx.Err())
		}
	}
}

// loop restarts containerd whenever it exits, until Stop.
func (s *Supervisor) loop(bin string) {
	defer close(s.loopDone)
	backoff := minBackoff
	s.mu.Lock()
	exited, since := s.exited, s.Clock.Now()
	s.mu.Unlock()
	for {
		select {
		case <-exited:
		case <-s.stopCh:
			return
		}
		if s.Clock.Now().Sub(since) >= stableAfter {
			backoff = minBackoff
		}
		s.logger.Warn("containerd died; restarting", "after", backoff)
		select {
		case <-s.Clock.After(backoff):
		case <-s.stopCh:
			return
		}
		backoff = min(2*backoff, maxBackoff)

		s.mu.Lock()
		if s.stopping {
			s.mu.Unlock()
			return
		}
		err := s.spawnLocked(bin)
		if err != nil {
			s.logger.Error("containerd restart failed", "err", err)
			// Leave s.exited as the closed channel: wait backoff again.
		}
		exited, since = s.exited, s.Clock.Now()
		s.mu.Unlock()
	}
}

// pid is the current child's process ID, for tests.
func (s *Supervisor) pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// Stop stops containerd (SIGTERM, then SIGKILL after 10 s), waits for it to
// exit and ends supervision: it is not restarted afterwards. Stop is
// idempotent and a no-op before Start.
func (s *Supervisor) Stop() error {
	s.mu.Lock()
	if !s.started || s.stopping {
		s.mu.Unlock()
		if s.loopDone != nil {
			<-s.loopDone
		}
		return nil
	}
	s.stopping = true
	close(s.stopCh)
	s.mu.Unlock()
	<-s.loopDone // no restart can happen from here on

	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.mu.Unlock()
	select {
	case <-exited:
		return nil
	default:
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("containerd supervisor: SIGTERM pid %d: %w", cmd.Process.Pid, err)
	}
	select {
	case <-exited:
		s.logger.Info("containerd stopped")
		return nil
	case <-s.Clock.After(stopGrace):
	}
	s.logger.Warn("containerd ignored SIGTERM; killing it", "grace", stopGrace)
	if err := cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("containerd supervisor: SIGKILL pid %d: %w", cmd.Process.Pid, err)
	}
	<-exited
	return nil
}
