package node

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
)

// applyFiles sends manifests through the same path as `shoal apply`.
func applyFiles(t *testing.T, cl *api.Client, paths ...string) ([]ApplyResult, error) {
	t.Helper()
	docs, err := api.ReadManifests(paths, nil, false)
	if err != nil {
		return nil, err
	}
	var req ApplyRequest
	for _, d := range docs {
		b, _ := json.Marshal(d.Object)
		req.Items = append(req.Items, b)
	}
	var res []ApplyResult
	_, err = cl.Do(context.Background(), http.MethodPost, "/v1/apply", req, &res)
	return res, err
}

func writeManifest(t *testing.T, dir, name, body string) string {
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const webYAML = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {app: web}}
spec:
  replicas: %d
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: httpd, image: shoal.test/busybox:1}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080}]
`

// Apply through any node of three: created, then unchanged, then
// configured with a generation bump; every node serves the result.
func TestApplyAcrossCluster(t *testing.T) {
	c := secureCluster(t, 3)
	dir := t.TempDir()
	f := writeManifest(t, dir, "web.yaml", fmt.Sprintf(webYAML, 2))
	actions := func(res []ApplyResult) string {
		var out []string
		for _, r := range res {
			out = append(out, strings.ToLower(r.Kind)+"/"+r.Name+" "+r.Action)
		}
		return strings.Join(out, ", ")
	}
	res, err := applyFiles(t, c.client("n2"), f)
	if err != nil || actions(res) != "deployment/web created, service/web created" {
		t.Fatalf("first apply: %s, %v", actions(res), err)
	}
	res, err = applyFiles(t, c.client("n3"), f)
	if err != nil || actions(res) != "deployment/web unchanged, service/web unchanged" {
		t.Fatalf("second apply: %s, %v", actions(res), err)
	}
	writeManifest(t, dir, "web.yaml", fmt.Sprintf(webYAML, 4))
	res, err = applyFiles(t, c.client("n1"), f)
	if err != nil || actions(res) != "deployment/web configured, service/web unchanged" {
		t.Fatalf("third apply: %s, %v", actions(res), err)
	}
	for _, n := range []string{"n1", "n2", "n3"} {
		waitUntil(t, 10*time.Second, n+" to serve the new spec", func() (bool, string) {
			obj, err := c.client(n).Get(context.Background(), "Deployment", "default", "web")
			if err != nil {
				return false, err.Error()
			}
			d := obj.(*api.Deployment)
			return *d.Spec.Replicas == 4 && d.Generation == 2, fmt.Sprintf("replicas %d generation %d", *d.Spec.Replicas, d.Generation)
		})
	}
}

// One bad object in a file means nothing in it is applied, and the error
// names the file, the document, the object and the field.
func TestApplyIsAllOrNothing(t *testing.T) {
	c := secureCluster(t, 1)
	dir := t.TempDir()
	f := writeManifest(t, dir, "app.yaml", `apiVersion: v1
kind: ConfigMap
metadata: {name: good}
data: {k: v}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: httpd
        image: shoal.test/busybox:1
        lifecycle: {preStop: {exec: {command: [sh]}}}
`)
	_, err := applyFiles(t, c.client("n1"), f)
	want := "app.yaml doc 2: deployment web: spec.template.spec.containers[0].lifecycle"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v, want an error naming %q", err, want)
	}
	if objs, _ := c.agents["n1"].Store().List("ConfigMap", ""); len(objs) != 0 {
		t.Fatalf("the good object of a bad file was applied: %v", objs)
	}
	// An object the server finds invalid also stops the whole apply.
	var req ApplyRequest
	req.Items = append(req.Items, json.RawMessage(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"good"}}`),
		json.RawMessage(`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"c","image":"x"}]}}}}`))
	_, err = c.client("n1").Do(context.Background(), http.MethodPost, "/v1/apply", req, nil)
	if api.ReasonOf(err) != api.ReasonInvalid || !strings.Contains(err.Error(), "spec.selector") {
		t.Fatalf("server-side validation: %v", err)
	}
	if objs, _ := c.agents["n1"].Store().List("ConfigMap", ""); len(objs) != 0 {
		t.Fatal("a server-side refusal left an object behind")
	}
}

// Deleting an owner deletes what it owns; deleting a namespace deletes its
// contents; a write into a missing namespace is refused.
func TestCascadesAndNamespaces(t *testing.T) {
	c := secureCluster(t, 1)
	cl := c.client("n1")
	ctx := ctxT(t)
	owner, err := cl.Create(ctx, cm("owner"))
	if err != nil {
		t.Fatal(err)
	}
	dep := cm("dependent")
	dep.OwnerReferences = []api.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: "owner", UID: owner.GetObjectMeta().UID}}
	if _, err := cl.Create(ctx, dep); err != nil {
		t.Fatal(err)
	}
	if err := cl.Delete(ctx, "ConfigMap", "default", "owner"); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Get(ctx, "ConfigMap", "default", "dependent"); !api.IsNotFound(err) {
		t.Fatalf("dependent survived its owner: %v", err)
	}
	other := cm("x")
	other.Namespace = "team"
	if _, err := cl.Create(ctx, other); !api.IsNotFound(err) || !strings.Contains(err.Error(), "namespace") {
		t.Fatalf("create in a missing namespace: %v", err)
	}
	ns := &api.Namespace{TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "Namespace"}, ObjectMeta: api.ObjectMeta{Name: "team"}}
	if _, err := cl.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Create(ctx, other); err != nil {
		t.Fatal(err)
	}
	if err := cl.Delete(ctx, "Namespace", "", "team"); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Get(ctx, "ConfigMap", "team", "x"); !api.IsNotFound(err) {
		t.Fatalf("object survived its namespace: %v", err)
	}
	if err := cl.Delete(ctx, "Namespace", "", "default"); api.ReasonOf(err) != api.ReasonForbidden {
		t.Fatalf("deleting the default namespace: %v", err)
	}
}

// Status is the system's: users' updates keep it, and the status
// subresource changes nothing else. (A Service: no controller writes its
// status, so nothing races the test.)
func TestStatusSubresource(t *testing.T) {
	c := secureCluster(t, 1)
	cl := c.client("n1")
	ctx := ctxT(t)
	svc := &api.Service{TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "Service"}}
	svc.Name, svc.Namespace = "web", "default"
	svc.Spec.Selector = map[string]string{"app": "web"}
	svc.Spec.Ports = []api.ServicePort{{Port: 80}}
	if _, err := cl.Create(ctx, svc); err != nil {
		t.Fatal(err)
	}
	obj, _ := cl.Get(ctx, "Service", "default", "web")
	s := obj.(*api.Service)
	s.Status.Conditions = []api.Condition{{Type: "Probed", Status: api.ConditionTrue}}
	s.Spec.Ports[0].Port = 9 // must be ignored by /status
	if _, err := cl.Do(ctx, http.MethodPut, "/api/v1/namespaces/default/services/web/status", s, nil); err != nil {
		t.Fatal(err)
	}
	obj, _ = cl.Get(ctx, "Service", "default", "web")
	s = obj.(*api.Service)
	if len(s.Status.Conditions) != 1 || s.Spec.Ports[0].Port != 80 {
		t.Fatalf("after a status update: conditions %v port %d", s.Status.Conditions, s.Spec.Ports[0].Port)
	}
	s.Status.Conditions = nil
	s.Spec.Ports[0].Port = 81
	if _, err := cl.Update(ctx, s); err != nil {
		t.Fatal(err)
	}
	obj, _ = cl.Get(ctx, "Service", "default", "web")
	if s := obj.(*api.Service); len(s.Status.Conditions) != 1 || s.Spec.Ports[0].Port != 81 {
		t.Fatalf("a spec update changed the status: conditions %v port %d", s.Status.Conditions, s.Spec.Ports[0].Port)
	}
}

func ptr[T any](v T) *T { return &v }

// Label and field selectors narrow lists and watches.
func TestSelectors(t *testing.T) {
	c := secureCluster(t, 1)
	cl := c.client("n1")
	ctx := ctxT(t)
	for i, app := range []string{"web", "web", "db"} {
		o := cm(fmt.Sprintf("c%d", i))
		o.Labels = map[string]string{"app": app}
		if _, err := cl.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	for sel, want := range map[string]int{"app=web": 2, "app!=web": 1, "app in (web,db)": 3, "!app": 0, "app": 3} {
		objs, _, err := cl.ListWith(ctx, "ConfigMap", "default", api.ListOptions{LabelSelector: sel})
		if err != nil || len(objs) != want {
			t.Errorf("-l %q: %d objects, %v; want %d", sel, len(objs), err, want)
		}
	}
	objs, _, err := cl.ListWith(ctx, "ConfigMap", "", api.ListOptions{FieldSelector: "metadata.name=c1"})
	if err != nil || len(objs) != 1 {
		t.Fatalf("field selector: %d, %v", len(objs), err)
	}
	if _, _, err := cl.ListWith(ctx, "ConfigMap", "", api.ListOptions{FieldSelector: "data.k=v"}); api.ReasonOf(err) != api.ReasonBadRequest {
		t.Fatalf("unsupported field selector: %v", err)
	}
	if _, _, err := cl.ListWith(ctx, "ConfigMap", "", api.ListOptions{LabelSelector: "app in (web"}); api.ReasonOf(err) != api.ReasonBadRequest {
		t.Fatalf("malformed label selector: %v", err)
	}
}

// Events are recorded, aggregated, found by their object, and expire.
func TestEventsAggregateAndExpire(t *testing.T) {
	c := secureCluster(t, 1)
	a := c.agents["n1"]
	cl := c.client("n1")
	ctx := ctxT(t)
	obj, err := cl.Create(ctx, cm("subject"))
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := a.RecordEvent(ctx, obj, "Warning", "BackOff", "restarting failed container", "test"); err != nil {
			t.Fatal(err)
		}
	}
	evs, _, err := cl.ListWith(ctx, "Event", "default", api.ListOptions{FieldSelector: "involvedObject.uid=" + obj.GetObjectMeta().UID})
	if err != nil || len(evs) != 1 || evs[0].(*api.Event).Count != 3 {
		t.Fatalf("events: %v, %v; want one with count 3", evs, err)
	}
	if err := a.expireEvents(ctx, time.Now().Add(30*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if evs, _ := a.Store().List("Event", ""); len(evs) != 1 {
		t.Fatal("a fresh event expired")
	}
	if err := a.expireEvents(ctx, time.Now().Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if evs, _ := a.Store().List("Event", ""); len(evs) != 0 {
		t.Fatal("an event older than an hour was kept")
	}
}

// Everything applied survives a restart of every node.
func TestWorkloadsSurviveFullRestart(t *testing.T) {
	c := secureCluster(t, 3)
	if _, err := applyFiles(t, c.client("n1"), "../examples/web.yaml", "../examples/config.yaml", "../examples/jobs.yaml"); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"n1", "n2", "n3"} {
		c.stop(n)
	}
	for _, n := range []string{"n1", "n2", "n3"} {
		c.start(n, "")
	}
	c.waitRoles("n1", "n2", "n3")
	for _, k := range []api.Key{{Kind: "Deployment", Namespace: "default", Name: "web"}, {Kind: "Secret", Namespace: "default", Name: "app-secret"}, {Kind: "CronJob", Namespace: "default", Name: "nightly"}} {
		waitUntil(t, 10*time.Second, k.String()+" after the restart", func() (bool, string) {
			_, err := c.client("n2").Get(context.Background(), k.Kind, k.Namespace, k.Name)
			return err == nil, fmt.Sprint(err)
		})
	}
}

// A Job gets its selector from its uid on create, and applying the same
// manifest again changes nothing.
func TestJobSelectorGeneratedOnce(t *testing.T) {
	c := secureCluster(t, 1)
	cl := c.client("n1")
	for i, want := range []string{"created", "unchanged"} {
		res, err := applyFiles(t, cl, "../examples/jobs.yaml")
		if err != nil || res[0].Action != want {
			t.Fatalf("apply %d: %+v %v, want %s", i, res, err, want)
		}
	}
	obj, err := cl.Get(ctxT(t), "Job", "default", "sweep")
	if err != nil {
		t.Fatal(err)
	}
	j := obj.(*api.Job)
	if j.Spec.Selector == nil || !j.Spec.Selector.Matches(j.Spec.Template.Labels) {
		t.Fatalf("job selector %+v does not match its template labels %v", j.Spec.Selector, j.Spec.Template.Labels)
	}
}

// A selecting watch sees an object leave the selection as DELETED and
// enter it as ADDED.
func TestSelectingWatch(t *testing.T) {
	c := secureCluster(t, 1)
	cl := c.client("n1")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	o := cm("tracked")
	o.Labels = map[string]string{"app": "web"}
	_, err := cl.Create(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	events, err := cl.WatchWith(ctx, "ConfigMap", "default", 0, api.ListOptions{LabelSelector: "app=web"})
	if err != nil {
		t.Fatal(err)
	}
	next := func() string {
		select {
		case ev := <-events:
			return ev.Type
		case <-ctx.Done():
			return "timeout"
		}
	}
	if got := next(); got != "ADDED" {
		t.Fatalf("initial event %s", got)
	}
	relabel := func(app string) {
		cur, _ := cl.Get(ctx, "ConfigMap", "default", "tracked")
		m := api.Copy(cur.(*api.ConfigMap))
		m.Labels["app"] = app
		if _, err := cl.Update(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	relabel("db")
	if got := next(); got != "DELETED" {
		t.Fatalf("leaving the selection: %s, want DELETED", got)
	}
	relabel("web")
	if got := next(); got != "ADDED" {
		t.Fatalf("entering the selection: %s, want ADDED", got)
	}
}

// A pod applied to the cluster is bound to a Ready node by the leader's
// scheduler; one that fits nowhere stays Pending with the reason, and the
// reason is an event on the pod.
func TestPodsAreScheduled(t *testing.T) {
	c := secureCluster(t, 3)
	dir := t.TempDir()
	f := writeManifest(t, dir, "pods.yaml", `apiVersion: v1
kind: Pod
metadata: {name: small}
spec:
  containers: [{name: c, image: shoal.test/busybox:1, resources: {requests: {cpu: 10m}}}]
---
apiVersion: v1
kind: Pod
metadata: {name: enormous}
spec:
  containers: [{name: c, image: shoal.test/busybox:1, resources: {requests: {cpu: "4096"}}}]
`)
	if _, err := applyFiles(t, c.client("n2"), f); err != nil {
		t.Fatal(err)
	}
	cl := c.client("n3")
	waitUntil(t, 15*time.Second, "small to be bound", func() (bool, string) {
		obj, err := cl.Get(context.Background(), "Pod", "default", "small")
		if err != nil {
			return false, err.Error()
		}
		p := obj.(*api.Pod)
		return p.Spec.NodeName != "", "unbound"
	})
	waitUntil(t, 15*time.Second, "enormous to be explained", func() (bool, string) {
		evs, _, err := cl.ListWith(context.Background(), "Event", "default", api.ListOptions{FieldSelector: "involvedObject.name=enormous"})
		if err != nil || len(evs) == 0 {
			return false, fmt.Sprint(err)
		}
		e := evs[0].(*api.Event)
		return e.Reason == "FailedScheduling" && strings.Contains(e.Message, "Insufficient cpu"), e.Reason + ": " + e.Message
	})
	obj, _ := cl.Get(context.Background(), "Pod", "default", "enormous")
	if p := obj.(*api.Pod); p.Spec.NodeName != "" || p.Status.Phase != api.PodPending {
		t.Fatalf("enormous: node %q phase %q", p.Spec.NodeName, p.Status.Phase)
	}
	// Applying the same manifest again keeps the binding.
	before, _ := cl.Get(context.Background(), "Pod", "default", "small")
	res, err := applyFiles(t, c.client("n1"), f)
	if err != nil || res[0].Action != "unchanged" {
		t.Fatalf("re-apply: %+v %v", res, err)
	}
	after, _ := cl.Get(context.Background(), "Pod", "default", "small")
	if after.(*api.Pod).Spec.NodeName != before.(*api.Pod).Spec.NodeName {
		t.Fatal("re-applying a pod moved it")
	}
}
