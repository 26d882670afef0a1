package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/apiserver"
)

// kubectlBin builds kubectl from k8s.io/kubectl (integration/kubectl), once
// per test binary.
var kubectlBin = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "kubectl-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "kubectl")
	// kubectl checks its own version against the server's: give it the
	// release it is built from.
	ldflags := "-X k8s.io/component-base/version.gitVersion=" + apiserver.KubernetesVersion +
		" -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=37"
	out, err := exec.Command("go", "build", "-ldflags", ldflags, "-o", bin, "./kubectl").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("build kubectl: %v\n%s", err, out)
	}
	return bin, nil
})

// kubectl runs kubectl against agent a with the kubeconfig `shoal
// kubeconfig` prints for the test's credential.
func kubectl(t *testing.T, a *agent, args ...string) string {
	t.Helper()
	bin, err := kubectlBin()
	if err != nil {
		t.Fatal(err)
	}
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	out, err := exec.Command(shoalBin, "kubeconfig", "--config", a.adminConf, "--server", a.url()).Output()
	if err != nil {
		t.Fatalf("shoal kubeconfig: %v", err)
	}
	if err := os.WriteFile(kc, out, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kc)
	got, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl %s through %s: %v\n%s", strings.Join(args, " "), a.name, err, got)
	}
	return string(got)
}

// A real kubectl, pointed at each node of a 3-node cluster in turn, finds
// the server's version and the served kinds, and lists Nodes and
// ConfigMaps.
func TestKubectlReads(t *testing.T) {
	c := startCluster(t, 3)
	cm := configMapJSON("seen-by-kubectl")
	if err := sendJSON(t.Context(), c.agents[0].client().HTTP, "POST", c.agents[0].url()+"/api/v1/namespaces/default/configmaps", cm, 201); err != nil {
		t.Fatal(err)
	}
	for _, a := range c.agents {
		if out := kubectl(t, a, "version"); !strings.Contains(out, "Server Version:") {
			t.Errorf("kubectl version through %s:\n%s", a.name, out)
		}
		out := kubectl(t, a, "api-resources")
		for _, want := range []string{"deployments", "apps/v1", "configmaps", "cronjobs", "batch/v1"} {
			if !strings.Contains(out, want) {
				t.Errorf("kubectl api-resources through %s lacks %q:\n%s", a.name, want, out)
			}
		}
		waitFor(t, 30*time.Second, "kubectl to list the 3 nodes", func() (bool, string) {
			out := kubectl(t, a, "get", "nodes", "-o", "name")
			return strings.Count(out, "node/") == 3, out
		})
		if out := kubectl(t, a, "get", "configmaps", "-o", "name"); !strings.Contains(out, "configmap/seen-by-kubectl") {
			t.Errorf("kubectl get configmaps through %s:\n%s", a.name, out)
		}
	}
}
