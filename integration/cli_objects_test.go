package integration

import (
	"os/exec"
	"strings"
	"testing"
)

// The kubectl-shaped commands against a real agent.
func TestCLIObjects(t *testing.T) {
	c := startCluster(t, 1)
	a := c.agents[0]
	run := func(args ...string) (string, error) {
		out, err := exec.Command(shoalBin, append(args, "--config", a.adminConf)...).CombinedOutput()
		return string(out), err
	}
	expect := func(want string, args ...string) string {
		t.Helper()
		out, err := run(args...)
		if err != nil || !strings.Contains(out, want) {
			t.Fatalf("shoal %s: %v\n%s\nwant %q", strings.Join(args, " "), err, out, want)
		}
		return out
	}
	expect("deployment.apps/web created", "apply", "-f", "../examples/web.yaml")
	expect("deployment.apps/web unchanged", "apply", "-f", "../examples/web.yaml")
	expect("configmap/app-config created", "apply", "-f", "../examples/config.yaml")
	out := expect("NAME", "get", "deploy")
	if !strings.Contains(out, "web") || !strings.Contains(out, "UP-TO-DATE") {
		t.Fatalf("get deploy table:\n%s", out)
	}
	expect(`"kind": "List"`, "get", "svc", "-o", "json")
	expect("deployment.apps/web", "get", "deployments", "-o", "name")
	expect("app-config", "get", "cm", "-A")
	expect("api-key:", "get", "secret", "app-secret", "-o", "yaml")
	expect("deployment.apps/web scaled", "scale", "deployment", "web", "--replicas", "5")
	expect("replicas: 5", "get", "deploy", "web", "-o", "yaml")
	expect("Events:", "describe", "deploy", "web")
	out, err := run("apply", "-f", "../examples/unsupported-pvc.yaml")
	if err == nil || !strings.Contains(out, "unsupported-pvc.yaml doc 1: pod needs-volume: spec.volumes[0].persistentVolumeClaim: not supported yet") {
		t.Fatalf("unsupported manifest: %v\n%s", err, out)
	}
	expect("deployment.apps/web deleted", "delete", "deploy", "web")
	if out, err := run("get", "deploy", "web"); err == nil || !strings.Contains(out, "not found") {
		t.Fatalf("get after delete: %v\n%s", err, out)
	}
	expect("configmap/app-config deleted", "delete", "-f", "../examples/config.yaml")
	if out, err := run("get", "widgets"); err == nil || !strings.Contains(out, "doesn't have a resource type") {
		t.Fatalf("unknown kind: %s", out)
	}
}
