package integration

import (
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/devnet"
)

// After a run of faults (power cuts, a boot, a partition, a host left
// frozen and one left powered off), tearing the hosts down leaves nothing
// of them on the machine: no process (containers included), mount,
// network namespace, link, cgroup or firewall rule.
func TestTeardownAfterFaultsLeavesNothing(t *testing.T) {
	c := startPodCluster(t, 3)
	a := c.agents[0]
	a.apply(t, scenarioWeb)
	a.waitWebReady(t)
	net := a.network
	count := func(left []string) (procs, mounts, other int) {
		for _, l := range left {
			switch {
			case strings.HasPrefix(l, "process "):
				procs++
			case strings.HasPrefix(l, "mount "):
				mounts++
			default:
				other++
			}
		}
		return
	}
	// The count sees the running hosts: 3 agents, 3 containerds, 6 shims
	// and 6 containers at least, their mounts, namespaces and links.
	if p, m, o := count(net.Leftovers()); p < 18 || m < 6 || o < 3+4 {
		t.Fatalf("a running cluster shows only %d processes, %d mounts and %d namespaces, links and cgroups: the count is blind", p, m, o)
	}

	n1, n2, n3 := c.agents[0], c.agents[1], c.agents[2]
	n3.powerCut()
	n3.boot()
	if err := devnet.Partition([]devnet.Host{n2.host}, []devnet.Host{n1.host, n3.host}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "n3 to run pods again", func() (bool, string) {
		n, err := n3.runningTasks()
		return err == nil && n > 0, "no containers on n3 yet"
	})
	n3.powerCut()
	if err := n2.host.Freeze(); err != nil {
		t.Fatal(err)
	}

	if err := net.Destroy(); err != nil {
		t.Fatal(err)
	}
	if left := net.Leftovers(); len(left) > 0 {
		t.Fatalf("left behind after the tear-down:\n%s", strings.Join(left, "\n"))
	}
}
