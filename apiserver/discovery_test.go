package apiserver_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilversion "k8s.io/apimachinery/pkg/util/version"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/apiserver"
)

func startDiscovery(t *testing.T) *httptest.Server {
	mux := http.NewServeMux()
	apiserver.NewDiscovery("v0.0.0-test", api.Resources()).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// findResource returns the resource named name in the lists of gv.
func findResource(lists []*metav1.APIResourceList, gv, name string) *metav1.APIResource {
	for _, l := range lists {
		if l.GroupVersion != gv {
			continue
		}
		for i := range l.APIResources {
			if l.APIResources[i].Name == name {
				return &l.APIResources[i]
			}
		}
	}
	return nil
}

// client-go's discovery client, which asks for aggregated discovery first,
// finds every served kind with its scope, kind and verbs, and the version.
func TestClientGoDiscovery(t *testing.T) {
	srv := startDiscovery(t)
	for _, legacy := range []bool{false, true} {
		dc, err := discovery.NewDiscoveryClientForConfig(&rest.Config{Host: srv.URL})
		if err != nil {
			t.Fatal(err)
		}
		dc.UseLegacyDiscovery = legacy
		_, lists, err := dc.ServerGroupsAndResources()
		if err != nil {
			t.Fatalf("legacy=%v: ServerGroupsAndResources: %v", legacy, err)
		}
		for _, want := range []struct {
			gv, name, kind string
			namespaced     bool
		}{
			{"v1", "pods", "Pod", true},
			{"v1", "nodes", "Node", false},
			{"v1", "configmaps", "ConfigMap", true},
			{"apps/v1", "deployments", "Deployment", true},
			{"batch/v1", "cronjobs", "CronJob", true},
		} {
			r := findResource(lists, want.gv, want.name)
			if r == nil {
				t.Fatalf("legacy=%v: %s %s not discovered", legacy, want.gv, want.name)
			}
			if r.Kind != want.kind || r.Namespaced != want.namespaced || !slices.Contains(r.Verbs, "list") || !slices.Contains(r.Verbs, "watch") {
				t.Errorf("legacy=%v: %s %s = %+v", legacy, want.gv, want.name, r)
			}
			if slices.Contains(r.Verbs, "patch") {
				t.Errorf("legacy=%v: %s offers patch, which is not served", legacy, want.name)
			}
		}
		if r := findResource(lists, "v1", "pods"); !slices.Contains(r.ShortNames, "po") {
			t.Errorf("legacy=%v: pods short names %q, want po among them", legacy, r.ShortNames)
		}
		if findResource(lists, "v1", "pods/log") == nil || findResource(lists, "v1", "pods/status") == nil {
			t.Errorf("legacy=%v: the pods/log and pods/status subresources are not discovered", legacy)
		}
		for _, l := range lists {
			for _, r := range l.APIResources {
				if res, ok := api.ResourceForPath(groupOf(l.GroupVersion), versionOf(l.GroupVersion), r.Name); ok && res.System {
					t.Errorf("legacy=%v: the cluster's own kind %s is discovered", legacy, res.Kind)
				}
			}
		}
		v, err := dc.ServerVersion()
		if err != nil || v.GitVersion != "v1.37.2+shoal.v0.0.0-test" || v.Major != "1" {
			t.Fatalf("legacy=%v: ServerVersion = %+v, %v", legacy, v, err)
		}
	}
}

func groupOf(gv string) string {
	g, _, ok := strings.Cut(gv, "/")
	if !ok {
		return ""
	}
	return g
}

func versionOf(gv string) string {
	g, v, ok := strings.Cut(gv, "/")
	if !ok {
		return g
	}
	return v
}

// An unknown group is a 404 with a Kubernetes Status.
func TestDiscoveryUnknownGroup(t *testing.T) {
	srv := startDiscovery(t)
	for _, p := range []string{"/apis/nope.example.com", "/apis/apps/v9"} {
		resp, err := http.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		var st metav1.Status
		json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound || st.Kind != "Status" || st.Reason != metav1.StatusReasonNotFound || st.Code != 404 {
			t.Errorf("GET %s = %d %+v, want 404 with a NotFound Status", p, resp.StatusCode, st)
		}
	}
}

// Asked for aggregated discovery, /api and /apis answer it, in its media
// type; asked for nothing in particular, the legacy documents.
func TestAggregatedDiscovery(t *testing.T) {
	srv := startDiscovery(t)
	get := func(path, accept string) (string, map[string]any) {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		return resp.Header.Get("Content-Type"), body
	}
	const accept = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
	for path, group := range map[string]string{"/api": "", "/apis": "apps"} {
		ct, body := get(path, accept)
		if !strings.Contains(ct, "as=APIGroupDiscoveryList") || body["kind"] != "APIGroupDiscoveryList" {
			t.Fatalf("GET %s with the aggregated Accept: %s %v", path, ct, body["kind"])
		}
		found := false
		for _, it := range body["items"].([]any) {
			if it.(map[string]any)["metadata"].(map[string]any)["name"] == group || group == "" {
				found = true
			}
		}
		if !found {
			t.Errorf("GET %s: group %q missing", path, group)
		}
		if _, body := get(path, ""); body["kind"] == "APIGroupDiscoveryList" {
			t.Errorf("GET %s without an Accept header answered aggregated discovery", path)
		}
	}
}

func TestGitVersionIsSemver(t *testing.T) {
	for in, want := range map[string]string{
		"v0.3.1":        "v1.37.2+shoal.v0.3.1",
		"0c607bf-dirty": "v1.37.2+shoal.0c607bf-dirty",
		"":              "v1.37.2+shoal.dev",
		"a/b c":         "v1.37.2+shoal.a-b-c",
	} {
		if got := apiserver.GitVersion(in); got != want {
			t.Errorf("GitVersion(%q) = %q, want %q", in, got, want)
		}
		if _, err := utilversion.ParseSemantic(apiserver.GitVersion(in)); err != nil {
			t.Errorf("GitVersion(%q) = %q is not semver: %v", in, apiserver.GitVersion(in), err)
		}
	}
}
