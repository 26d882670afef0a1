package node

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/shoal-dev/shoal/api"
)

// client-go, unchanged, takes the credential as a kubeconfig, discovers an
// agent's kinds and reads its objects: a ConfigMap written through shoal's
// client comes back through the typed clientset, and so does the list of
// Nodes.
func TestClientGoReadsAnAgent(t *testing.T) {
	c, cl := singleNode(t)
	ctx := context.Background()
	cm := &api.ConfigMap{TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}, Data: map[string]string{"k": "v"}}
	cm.Namespace, cm.Name = "default", "from-shoal"
	if _, err := cl.Create(ctx, cm); err != nil {
		t.Fatal(err)
	}
	// The admin credential, as `shoal kubeconfig` prints it, read by
	// client-go as any kubeconfig.
	cc, err := LoadClientConfig(filepath.Join(c.cfgs["n1"].DataDir, "admin.conf"))
	if err != nil {
		t.Fatal(err)
	}
	kc, err := cc.Kubeconfig(c.agents["n1"].APIURL())
	if err != nil {
		t.Fatal(err)
	}
	rc, err := clientcmd.RESTConfigFromKubeConfig(kc)
	if err != nil {
		t.Fatalf("client-go does not take the kubeconfig: %v\n%s", err, kc)
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	_, lists, err := cs.Discovery().ServerGroupsAndResources()
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	found := false
	for _, l := range lists {
		for _, r := range l.APIResources {
			found = found || l.GroupVersion == "apps/v1" && r.Name == "deployments"
		}
	}
	if !found {
		t.Fatal("discovery does not list apps/v1 deployments")
	}
	got, err := cs.CoreV1().ConfigMaps("default").Get(ctx, "from-shoal", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get through client-go: %v", err)
	}
	if got.Data["k"] != "v" || got.ResourceVersion == "" || got.UID == "" {
		t.Fatalf("client-go read %+v", got)
	}
	list, err := cs.CoreV1().ConfigMaps("default").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("list through client-go: %v", err)
	}
	if len(list.Items) == 0 || list.ResourceVersion == "" {
		t.Fatalf("client-go list: %d items, resourceVersion %q", len(list.Items), list.ResourceVersion)
	}
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("list nodes through client-go: %v", err)
	}
	if len(nodes.Items) != 1 || nodes.Items[0].Name != "n1" {
		t.Fatalf("client-go nodes: %+v", nodes.Items)
	}
}

// A body in another encoding than JSON (kubectl sends protobuf first) is
// refused with 415 and a Status that says what to send.
func TestNonJSONBodyIs415(t *testing.T) {
	c, cl := singleNode(t)
	req, _ := http.NewRequest(http.MethodPost, c.agents["n1"].APIURL()+"/api/v1/namespaces/default/configmaps", strings.NewReader("k8s\x00..."))
	req.Header.Set("Content-Type", "application/vnd.kubernetes.protobuf")
	resp, err := cl.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st api.Status
	json.NewDecoder(resp.Body).Decode(&st)
	if resp.StatusCode != http.StatusUnsupportedMediaType || st.Reason != api.ReasonUnsupportedMediaType || !strings.Contains(st.Message, "application/json") {
		t.Fatalf("POST protobuf = %d %+v, want 415 naming application/json", resp.StatusCode, st)
	}
}

// A cluster has the namespaces Kubernetes users expect; the cluster's own
// cannot be deleted, and kube-node-lease, which may be, comes back.
func TestSystemNamespaces(t *testing.T) {
	_, cl := singleNode(t)
	ctx := context.Background()
	waitNamespaces := func(what string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			missing := ""
			for _, ns := range []string{"default", "kube-system", "kube-public", "kube-node-lease"} {
				if _, err := cl.Get(ctx, "Namespace", "", ns); err != nil {
					missing = ns
				}
			}
			if missing == "" {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: namespace %s is missing", what, missing)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitNamespaces("a new cluster")
	for _, ns := range []string{"default", "kube-system", "kube-public"} {
		if err := cl.Delete(ctx, "Namespace", "", ns); api.ReasonOf(err) != api.ReasonForbidden {
			t.Errorf("deleting namespace %s: %v, want Forbidden", ns, err)
		}
	}
	if err := cl.Delete(ctx, "Namespace", "", "kube-node-lease"); err != nil {
		t.Fatal(err)
	}
	waitNamespaces("after kube-node-lease was deleted")
}
