package integration

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/consensus"
)

// podCluster is n hosts, each in its own network namespace with its own
// agent and containerd, all with the test image.
type podCluster struct {
	agents []*agent
}

func startPodCluster(t testing.TB, n int) *podCluster {
	t.Helper()
	needPods(t)
	archive := buildTestImage(t)
	net := newTestNet(t)
	c := &podCluster{}
	for i := range n {
		name := fmt.Sprintf("n%d", i+1)
		var extra []string
		if i > 0 {
			extra = []string{"--join", c.agents[0].ip, "--token-file", filepath.Join(c.agents[0].dataDir, "token")}
		}
		a := startPodAgent(t, name, net.addHost(), extra...)
		c.agents = append(c.agents, a)
		c.agents[0].waitNode(t, name)
	}
	if out, err := c.agents[0].cli("image", "import", "--all-nodes", archive); err != nil || strings.Count(out, "imported") != n {
		t.Fatalf("image import --all-nodes: %v\n%s", err, out)
	}
	(&cluster{t: t, agents: c.agents}).waitVoters(consensus.TargetVoters(n))
	return c
}

// pods lists the pods with label app=app through agent a.
func (a *agent) pods(app string) ([]*api.Pod, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	objs, _, err := a.client().ListWith(ctx, "Pod", "default", api.ListOptions{LabelSelector: "app=" + app})
	if err != nil {
		return nil, err
	}
	out := make([]*api.Pod, len(objs))
	for i, o := range objs {
		out[i] = o.(*api.Pod)
	}
	return out, nil
}

// waitWebReady waits until the 6 pods of scenarioWeb are all Running and
// Ready, as agent a sees them.
func (a *agent) waitWebReady(t testing.TB) {
	t.Helper()
	waitFor(t, 90*time.Second, "6 web pods Ready", func() (bool, string) {
		pods, err := a.pods("web")
		if err != nil {
			return false, err.Error()
		}
		per, n := spread(pods)
		return n == 6 && len(pods) == 6, describeSpread(per)
	})
}

// spread counts Running and Ready pods per node.
func spread(pods []*api.Pod) (map[string]int, int) {
	per := map[string]int{}
	n := 0
	for _, p := range pods {
		if p.Status.Phase == api.PodRunning && ready(p) {
			per[p.Spec.NodeName]++
			n++
		}
	}
	return per, n
}

func describeSpread(per map[string]int) string {
	var parts []string
	for n, c := range per {
		parts = append(parts, fmt.Sprintf("%s=%d", n, c))
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

const webDeployment = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 6
  selector: {matchLabels: {app: web}}
  strategy: {type: RollingUpdate, rollingUpdate: {maxUnavailable: 1, maxSurge: 1}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: web
        image: shoal.test/busybox:1
        env: [{name: VERSION, value: "%s"}]
        command: [sh, -c, "echo $VERSION > /tmp/version; exec httpd -f -p 8080 -h /tmp"]
        readinessProbe: {httpGet: {path: /version, port: 8080}, periodSeconds: 1}
`

// A Deployment of 6 on 3 hosts spreads 2/2/2; a template change rolls
// with never fewer than 5 Ready; killing a host brings all 6 back on the
// other two.
func TestDeploymentAcrossHosts(t *testing.T) {
	c := startPodCluster(t, 3)
	a := c.agents[0]
	a.apply(t, fmt.Sprintf(webDeployment, "v1"))
	waitFor(t, 90*time.Second, "6 web pods Running and Ready, 2 per node", func() (bool, string) {
		pods, err := a.pods("web")
		if err != nil {
			return false, err.Error()
		}
		per, n := spread(pods)
		return n == 6 && len(pods) == 6 && per["n1"] == 2 && per["n2"] == 2 && per["n3"] == 2, describeSpread(per)
	})

	// Roll to v2 while watching readiness.
	var mu sync.Mutex
	minReady, stop := 6, make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			pods, err := a.pods("web")
			if err != nil {
				continue
			}
			_, n := spread(pods)
			mu.Lock()
			minReady = min(minReady, n)
			mu.Unlock()
		}
	}()
	a.apply(t, fmt.Sprintf(webDeployment, "v2"))
	out, err := a.cli("rollout", "status", "deployment/web", "--timeout", "120s")
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("rollout status: %v\n%s", err, out)
	}
	if minReady < 5 {
		t.Fatalf("only %d pods were Ready at one point of the rollout; maxUnavailable 1 allows no fewer than 5", minReady)
	}
	if out, err := a.cli("rollout", "history", "deployment/web"); err != nil || !strings.Contains(out, "\n2 ") {
		t.Fatalf("rollout history: %v\n%s", err, out)
	}

	// Power cut on n3: agent, containerd and pods die at once.
	victim := c.agents[2]
	victim.powerCut()
	waitFor(t, 90*time.Second, "6 web pods Running and Ready on n1 and n2", func() (bool, string) {
		pods, err := a.pods("web")
		if err != nil {
			return false, err.Error()
		}
		per, n := spread(pods)
		return n == 6 && per["n3"] == 0 && len(pods) == 6, describeSpread(per)
	})

	// n3 comes back: what it ran belongs to others now, so it removes it.
	victim.boot()
	waitFor(t, 60*time.Second, "n3 to remove the containers of its replaced pods", func() (bool, string) {
		n, err := victim.containers()
		return err == nil && n == 0, fmt.Sprintf("%d containers on n3 (%v)", n, err)
	})
}

// containers counts the containers in an agent's own containerd, running
// or not, asking containerd itself.
func (a *agent) containers() (int, error) {
	sock := containerdSocket(a)
	out, err := exec.Command("ctr", "--address", sock, "-n", "shoal", "containers", "ls", "-q").Output()
	if err != nil {
		return 0, err
	}
	return len(strings.Fields(string(out))), nil
}
