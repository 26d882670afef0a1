package integration

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/devnet"
)

// Failure scenarios on hosts with pods: each checks convergence with a
// deadline and says what it expected and saw.

const scenarioWeb = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 6
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: web
        image: shoal.test/busybox:1
        command: [sh, -c, "echo ok > /tmp/ok; exec httpd -f -p 8080 -h /tmp"]
        readinessProbe: {httpGet: {path: /ok, port: 8080}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080}]
`

// hostOf returns the devnet host an agent runs in.
func hostOf(a *agent) devnet.Host { return a.host }

// runningTasks counts the running containers in an agent's own
// containerd, asking containerd itself.
func (a *agent) runningTasks() (int, error) {
	sock := containerdSocket(a)
	out, err := exec.Command("ctr", "--address", sock, "-n", "shoal", "tasks", "ls").Output()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, line := range strings.Split(string(out), "\n")[1:] {
		if f := strings.Fields(line); len(f) >= 3 && f[2] == "RUNNING" {
			n++
		}
	}
	return n, nil
}

// lookup asks a node's DNS server for name's A records.
func lookup(ip, name string) ([]string, error) {
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{Timeout: time.Second}).DialContext(ctx, "udp", net.JoinHostPort(ip, "53"))
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	addrs, err := r.LookupHost(ctx, name)
	sort.Strings(addrs)
	return addrs, err
}

func readyIPs(pods []*api.Pod) []string {
	var out []string
	for _, p := range pods {
		if p.Status.Phase == api.PodRunning && ready(p) {
			out = append(out, p.Status.PodIP)
		}
	}
	sort.Strings(out)
	return out
}

// A minority cut off cannot commit; the majority goes on and replaces the
// minority's pods; after the heal exactly the desired pods run and the
// minority's old containers are stopped.
func TestMinorityPartition(t *testing.T) {
	c := startPodCluster(t, 3)
	a := c.agents[0]
	a.apply(t, scenarioWeb)
	waitFor(t, 90*time.Second, "6 web pods Ready, 2 per node", func() (bool, string) {
		pods, err := a.pods("web")
		if err != nil {
			return false, err.Error()
		}
		per, n := spread(pods)
		return n == 6 && per["n3"] == 2, describeSpread(per)
	})
	minority := c.agents[2]
	var rest []devnet.Host
	for _, o := range c.agents[:2] {
		rest = append(rest, hostOf(o))
	}
	if err := devnet.Partition([]devnet.Host{hostOf(minority)}, rest); err != nil {
		t.Fatal(err)
	}
	// The minority cannot commit: a write through it fails.
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	cm := &api.ConfigMap{TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}, Data: map[string]string{"k": "v"}}
	cm.Name, cm.Namespace = "from-minority", "default"
	_, err := minority.client().Create(ctx, cm)
	cancel()
	if err == nil {
		t.Fatal("a write through the cut-off minority was acknowledged")
	}
	// The majority goes on: its pods are replaced.
	waitFor(t, 90*time.Second, "6 web pods Ready on n1 and n2", func() (bool, string) {
		pods, err := a.pods("web")
		if err != nil {
			return false, err.Error()
		}
		per, n := spread(pods)
		return n == 6 && per["n3"] == 0 && len(pods) == 6, describeSpread(per)
	})
	if err := devnet.Heal(append(rest, hostOf(minority))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "n3 to stop the containers of its replaced pods", func() (bool, string) {
		n, err := minority.runningTasks()
		return err == nil && n == 0, fmt.Sprintf("%d running containers on n3 (%v)", n, err)
	})
	pods, _ := a.pods("web")
	if per, n := spread(pods); n != 6 || len(pods) != 6 {
		t.Fatalf("after the heal: %d pods, %d Ready (%s); want exactly 6", len(pods), n, describeSpread(per))
	}
	// Gossip heals too: both sides had declared each other failed.
	for _, via := range []*agent{a, minority} {
		waitFor(t, 30*time.Second, "every Node Ready again, as "+via.name+" sees it", func() (bool, string) {
			out, err := via.cli("get", "nodes")
			return err == nil && !strings.Contains(out, "NotReady"), out
		})
	}
}

// A leader cut off in a minority steps down, and the majority elects
// another.
func TestIsolatedLeaderStepsDown(t *testing.T) {
	c := startPodCluster(t, 3)
	var leader *agent
	waitFor(t, 30*time.Second, "a leader", func() (bool, string) {
		for _, a := range c.agents {
			if st, err := status(a); err == nil && st.Self.RaftState == "Leader" {
				leader = a
				return true, ""
			}
		}
		return false, "none"
	})
	var rest []devnet.Host
	var others []*agent
	for _, o := range c.agents {
		if o != leader {
			rest = append(rest, hostOf(o))
			others = append(others, o)
		}
	}
	if err := devnet.Partition([]devnet.Host{hostOf(leader)}, rest); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "a new leader on the majority side", func() (bool, string) {
		st, err := status(others[0])
		if err != nil || st.Leader == nil {
			return false, fmt.Sprint(err)
		}
		return st.Leader.Name != leader.name, "leader " + st.Leader.Name
	})
	waitFor(t, 30*time.Second, "the old leader to step down", func() (bool, string) {
		st, err := status(leader)
		if err != nil {
			return false, err.Error()
		}
		return st.Self.RaftState != "Leader", st.Self.RaftState
	})
	if err := devnet.Heal(append(rest, hostOf(leader))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "one leader that all agree on", func() (bool, string) {
		var seen []string
		for _, a := range c.agents {
			st, err := status(a)
			if err != nil || st.Leader == nil {
				return false, fmt.Sprint(a.name, err)
			}
			seen = append(seen, st.Leader.Name)
		}
		return seen[0] == seen[1] && seen[1] == seen[2], strings.Join(seen, " ")
	})
}

// Every agent restarted in turn under a running Deployment: no container
// restarts, and service DNS answers throughout.
func TestRollingAgentRestart(t *testing.T) {
	c := startPodCluster(t, 3)
	a := c.agents[0]
	a.apply(t, scenarioWeb)
	var want []string
	waitFor(t, 90*time.Second, "6 web pods Ready", func() (bool, string) {
		pods, err := a.pods("web")
		if err != nil {
			return false, err.Error()
		}
		want = readyIPs(pods)
		return len(want) == 6, fmt.Sprint(want)
	})
	before := map[string]string{} // pod -> container ID
	pods, _ := a.pods("web")
	for _, p := range pods {
		before[p.Name] = p.Status.ContainerStatuses[0].ContainerID
	}
	waitFor(t, 30*time.Second, "DNS to answer with the 6 pods", func() (bool, string) {
		got, err := lookup(c.agents[1].ip, "web.default.svc.cluster.local")
		return err == nil && strings.Join(got, ",") == strings.Join(want, ","), fmt.Sprint(got, err)
	})
	stop := make(chan struct{})
	failures := make(chan string, 100)
	go func() {
		for {
			select {
			case <-stop:
				close(failures)
				return
			case <-time.After(100 * time.Millisecond):
			}
			for _, o := range c.agents {
				// A node whose agent is restarting refuses; that is allowed below.
				if got, err := lookup(o.ip, "web.default.svc.cluster.local"); err != nil || len(got) != 6 {
					select {
					case failures <- fmt.Sprintf("%s answered %v %v", o.name, got, err):
					default:
					}
				}
			}
		}
	}()
	for _, o := range c.agents {
		o.cmd.Process.Signal(syscall.SIGTERM)
		o.cmd.Wait()
		o.cmd = nil
		o.start()
		waitFor(t, 60*time.Second, o.name+" to be a voter again with its pods Ready", func() (bool, string) {
			st, err := status(o)
			if err != nil || st.Leader == nil {
				return false, fmt.Sprint(err)
			}
			pods, err := a.pods("web")
			if err != nil {
				return false, err.Error()
			}
			_, n := spread(pods)
			return n == 6, fmt.Sprintf("%d Ready", n)
		})
	}
	close(stop)
	var dnsFailures []string
	for f := range failures {
		dnsFailures = append(dnsFailures, f)
	}
	// A node's own DNS is down while its agent restarts; the others must
	// answer throughout.
	for _, f := range dnsFailures {
		if !strings.Contains(f, "connection refused") && !strings.Contains(f, "i/o timeout") {
			t.Errorf("DNS: %s", f)
		}
	}
	pods, _ = a.pods("web")
	for _, p := range pods {
		cs := p.Status.ContainerStatuses[0]
		if before[p.Name] != cs.ContainerID || cs.RestartCount != 0 {
			t.Errorf("pod %s: container %s restarted %d times (was %s)", p.Name, cs.ContainerID, cs.RestartCount, before[p.Name])
		}
	}
}
