package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/images"
	"github.com/containerd/containerd/oci"
	"github.com/containerd/containerd/remotes"
	"github.com/distribution/reference"
	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/shoal-dev/shoal/api"
)

// Labels the containerd Runtime keeps on a container besides the identity
// labels of labelsFor. They carry what containerd cannot give back after an
// agent restart or once the task is gone. List strips them, as it strips
// every io.shoal. key.
const (
	labelImage      = "io.shoal.container.image"       // the reference as the caller wrote it
	labelStartedAt  = "io.shoal.container.started-at"  // RFC 3339, set by Start
	labelFinishedAt = "io.shoal.container.finished-at" // RFC 3339, set by Stop
	labelExitCode   = "io.shoal.container.exit-code"   // decimal, set by Stop
	labelOOMKilled  = "io.shoal.container.oom-killed"  // "true" once containerd reported an OOM kill
)

// DefaultSnapshotter is the snapshotter a Containerd unpacks images into and
// creates container root filesystems with.
const DefaultSnapshotter = "overlayfs"

// Containerd is the Runtime on a containerd daemon, in containerd namespace
// Namespace. Each container is a containerd container whose ID is derived
// from (pod UID, container name, attempt) and whose identity lives in its
// labels; its process is a containerd task whose stdout and stderr the shim
// appends to LogDir/<id>.log, so logs keep flowing while the agent is down.
// Nothing is kept in memory that List cannot rebuild, so a new Containerd
// on the same socket (an agent restart) drives the old containers.
//
// Set LogDir, Snapshotter, Registry and CgroupParent before the first call; after that
// every method is safe for concurrent use. Calls on one container ID are
// serialised; calls on different IDs run in parallel.
type Containerd struct {
	// LogDir holds the containers' log files, <id>.log. Start creates it.
	// It must be set (to an absolute path) before Start.
	LogDir string
	// Snapshotter defaults to DefaultSnapshotter.
	Snapshotter string
	// Registry says where EnsureImage pulls from: mirrors, plain-HTTP
	// registries. The zero value pulls from each registry over HTTPS.
	Registry RegistryConfig
	// CgroupParent, when set, is the cgroup each container's cgroup is
	// made under (CgroupParent/<id>); otherwise containerd's default,
	// /<namespace>/<id>.
	CgroupParent string

	client *containerd.Client
	logger *slog.Logger
	locks  idLocks

	resolverOnce sync.Once
	resolver     remotes.Resolver // built from Registry on the first pull

	oomMu   sync.Mutex
	oomSeen map[string]bool // container IDs containerd reported OOM-killed
	onExit  func(id string) // see OnExit; guarded by oomMu

	cancel    context.CancelFunc
	watchDone chan struct{}
	closeOnce sync.Once
}

var _ Runtime = (*Containerd)(nil)

// NewContainerd connects to the containerd daemon at socket, using namespace
// Namespace, and checks that it answers before ctx is done. It starts a
// goroutine that records OOM kills; Close stops it and the connection.
func NewContainerd(ctx context.Context, socket string, logger *slog.Logger) (*Containerd, error) {
	if logger == nil {
		logger = slog.Default()
	}
	client, err := containerd.New(socket,
		containerd.WithDefaultNamespace(Namespace),
		containerd.WithTimeout(10*time.Second))
	if err != nil {
		return nil, fmt.Errorf("runtime: connect to containerd at %s (is it running? see --containerd-socket): %w", socket, err)
	}
	v, err := client.Version(ctx)
	if err != nil {
		client.Close()
		return nil, fmt.Errorf("runtime: containerd at %s does not answer: %w", socket, err)
	}
	wctx, cancel := context.WithCancel(context.Background())
	c := &Containerd{
		Snapshotter: DefaultSnapshotter,
		client:      client,
		logger:      logger.With("component", "runtime", "containerd", socket),
		oomSeen:     map[string]bool{},
		cancel:      cancel,
		watchDone:   make(chan struct{}),
	}
	c.logger.Debug("connected to containerd", "version", v.Version, "revision", v.Revision)
	go c.watchOOM(wctx)
	return c, nil
}

// Client is the underlying containerd client, for tests and tools.
func (c *Containerd) Client() *containerd.Client { return c.client }

// Close stops the OOM watcher and closes the connection. Containers keep
// running. Close is idempotent.
func (c *Containerd) Close() error {
	var err error
	c.closeOnce.Do(func() {
		c.cancel()
		<-c.watchDone
		err = c.client.Close()
	})
	return err
}

func (c *Containerd) snapshotter() string {
	if c.Snapshotter == "" {
		return DefaultSnapshotter
	}
	return c.Snapshotter
}

// normalizeRef turns a reference as users write it ("busybox") into the
// name containerd stores ("docker.io/library/busybox:latest").
func normalizeRef(ref string) (string, error) {
	n, err := reference.ParseDockerRef(ref)
	if err != nil {
		return "", fmt.Errorf("image %q is not a valid reference: %w", ref, err)
	}
	return n.String(), nil
}

// EnsureImage implements Runtime. Pulls go to the mirrors Registry gives
// for the registry the reference names, then to that registry, over HTTPS
// unless Registry says it is insecure, and are unpacked into the
// snapshotter. A pull error names the endpoints it tried.
func (c *Containerd) EnsureImage(ctx context.Context, ref string, policy api.PullPolicy) error {
	name, err := normalizeRef(ref)
	if err != nil {
		if policy == api.PullNever {
			return fmt.Errorf("%w: %v", ErrImageNotPresent, err)
		}
		return fmt.Errorf("%w: %v", ErrImagePull, err)
	}
	present := func() (bool, error) {
		_, err := c.client.ImageService().Get(ctx, name)
		switch {
		case err == nil:
			return true, nil
		case errdefs.IsNotFound(err):
			return false, nil
		default:
			return false, fmt.Errorf("image %s: look it up in containerd: %w", ref, err)
		}
	}
	switch policy {
	case api.PullNever:
		ok, err := present()
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%w: %s is not on this node and imagePullPolicy is Never (import it with `shoal image import`)", ErrImageNotPresent, ref)
		}
		return nil
	case api.PullIfNotPresent, "":
		ok, err := present()
		if err != nil || ok {
			return err
		}
	case api.PullAlways:
	default:
		return fmt.Errorf("image %s: imagePullPolicy %q is not Always, IfNotPresent or Never", ref, policy)
	}
	start := time.Now()
	c.resolverOnce.Do(func() { c.resolver = c.Registry.Resolver() })
	_, err = c.client.Pull(ctx, name,
		containerd.WithResolver(c.resolver),
		containerd.WithPullUnpack,
		containerd.WithPullSnapshotter(c.snapshotter()))
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("image %s: pull: %w", ref, ctx.Err())
		}
		return fmt.Errorf("%w: %s (tried %s): %v%s", ErrImagePull, ref,
			strings.Join(c.Registry.endpoints(refHost(name)), ", "), err, pullHint(err))
	}
	c.logger.Info("pulled image", "image", name, "took", time.Since(start))
	return nil
}

// ImportArchive imports an OCI image layout or `docker save` archive, as a
// tar stream, and unpacks its images for this platform. It returns the
// names the images were stored under: an OCI layout's manifests need an
// io.containerd.image.name annotation, a docker archive's their RepoTags.
func (c *Containerd) ImportArchive(ctx context.Context, r io.Reader) ([]string, error) {
	imgs, err := c.client.Import(ctx, r)
	if err != nil {
		return nil, fmt.Errorf("runtime: import image archive: %w", err)
	}
	if len(imgs) == 0 {
		return nil, errors.New("runtime: import image archive: it names no image (an OCI layout needs the io.containerd.image.name annotation in index.json; a docker archive needs RepoTags)")
	}
	names := make([]string, 0, len(imgs))
	for _, img := range imgs {
		if err := containerd.NewImage(c.client, img).Unpack(ctx, c.snapshotter()); err != nil {
			return names, fmt.Errorf("runtime: import image archive: unpack %s: %w", img.Name, err)
		}
		names = append(names, img.Name)
	}
	return names, nil
}

// TagImage stores image src under the name ref too, as `docker tag` does.
func (c *Containerd) TagImage(ctx context.Context, src, ref string) error {
	from, err := normalizeRef(src)
	if err != nil {
		return err
	}
	to, err := normalizeRef(ref)
	if err != nil {
		return err
	}
	is := c.client.ImageService()
	img, err := is.Get(ctx, from)
	if err != nil {
		return fmt.Errorf("runtime: tag %s as %s: %w", src, ref, err)
	}
	img = images.Image{Name: to, Target: img.Target, Labels: img.Labels}
	if _, err := is.Create(ctx, img); err != nil {
		if !errdefs.IsAlreadyExists(err) {
			return fmt.Errorf("runtime: tag %s as %s: %w", src, ref, err)
		}
		if _, err := is.Update(ctx, img, "target"); err != nil {
			return fmt.Errorf("runtime: tag %s as %s: %w", src, ref, err)
		}
	}
	return nil
}

// Create implements Runtime. The container's root filesystem is a new
// snapshot of the image named by its ID.
func (c *Containerd) Create(ctx context.Context, spec ContainerSpec) (string, error) {
	if err := checkSpec(spec); err != nil {
		return "", err
	}
	id := containerID(spec.PodUID, spec.Name, spec.Attempt)
	what := fmt.Sprintf("container %s of pod %s (attempt %d)", spec.Name, spec.PodUID, spec.Attempt)
	unlock := c.locks.lock(id)
	defer unlock()

	if _, err := c.client.LoadContainer(ctx, id); err == nil {
		return id, fmt.Errorf("%s: %w", what, ErrAlreadyExists)
	} else if !errdefs.IsNotFound(err) {
		return "", fmt.Errorf("%s: %w", what, err)
	}

	name, err := normalizeRef(spec.Image)
	if err != nil {
		return "", fmt.Errorf("%s: %w: %v", what, ErrImageNotPresent, err)
	}
	img, err := c.client.GetImage(ctx, name)
	if errdefs.IsNotFound(err) {
		return "", fmt.Errorf("%s: %w: %s (call EnsureImage first)", what, ErrImageNotPresent, spec.Image)
	} else if err != nil {
		return "", fmt.Errorf("%s: image %s: %w", what, spec.Image, err)
	}
	sn := c.snapshotter()
	if ok, err := img.IsUnpacked(ctx, sn); err != nil || !ok {
		if err := img.Unpack(ctx, sn); err != nil {
			return "", fmt.Errorf("%s: unpack image %s: %w", what, spec.Image, err)
		}
	}

	// A snapshot named id without a container is left over from a Create
	// that failed half-way: no container owns it, so it goes.
	if err := c.client.SnapshotService(sn).Remove(ctx, id); err != nil && !errdefs.IsNotFound(err) {
		c.logger.Warn("removing a stale snapshot", "id", id, "err", err)
	}

	labels := labelsFor(spec)
	labels[labelImage] = spec.Image
	_, err = c.client.NewContainer(ctx, id,
		containerd.WithImage(img),
		containerd.WithSnapshotter(sn),
		containerd.WithNewSnapshot(id, img),
		containerd.WithNewSpec(append(specOpts(img, spec), c.cgroupOpts(id)...)...),
		containerd.WithContainerLabels(labels),
	)
	if err != nil {
		if errdefs.IsAlreadyExists(err) {
			// Another agent process made it first.
			return id, fmt.Errorf("%s: %w", what, ErrAlreadyExists)
		}
		if rerr := c.client.SnapshotService(sn).Remove(ctx, id); rerr != nil && !errdefs.IsNotFound(rerr) {
			c.logger.Warn("removing the snapshot of a failed Create", "id", id, "err", rerr)
		}
		return "", fmt.Errorf("%s: create in containerd: %w", what, err)
	}
	return id, nil
}

// cgroupOpts places container id's cgroup under CgroupParent.
func (c *Containerd) cgroupOpts(id string) []oci.SpecOpts {
	if c.CgroupParent == "" {
		return nil
	}
	return []oci.SpecOpts{oci.WithCgroup(path.Join(c.CgroupParent, id))}
}

// specOpts builds the OCI spec of a container of spec from image img.
func specOpts(img containerd.Image, spec ContainerSpec) []oci.SpecOpts {
	var opts []oci.SpecOpts
	// Kubernetes semantics: command replaces the entrypoint (and drops the
	// image's cmd); args alone replace the cmd.
	switch {
	case len(spec.Command) > 0:
		opts = append(opts, oci.WithImageConfig(img),
			oci.WithProcessArgs(append(append([]string{}, spec.Command...), spec.Args...)...))
	case len(spec.Args) > 0:
		opts = append(opts, oci.WithImageConfigArgs(img, spec.Args))
	default:
		opts = append(opts, oci.WithImageConfig(img))
	}
	if len(spec.Env) > 0 {
		opts = append(opts, oci.WithEnv(spec.Env))
	}
	if spec.WorkingDir != "" {
		opts = append(opts, oci.WithProcessCwd(spec.WorkingDir))
	}
	if spec.PodName != "" {
		opts = append(opts, oci.WithHostname(spec.PodName))
	}
	if spec.NetNSPath != "" {
		opts = append(opts, oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: spec.NetNSPath}))
	} else {
		opts = append(opts, oci.WithHostNamespace(specs.NetworkNamespace))
	}
	if len(spec.Mounts) > 0 {
		opts = append(opts, oci.WithMounts(ociMounts(spec.Mounts)))
	}
	if spec.CPUQuotaMillis > 0 {
		opts = append(opts, oci.WithCPUCFS(spec.CPUQuotaMillis*100, 100000))
	}
	if spec.MemoryLimitBytes > 0 {
		opts = append(opts, oci.WithMemoryLimit(uint64(spec.MemoryLimitBytes)))
	}
	return opts
}

func ociMounts(ms []Mount) []specs.Mount {
	out := make([]specs.Mount, 0, len(ms))
	for _, m := range ms {
		rw := "rw"
		if m.ReadOnly {
			rw = "ro"
		}
		if m.Type == "tmpfs" {
			out = append(out, specs.Mount{
				Type: "tmpfs", Source: "tmpfs", Destination: m.Destination,
				Options: []string{"nosuid", "nodev", "mode=1777", rw},
			})
			continue
		}
		out = append(out, specs.Mount{
			Type: "bind", Source: m.Source, Destination: m.Destination,
			Options: []string{"rbind", "rprivate", rw},
		})
	}
	return out
}

// idLocks serialises calls on one container ID.
type idLocks struct {
	mu sync.Mutex
	m  map[string]*idLock
}

type idLock struct {
	sync.Mutex
	users int
}

func (l *idLocks) lock(id string) (unlock func()) {
	l.mu.Lock()
	if l.m == nil {
		l.m = map[string]*idLock{}
	}
	k := l.m[id]
	if k == nil {
		k = &idLock{}
		l.m[id] = k
	}
	k.users++
	l.mu.Unlock()
	k.Lock()
	return func() {
		k.Unlock()
		l.mu.Lock()
		if k.users--; k.users == 0 {
			delete(l.m, id)
		}
		l.mu.Unlock()
	}
}
