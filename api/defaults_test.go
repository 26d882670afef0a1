package api

import (
	"encoding/json"
	"reflect"
	"testing"

	"sigs.k8s.io/yaml"
)

func decodeYAML[T Object](t *testing.T, kind, doc string) T {
	t.Helper()
	obj, err := New(kind)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
		t.Fatalf("decode %s: %v", kind, err)
	}
	return obj.(T)
}

// defaulted decodes doc, applies SetDefaults twice (it must be idempotent)
// and returns the object's JSON.
func defaulted(t *testing.T, kind, doc string) map[string]any {
	t.Helper()
	obj := decodeYAML[Object](t, kind, doc)
	SetDefaults(obj)
	once, _ := json.Marshal(obj)
	SetDefaults(obj)
	twice, _ := json.Marshal(obj)
	if string(once) != string(twice) {
		t.Errorf("SetDefaults is not idempotent:\n%s\n%s", once, twice)
	}
	var m map[string]any
	if err := json.Unmarshal(once, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// at walks a decoded JSON value by keys and indexes.
func at(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			l, _ := v.([]any)
			if k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func expect(t *testing.T, m map[string]any, want any, path ...any) {
	t.Helper()
	got := at(m, path...)
	if f, ok := got.(float64); ok {
		got = int(f)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%v = %#v, want %#v", path, got, want)
	}
}

func TestDefaultsDeployment(t *testing.T) {
	m := defaulted(t, "Deployment", `
metadata: {name: web}
spec:
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: a
        image: nginx
        ports: [{containerPort: 80}]
        readinessProbe: {httpGet: {port: 80}}
      - {name: b, image: "nginx:latest"}
      - {name: c, image: "registry:5000/nginx:1.25"}
      - {name: d, image: "registry:5000/nginx"}
      - {name: e, image: "nginx@sha256:abc"}
      - {name: f, image: nginx, imagePullPolicy: Never}
`)
	spec := at(m, "spec").(map[string]any)
	expect(t, spec, 1, "replicas")
	expect(t, spec, "RollingUpdate", "strategy", "type")
	expect(t, spec, "25%", "strategy", "rollingUpdate", "maxSurge")
	expect(t, spec, "25%", "strategy", "rollingUpdate", "maxUnavailable")
	expect(t, spec, 10, "revisionHistoryLimit")
	expect(t, spec, 600, "progressDeadlineSeconds")
	expect(t, spec, nil, "selector") // never defaulted: apps/v1 requires it
	pod := at(spec, "template", "spec").(map[string]any)
	expect(t, pod, "Always", "restartPolicy")
	expect(t, pod, "ClusterFirst", "dnsPolicy")
	expect(t, pod, 30, "terminationGracePeriodSeconds")
	for i, want := range []string{"Always", "Always", "IfNotPresent", "Always", "IfNotPresent", "Never"} {
		expect(t, pod, want, "containers", i, "imagePullPolicy")
	}
	expect(t, pod, "TCP", "containers", 0, "ports", 0, "protocol")
	probe := at(pod, "containers", 0, "readinessProbe").(map[string]any)
	for k, v := range map[string]any{"periodSeconds": 10, "timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": 3} {
		expect(t, probe, v, k)
	}
	expect(t, probe, "/", "httpGet", "path")
	expect(t, probe, "HTTP", "httpGet", "scheme")

	m = defaulted(t, "Deployment", `
metadata: {name: web}
spec:
  replicas: 0
  strategy: {type: Recreate}
  revisionHistoryLimit: 0
  template: {spec: {restartPolicy: Never, containers: [{name: a, image: x}]}}
`)
	expect(t, m, 0, "spec", "replicas")
	expect(t, m, nil, "spec", "strategy", "rollingUpdate")
	expect(t, m, 0, "spec", "revisionHistoryLimit")
	expect(t, m, "Never", "spec", "template", "spec", "restartPolicy") // kept, and rejected by Validate
}

func TestDefaultsOtherWorkloads(t *testing.T) {
	m := defaulted(t, "ReplicaSet", `{metadata: {name: r}, spec: {template: {spec: {containers: [{name: a, image: x}]}}}}`)
	expect(t, m, 1, "spec", "replicas")
	expect(t, m, nil, "spec", "selector")

	m = defaulted(t, "DaemonSet", `{metadata: {name: d}, spec: {template: {spec: {containers: [{name: a, image: x}]}}}}`)
	expect(t, m, "RollingUpdate", "spec", "updateStrategy", "type")
	expect(t, m, 1, "spec", "updateStrategy", "rollingUpdate", "maxUnavailable")
	expect(t, m, 0, "spec", "updateStrategy", "rollingUpdate", "maxSurge")
	expect(t, m, 10, "spec", "revisionHistoryLimit")
	expect(t, m, nil, "spec", "selector")

	m = defaulted(t, "Job", `{metadata: {name: j}, spec: {template: {metadata: {labels: {app: j}}, spec: {containers: [{name: a, image: x}]}}}}`)
	expect(t, m, 1, "spec", "completions")
	expect(t, m, 1, "spec", "parallelism")
	expect(t, m, 6, "spec", "backoffLimit")
	expect(t, m, "NonIndexed", "spec", "completionMode")
	expect(t, m, false, "spec", "suspend")
	expect(t, m, nil, "spec", "template", "spec", "restartPolicy") // Validate asks for OnFailure or Never
	expect(t, m, "ClusterFirst", "spec", "template", "spec", "dnsPolicy")
	expect(t, m, map[string]any{"app": "j"}, "metadata", "labels")

	// Only parallelism set: completions stays unset (a work queue).
	m = defaulted(t, "Job", `{metadata: {name: j}, spec: {parallelism: 3, template: {spec: {containers: [{name: a, image: x}]}}}}`)
	expect(t, m, nil, "spec", "completions")
	expect(t, m, 3, "spec", "parallelism")
	m = defaulted(t, "Job", `{metadata: {name: j}, spec: {completions: 5, template: {spec: {containers: [{name: a, image: x}]}}}}`)
	expect(t, m, 5, "spec", "completions")
	expect(t, m, 1, "spec", "parallelism")

	m = defaulted(t, "CronJob", `{metadata: {name: c}, spec: {schedule: "@daily", jobTemplate: {spec: {template: {spec: {containers: [{name: a, image: "x:1"}]}}}}}}`)
	expect(t, m, "Allow", "spec", "concurrencyPolicy")
	expect(t, m, false, "spec", "suspend")
	expect(t, m, 3, "spec", "successfulJobsHistoryLimit")
	expect(t, m, 1, "spec", "failedJobsHistoryLimit")
	expect(t, m, nil, "spec", "jobTemplate", "spec", "template", "spec", "restartPolicy")
	expect(t, m, "IfNotPresent", "spec", "jobTemplate", "spec", "template", "spec", "containers", 0, "imagePullPolicy")

	m = defaulted(t, "HorizontalPodAutoscaler", `{metadata: {name: h}, spec: {scaleTargetRef: {kind: Deployment, name: web}, maxReplicas: 5}}`)
	expect(t, m, 1, "spec", "minReplicas")
	expect(t, m, "Resource", "spec", "metrics", 0, "type")
	expect(t, m, "cpu", "spec", "metrics", 0, "resource", "name")
	expect(t, m, 80, "spec", "metrics", 0, "resource", "target", "averageUtilization")
}

func TestDefaultsPodAndService(t *testing.T) {
	m := defaulted(t, "Pod", `
metadata: {name: p}
spec:
  containers:
  - name: a
    image: x:1
    resources: {limits: {cpu: "1", memory: 1Gi}, requests: {cpu: 500m}}
    env: [{name: N, valueFrom: {fieldRef: {fieldPath: metadata.name}}}]
  initContainers:
  - {name: i, image: x:1, resources: {limits: {memory: 64Mi}}}
  tolerations: [{key: k, value: v, effect: NoSchedule}]
  volumes:
  - {name: c, configMap: {name: c}}
  - {name: s, secret: {secretName: s}}
  - {name: h, hostPath: {path: /var/log}}
`)
	expect(t, m, map[string]any{"cpu": "500m", "memory": "1Gi"}, "spec", "containers", 0, "resources", "requests")
	expect(t, m, map[string]any{"memory": "64Mi"}, "spec", "initContainers", 0, "resources", "requests")
	expect(t, m, "v1", "spec", "containers", 0, "env", 0, "valueFrom", "fieldRef", "apiVersion")
	expect(t, m, "Equal", "spec", "tolerations", 0, "operator")
	expect(t, m, 0644, "spec", "volumes", 0, "configMap", "defaultMode")
	expect(t, m, 0644, "spec", "volumes", 1, "secret", "defaultMode")
	expect(t, m, "Always", "spec", "restartPolicy")

	m = defaulted(t, "Service", `{metadata: {name: s}, spec: {selector: {app: s}, ports: [{port: 80}, {name: b, port: 81, targetPort: http, protocol: UDP}]}}`)
	expect(t, m, "ClusterIP", "spec", "type")
	expect(t, m, "TCP", "spec", "ports", 0, "protocol")
	expect(t, m, 80, "spec", "ports", 0, "targetPort")
	expect(t, m, "http", "spec", "ports", 1, "targetPort")
	expect(t, m, "UDP", "spec", "ports", 1, "protocol")

	m = defaulted(t, "Secret", `{metadata: {name: s}}`)
	expect(t, m, "Opaque", "type")
	m = defaulted(t, "Namespace", `{metadata: {name: n}}`)
	expect(t, m, "Active", "status", "phase")
	m = defaulted(t, "Node", `{metadata: {name: n}, status: {capacity: {cpu: "4", nvidia.com/gpu: "2"}}}`)
	expect(t, m, map[string]any{"cpu": "4", "nvidia.com/gpu": "2"}, "status", "allocatable")
}

func TestGenerateJobSelector(t *testing.T) {
	j := decodeYAML[*Job](t, "Job", `{metadata: {name: j, uid: u-1}, spec: {template: {metadata: {labels: {app: j}}, spec: {restartPolicy: Never, containers: [{name: a, image: x}]}}}}`)
	SetDefaults(j)
	GenerateJobSelector(j)
	if j.Spec.Selector.MatchLabels[JobControllerUIDLabel] != "u-1" || j.Spec.Template.Labels[JobNameLabel] != "j" || j.Spec.Template.Labels["app"] != "j" {
		t.Fatalf("generated %+v, template labels %v", j.Spec.Selector, j.Spec.Template.Labels)
	}
	if err := Validate(j); err != nil {
		t.Errorf("a Job with a generated selector: %v", err)
	}
	j.UID = "u-2" // the selector no longer names this Job
	if err := Validate(j); err == nil {
		t.Error("a selector for another Job's UID was accepted")
	}
}
