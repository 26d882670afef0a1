package integration

import (
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
)

// pinnedPod runs on one node and keeps a marker in a memory-backed
// emptyDir: its log says whether the tmpfs still held the marker of an
// earlier container.
const pinnedPod = `
apiVersion: v1
kind: Pod
metadata: {name: pinned, labels: {app: pinned}}
spec:
  nodeName: %s
  terminationGracePeriodSeconds: 1
  volumes: [{name: mem, emptyDir: {medium: Memory}}]
  containers:
  - name: c
    image: shoal.test/busybox:1
    volumeMounts: [{name: mem, mountPath: /mem}]
    command: [sh, -c, "if [ -f /mem/mark ]; then echo tmpfs-kept; else echo tmpfs-fresh; fi; touch /mem/mark; echo ok > /tmp/ok; exec httpd -f -p 8080 -h /tmp"]
`

// processAlive reports whether pid is a live process (not gone, not a
// zombie waiting for its parent).
func processAlive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	f := strings.Fields(string(b))
	return len(f) > 2 && f[2] != "Z"
}

// taskPIDs lists the PIDs of the running containers in an agent's
// containerd, from containerd itself.
func (a *agent) taskPIDs() ([]int, error) {
	out, err := exec.Command("ctr", "--address", containerdSocket(a), "-n", "shoal", "tasks", "ls").Output()
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, line := range strings.Split(string(out), "\n")[1:] {
		if f := strings.Fields(line); len(f) >= 3 && f[2] == "RUNNING" {
			if pid, err := strconv.Atoi(f[1]); err == nil {
				pids = append(pids, pid)
			}
		}
	}
	return pids, nil
}

// httpFrom fetches url from inside host h.
func httpFrom(h host, url string) error {
	return h.nsenter("timeout", "3", "busybox", "wget", "-q", "-O", "/dev/null", url).Run()
}

// A power cut of a host kills every process of it at once, containers
// included, and nothing of it answers; the other hosts replace its
// replicas, which serve; after a boot the host runs only what it should,
// with fresh memory-backed volumes.
func TestHostPowerCut(t *testing.T) {
	c := startPodCluster(t, 3)
	a := c.agents[0]
	a.apply(t, scenarioWeb)
	victim := victimWithReplicas(t, c)
	a.apply(t, fmt.Sprintf(pinnedPod, victim.name))
	waitFor(t, 60*time.Second, "the pinned pod Ready on "+victim.name, func() (bool, string) {
		p, err := a.pod("pinned")
		return err == nil && ready(p), fmt.Sprint(err)
	})
	watcher := host{Host: a.host, netns: a.netns, ip: a.ip}

	pods, err := a.pods("web")
	if err != nil {
		t.Fatal(err)
	}
	pinned, _ := a.pod("pinned")
	deadIPs := []string{pinned.Status.PodIP}
	for _, p := range pods {
		if p.Spec.NodeName == victim.name {
			deadIPs = append(deadIPs, p.Status.PodIP)
		}
	}
	for _, ip := range deadIPs {
		if err := httpFrom(watcher, "http://"+ip+":8080/ok"); err != nil {
			t.Fatalf("pod %s on %s does not answer before the power cut: %v", ip, victim.name, err)
		}
	}
	procs, err := victim.host.Procs()
	if err != nil {
		t.Fatal(err)
	}
	tasks, err := victim.taskPIDs()
	if err != nil || len(tasks) < len(deadIPs) {
		t.Fatalf("containerd on %s lists %d running containers, want at least %d (%v)", victim.name, len(tasks), len(deadIPs), err)
	}
	for _, pid := range tasks {
		if !slices.Contains(procs, pid) {
			t.Fatalf("container process %d of %s is not one of the host's processes %v: a power cut would miss it", pid, victim.name, procs)
		}
	}

	victim.powerCut()
	for _, pid := range procs {
		if processAlive(pid) {
			t.Errorf("process %d of %s survived the power cut", pid, victim.name)
		}
	}
	for _, ip := range deadIPs {
		if err := httpFrom(watcher, "http://"+ip+":8080/ok"); err == nil {
			t.Errorf("pod IP %s of the powered-off %s still answers", ip, victim.name)
		}
	}

	var replacements []string
	waitFor(t, 90*time.Second, "6 web pods Ready on the other hosts", func() (bool, string) {
		pods, err := a.pods("web")
		if err != nil {
			return false, err.Error()
		}
		per, n := spread(pods)
		replacements = readyIPs(pods)
		return n == 6 && per[victim.name] == 0 && len(pods) == 6, describeSpread(per)
	})
	for _, ip := range replacements {
		if err := httpFrom(watcher, "http://"+ip+":8080/ok"); err != nil {
			t.Errorf("replica %s does not serve: %v", ip, err)
		}
	}

	victim.boot()
	waitFor(t, 90*time.Second, victim.name+" to run its pinned pod again, and nothing else", func() (bool, string) {
		p, err := a.pod("pinned")
		if err != nil || !ready(p) {
			return false, fmt.Sprint("pinned not Ready: ", err)
		}
		var bound int
		objs, _, err := a.client().ListWith(t.Context(), "Pod", "", api.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, o := range objs {
			if p := o.(*api.Pod); p.Spec.NodeName == victim.name && p.Status.Phase != api.PodSucceeded && p.Status.Phase != api.PodFailed {
				bound++
			}
		}
		running, err := victim.runningTasks()
		return err == nil && running == bound, fmt.Sprintf("%d containers running on %s for %d pods bound to it (%v)", running, victim.name, bound, err)
	})
	out, err := a.cli("logs", "pinned")
	if err != nil || !strings.Contains(out, "tmpfs-fresh") || strings.Contains(out, "tmpfs-kept") {
		t.Errorf("after the boot the pinned pod's memory volume should be empty; its log: %v\n%s", err, out)
	}
	p, _ := a.pod("pinned")
	booted := time.Now()
	waitFor(t, 30*time.Second, "the pinned pod to serve after the boot at "+p.Status.PodIP, func() (bool, string) {
		err := httpFrom(watcher, "http://"+p.Status.PodIP+":8080/ok")
		r1, _ := watcher.nsenter("ip", "route").CombinedOutput()
		r2, _ := victim.host.Command("ip", "route").CombinedOutput()
		ipt, _ := victim.host.Command("iptables-save").CombinedOutput()
		return err == nil, fmt.Sprintf("%v\nroutes of %s:\n%s\nroutes of %s:\n%s\n%s", err, a.name, r1, victim.name, r2, ipt)
	})
	t.Logf("the pinned pod served %s after it was Ready", time.Since(booted).Round(time.Millisecond))
}
