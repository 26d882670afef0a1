package runtime

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/errdefs"
)

// ioDrainTimeout bounds how long Exec waits, once the command has exited,
// for its output to be copied. A background process that inherited stdout
// keeps the stream open; its later output is dropped.
const ioDrainTimeout = 2 * time.Second

// Exec implements Runtime. The command is a containerd exec process of the
// container's task, with a unique exec ID and the container's process spec
// (user, env, cwd, capabilities) but opts' arguments and terminal setting.
// Its stdio goes through FIFOs that containerd's cio copies to and from
// opts' streams. The process is deleted before Exec returns. Exec does not
// take the container's lock: several execs, and a Stop, may run at once;
// a Stop kills the exec along with the container.
func (c *Containerd) Exec(ctx context.Context, id string, opts ExecOptions) (int, error) {
	if len(opts.Command) == 0 {
		return -1, fmt.Errorf("exec in container %s: no command given", id)
	}
	ctr, err := c.client.LoadContainer(ctx, id)
	if errdefs.IsNotFound(err) {
		return -1, fmt.Errorf("exec in container %s: %w", id, ErrNotFound)
	} else if err != nil {
		return -1, fmt.Errorf("exec in container %s: %w", id, err)
	}
	task, err := ctr.Task(ctx, nil)
	if errdefs.IsNotFound(err) {
		return -1, fmt.Errorf("exec in container %s: %w (it has no process: never started, or gone)", id, ErrNotRunning)
	} else if err != nil {
		return -1, fmt.Errorf("exec in container %s: %w", id, err)
	}
	if st, err := task.Status(ctx); err != nil {
		return -1, fmt.Errorf("exec in container %s: task status: %w", id, err)
	} else if st.Status != containerd.Running {
		return -1, fmt.Errorf("exec in container %s: %w (it is %s)", id, ErrNotRunning, st.Status)
	}
	spec, err := ctr.Spec(ctx)
	if err != nil {
		return -1, fmt.Errorf("exec in container %s: read its spec: %w", id, err)
	}
	if spec.Process == nil {
		return -1, fmt.Errorf("exec in container %s: its spec has no process", id)
	}
	pspec := *spec.Process
	pspec.Args = append([]string(nil), opts.Command...)
	pspec.Terminal = opts.TTY
	pspec.ConsoleSize = nil

	stdout, stderr := opts.Stdout, opts.Stderr
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	// The shim holds the stdin FIFO open for writing, so the command sees
	// EOF only once it is told (CloseIO) that stdin has ended.
	var stdin *eofNotifier
	var stdinR io.Reader
	if opts.Stdin != nil {
		stdin = &eofNotifier{r: opts.Stdin, eof: make(chan struct{})}
		stdinR = stdin
	}
	cioOpts := []cio.Opt{cio.WithStreams(stdinR, stdout, stderr)}
	if opts.TTY {
		cioOpts = append(cioOpts, cio.WithTerminal)
	}
	execID, err := newExecID()
	if err != nil {
		return -1, fmt.Errorf("exec in container %s: %w", id, err)
	}
	process, err := task.Exec(ctx, execID, &pspec, cio.NewCreator(cioOpts...))
	if errdefs.IsNotFound(err) || errdefs.IsFailedPrecondition(err) {
		return -1, fmt.Errorf("exec in container %s: %w (%v)", id, ErrNotRunning, err)
	} else if err != nil {
		return -1, fmt.Errorf("exec in container %s: %w", id, err)
	}
	bg := context.WithoutCancel(ctx)
	defer func() {
		if _, err := process.Delete(bg, containerd.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
			c.logger.Warn("deleting an exec process", "id", id, "exec", execID, "err", err)
		}
	}()
	// Wait before Start, so that a quick exit is not missed; on bg, so
	// that ctx ending kills the command instead of abandoning the wait.
	exited, err := process.Wait(bg)
	if err != nil {
		return -1, fmt.Errorf("exec in container %s: wait: %w", id, err)
	}
	if err := process.Start(ctx); err != nil {
		if errdefs.IsNotFound(err) || errdefs.IsFailedPrecondition(err) {
			return -1, fmt.Errorf("exec in container %s: %w (%v)", id, ErrNotRunning, err)
		}
		return -1, fmt.Errorf("exec in container %s: start %v: %w", id, opts.Command, err)
	}

	finished := make(chan struct{})
	var helpers sync.WaitGroup
	defer helpers.Wait()
	defer close(finished)
	if stdin != nil {
		helpers.Add(1)
		go func() {
			defer helpers.Done()
			select {
			case <-stdin.eof:
				if err := process.CloseIO(bg, containerd.WithStdinCloser); err != nil && !errdefs.IsNotFound(err) {
					c.logger.Debug("closing an exec's stdin", "id", id, "exec", execID, "err", err)
				}
			case <-finished:
			}
		}()
	}
	if opts.TTY && opts.Resize != nil {
		helpers.Add(1)
		go func() {
			defer helpers.Done()
			for {
				select {
				case sz, ok := <-opts.Resize:
					if !ok {
						return
					}
					if err := process.Resize(bg, uint32(sz.Width), uint32(sz.Height)); err != nil && !errdefs.IsNotFound(err) {
						c.logger.Debug("resizing an exec's terminal", "id", id, "exec", execID, "err", err)
					}
				case <-finished:
					return
				}
			}
		}()
	}

	var status containerd.ExitStatus
	select {
	case status = <-exited:
	case <-ctx.Done():
		if err := process.Kill(bg, syscall.SIGKILL); err != nil && !errdefs.IsNotFound(err) {
			c.logger.Warn("killing an exec process", "id", id, "exec", execID, "err", err)
		}
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
		}
		return -1, fmt.Errorf("exec in container %s: %w", id, ctx.Err())
	}
	drained := make(chan struct{})
	go func() { process.IO().Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(ioDrainTimeout):
		c.logger.Debug("an exec's output is still open after it exited; dropping the rest", "id", id, "exec", execID)
	}
	code, _, err := status.Result()
	if err != nil {
		return -1, fmt.Errorf("exec in container %s: %w", id, err)
	}
	return int(code), nil
}

// newExecID returns a fresh exec process ID, unique within its task.
func newExecID() (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return "exec-" + hex.EncodeToString(b[:]), nil
}

// eofNotifier passes reads through and closes eof when the reader ends,
// at EOF or with an error: either way no more input will come.
type eofNotifier struct {
	r    io.Reader
	once sync.Once
	eof  chan struct{}
}

func (e *eofNotifier) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil {
		e.once.Do(func() { close(e.eof) })
	}
	return n, err
}
