package runtime

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/shoal-dev/shoal/api"
)

// containerIDPrefix marks container IDs in pod status, as Kubernetes does.
const containerIDPrefix = "containerd://"

// podStatus computes the status a pass observed. Timestamps of conditions
// that did not change come from the stored status, so an unchanged pod
// computes an identical status and no write happens.
func (v *podView) podStatus(p podPlan, podIP, hostIP, reason, message string) api.PodStatus {
	old := v.pod.Status
	st := api.PodStatus{Phase: p.phase, HostIP: hostIP, PodIP: podIP, Reason: reason, Message: message, StartTime: old.StartTime}
	if podIP != "" {
		st.PodIPs = []api.PodIP{{IP: podIP}}
	}
	if st.StartTime == nil {
		st.StartTime = api.NewTime(v.now)
	}
	for i := range v.pod.Spec.InitContainers {
		c := &v.pod.Spec.InitContainers[i]
		st.InitContainerStatuses = append(st.InitContainerStatuses, v.containerStatus(c, p))
	}
	allReady := true
	for i := range v.pod.Spec.Containers {
		c := &v.pod.Spec.Containers[i]
		cs := v.containerStatus(c, p)
		allReady = allReady && cs.Ready
		st.ContainerStatuses = append(st.ContainerStatuses, cs)
	}
	if p.done {
		allReady = false
	}
	cond := func(t api.PodConditionType, ok bool, falseReason string) api.PodCondition {
		c := api.PodCondition{Type: t, Status: api.ConditionTrue}
		if !ok {
			c.Status, c.Reason = api.ConditionFalse, falseReason
		}
		return c
	}
	st.Conditions = []api.PodCondition{
		{Type: api.PodScheduled, Status: api.ConditionTrue},
		cond(api.PodInitialized, p.initialized, "ContainersNotInitialized"),
		cond(api.ContainersReady, allReady, "ContainersNotReady"),
		cond(api.PodReady, allReady, "ContainersNotReady"),
	}
	if p.done {
		st.Conditions[1] = cond(api.PodInitialized, true, "")
		reason := "PodCompleted"
		st.Conditions[2].Reason, st.Conditions[3].Reason = reason, reason
	}
	for i := range st.Conditions {
		c := &st.Conditions[i]
		c.LastTransitionTime = api.NewTime(v.now)
		for _, o := range old.Conditions {
			if o.Type == c.Type && o.Status == c.Status {
				c.LastTransitionTime = o.LastTransitionTime
				if c.Type == api.PodScheduled {
					*c = o
				}
			}
		}
	}
	return st
}

// containerStatus is one container's entry in the pod status.
func (v *podView) containerStatus(c *api.Container, p podPlan) api.ContainerStatus {
	cs := api.ContainerStatus{Name: c.Name, Image: c.Image, ImageID: c.Image}
	hist := v.containers[c.Name]
	if len(hist) == 0 {
		cs.State.Waiting = v.waitingReason(c, p)
		return cs
	}
	last := &hist[len(hist)-1]
	cs.RestartCount = int32(last.Attempt)
	cs.ContainerID = containerIDPrefix + last.ID
	if len(hist) > 1 {
		cs.LastTerminationState.Terminated = terminated(&hist[len(hist)-2])
	}
	switch last.State {
	case StateRunning:
		cs.State.Running = &api.ContainerStateRunning{StartedAt: api.NewTime(last.StartedAt)}
		started := v.started(c, last)
		cs.Started = &started
		cs.Ready = v.ready(c, last)
	case StateExited:
		if v.backingOff(last) && !p.done {
			cs.LastTerminationState.Terminated = terminated(last)
			cs.State.Waiting = &api.ContainerStateWaiting{Reason: "CrashLoopBackOff",
				Message: fmt.Sprintf("back-off %s restarting failed container=%s pod=%s", v.restartDelay(last).Round(time.Second), c.Name, v.pod.Name)}
		} else {
			cs.State.Terminated = terminated(last)
		}
		f := false
		cs.Started = &f
	default:
		cs.State.Waiting = v.waitingReason(c, p)
	}
	return cs
}

// waitingReason says why a container that does not run yet waits.
func (v *podView) waitingReason(c *api.Container, p podPlan) *api.ContainerStateWaiting {
	if w := v.waiting[c.Name]; w != nil {
		return w
	}
	if w := v.waiting[""]; w != nil {
		return w
	}
	if !p.initialized && !isInit(v.pod, c.Name) {
		return &api.ContainerStateWaiting{Reason: "PodInitializing"}
	}
	return &api.ContainerStateWaiting{Reason: "ContainerCreating"}
}

func isInit(pod *api.Pod, name string) bool {
	for _, c := range pod.Spec.InitContainers {
		if c.Name == name {
			return true
		}
	}
	return false
}

// terminated is the terminated state of an exited container.
func terminated(st *ContainerStatus) *api.ContainerStateTerminated {
	t := &api.ContainerStateTerminated{ExitCode: st.ExitCode, ContainerID: containerIDPrefix + st.ID, Reason: "Completed"}
	switch {
	case st.OOMKilled:
		t.Reason = "OOMKilled"
	case st.ExitCode != 0:
		t.Reason = "Error"
	}
	if st.ExitCode > 128 {
		t.Signal = st.ExitCode - 128
	}
	if !st.StartedAt.IsZero() {
		t.StartedAt = api.NewTime(st.StartedAt)
	}
	if !st.FinishedAt.IsZero() {
		t.FinishedAt = api.NewTime(st.FinishedAt)
	}
	return t
}

// sameStatus reports whether two statuses are equal as stored.
func sameStatus(a, b api.PodStatus) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}
