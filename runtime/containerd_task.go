package runtime

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/containerd/containerd"
	apievents "github.com/containerd/containerd/api/events"
	tasksapi "github.com/containerd/containerd/api/services/tasks/v1"
	tasktypes "github.com/containerd/containerd/api/types/task"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/typeurl/v2"
)

// LogPath is the file container id's stdout and stderr go to.
func (c *Containerd) LogPath(id string) string {
	return filepath.Join(c.LogDir, id+".log")
}

// Start implements Runtime. It creates the container's task, with stdout
// and stderr appended to LogPath(id) by the shim, and starts it. The start
// time is kept in a label, since containerd does not record it.
func (c *Containerd) Start(ctx context.Context, id string) error {
	unlock := c.locks.lock(id)
	defer unlock()
	ctr, err := c.client.LoadContainer(ctx, id)
	if errdefs.IsNotFound(err) {
		return fmt.Errorf("start container %s: %w", id, ErrNotFound)
	} else if err != nil {
		return fmt.Errorf("start container %s: %w", id, err)
	}
	info, err := ctr.Info(ctx, containerd.WithoutRefreshedMetadata)
	if err != nil {
		return fmt.Errorf("start container %s: %w", id, err)
	}

	task, err := ctr.Task(ctx, nil)
	switch {
	case err == nil:
		st, err := task.Status(ctx)
		if err != nil {
			return fmt.Errorf("start container %s: task status: %w", id, err)
		}
		switch st.Status {
		case containerd.Running, containerd.Paused, containerd.Pausing:
			return nil
		case containerd.Created:
			// A Start that died between creating and starting the task.
		default:
			return fmt.Errorf("start container %s: it is %s; create the next attempt instead", id, st.Status)
		}
	case errdefs.IsNotFound(err):
		if info.Labels[labelStartedAt] != "" {
			return fmt.Errorf("start container %s: it has run and exited; create the next attempt instead", id)
		}
		if c.LogDir == "" {
			return fmt.Errorf("start container %s: runtime: Containerd.LogDir is not set", id)
		}
		if err := os.MkdirAll(c.LogDir, 0o755); err != nil {
			return fmt.Errorf("start container %s: log directory: %w", id, err)
		}
		task, err = ctr.NewTask(ctx, cio.LogFile(c.LogPath(id)))
		if err != nil {
			return fmt.Errorf("start container %s: create task: %w", id, err)
		}
	default:
		return fmt.Errorf("start container %s: %w", id, err)
	}

	startedAt := time.Now()
	if err := task.Start(ctx); err != nil {
		if _, derr := task.Delete(context.WithoutCancel(ctx), containerd.WithProcessKill); derr != nil && !errdefs.IsNotFound(derr) {
			c.logger.Warn("deleting a task that failed to start", "id", id, "err", derr)
		}
		return fmt.Errorf("start container %s: %w", id, err)
	}
	if _, err := ctr.SetLabels(ctx, map[string]string{labelStartedAt: startedAt.UTC().Format(time.RFC3339Nano)}); err != nil {
		return fmt.Errorf("start container %s: it runs, but recording its start time failed: %w", id, err)
	}
	return nil
}

// Stop implements Runtime. It records the exit code and time in labels, so
// they outlive the task.
func (c *Containerd) Stop(ctx context.Context, id string, grace time.Duration) error {
	unlock := c.locks.lock(id)
	defer unlock()
	ctr, err := c.client.LoadContainer(ctx, id)
	if errdefs.IsNotFound(err) {
		return nil
	} else if err != nil {
		return fmt.Errorf("stop container %s: %w", id, err)
	}
	task, err := ctr.Task(ctx, nil)
	if errdefs.IsNotFound(err) {
		return nil // never started, or its task is gone
	} else if err != nil {
		return fmt.Errorf("stop container %s: %w", id, err)
	}
	exited, err := task.Wait(ctx)
	if err != nil {
		return fmt.Errorf("stop container %s: wait: %w", id, err)
	}
	st, err := task.Status(ctx)
	if err != nil {
		return fmt.Errorf("stop container %s: task status: %w", id, err)
	}
	var exit containerd.ExitStatus
	if st.Status == containerd.Stopped {
		exit = *containerd.NewExitStatus(st.ExitStatus, st.ExitTime, nil)
	} else {
		if err := task.Kill(ctx, syscall.SIGTERM); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("stop container %s: SIGTERM: %w", id, err)
		}
		timer := time.NewTimer(grace)
		select {
		case exit = <-exited:
			timer.Stop()
		case <-timer.C:
			c.logger.Debug("container ignored SIGTERM; killing it", "id", id, "grace", grace)
			if err := task.Kill(ctx, syscall.SIGKILL, containerd.WithKillAll); err != nil && !errdefs.IsNotFound(err) {
				return fmt.Errorf("stop container %s: SIGKILL: %w", id, err)
			}
			select {
			case exit = <-exited:
			case <-ctx.Done():
				return fmt.Errorf("stop container %s: waiting for exit after SIGKILL: %w", id, ctx.Err())
			}
		case <-ctx.Done():
			timer.Stop()
			return fmt.Errorf("stop container %s: waiting for exit: %w", id, ctx.Err())
		}
	}
	code, at, err := exit.Result()
	if err != nil {
		return fmt.Errorf("stop container %s: %w", id, err)
	}
	labels := map[string]string{
		labelExitCode:   strconv.FormatUint(uint64(code), 10),
		labelFinishedAt: at.UTC().Format(time.RFC3339Nano),
	}
	if c.sawOOM(id) {
		labels[labelOOMKilled] = "true"
	}
	if _, err := ctr.SetLabels(ctx, labels); err != nil {
		return fmt.Errorf("stop container %s: it exited, but recording its exit failed: %w", id, err)
	}
	return nil
}

// Remove implements Runtime. It also deletes the container's snapshot and
// log file.
func (c *Containerd) Remove(ctx context.Context, id string) error {
	unlock := c.locks.lock(id)
	defer unlock()
	ctr, err := c.client.LoadContainer(ctx, id)
	if errdefs.IsNotFound(err) {
		return nil
	} else if err != nil {
		return fmt.Errorf("remove container %s: %w", id, err)
	}
	if task, err := ctr.Task(ctx, nil); err == nil {
		if _, err := task.Delete(ctx, containerd.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("remove container %s: delete task: %w", id, err)
		}
	} else if !errdefs.IsNotFound(err) {
		return fmt.Errorf("remove container %s: %w", id, err)
	}
	if err := ctr.Delete(ctx, containerd.WithSnapshotCleanup); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("remove container %s: %w", id, err)
	}
	if c.LogDir != "" {
		if err := os.Remove(c.LogPath(id)); err != nil && !errors.Is(err, os.ErrNotExist) {
			c.logger.Warn("removing a container's log", "id", id, "err", err)
		}
	}
	c.oomMu.Lock()
	delete(c.oomSeen, id)
	c.oomMu.Unlock()
	return nil
}

// List implements Runtime. State, exit code and finish time come from the
// task; once the task is gone, from the labels Stop wrote. A started
// container whose task vanished without Stop (a reboot) is StateUnknown.
func (c *Containerd) List(ctx context.Context) ([]ContainerStatus, error) {
	return c.list(ctx, `labels."`+LabelPodUID+`"`, true)
}

// ListPod is List for one pod's containers: it asks only their shims, so a
// node with many pods does not ask every shim once per pod.
func (c *Containerd) ListPod(ctx context.Context, podUID string) ([]ContainerStatus, error) {
	return c.list(ctx, `labels."`+LabelPodUID+`"==`+strconv.Quote(podUID), false)
}

// list lists the containers that match filter, with their tasks: all tasks
// in one call when every container is wanted, else one call per container.
func (c *Containerd) list(ctx context.Context, filter string, all bool) ([]ContainerStatus, error) {
	ctrs, err := c.client.ContainerService().List(ctx, filter)
	if err != nil {
		return nil, fmt.Errorf("runtime: list containers: %w", err)
	}
	tasks := map[string]*tasktypes.Process{}
	if all {
		resp, err := c.client.TaskService().List(ctx, &tasksapi.ListTasksRequest{})
		if err != nil {
			return nil, fmt.Errorf("runtime: list tasks: %w", errdefs.FromGRPC(err))
		}
		for _, t := range resp.Tasks {
			tasks[t.ID] = t
		}
	} else {
		for _, ctr := range ctrs {
			resp, err := c.client.TaskService().Get(ctx, &tasksapi.GetRequest{ContainerID: ctr.ID})
			if err == nil {
				tasks[ctr.ID] = resp.Process
			} else if err := errdefs.FromGRPC(err); !errdefs.IsNotFound(err) {
				return nil, fmt.Errorf("runtime: task of container %s: %w", ctr.ID, err)
			}
		}
	}

	out := make([]ContainerStatus, 0, len(ctrs))
	for _, ctr := range ctrs {
		st := statusFromLabels(ctr.ID, ctr.Labels)
		st.Image = ctr.Labels[labelImage]
		if st.Image == "" {
			st.Image = ctr.Image
		}
		st.StartedAt = parseTime(ctr.Labels[labelStartedAt])
		if t, ok := tasks[ctr.ID]; ok {
			switch t.Status {
			case tasktypes.Status_CREATED:
				st.State = StateCreated
			case tasktypes.Status_RUNNING, tasktypes.Status_PAUSED, tasktypes.Status_PAUSING:
				st.State = StateRunning
			case tasktypes.Status_STOPPED:
				st.State = StateExited
				st.ExitCode = int32(t.ExitStatus)
				if t.ExitedAt != nil {
					st.FinishedAt = t.ExitedAt.AsTime()
				}
			default:
				st.State = StateUnknown
			}
		} else {
			switch {
			case ctr.Labels[labelFinishedAt] != "":
				st.State = StateExited
				st.FinishedAt = parseTime(ctr.Labels[labelFinishedAt])
				if code, err := strconv.ParseInt(ctr.Labels[labelExitCode], 10, 32); err == nil {
					st.ExitCode = int32(code)
				}
			case ctr.Labels[labelStartedAt] != "":
				st.State = StateUnknown
			default:
				st.State = StateCreated
			}
		}
		if st.State == StateExited {
			st.OOMKilled = ctr.Labels[labelOOMKilled] == "true" || c.sawOOM(ctr.ID)
		}
		out = append(out, st)
	}
	sortStatuses(out)
	return out, nil
}

func parseTime(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t
}

func (c *Containerd) sawOOM(id string) bool {
	c.oomMu.Lock()
	defer c.oomMu.Unlock()
	return c.oomSeen[id]
}

// OnExit makes f be called, from an event goroutine, with the ID of each
// container whose process exits or is OOM-killed. Set it before the
// containers it should hear about start; f must not block.
func (c *Containerd) OnExit(f func(id string)) {
	c.oomMu.Lock()
	defer c.oomMu.Unlock()
	c.onExit = f
}

func (c *Containerd) exited(id string) {
	c.oomMu.Lock()
	f := c.onExit
	c.oomMu.Unlock()
	if f != nil {
		f(id)
	}
}

// watchOOM records the containers containerd reports OOM-killed, in memory
// and in a label, and passes exits to OnExit, until ctx is done. It
// resubscribes if the stream breaks (containerd restarted).
func (c *Containerd) watchOOM(ctx context.Context) {
	defer close(c.watchDone)
	ns := `,namespace=="` + Namespace + `"`
	backoff := 100 * time.Millisecond
	for {
		evs, errs := c.client.Subscribe(ctx, `topic=="/tasks/oom"`+ns, `topic=="/tasks/exit"`+ns)
	recv:
		for {
			select {
			case <-ctx.Done():
				return
			case err := <-errs:
				if ctx.Err() != nil {
					return
				}
				c.logger.Debug("containerd event stream broke; resubscribing", "err", err, "after", backoff)
				break recv
			case env := <-evs:
				backoff = 100 * time.Millisecond
				if env == nil || env.Event == nil {
					continue
				}
				v, err := typeurl.UnmarshalAny(env.Event)
				if err != nil {
					continue
				}
				switch e := v.(type) {
				case *apievents.TaskOOM:
					c.recordOOM(ctx, e.ContainerID)
					c.exited(e.ContainerID)
				case *apievents.TaskExit:
					if e.ID == e.ContainerID { // the container's own process, not an exec
						c.exited(e.ContainerID)
					}
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func (c *Containerd) recordOOM(ctx context.Context, id string) {
	c.logger.Info("container was OOM-killed", "id", id)
	c.oomMu.Lock()
	c.oomSeen[id] = true
	c.oomMu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ctr, err := c.client.LoadContainer(ctx, id)
	if err != nil {
		return
	}
	if _, err := ctr.SetLabels(ctx, map[string]string{labelOOMKilled: "true"}); err != nil && !errdefs.IsNotFound(err) {
		c.logger.Warn("recording an OOM kill", "id", id, "err", err)
	}
}
