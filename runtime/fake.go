package runtime

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
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
}

type fakeContainer struct {
	spec   ContainerSpec
	status ContainerStatus
}

var _ Runtime = (*Fake)(nil)

// NewFake returns an empty Fake whose timestamps come from clk.
func NewFake(clk clock.Clock) *Fake {
	return &Fake{clk: clk, s: &fakeStore{
		local:      map[string]bool{},
		remote:     map[string]bool{},
		containers: map[string]*fakeContainer{},
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

// Remove implements Runtime.
func (f *Fake) Remove(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f.s.mu.Lock()
	defer f.s.mu.Unlock()
	delete(f.s.containers, id)
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
