package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
)

const webManifests = `
apiVersion: v1
kind: ConfigMap
metadata: {name: web-config}
data: {greeting: hello-from-configmap}
---
apiVersion: v1
kind: Secret
metadata: {name: web-secret}
stringData: {password: s3cr3t}
---
apiVersion: v1
kind: Pod
metadata: {name: web, labels: {app: web}}
spec:
  terminationGracePeriodSeconds: 2
  initContainers:
  - name: setup
    image: shoal.test/busybox:1
    command: [sh, -c, "echo init-ran > /www/init.txt && echo ok > /www/ready"]
    volumeMounts: [{name: www, mountPath: /www}]
  containers:
  - name: web
    image: shoal.test/busybox:1
    command: [sh, -c, "echo starting web; exec httpd -f -p 8080 -h /www"]
    env:
    - {name: GREETING, valueFrom: {configMapKeyRef: {name: web-config, key: greeting}}}
    - {name: PASSWORD, valueFrom: {secretKeyRef: {name: web-secret, key: password}}}
    - {name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
    ports: [{name: http, containerPort: 8080}]
    readinessProbe: {httpGet: {path: /ready, port: http}, periodSeconds: 1, failureThreshold: 1}
    volumeMounts:
    - {name: www, mountPath: /www}
    - {name: config, mountPath: /etc/config}
    - {name: secret, mountPath: /etc/secret}
  volumes:
  - {name: www, emptyDir: {}}
  - {name: config, configMap: {name: web-config}}
  - {name: secret, secret: {secretName: web-secret}}
`

const troubleManifests = `
apiVersion: v1
kind: Pod
metadata: {name: exits}
spec:
  restartPolicy: Never
  containers:
  - {name: c, image: shoal.test/busybox:1, command: [sh, -c, "exit 3"]}
---
apiVersion: v1
kind: Pod
metadata: {name: oom}
spec:
  restartPolicy: Never
  containers:
  - name: c
    image: shoal.test/busybox:1
    command: [sh, -c, "x=0123456789; while true; do x=$x$x; done"]
    resources: {limits: {memory: 32Mi}}
---
apiVersion: v1
kind: Pod
metadata: {name: unhealthy}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: shoal.test/busybox:1
    command: [sh, -c, "touch /tmp/healthy; sleep 2; rm /tmp/healthy; exec sleep 3600"]
    livenessProbe: {exec: {command: [cat, /tmp/healthy]}, periodSeconds: 1, failureThreshold: 2}
`

// podsAgent brings up one host in its own network namespace running an
// agent with containerd and the test image.
func podsAgent(t *testing.T) (*agent, host) {
	needPods(t)
	archive := buildTestImage(t)
	n := newTestNet(t)
	h := n.addHost()
	a := startPodAgent(t, "n1", h)
	a.waitNode(t, "n1")
	if out, err := a.cli("image", "import", archive); err != nil {
		t.Fatalf("image import: %v\n%s", err, out)
	}
	return a, h
}

// waitNode waits until the Node of name has a pod CIDR.
func (a *agent) waitNode(t testing.TB, name string) {
	t.Helper()
	waitFor(t, 30*time.Second, "node "+name+" to get a pod CIDR", func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		o, err := a.client().Get(ctx, "Node", "", name)
		if err != nil {
			return false, err.Error()
		}
		return o.(*api.Node).Spec.PodCIDR != "", "no pod CIDR yet"
	})
}

func (a *agent) apply(t testing.TB, manifests string) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "m.yaml")
	os.WriteFile(f, []byte(manifests), 0o644)
	if out, err := a.cli("apply", "-f", f); err != nil {
		t.Fatalf("apply: %v\n%s", err, out)
	}
}

func (a *agent) pod(name string) (*api.Pod, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	o, err := a.client().Get(ctx, "Pod", "default", name)
	if err != nil {
		return nil, err
	}
	return o.(*api.Pod), nil
}

// waitPod waits until cond holds for pod name, showing its status if not.
func (a *agent) waitPod(t *testing.T, timeout time.Duration, name, what string, cond func(p *api.Pod) bool) *api.Pod {
	t.Helper()
	var last *api.Pod
	waitFor(t, timeout, "pod "+name+" "+what, func() (bool, string) {
		p, err := a.pod(name)
		if err != nil {
			return false, err.Error()
		}
		last = p
		st, _ := json.Marshal(p.Status)
		return cond(p), string(st) + "\nagent log:\n" + a.tail()
	})
	return last
}

func ready(p *api.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == api.PodReady {
			return c.Status == api.ConditionTrue
		}
	}
	return false
}

func TestPodsOnOneNode(t *testing.T) {
	a, h := podsAgent(t)
	a.apply(t, webManifests)
	web := a.waitPod(t, 60*time.Second, "web", "is Running and Ready", func(p *api.Pod) bool {
		return p.Status.Phase == api.PodRunning && p.Status.PodIP != "" && ready(p)
	})
	if !strings.HasPrefix(web.Status.PodIP, "10.244.") || web.Status.HostIP != h.ip {
		t.Fatalf("podIP %s hostIP %s: want an address of the pod CIDR, on host %s", web.Status.PodIP, web.Status.HostIP, h.ip)
	}

	t.Run("HTTPFromTheHost", func(t *testing.T) {
		out, err := h.nsenter("busybox", "wget", "-q", "-O-", "http://"+web.Status.PodIP+":8080/init.txt").CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "init-ran" {
			t.Fatalf("GET init.txt from the host: %v %q", err, out)
		}
	})
	t.Run("ExecSeesEnvAndVolumes", func(t *testing.T) {
		out, err := a.cli("exec", "web", "--", "sh", "-c", "echo $GREETING $PASSWORD $POD_NAME; cat /etc/config/greeting /etc/secret/password; grep -c nameserver /etc/resolv.conf; hostname")
		want := "hello-from-configmap s3cr3t web\nhello-from-configmaps3cr3t1\nweb\n"
		if err != nil || out != want {
			t.Fatalf("exec: %v\n got %q\nwant %q", err, out, want)
		}
		out, err = a.cli("exec", "web", "--", "sh", "-c", "mount | grep ' /etc/secret '")
		if err != nil || !strings.Contains(out, "tmpfs") {
			t.Fatalf("the secret volume is not on tmpfs: %v %q", err, out)
		}
	})
	t.Run("ExecExitCode", func(t *testing.T) {
		_, err := a.cli("exec", "web", "--", "sh", "-c", "exit 7")
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 7 {
			t.Fatalf("exec exit 7 gave %v", err)
		}
	})
	t.Run("Logs", func(t *testing.T) {
		out, err := a.cli("logs", "web")
		if err != nil || !strings.Contains(out, "starting web") {
			t.Fatalf("logs: %v %q", err, out)
		}
		out, err = a.cli("logs", "web", "-c", "setup")
		if err != nil {
			t.Fatalf("logs of the init container: %v %q", err, out)
		}
	})
	t.Run("ReadinessFlips", func(t *testing.T) {
		if out, err := a.cli("exec", "web", "--", "rm", "/www/ready"); err != nil {
			t.Fatalf("%v %s", err, out)
		}
		a.waitPod(t, 20*time.Second, "web", "is not Ready", func(p *api.Pod) bool { return !ready(p) && p.Status.Phase == api.PodRunning })
		if out, err := a.cli("exec", "web", "--", "sh", "-c", "echo ok > /www/ready"); err != nil {
			t.Fatalf("%v %s", err, out)
		}
		a.waitPod(t, 20*time.Second, "web", "is Ready again", ready)
	})

	t.Run("ExitCodesOOMAndLiveness", func(t *testing.T) {
		a.apply(t, troubleManifests)
		p := a.waitPod(t, 60*time.Second, "exits", "has failed", func(p *api.Pod) bool { return p.Status.Phase == api.PodFailed })
		if term := p.Status.ContainerStatuses[0].State.Terminated; term == nil || term.ExitCode != 3 || term.Reason != "Error" {
			t.Fatalf("exits: %+v", p.Status.ContainerStatuses[0].State)
		}
		p = a.waitPod(t, 60*time.Second, "oom", "was OOM-killed", func(p *api.Pod) bool {
			t := p.Status.ContainerStatuses
			return len(t) == 1 && t[0].State.Terminated != nil && t[0].State.Terminated.Reason == "OOMKilled"
		})
		if p.Status.Phase != api.PodFailed {
			t.Fatalf("oom: phase %s", p.Status.Phase)
		}
		a.waitPod(t, 60*time.Second, "unhealthy", "is restarted by its liveness probe", func(p *api.Pod) bool {
			cs := p.Status.ContainerStatuses
			return len(cs) == 1 && cs[0].RestartCount >= 1
		})
	})

	t.Run("AgentRestartKeepsContainers", func(t *testing.T) {
		before, err := a.pod("web")
		if err != nil {
			t.Fatal(err)
		}
		a.kill9()
		a.start()
		// A new pod running shows the restarted agent has made its passes.
		a.apply(t, `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"after-restart"},"spec":{"containers":[{"name":"c","image":"shoal.test/busybox:1","command":["sleep","3600"]}]}}`)
		a.waitPod(t, 60*time.Second, "after-restart", "runs", func(p *api.Pod) bool { return p.Status.Phase == api.PodRunning })
		after := a.waitPod(t, 30*time.Second, "web", "is Ready after the restart", ready)
		b, c := before.Status.ContainerStatuses[0], after.Status.ContainerStatuses[0]
		if b.ContainerID != c.ContainerID || c.RestartCount != b.RestartCount || c.State.Running == nil ||
			!c.State.Running.StartedAt.Equal(b.State.Running.StartedAt.Time) {
			t.Fatalf("the agent restart restarted the container:\nbefore %+v\nafter  %+v", b, c)
		}
	})

	t.Run("DeleteStopsEverything", func(t *testing.T) {
		if out, err := a.cli("delete", "pod", "web"); err != nil {
			t.Fatalf("%v %s", err, out)
		}
		waitFor(t, 60*time.Second, "web's containers and network to go", func() (bool, string) {
			out, _ := h.nsenter("busybox", "wget", "-q", "-T", "1", "-O-", "http://"+web.Status.PodIP+":8080/init.txt").CombinedOutput()
			ents, _ := os.ReadDir(filepath.Join(a.dataDir, "pods", web.UID))
			return len(ents) == 0 && !strings.Contains(string(out), "init-ran"), fmt.Sprintf("%d files; wget %q", len(ents), out)
		})
	})
}

const crossHostManifests = `
apiVersion: v1
kind: Pod
metadata: {name: on-n1}
spec:
  terminationGracePeriodSeconds: 1
  nodeSelector: {kubernetes.io/hostname: n1}
  containers:
  - {name: c, image: shoal.test/busybox:1, command: [sh, -c, "echo from-n1 > /tmp/id; exec httpd -f -p 8080 -h /tmp"]}
---
apiVersion: v1
kind: Pod
metadata: {name: on-n2}
spec:
  terminationGracePeriodSeconds: 1
  nodeSelector: {kubernetes.io/hostname: n2}
  containers:
  - {name: c, image: shoal.test/busybox:1, command: [sh, -c, "echo from-n2 > /tmp/id; exec httpd -f -p 8080 -h /tmp"]}
`

// Two hosts, each in its own network namespace with its own containerd: a
// pod on one reaches a pod on the other by IP, through the routes each node
// keeps to the other's pod CIDR.
func TestPodsReachEachOtherAcrossHosts(t *testing.T) {
	needPods(t)
	archive := buildTestImage(t)
	n := newTestNet(t)
	a1 := startPodAgent(t, "n1", n.addHost())
	a1.waitNode(t, "n1")
	a2 := startPodAgent(t, "n2", n.addHost(),
		"--join", a1.ip, "--token-file", filepath.Join(a1.dataDir, "token"))
	a1.waitNode(t, "n2")
	if out, err := a1.cli("image", "import", "--all-nodes", archive); err != nil || strings.Count(out, "imported") != 2 {
		t.Fatalf("image import --all-nodes: %v\n%s", err, out)
	}
	a1.apply(t, crossHostManifests)
	running := func(p *api.Pod) bool { return p.Status.Phase == api.PodRunning && ready(p) }
	p1 := a1.waitPod(t, 60*time.Second, "on-n1", "runs", running)
	p2 := a1.waitPod(t, 60*time.Second, "on-n2", "runs", running)
	if p1.Spec.NodeName != "n1" || p2.Spec.NodeName != "n2" || p1.Status.PodIP[:9] == p2.Status.PodIP[:9] {
		t.Fatalf("on-n1 runs on %s at %s, on-n2 on %s at %s: want one per node, from different pod CIDRs",
			p1.Spec.NodeName, p1.Status.PodIP, p2.Spec.NodeName, p2.Status.PodIP)
	}
	for _, c := range []struct {
		from, to string
		ip, want string
	}{{"on-n1", "on-n2", p2.Status.PodIP, "from-n2"}, {"on-n2", "on-n1", p1.Status.PodIP, "from-n1"}} {
		waitFor(t, 20*time.Second, c.from+" reaches "+c.to+" at "+c.ip, func() (bool, string) {
			// busybox wget's own -T crashes in the static build; timeout(1) bounds it.
			o, err := a2.cli("exec", c.from, "--", "timeout", "3", "wget", "-q", "-O-", "http://"+c.ip+":8080/id")
			return err == nil && strings.TrimSpace(o) == c.want, fmt.Sprintf("%v %q", err, o)
		})
	}
}
