package runtime

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/clock"
)

// Fake is an in-memory Runtime for unit tests. It keeps images and
// containers in a store that Reopen shares with a new Fake, which is how a
// test simulates an agent restart. Timestamps come from the injected clock.
// Containers do nothing on their own: they run until Stop, Remove or the
// Exit hook. A Fake is safe for concurrent use.
//
// Image references are compared verbatim (no Docker Hub normalisation).
//
// Exec runs no process: it calls the handler set with SetExec, or by
// default interprets the few commands the contract suite runs (see
// FakeShell). Stats reports what SetStats last set (zero by default). Logs are real files under a directory of the Fake's own
// (SetLogDir), which tests fill with WriteLog.
type Fake struct {
	clk clock.Clock
	s   *fakeStore
}

type fakeStore struct {
	mu         sync.Mutex
	local      map[string]bool // images on the node
	remote     map[string]bool // images a pull would find
	pulls      []string
	containers map[string]*fakeContainer
	exec       func(spec ContainerSpec, opts ExecOptions) int // nil means FakeShell
	logDir     string
}

type fakeContainer struct {
	spec   ContainerSpec
	status ContainerStatus
	stats  ContainerStats // At is ignored: Stats stamps the clock's time
}

var _ Runtime = (*Fake)(nil)

// fakeSeq numbers Fakes, to give each its own log directory.
var fakeSeq atomic.Int64

// NewFake returns an empty Fake whose timestamps come from clk. Its log
// directory is a fresh name under os.TempDir(), created by the first
// WriteLog; tests that write logs should SetLogDir(t.TempDir()).
func NewFake(clk clock.Clock) *Fake {
	return &Fake{clk: clk, s: &fakeStore{
		local:      map[string]bool{},
		remote:     map[string]bool{},
		containers: map[string]*fakeContainer{},
		logDir:     filepath.Join(os.TempDir(), fmt.Sprintf("shoal-fake-logs-%d-%d", os.Getpid(), fakeSeq.Add(1))),
	}}
}

// Reopen returns a new Fake over the same images and containers, as a
// restarted agent would see containerd.
func (f *Fake) Reopen() *Fake { return &Fake{clk: f.clk, s: f.s} }

// AddImage puts image ref on the node, as `shoal image import` would.
func (f *Fake) AddImage(ref string) {
	f.s.mu.Lock()
	defer f.s.mu.Unlock()
	f.s.local[ref] = true
}

// AddRemoteImage makes image ref pullable; without it every pull fails
// with ErrImagePull, as it does on machines with no registry.
func (f *Fake) AddRemoteImage(ref string) {
	f.s.mu.Lock()
	defer f.s.mu.Unlock()
	f.s.remote[ref] = true
}

// Pulls returns the references pulled so far, in order, so a test can check
// that a pull policy caused (or avoided) a pull.
func (f *Fake) Pulls() []string {
	f.s.mu.Lock()
	defer f.s.mu.Unlock()
	return slices.Clone(f.s.pulls)
}

// Spec returns the spec container id was created with, so a test can check
// what the reconciler asked for (env, mounts, limits).
func (f *Fake) Spec(id string) (ContainerSpec, bool) {
	f.s.mu.Lock()
	defer f.s.mu.Unlock()
	c, ok := f.s.containers[id]
	if !ok {
		return ContainerSpec{}, false
	}
	return cloneSpec(c.spec), true
}

// Exit makes running container id exit with code, as if its process had
// ended on its own (or been OOM-killed, when oom is set: use code 137).
func (f *Fake) Exit(id string, code int32, oom bool) error {
	f.s.mu.Lock()
	defer f.s.mu.Unlock()
	c, ok := f.s.containers[id]
	if !ok {
		return fmt.Errorf("container %s: %w", id, ErrNotFound)
	}
	if c.status.State != StateRunning {
		return fmt.Errorf("container %s: is %s, not running", id, c.status.State)
	}
	f.exitLocked(c, code, oom)
	return nil
}

func (f *Fake) exitLocked(c *fakeContainer, code int32, oom bool) {
	c.status.State = StateExited
	c.status.ExitCode = code
	c.status.OOMKilled = oom
	c.status.FinishedAt = f.clk.Now()
}

// EnsureImage implements Runtime.
func (f *Fake) EnsureImage(ctx context.Context, ref string, policy api.PullPolicy) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f.s.mu.Lock()
	defer f.s.mu.Unlock()
	switch policy {
	case api.PullNever:
		if !f.s.local[ref] {
			return fmt.Errorf("%w: %s is not on this node and imagePullPolicy is Never (import it with `shoal image import`)", ErrImageNotPresent, ref)
		}
		return nil
	case api.PullIfNotPresent, "":
		if f.s.local[ref] {
			return nil
		}
	case api.PullAlways:
	default:
		return fmt.Errorf("image %s: imagePullPolicy %q is not Always, IfNotPresent or Never", ref, policy)
	}
	f.s.pulls = append(f.s.pulls, ref)
	if !f.s.remote[ref] {
		return fmt.Errorf("%w: %s: no registry serves it (fake)", ErrImagePull, ref)
	}
	f.s.local[ref] = true
	return nil
}

// Create implements Runtime.
func (f *Fake) Create(ctx context.Context, spec ContainerSpec) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if err := checkSpec(spec); err != nil {
		return "", err
	}
	id := containerID(spec.PodUID, spec.Name, spec.Attempt)
	f.s.mu.Lock()
	defer f.s.mu.Unlock()
	if _, ok := f.s.containers[id]; ok {
		return id, fmt.Errorf("container %s of pod %s (attempt %d): %w", spec.Name, spec.PodUID, spec.Attempt, ErrAlreadyExists)
	}
	if !f.s.local[spec.Image] {
		return "", fmt.Errorf("container %s of pod %s: %w: %s (call EnsureImage first)", spec.Name, spec.PodUID, ErrImageNotPresent, spec.Image)
	}
	spec = cloneSpec(spec)
	st := statusFromLabels(id, labelsFor(spec))
	st.Image = spec.Image
	st.State = StateCreated
	f.s.containers[id] = &fakeContainer{spec: spec, status: st}
	return id, nil
}

// Start implements Runtime.
func (f *Fake) Start(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f.s.mu.Lock()
	defer f.s.mu.Unlock()
	c, ok := f.s.containers[id]
	if !ok {
		return fmt.Errorf("start container %s: %w", id, ErrNotFound)
	}
	switch c.status.State {
	case StateRunning:
		return nil
	case StateCreated:
		c.status.State = StateRunning
		c.status.StartedAt = f.clk.Now()
		return nil
	default:
		return fmt.Errorf("start container %s: it is %s; create the next attempt instead", id, c.status.State)
	}
}

// Stop implements Runtime. The fake process honours SIGTERM at once, so
// the exit code is 143 (128+SIGTERM) whatever grace is.
func (f *Fake) Stop(ctx context.Context, id string, grace time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f.s.mu.Lock()
	defer f.s.mu.Unlock()
	if c, ok := f.s.containers[id]; ok && c.status.State == StateRunning {
		f.exitLocked(c, 143, false)
	}
	return nil
}

// Remove implements Runtime. Like Containerd's, it deletes the
// container's log file, and the rotated copy too.
func (f *Fake) Remove(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f.s.mu.Lock()
	defer f.s.mu.Unlock()
	delete(f.s.containers, id)
	p := filepath.Join(f.s.logDir, id+".log")
	os.Remove(p)
	os.Remove(p + ".1")
	return nil
}

// List implements Runtime.
func (f *Fake) List(ctx context.Context) ([]ContainerStatus, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f.s.mu.Lock()
	defer f.s.mu.Unlock()
	out := make([]ContainerStatus, 0, len(f.s.containers))
	for _, c := range f.s.containers {
		st := c.status
		st.Labels = cloneMap(st.Labels)
		out = append(out, st)
	}
	sortStatuses(out)
	return out, nil
}

func sortStatuses(s []ContainerStatus) {
	slices.SortFunc(s, func(a, b ContainerStatus) int {
		if c := strings.Compare(a.PodUID, b.PodUID); c != 0 {
			return c
		}
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return int(int64(a.Attempt) - int64(b.Attempt))
	})
}

// checkSpec rejects a spec no Runtime can create.
func checkSpec(spec ContainerSpec) error {
	switch {
	case spec.PodUID == "":
		return fmt.Errorf("container %q: PodUID is empty", spec.Name)
	case spec.Name == "":
		return fmt.Errorf("pod %s: container Name is empty", spec.PodUID)
	case spec.Image == "":
		return fmt.Errorf("container %s of pod %s: Image is empty", spec.Name, spec.PodUID)
	}
	for k := range spec.Labels {
		if strings.HasPrefix(k, "io.shoal.") {
			return fmt.Errorf("container %s of pod %s: label %q: the io.shoal. prefix is reserved for the runtime", spec.Name, spec.PodUID, k)
		}
	}
	for i, m := range spec.Mounts {
		if m.Type != "" && m.Type != "bind" && m.Type != "tmpfs" {
			return fmt.Errorf("container %s of pod %s: Mounts[%d].Type %q: want bind or tmpfs", spec.Name, spec.PodUID, i, m.Type)
		}
	}
	return nil
}

func cloneSpec(s ContainerSpec) ContainerSpec {
	s.Command = slices.Clone(s.Command)
	s.Args = slices.Clone(s.Args)
	s.Env = slices.Clone(s.Env)
	s.Mounts = slices.Clone(s.Mounts)
	s.Labels = cloneMap(s.Labels)
	return s
}

func cloneMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// SetExec makes fn handle every later Exec in a running container: it
// gets the container's spec and the options (Stdout and Stderr never nil;
// with TTY both are the same writer) and returns the exit code. A nil fn
// restores FakeShell. Tests use it to script exec probes and `shoal exec`.
func (f *Fake) SetExec(fn func(spec ContainerSpec, opts ExecOptions) int) {
	f.s.mu.Lock()
	defer f.s.mu.Unlock()
	f.s.exec = fn
}

// Exec implements Runtime by calling the SetExec handler, or FakeShell. If
// ctx ends first, Exec returns ctx's error at once; the handler, which the
// Fake cannot kill, is left to finish on its own.
func (f *Fake) Exec(ctx context.Context, id string, opts ExecOptions) (int, error) {
	if err := ctx.Err(); err != nil {
		return -1, err
	}
	if len(opts.Command) == 0 {
		return -1, fmt.Errorf("exec in container %s: no command given", id)
	}
	f.s.mu.Lock()
	c, ok := f.s.containers[id]
	if !ok {
		f.s.mu.Unlock()
		return -1, fmt.Errorf("exec in container %s: %w", id, ErrNotFound)
	}
	if c.status.State != StateRunning {
		f.s.mu.Unlock()
		return -1, fmt.Errorf("exec in container %s: %w (it is %s)", id, ErrNotRunning, c.status.State)
	}
	spec, fn := cloneSpec(c.spec), f.s.exec
	f.s.mu.Unlock()
	if fn == nil {
		fn = FakeShell
	}
	if opts.Stdout == nil {
		opts.Stdout = io.Discard
	}
	switch {
	case opts.TTY:
		opts.Stderr = opts.Stdout // a terminal has one output
	case opts.Stderr == nil:
		opts.Stderr = io.Discard
	}
	opts.Command = slices.Clone(opts.Command)
	done := make(chan int, 1)
	go func() { done <- fn(spec, opts) }()
	select {
	case code := <-done:
		return code, nil
	case <-ctx.Done():
		return -1, fmt.Errorf("exec in container %s: %w", id, ctx.Err())
	}
}

// FakeShell is the Fake's default exec handler. It runs no process; it
// interprets just enough to pass the contract suite and to script simple
// tests: the commands echo [-n] ARGS, cat (stdin to stdout), true, false
// and exit [N], given directly or as `sh -c SCRIPT` where SCRIPT is
// statements separated by ";" or newlines, each optionally ending in
// ">&2" to write to stderr. In a script, words may be quoted with ' or "
// (without escapes), and a word that is exactly $NAME becomes the value
// of NAME in the container's env. Anything else fails with 127, as a
// shell would. It is safe for concurrent use.
func FakeShell(spec ContainerSpec, opts ExecOptions) int {
	argv := opts.Command
	if len(argv) == 3 && (argv[0] == "sh" || argv[0] == "/bin/sh") && argv[1] == "-c" {
		status := 0
		for _, stmt := range strings.FieldsFunc(argv[2], func(r rune) bool { return r == ';' || r == '\n' }) {
			words := splitWords(stmt)
			if len(words) == 0 {
				continue
			}
			var exit bool
			status, exit = fakeCommand(expandEnv(words, spec.Env), opts)
			if exit {
				break
			}
		}
		return status
	}
	status, _ := fakeCommand(argv, opts)
	return status
}

// expandEnv replaces each word that is exactly $NAME with NAME's value in
// env ("KEY=value" entries; empty when unset).
func expandEnv(words, env []string) []string {
	for i, w := range words {
		name, ok := strings.CutPrefix(w, "$")
		if !ok || name == "" {
			continue
		}
		words[i] = ""
		for _, kv := range env {
			if k, v, _ := strings.Cut(kv, "="); k == name {
				words[i] = v
			}
		}
	}
	return words
}

// fakeCommand runs one FakeShell command; exit reports an `exit`.
func fakeCommand(words []string, opts ExecOptions) (status int, exit bool) {
	out := opts.Stdout
	if n := len(words); n > 1 && words[n-1] == ">&2" {
		out, words = opts.Stderr, words[:n-1]
	}
	switch words[0] {
	case "echo":
		args, nl := words[1:], "\n"
		if len(args) > 0 && args[0] == "-n" {
			args, nl = args[1:], ""
		}
		io.WriteString(out, strings.Join(args, " ")+nl)
		return 0, false
	case "cat":
		if len(words) > 1 {
			fmt.Fprintf(opts.Stderr, "cat: %s: No such file or directory\n", words[1])
			return 1, false
		}
		if opts.Stdin != nil {
			io.Copy(out, opts.Stdin)
		}
		return 0, false
	case "true":
		return 0, false
	case "false":
		return 1, false
	case "exit":
		if len(words) == 1 {
			return 0, true
		}
		n, err := strconv.Atoi(words[1])
		if err != nil {
			fmt.Fprintf(opts.Stderr, "sh: exit: Illegal number: %s\n", words[1])
			return 2, true
		}
		return n & 0xff, true
	}
	fmt.Fprintf(opts.Stderr, "sh: %s: not found\n", words[0])
	return 127, false
}

// splitWords splits a FakeShell statement into words, honouring ' and "
// quotes (without escapes).
func splitWords(s string) []string {
	var words []string
	var cur strings.Builder
	inWord := false
	var quote rune
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

// SetLogDir makes the Fake keep its containers' logs under dir (shared
// with Fakes from Reopen). Call it before the first WriteLog.
func (f *Fake) SetLogDir(dir string) {
	f.s.mu.Lock()
	defer f.s.mu.Unlock()
	f.s.logDir = dir
}

// LogPath implements Runtime: <log dir>/<id>.log, as Containerd's.
func (f *Fake) LogPath(id string) string {
	f.s.mu.Lock()
	defer f.s.mu.Unlock()
	return filepath.Join(f.s.logDir, id+".log")
}

// WriteLog appends text to container id's log, as the container's output
// would be; the container need not exist.
func (f *Fake) WriteLog(id, text string) error {
	p := f.LogPath(id)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	fh, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	_, err = io.WriteString(fh, text)
	if cerr := fh.Close(); err == nil {
		err = cerr
	}
	return err
}

// ListPod implements PodLister: List, restricted to one pod.
func (f *Fake) ListPod(ctx context.Context, podUID string) ([]ContainerStatus, error) {
	all, err := f.List(ctx)
	var out []ContainerStatus
	for _, c := range all {
		if c.PodUID == podUID {
			out = append(out, c)
		}
	}
	return out, err
}
