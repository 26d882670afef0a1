package api

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

// manifestResult is one document of an example manifest: the object (nil if
// it did not decode) and its problems, each prefixed with the object.
type manifestResult struct {
	label    string // "deployment web"
	obj      Object
	problems []string
}

var docSeparator = regexp.MustCompile(`(?m)^---\s*$`)

// decodeManifestFile decodes each YAML document strictly into its kind's
// type (sigs.k8s.io/yaml, as kubectl does), then defaults and validates it.
// The path-aware decoder in decode.go does the same with better messages;
// this keeps the types, defaults and validation testable on their own.
func decodeManifestFile(t *testing.T, path string) []manifestResult {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []manifestResult
	for _, doc := range docSeparator.Split(string(data), -1) {
		var head struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if head.Kind == "" {
			continue // comments only
		}
		r := manifestResult{label: lowerKind(head.Kind) + " " + head.Metadata.Name}
		obj, err := New(head.Kind)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
			r.problems = append(r.problems, r.label+": decode: "+err.Error())
			out = append(out, r)
			continue
		}
		r.obj = obj
		SetDefaults(obj)
		if err := Validate(obj); err != nil {
			if ReasonOf(err) != ReasonInvalid {
				t.Errorf("%s: %s: reason %s, want Invalid", path, r.label, ReasonOf(err))
			}
			r.problems = strings.Split(err.Error(), "\n")
		}
		out = append(out, r)
	}
	return out
}

// The files in examples/: every file not named seed-* or
// unsupported-* is accepted as it is; the seed and unsupported files are
// rejected exactly where the README says, with messages naming the object
// and the field, and their other objects are accepted.
func TestSharedManifests(t *testing.T) {
	dir := filepath.Join("..", "examples")
	files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if len(files) == 0 {
		t.Fatal("no example manifests in ../examples")
	}
	const selectorRequired = `: spec.selector: Required value: apps/v1 Deployments need a selector matching spec.template.metadata.labels`
	const pvc = `: spec.volumes[0].persistentVolumeClaim: not supported yet (use hostPath or emptyDir)`
	want := map[string][]string{
		"seed-config-secret.yaml": {
			// The placeholder is not base64. encoding/json does not say
			// where; the path-aware decoder (decode.go) reports
			// "secret openai-secret: data[api-key]: not valid base64 ...".
			"secret openai-secret: decode: error unmarshaling JSON: while decoding JSON: illegal base64 data at input byte 0",
			"deployment llm-orchestrator" + selectorRequired,
		},
		"seed-hpa.yaml": {
			`horizontalpodautoscaler inference-service-hpa: spec.metrics[2].type: Unsupported value: "Pods": shoal supports only type Resource (cpu or memory); Pods metrics are not supported yet`,
		},
		"seed-init-container.yaml": {"deployment text-embedder" + selectorRequired},
		"seed-sidecar.yaml":        {"pod inference-service-with-monitor" + pvc},
		"unsupported-pvc.yaml":     {"pod needs-volume" + pvc},
	}
	seen := map[string]bool{}
	for _, f := range files {
		base := filepath.Base(f)
		seen[base] = true
		var got []string
		n := 0
		for _, r := range decodeManifestFile(t, f) {
			n++
			got = append(got, r.problems...)
			if r.obj == nil {
				continue
			}
			// What validated also survives a copy (JSON round trip) unchanged.
			if len(r.problems) == 0 {
				a, _ := json.Marshal(r.obj)
				b, _ := json.Marshal(Copy(r.obj))
				if !bytes.Equal(a, b) {
					t.Errorf("%s: %s changes in a copy:\n%s\n%s", base, r.label, a, b)
				}
			}
		}
		if n == 0 {
			t.Errorf("%s: no objects", base)
		}
		sort.Strings(got)
		exp := append([]string(nil), want[base]...)
		sort.Strings(exp)
		if strings.Join(got, "\n") != strings.Join(exp, "\n") {
			t.Errorf("%s:\ngot:\n  %s\nwant:\n  %s", base, strings.Join(got, "\n  "), strings.Join(exp, "\n  "))
		}
		if (strings.HasPrefix(base, "unsupported-") || base == "seed-sidecar.yaml" || base == "seed-hpa.yaml" ||
			base == "seed-init-container.yaml" || base == "seed-config-secret.yaml") && len(got) == 0 {
			t.Errorf("%s: accepted, but the README says it must be rejected", base)
		}
	}
	for f := range want {
		if !seen[f] {
			t.Errorf("%s: missing from %s", f, dir)
		}
	}
}

// The decoded manifests carry what the controllers will need.
func TestSharedManifestContents(t *testing.T) {
	dir := filepath.Join("..", "examples")
	if _, err := os.Stat(filepath.Join(dir, "web.yaml")); err != nil {
		t.Fatal("no example manifests in ../examples")
	}
	web := decodeManifestFile(t, filepath.Join(dir, "web.yaml"))
	d := web[0].obj.(*Deployment)
	c := d.Spec.Template.Spec.Containers[0]
	if *d.Spec.Replicas != 3 || d.Spec.Strategy.RollingUpdate.MaxSurge.IntValue() != 1 || d.Spec.Strategy.RollingUpdate.MaxUnavailable.IntValue() != 0 ||
		c.ReadinessProbe.HTTPGet.Port != FromString("http") || c.ReadinessProbe.PeriodSeconds != 2 || c.LivenessProbe.PeriodSeconds != 10 ||
		c.Resources.Limits.Cpu().MilliValue() != 200 || c.Resources.Requests.Memory().Value() != 16<<20 || c.ImagePullPolicy != PullIfNotPresent {
		t.Errorf("web deployment: %+v", d.Spec)
	}
	svc := web[1].obj.(*Service)
	if svc.Spec.Ports[0].TargetPort != FromString("http") || svc.Spec.Type != ServiceTypeClusterIP || !d.Spec.Selector.Matches(d.Spec.Template.Labels) {
		t.Errorf("web service: %+v", svc.Spec)
	}
	jobs := decodeManifestFile(t, filepath.Join(dir, "jobs.yaml"))
	j, cj := jobs[0].obj.(*Job), jobs[1].obj.(*CronJob)
	if *j.Spec.CompletionMode != IndexedCompletion || *j.Spec.Completions != 5 || *j.Spec.BackoffLimit != 2 || j.Spec.Template.Spec.RestartPolicy != RestartPolicyNever {
		t.Errorf("job: %+v", j.Spec)
	}
	sched, err := ParseSchedule(cj.Spec.Schedule)
	loc, _ := time.LoadLocation(*cj.Spec.TimeZone)
	now := time.Date(2026, 1, 1, 10, 0, 30, 0, loc)
	if err != nil || !sched.Next(now).Equal(time.Date(2026, 1, 1, 10, 1, 0, 0, loc)) || cj.Spec.ConcurrencyPolicy != ForbidConcurrent {
		t.Errorf("cronjob: %+v %v", cj.Spec, err)
	}
	seed := decodeManifestFile(t, filepath.Join(dir, "seed-job-cronjob.yaml"))
	gpu := seed[0].obj.(*Job).Spec.Template.Spec.Containers[0].Resources.Requests["nvidia.com/gpu"]
	if gpu.Value() != 1 {
		t.Errorf("gpu request = %v", gpu)
	}
	side := decodeManifestFile(t, filepath.Join(dir, "sidecar.yaml"))[0].obj.(*Pod)
	if !side.Spec.InitContainers[1].IsSidecar() || side.Spec.InitContainers[0].IsSidecar() ||
		side.Spec.Volumes[1].EmptyDir.Medium != StorageMediumMemory || side.Spec.Volumes[1].EmptyDir.SizeLimit.String() != "16Mi" {
		t.Errorf("sidecar pod: %+v", side.Spec)
	}
	hpa := decodeManifestFile(t, filepath.Join(dir, "placement.yaml"))[1].obj.(*HorizontalPodAutoscaler)
	if m := hpa.Spec.Metrics[0]; m.Resource.Name != "cpu" || *m.Resource.Target.AverageUtilization != 70 || *hpa.Spec.MinReplicas != 2 {
		t.Errorf("hpa: %+v", hpa.Spec)
	}
}

func TestRegistryKinds(t *testing.T) {
	for _, c := range []struct {
		name, kind, path string
		status           bool
	}{
		{"po", "Pod", "/api/v1/namespaces/ns/pods", true},
		{"svc", "Service", "/api/v1/namespaces/ns/services", true},
		{"ev", "Event", "/api/v1/namespaces/ns/events", false},
		{"ep", "Endpoints", "/api/v1/namespaces/ns/endpoints", false},
		{"endpoints", "Endpoints", "/api/v1/namespaces/ns/endpoints", false},
		{"deploy", "Deployment", "/apis/apps/v1/namespaces/ns/deployments", true},
		{"deployments.apps", "Deployment", "/apis/apps/v1/namespaces/ns/deployments", true},
		{"rs", "ReplicaSet", "/apis/apps/v1/namespaces/ns/replicasets", true},
		{"ds", "DaemonSet", "/apis/apps/v1/namespaces/ns/daemonsets", true},
		{"job", "Job", "/apis/batch/v1/namespaces/ns/jobs", true},
		{"cj", "CronJob", "/apis/batch/v1/namespaces/ns/cronjobs", true},
		{"hpa", "HorizontalPodAutoscaler", "/apis/autoscaling/v2/namespaces/ns/horizontalpodautoscalers", true},
		{"HorizontalPodAutoscaler", "HorizontalPodAutoscaler", "/apis/autoscaling/v2/namespaces/ns/horizontalpodautoscalers", true},
		{"cm", "ConfigMap", "/api/v1/namespaces/ns/configmaps", false},
		{"ns", "Namespace", "/api/v1/namespaces", true},
		{"no", "Node", "/api/v1/nodes", true},
		{"secrets", "Secret", "/api/v1/namespaces/ns/secrets", false},
	} {
		r, ok := ResourceForName(c.name)
		if !ok || r.Kind != c.kind || r.Path("ns") != c.path || r.HasStatus != c.status {
			t.Errorf("%s: %+v %v", c.name, r, ok)
		}
	}
	if _, ok := ResourceForName("deployments.batch"); ok {
		t.Error("deployments.batch resolved")
	}
	if r, ok := ResourceForPath("autoscaling", "v2", "horizontalpodautoscalers"); !ok || r.Kind != "HorizontalPodAutoscaler" {
		t.Error("hpa by path")
	}
}
