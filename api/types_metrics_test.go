package api

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestMetricsKinds(t *testing.T) {
	for _, c := range []struct{ name, kind, path string }{
		{"podmetrics", "PodMetrics", "/apis/metrics.k8s.io/v1beta1/namespaces/ns/podmetrics"},
		{"PodMetrics", "PodMetrics", "/apis/metrics.k8s.io/v1beta1/namespaces/ns/podmetrics"},
		{"podmetrics.metrics.k8s.io", "PodMetrics", "/apis/metrics.k8s.io/v1beta1/namespaces/ns/podmetrics"},
		{"nodemetrics", "NodeMetrics", "/apis/metrics.k8s.io/v1beta1/nodemetrics"},
		// The metrics kinds take no name of the kinds they measure.
		{"pods", "Pod", "/api/v1/namespaces/ns/pods"},
		{"nodes", "Node", "/api/v1/nodes"},
	} {
		r, ok := ResourceForName(c.name)
		if !ok || r.Kind != c.kind || r.Path("ns") != c.path {
			t.Errorf("%s: %+v %v; want %s at %s", c.name, r, ok, c.kind, c.path)
		}
	}
	if r, ok := ResourceForPath("metrics.k8s.io", "v1beta1", "podmetrics"); !ok || r.Kind != "PodMetrics" || !r.Namespaced || r.HasStatus {
		t.Errorf("podmetrics by path: %+v %v", r, ok)
	}
}

func TestPodMetricsDecodes(t *testing.T) {
	docs, err := DecodeManifests("m.yaml", []byte(`apiVersion: metrics.k8s.io/v1beta1
kind: PodMetrics
metadata: {name: web-1, namespace: default}
timestamp: "2026-01-02T03:04:05Z"
window: 15s
containers:
- name: app
  usage: {cpu: 12m, memory: 3Mi}
`))
	if err != nil {
		t.Fatal(err)
	}
	m := docs[0].Object.(*PodMetrics)
	if m.Window.Duration != 15*time.Second || !m.Timestamp.Equal(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)) {
		t.Errorf("timestamp %v window %v", m.Timestamp, m.Window)
	}
	if u := m.Containers[0].Usage; u.Cpu().MilliValue() != 12 || u.Memory().Value() != 3<<20 {
		t.Errorf("usage %v", u)
	}
	b, err := json.Marshal(m)
	if err != nil || !strings.Contains(string(b), `"window":"15s"`) || !strings.Contains(string(b), `"timestamp":"2026-01-02T03:04:05Z"`) {
		t.Errorf("JSON %s, %v", b, err)
	}
	if err := Validate(m); err != nil {
		t.Errorf("Validate: %v", err)
	}

	_, err = DecodeManifests("m.yaml", []byte(`apiVersion: metrics.k8s.io/v1beta1
kind: NodeMetrics
metadata: {name: n1}
window: 15 seconds
`))
	if err == nil || !strings.Contains(err.Error(), `"15 seconds" is not a duration (try "15s"`) {
		t.Errorf("a bad window: %v", err)
	}
	bad := &NodeMetrics{TypeMeta: TypeMeta{APIVersion: "metrics.k8s.io/v1beta1", Kind: "NodeMetrics"}, ObjectMeta: ObjectMeta{Name: "Node_1"}}
	if err := Validate(bad); err == nil || !strings.Contains(err.Error(), "metadata.name") {
		t.Errorf("Validate of a bad name: %v", err)
	}
}
