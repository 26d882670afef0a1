package node

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
)

func singleNode(t *testing.T) (*testCluster, *api.Client) {
	c := newTestCluster(t)
	c.start("n1", "")
	c.waitRoles("n1")
	return c, c.client("n1")
}

func TestHTTPErrors(t *testing.T) {
	c, cl := singleNode(t)
	base := c.agents["n1"].APIURL()
	big := `{"metadata":{"name":"big"},"data":{"x":"` + strings.Repeat("a", api.MaxBodyBytes) + `"}}`
	cases := []struct {
		method, path, body string
		code               int
		mention            string
	}{
		{"POST", "/api/v1/namespaces/default/configmaps", `{"metadata":{"name":"x"},"dta":{}}`, 400, `unknown field`},
		{"POST", "/api/v1/namespaces/default/configmaps", `{"metadata":{"name":"Bad_Name"}}`, 422, "metadata.name"},
		{"POST", "/api/v1/namespaces/default/configmaps", `{"metadata":{"name":"x"`, 400, "configmap"},
		{"POST", "/api/v1/namespaces/default/configmaps", `{"kind":"Namespace","metadata":{"name":"x"}}`, 400, "does not match"},
		{"POST", "/api/v1/namespaces/other/configmaps", `{"metadata":{"name":"x","namespace":"default"}}`, 400, "metadata.namespace"},
		{"POST", "/api/v1/namespaces/default/configmaps", `{"metadata":{"name":"x","resourceVersion":"5"}}`, 400, "resourceVersion"},
		{"POST", "/api/v1/namespaces/default/configmaps", big, 413, "larger than"},
		{"PUT", "/api/v1/namespaces/default/configmaps/missing", `{"metadata":{"name":"missing"}}`, 404, "not found"},
		{"PUT", "/api/v1/namespaces/default/configmaps/a", `{"metadata":{"name":"b"}}`, 400, "does not match the name in the path"},
		{"GET", "/api/v1/namespaces/default/configmaps/missing", "", 404, "not found"},
		{"GET", "/api/v1/namespaces/default/widgets", "", 404, "widgets"},
		{"GET", "/api/v1/namespaces/Bad/configmaps", "", 422, "namespace"},
		{"DELETE", "/api/v1/namespaces/default/configmaps", "", 405, "not allowed"},
		{"DELETE", "/api/v1/namespaces/default/configmaps/missing", "", 404, "not found"},
		{"POST", "/api/v1/namespaces/default/namespaces", `{"metadata":{"name":"x"}}`, 404, "cluster-scoped"},
	}
	for _, tc := range cases {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, base+tc.path, strings.NewReader(tc.body))
			resp, err := cl.HTTP.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.code || !strings.Contains(string(b), tc.mention) {
				t.Fatalf("got %d %s, want %d mentioning %q", resp.StatusCode, b, tc.code, tc.mention)
			}
			var st api.Status
			if json.Unmarshal(b, &st) != nil || st.Kind != "Status" {
				t.Fatalf("error body is not a Status: %s", b)
			}
		})
	}
	// Nothing of the failed writes was stored.
	objs, _ := c.agents["n1"].Store().List("ConfigMap", "")
	if len(objs) != 0 {
		t.Fatalf("failed writes left %d objects behind", len(objs))
	}
}

func TestHTTPWatch(t *testing.T) {
	c, cl := singleNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := cl.Create(ctx, cm("first")); err != nil {
		t.Fatal(err)
	}
	events, err := cl.Watch(ctx, "ConfigMap", "default", 0)
	if err != nil {
		t.Fatal(err)
	}
	next := func() api.WatchEvent {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatal("watch closed")
			}
			return ev
		case <-ctx.Done():
			t.Fatal("no watch event")
		}
		return api.WatchEvent{}
	}
	if ev := next(); ev.Type != "ADDED" || !strings.Contains(string(ev.Object), `"first"`) {
		t.Fatalf("first event %s %s, want the existing object as ADDED", ev.Type, ev.Object)
	}
	second, err := cl.Create(ctx, cm("second"))
	if err != nil {
		t.Fatal(err)
	}
	ev := next()
	if ev.Type != "ADDED" || fmt.Sprint(ev.Index) != second.GetObjectMeta().ResourceVersion {
		t.Fatalf("event %s at %d, want ADDED at %s", ev.Type, ev.Index, second.GetObjectMeta().ResourceVersion)
	}
	if err := cl.Delete(ctx, "ConfigMap", "default", "first"); err != nil {
		t.Fatal(err)
	}
	if ev = next(); ev.Type != "DELETED" {
		t.Fatalf("event %s, want DELETED", ev.Type)
	}
	// Resuming from an index replays what came after it.
	resumed, err := cl.Watch(ctx, "ConfigMap", "default", ev.Index-1)
	if err != nil {
		t.Fatal(err)
	}
	if ev2 := <-resumed; ev2.Type != "DELETED" || ev2.Index != ev.Index {
		t.Fatalf("resumed watch gave %s at %d, want DELETED at %d", ev2.Type, ev2.Index, ev.Index)
	}
	_ = c
}

func TestMetricsAndHealth(t *testing.T) {
	c, cl := singleNode(t)
	if _, err := cl.Create(context.Background(), cm("m")); err != nil {
		t.Fatal(err)
	}
	base := c.agents["n1"].APIURL()
	for path, want := range map[string]string{
		"/healthz": "ok",
		"/readyz":  "ok",
		"/metrics": "shoal_raft_leader 1",
	} {
		resp, err := cl.HTTP.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !bytes.Contains(b, []byte(want)) {
			t.Fatalf("%s: %d, want 200 containing %q", path, resp.StatusCode, want)
		}
		if path == "/metrics" {
			for _, m := range []string{"shoal_api_requests_total", "shoal_raft_commit_duration_seconds", "shoal_gossip_members_alive", "shoal_raft_commit_index"} {
				if !bytes.Contains(b, []byte(m)) {
					t.Errorf("/metrics lacks %s", m)
				}
			}
		}
	}
}
