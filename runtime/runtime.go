package runtime

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/shoal-dev/shoal/api"
)

// Namespace is the containerd namespace that holds shoal's containers.
const Namespace = "shoal"

// Labels that a Runtime puts on every container it creates, so that List can
// tell, after an agent restart, which pod container each one is. Callers
// must not set keys with the "io.shoal." prefix in ContainerSpec.Labels;
// Create rejects them.
const (
	LabelPodUID    = "io.shoal.pod.uid"
	LabelPodName   = "io.shoal.pod.name"
	LabelNamespace = "io.shoal.pod.namespace"
	LabelContainer = "io.shoal.container.name"
	LabelAttempt   = "io.shoal.container.attempt"
)

// reservedLabelPrefix starts every label key that belongs to the runtime.
const reservedLabelPrefix = "io.shoal."

// Sentinel errors. Runtimes wrap them with the object and what to do.
var (
	// ErrNotFound: no container has that ID.
	ErrNotFound = errors.New("runtime: container not found")
	// ErrAlreadyExists: Create found the container already there; the ID
	// it returns alongside is the existing container's.
	ErrAlreadyExists = errors.New("runtime: container already exists")
	// ErrImageNotPresent: the image is not on this node and the pull
	// policy forbids pulling it (Never), or Create was asked for an image
	// that EnsureImage has not put in place.
	ErrImageNotPresent = errors.New("runtime: image not present")
	// ErrImagePull: pulling the image failed (registry unreachable, no
	// such image, not authorised). The reconciler reports it as
	// ErrImagePull / ImagePullBackOff with the wrapped reason.
	ErrImagePull = errors.New("runtime: image pull failed")
	// ErrNotRunning: the container exists but its process does not run
	// (created and never started, or exited), so nothing can be run
	// inside it.
	ErrNotRunning = errors.New("runtime: container not running")
)

// Mount is one filesystem mount inside a container.
type Mount struct {
	Source      string // host path; ignored for tmpfs
	Destination string // path inside the container
	ReadOnly    bool
	Type        string // "bind" (the default when empty) or "tmpfs"
}

// ContainerSpec is everything a Runtime needs to create one container of a
// pod. The reconciler has already resolved env (valueFrom, envFrom),
// volumes (Source paths on the host) and the pod's network namespace.
type ContainerSpec struct {
	PodUID    string // required
	PodName   string
	Namespace string // the pod's namespace, not containerd's
	Name      string // container name in the pod; required
	// Attempt counts the creations of this container in this pod (0 for
	// the first). A restart creates attempt n+1 and may keep attempt n
	// around for `shoal logs --previous` and lastState.
	Attempt uint32

	Image      string // required; must be present (see EnsureImage)
	Command    []string
	Args       []string
	Env        []string // "KEY=value"
	WorkingDir string
	NetNSPath  string // the pod's network namespace; empty means the host's
	Mounts     []Mount

	CPUQuotaMillis   int64 // 0 means no limit
	MemoryLimitBytes int64 // 0 means no limit

	// Labels are extra labels the caller wants back from List (a spec
	// hash, for example). Keys starting with "io.shoal." are reserved.
	Labels map[string]string
}

// ContainerState is where a container is in its life.
type ContainerState string

const (
	StateCreated ContainerState = "created" // created, never started
	StateRunning ContainerState = "running"
	StateExited  ContainerState = "exited"
	StateUnknown ContainerState = "unknown" // the runtime cannot tell
)

// ContainerStatus is what List reports about one container.
type ContainerStatus struct {
	ID        string
	PodUID    string
	PodName   string
	Namespace string
	Name      string
	Attempt   uint32
	Image     string

	State      ContainerState
	StartedAt  time.Time // zero until started
	FinishedAt time.Time // zero until exited
	ExitCode   int32     // meaningful once exited; 128+n when killed by signal n
	OOMKilled  bool

	Labels map[string]string // the caller's labels from ContainerSpec
}

// Runtime is the seam between the reconciler and containerd. Every method
// is safe for concurrent use and takes the reconciler's context.
type Runtime interface {
	// EnsureImage makes image ref present on this node as policy says:
	// Always pulls; IfNotPresent pulls only when missing; Never only
	// checks. An empty policy means IfNotPresent. Errors wrap
	// ErrImageNotPresent (Never and missing) or ErrImagePull.
	EnsureImage(ctx context.Context, ref string, policy api.PullPolicy) error

	// Create creates the container, not started. It is idempotent on
	// (PodUID, Name, Attempt): if that container exists, Create returns
	// its ID and an error wrapping ErrAlreadyExists. The image must be
	// present, or the error wraps ErrImageNotPresent.
	Create(ctx context.Context, spec ContainerSpec) (id string, err error)

	// Start starts a created container. Starting a running container is a
	// no-op; starting an exited one is an error (create the next attempt
	// instead). An unknown ID gives ErrNotFound.
	Start(ctx context.Context, id string) error

	// Stop sends SIGTERM, then SIGKILL once grace has passed, and returns
	// when the container has exited. Stopping a container that is not
	// running, or that does not exist, is a no-op.
	Stop(ctx context.Context, id string, grace time.Duration) error

	// Remove deletes the container, killing it first if it runs.
	// Removing a container that does not exist is a no-op.
	Remove(ctx context.Context, id string) error

	// List returns every container shoal owns on this node, in any state,
	// sorted by (PodUID, Name, Attempt). It reads the runtime's own
	// records, so after an agent restart it shows what the previous agent
	// left running.
	List(ctx context.Context) ([]ContainerStatus, error)

	// Exec runs opts.Command inside running container id, in its
	// namespaces and with the env and working directory of its process,
	// wiring opts' streams, and returns the command's exit code once it
	// has exited and its output has been copied. It does not change the
	// container: Exec is as idempotent as the command it runs. A
	// container that is not running gives an error wrapping
	// ErrNotRunning; an unknown ID, ErrNotFound. When ctx ends the
	// command is killed and Exec returns ctx's error.
	Exec(ctx context.Context, id string, opts ExecOptions) (exitCode int, err error)

	// LogPath is the file that container id's stdout and stderr are
	// appended to, whether or not it exists yet. Read it with ReadLog;
	// RotateLog keeps one older copy beside it, at LogPath(id)+".1".
	LogPath(id string) string

	// Stats samples running container id's resource use: its cumulative
	// CPU time and its memory working set, at the time the sample was
	// taken. It changes nothing and is safe to call as often as wanted. A
	// container that is not running gives an error wrapping ErrNotRunning;
	// an unknown ID, ErrNotFound.
	Stats(ctx context.Context, id string) (ContainerStats, error)
}

// ContainerStats is one sample of a container's resource use. A CPU rate
// is the difference of two samples' CPUUsage over the difference of their
// At.
type ContainerStats struct {
	// CPUUsage is the CPU time the container has used since it started,
	// over all CPUs.
	CPUUsage time.Duration
	// MemoryWorkingSet is the memory in use in bytes, less the inactive
	// file cache that the kernel reclaims first, as the kubelet reports
	// it (and as the OOM killer sees it).
	MemoryWorkingSet int64
	// At is when the sample was taken.
	At time.Time
}

// containerID derives a container's ID from what makes it unique, so that
// two Creates of one container collide instead of making two. The result
// is a valid containerd ID.
func containerID(podUID, name string, attempt uint32) string {
	h := sha256.Sum256([]byte(podUID + "\x00" + name + "\x00" + strconv.FormatUint(uint64(attempt), 10)))
	return hex.EncodeToString(h[:16])
}

// labelsFor returns the labels a Runtime stores for spec: the caller's
// plus the reserved identity labels.
func labelsFor(spec ContainerSpec) map[string]string {
	l := make(map[string]string, len(spec.Labels)+5)
	for k, v := range spec.Labels {
		l[k] = v
	}
	l[LabelPodUID] = spec.PodUID
	l[LabelPodName] = spec.PodName
	l[LabelNamespace] = spec.Namespace
	l[LabelContainer] = spec.Name
	l[LabelAttempt] = strconv.FormatUint(uint64(spec.Attempt), 10)
	return l
}

// statusFromLabels fills the identity fields of a status from stored
// labels and strips the reserved keys from what the caller sees.
func statusFromLabels(id string, stored map[string]string) ContainerStatus {
	st := ContainerStatus{
		ID:        id,
		PodUID:    stored[LabelPodUID],
		PodName:   stored[LabelPodName],
		Namespace: stored[LabelNamespace],
		Name:      stored[LabelContainer],
		Labels:    map[string]string{},
	}
	if a, err := strconv.ParseUint(stored[LabelAttempt], 10, 32); err == nil {
		st.Attempt = uint32(a)
	}
	for k, v := range stored {
		// Every io.shoal. key is the runtime's own, not the caller's.
		if !strings.HasPrefix(k, reservedLabelPrefix) {
			st.Labels[k] = v
		}
	}
	return st
}

// ExecOptions is one command run inside a running container (exec probes,
// `shoal exec`).
type ExecOptions struct {
	Command []string  // required
	Stdin   io.Reader // nil means no stdin
	Stdout  io.Writer // nil discards
	Stderr  io.Writer // nil discards; with TTY, output all goes to Stdout
	TTY     bool
	Resize  <-chan TermSize // optional, with TTY
}

// TermSize is a terminal's size in characters.
type TermSize struct{ Width, Height uint16 }
