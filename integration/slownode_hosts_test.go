package integration

import (
	"fmt"
	"maps"
	"os"
	goruntime "runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// podsOnHosts is what a slow host must not change: which pod (by UID)
// runs where, its restarts, and the PIDs of every host's containers.
type podsOnHosts struct {
	where    map[string]string // pod UID → node
	restarts int
	tasks    map[string][]int // agent → container PIDs, sorted
}

func snapshotPods(t *testing.T, c *podCluster) podsOnHosts {
	t.Helper()
	s := podsOnHosts{where: map[string]string{}, tasks: map[string][]int{}}
	pods, err := c.agents[0].pods("web")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods {
		s.where[p.UID] = p.Spec.NodeName
		for _, cs := range p.Status.ContainerStatuses {
			s.restarts += int(cs.RestartCount)
		}
	}
	for _, a := range c.agents {
		pids, err := a.taskPIDs()
		if err != nil {
			t.Fatalf("containers of %s: %v", a.name, err)
		}
		slices.Sort(pids)
		s.tasks[a.name] = pids
	}
	return s
}

// samePods fails the test if the pods moved or restarted since before.
func samePods(t *testing.T, what string, before, after podsOnHosts) {
	t.Helper()
	if !maps.Equal(before.where, after.where) {
		t.Errorf("%s: pods moved: before %v, after %v", what, before.where, after.where)
	}
	if after.restarts != before.restarts {
		t.Errorf("%s: containers restarted: %d restarts before, %d after", what, before.restarts, after.restarts)
	}
	for name, pids := range before.tasks {
		if !slices.Equal(pids, after.tasks[name]) {
			t.Errorf("%s: the containers of %s changed: PIDs %v before, %v after", what, name, pids, after.tasks[name])
		}
	}
}

// A slow host is not a dead host, on namespace hosts with pods: a host
// whose every process (containers included) is frozen for 2 s, the
// leader's host frozen for 2 s, and a host whose CPU is saturated by busy
// processes for 10 s all keep their pods: no Node leaves Ready, no pod is
// replaced, no container restarts.
func TestSlowHostsKeepTheirPods(t *testing.T) {
	c := startPodCluster(t, 3)
	a := c.agents[0]
	a.apply(t, scenarioWeb)
	a.waitWebReady(t)
	cl := &cluster{t: t, agents: c.agents}
	t.Cleanup(func() {
		if t.Failed() {
			for _, ag := range c.agents {
				b, _ := os.ReadFile(ag.logPath)
				for _, line := range strings.Split(string(b), "\n") {
					if strings.Contains(line, "component=memberlist") && !strings.Contains(line, "level=DEBUG") {
						t.Logf("%s: %s", ag.name, line)
					}
				}
			}
		}
	})
	other := func(not *agent) *agent {
		for _, o := range c.agents {
			if o != not {
				return o
			}
		}
		return nil
	}
	freeze := func(target *agent) {
		if err := target.host.Freeze(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { target.host.Thaw() })
		time.Sleep(slowFreezeFor) // the freeze itself
		if err := target.host.Thaw(); err != nil {
			t.Fatal(err)
		}
	}
	busy := func(target *agent) {
		for range goruntime.NumCPU() * 2 {
			b := target.host.Command("sh", "-c", "while :; do :; done")
			if err := target.host.Start(b); err != nil {
				t.Fatal(err)
			}
			defer func() { b.Process.Kill(); b.Wait() }()
		}
		time.Sleep(10 * time.Second) // the saturation itself
	}
	leader := cl.leader()
	follower := other(leader)
	for _, tc := range []struct {
		what   string
		target *agent
		fault  func(*agent)
	}{
		{"host " + follower.name + " frozen for 2 s", follower, freeze},
		{"the leader's host " + leader.name + " frozen for 2 s", leader, freeze},
		{"host " + follower.name + "'s CPU saturated for 10 s", follower, busy},
	} {
		before := snapshotPods(t, c)
		w := slowWatchNodes(t, other(tc.target), len(c.agents))
		tc.fault(tc.target)
		waitFor(t, 30*time.Second, "a write through "+tc.target.name+" after "+tc.what, func() (bool, string) {
			_, err := tc.target.client().Create(t.Context(), configMap(fmt.Sprintf("after-%d", time.Now().UnixNano())))
			return err == nil, fmt.Sprint(err)
		})
		time.Sleep(slowWatchAfter) // the observation window
		w.check(t, cl)
		samePods(t, tc.what, before, snapshotPods(t, c))
		if t.Failed() {
			return
		}
	}
}
