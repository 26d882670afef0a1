package integration

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/devnet"
)

const dnsManifests = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: web
        image: shoal.test/busybox:1
        command: [sh, -c, "mkdir -p /www; hostname > /www/hostname; exec httpd -f -p 8080 -h /www"]
        ports: [{name: http, containerPort: 8080}]
        readinessProbe: {httpGet: {path: /hostname, port: 8080}, periodSeconds: 1, failureThreshold: 1}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: v1
kind: Pod
metadata: {name: client}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {name: c, image: shoal.test/busybox:1, command: [sleep, "3600"]}
`

// lookup resolves name from pod through the pod's own resolv.conf (the
// node's DNS on its bridge's gateway) and returns the IPv4 addresses,
// sorted. busybox nslookup tries every search domain and fails when any
// of them is NXDOMAIN, so its exit status says little: look at the
// addresses.
func (a *agent) lookup(pod, name string) ([]string, string, error) {
	out, err := a.cli("exec", pod, "--", "nslookup", "-type=a", name)
	var ips []string
	named := false
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "Name:") {
			named = true
		}
		if ip, ok := strings.CutPrefix(line, "Address:"); ok && named {
			ips = append(ips, strings.TrimSpace(ip))
		}
	}
	sort.Strings(ips)
	return ips, out, err
}

func webIPs(a *agent) (map[string]string, error) {
	pods, err := a.pods("web")
	if err != nil {
		return nil, err
	}
	out := map[string]string{} // IP -> node
	for _, p := range pods {
		if p.Status.Phase == api.PodRunning && ready(p) && p.Status.PodIP != "" {
			out[p.Status.PodIP] = p.Spec.NodeName
		}
	}
	return out, nil
}

func sortedKeys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// A pod resolves a Service by its short name through its node's DNS and
// reaches the pods behind it on every host; a pod that stops being Ready,
// and the pods of a host that dies, leave the answers.
func TestServiceDNSAcrossHosts(t *testing.T) {
	c := startPodCluster(t, 3)
	a := c.agents[0]
	a.apply(t, dnsManifests)
	var backends map[string]string
	waitFor(t, 90*time.Second, "3 web pods Ready on 3 nodes and the client Running", func() (bool, string) {
		var err error
		if backends, err = webIPs(a); err != nil {
			return false, err.Error()
		}
		nodes := map[string]bool{}
		for _, n := range backends {
			nodes[n] = true
		}
		cl, err := a.pod("client")
		if err != nil {
			return false, err.Error()
		}
		return len(backends) == 3 && len(nodes) == 3 && cl.Status.Phase == api.PodRunning, fmt.Sprint(backends, " client ", cl.Status.Phase)
	})
	cl, _ := a.pod("client")
	want := sortedKeys(backends)

	// The short name, through the search path of the pod's resolv.conf,
	// gives the three Ready pods.
	waitFor(t, 30*time.Second, "web to resolve to the 3 Ready pods from the client", func() (bool, string) {
		ips, out, err := a.lookup("client", "web")
		return fmt.Sprint(ips) == fmt.Sprint(want), fmt.Sprintf("%v %v want %v\n%s", ips, err, want, out)
	})
	// Every one of them answers, those on other hosts too, and plain
	// clients (wget through the C library's resolver) find the Service.
	for ip, node := range backends {
		out, err := a.cli("exec", "client", "--", "timeout", "5", "wget", "-q", "-O-", "http://"+ip+":8080/hostname")
		if err != nil || strings.TrimSpace(out) == "" {
			t.Fatalf("client on %s reaching web pod %s on %s: %v %q", cl.Spec.NodeName, ip, node, err, out)
		}
	}
	if out, err := a.cli("exec", "client", "--", "timeout", "5", "wget", "-q", "-O-", "http://web:8080/hostname"); err != nil || !strings.HasPrefix(strings.TrimSpace(out), "web-") {
		t.Fatalf("wget http://web:8080 from the client: %v %q", err, out)
	}
	// SRV, per-pod and node names, and the node's own address.
	out, err := a.cli("exec", "client", "--", "nslookup", "-type=srv", "_http._tcp.web.default.svc.cluster.local.")
	if err != nil || strings.Count(out, " 8080 ") != 3 {
		t.Fatalf("SRV of the http port: %v\n%s", err, out)
	}
	if ips, out, err := a.lookup("client", "n2.node.cluster.local."); err != nil || fmt.Sprint(ips) != "["+c.agents[1].ip+"]" {
		t.Fatalf("n2.node: %v %v\n%s", ips, err, out)
	}
	nsOut, err := a.nsenterHost("busybox", "nslookup", "-type=a", "web.default.svc.cluster.local.", a.ip)
	if err != nil || strings.Count(nsOut, "Address: 10.244.") != 3 {
		t.Fatalf("asking the node's --dns-addr from its host: %v\n%s", err, nsOut)
	}

	// A pod that stops being Ready leaves the answers, and comes back.
	var flip string
	for _, p := range mustPods(t, a, "web") {
		if p.Spec.NodeName != cl.Spec.NodeName {
			flip = p.Name
		}
	}
	flipIP := mustPod(t, a, flip).Status.PodIP
	if out, err := a.cli("exec", flip, "--", "rm", "/www/hostname"); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	a.waitPod(t, 20*time.Second, flip, "is not Ready", func(p *api.Pod) bool { return !ready(p) })
	start := time.Now()
	waitFor(t, 10*time.Second, flip+" to leave the answers", func() (bool, string) {
		ips, out, _ := a.lookup("client", "web")
		return len(ips) == 2 && !contains(ips, flipIP), out
	})
	t.Logf("%s left the answers %s after the API showed it not Ready", flip, time.Since(start).Round(time.Millisecond))
	if out, err := a.cli("exec", flip, "--", "sh", "-c", "hostname > /www/hostname"); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	waitFor(t, 20*time.Second, flip+" back in the answers", func() (bool, string) {
		ips, out, _ := a.lookup("client", "web")
		return contains(ips, flipIP), out
	})

	// Power cut on a host that runs a web pod but neither the client nor
	// the agent the test talks to: its pod leaves the answers.
	var victim *agent
	for _, ag := range c.agents[1:] {
		if ag.name != cl.Spec.NodeName {
			victim = ag
			break
		}
	}
	var lost string
	for ip, n := range backends {
		if n == victim.name {
			lost = ip
		}
	}
	victim.powerCut()
	killed := time.Now()
	waitFor(t, 90*time.Second, "the dead host's pod "+lost+" to leave the answers", func() (bool, string) {
		ips, out, _ := a.lookup("client", "web")
		return len(ips) > 0 && !contains(ips, lost), out
	})
	t.Logf("the pod of the killed host %s left the answers %s after the kill", victim.name, time.Since(killed).Round(time.Millisecond))
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func mustPods(t *testing.T, a *agent, app string) []*api.Pod {
	t.Helper()
	pods, err := a.pods(app)
	if err != nil {
		t.Fatal(err)
	}
	return pods
}

func mustPod(t *testing.T, a *agent, name string) *api.Pod {
	t.Helper()
	p, err := a.pod(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// nsenterHost runs a command in the agent's host network namespace.
func (a *agent) nsenterHost(args ...string) (string, error) {
	out, err := devnet.Host{NetNS: a.netns}.Command(args[0], args[1:]...).CombinedOutput()
	return string(out), err
}
