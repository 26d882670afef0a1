package placement_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/placement"
)

func epService(name string, selector map[string]string, ports ...api.ServicePort) *api.Service {
	svc := &api.Service{
		TypeMeta:   api.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default", UID: "uid-svc-" + name, Labels: map[string]string{"team": "a"}},
		Spec:       api.ServiceSpec{Selector: selector, Ports: ports},
	}
	api.SetDefaults(svc)
	return svc
}

// epPod is a running pod on n1 with an IP and the given container ports.
func epPod(name, ip string, ready bool, labels map[string]string, ports ...api.ContainerPort) *api.Pod {
	p := &api.Pod{
		TypeMeta:   api.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default", UID: "uid-" + name, Labels: labels},
		Spec:       api.PodSpec{NodeName: "n1", Containers: []api.Container{{Name: "c", Image: "x", Ports: ports}}},
		Status:     api.PodStatus{Phase: api.PodRunning, PodIP: ip},
	}
	api.SetDefaults(p)
	epSetReady(p, ready)
	return p
}

func epSetReady(p *api.Pod, ready bool) {
	status := api.ConditionFalse
	if ready {
		status = api.ConditionTrue
	}
	p.Status.Conditions = []api.PodCondition{{Type: api.PodReady, Status: status}}
}

func epState(objs ...api.Object) fakeState {
	st := fakeState{}
	for _, o := range objs {
		st[api.KeyOf(o)] = o
	}
	return st
}

func epGet(t *testing.T, st fakeState, name string) *api.Endpoints {
	t.Helper()
	o, ok := st[api.Key{Kind: "Endpoints", Namespace: "default", Name: name}]
	if !ok {
		t.Fatalf("no Endpoints %s", name)
	}
	ep := o.(*api.Endpoints)
	if err := api.Validate(ep); err != nil {
		t.Fatalf("the controller wrote Endpoints that do not validate: %v", err)
	}
	return ep
}

// epSummary renders subsets compactly: "ready|notready|ports" per subset.
func epSummary(ep *api.Endpoints) []string {
	var out []string
	for _, ss := range ep.Subsets {
		s := ""
		for _, a := range ss.Addresses {
			s += a.IP + " "
		}
		s += "|"
		for _, a := range ss.NotReadyAddresses {
			s += a.IP + " "
		}
		s += "|"
		for _, p := range ss.Ports {
			s += p.Name + ":" + string(p.Protocol) + ":" + jsonString(p.Port) + " "
		}
		out = append(out, s)
	}
	return out
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func wantSummary(t *testing.T, ep *api.Endpoints, want ...string) {
	t.Helper()
	got := epSummary(ep)
	if jsonString(got) != jsonString(want) {
		t.Fatalf("subsets:\n got %q\nwant %q", got, want)
	}
}

func TestPlanEndpointsFollowsPods(t *testing.T) {
	web := map[string]string{"app": "web"}
	svc := epService("web", web, api.ServicePort{Name: "http", Port: 80, TargetPort: api.FromInt(8080)})
	finished := epPod("done", "10.0.0.5", true, web)
	finished.Status.Phase = api.PodSucceeded
	st := epState(svc,
		epPod("a", "10.0.0.10", true, web),
		epPod("b", "10.0.0.9", false, web),
		epPod("no-ip", "", true, web),
		epPod("other", "10.0.0.4", true, map[string]string{"app": "db"}),
		finished,
	)
	changes := placement.PlanEndpoints(st)
	if len(changes) != 1 || changes[0].Put == nil {
		t.Fatalf("first pass: %+v", changes)
	}
	st.apply(changes)
	ep := epGet(t, st, "web")
	wantSummary(t, ep, "10.0.0.10 |10.0.0.9 |http:TCP:8080 ")
	a := ep.Subsets[0].Addresses[0]
	if a.TargetRef == nil || a.TargetRef.Kind != "Pod" || a.TargetRef.Name != "a" || a.TargetRef.UID != "uid-a" || a.NodeName == nil || *a.NodeName != "n1" {
		t.Fatalf("address = %+v", a)
	}
	if ref := ep.OwnerReferences; len(ref) != 1 || ref[0].Kind != "Service" || ref[0].UID != svc.UID || ref[0].Controller == nil || !*ref[0].Controller {
		t.Fatalf("owner = %+v", ref)
	}
	if ep.Labels["team"] != "a" {
		t.Fatalf("labels = %v", ep.Labels)
	}

	// Nothing changed: nothing to write.
	ep.ResourceVersion = "7"
	if c := placement.PlanEndpoints(st); len(c) != 0 {
		t.Fatalf("unchanged state gave %d changes", len(c))
	}

	// b turns Ready: both are ready, sorted by IP as numbers.
	epSetReady(st[api.Key{Kind: "Pod", Namespace: "default", Name: "b"}].(*api.Pod), true)
	changes = placement.PlanEndpoints(st)
	if len(changes) != 1 || changes[0].Put.GetObjectMeta().ResourceVersion != "7" {
		t.Fatalf("readiness flip: %+v (want one compare-and-set)", changes)
	}
	st.apply(changes)
	wantSummary(t, epGet(t, st, "web"), "10.0.0.9 10.0.0.10 ||http:TCP:8080 ")

	// a is deleted.
	delete(st, api.Key{Kind: "Pod", Namespace: "default", Name: "a"})
	st.apply(placement.PlanEndpoints(st))
	wantSummary(t, epGet(t, st, "web"), "10.0.0.9 ||http:TCP:8080 ")

	// The service's status is never written.
	for _, c := range placement.PlanEndpoints(st) {
		if c.Put != nil && c.Put.GetTypeMeta().Kind == "Service" {
			t.Fatal("the controller wrote the Service")
		}
	}
}

func TestPlanEndpointsNamedPorts(t *testing.T) {
	web := map[string]string{"app": "web"}
	svc := epService("web", web,
		api.ServicePort{Name: "http", Port: 80, TargetPort: api.FromString("web")},
		api.ServicePort{Name: "metrics", Port: 9100})
	st := epState(svc,
		epPod("p1", "10.0.0.1", true, web, api.ContainerPort{Name: "web", ContainerPort: 8080}),
		epPod("p2", "10.0.0.2", false, web, api.ContainerPort{Name: "web", ContainerPort: 9090}),
		epPod("p3", "10.0.0.3", true, web, api.ContainerPort{Name: "admin", ContainerPort: 8080}),
		epPod("p4", "10.0.0.4", true, web, api.ContainerPort{Name: "web", ContainerPort: 8080, Protocol: api.ProtocolUDP}),
	)
	st.apply(placement.PlanEndpoints(st))
	// Every pod offers metrics on 9100; http resolves to 8080 on p1 and
	// 9090 on p2, and not at all on p3 (no such name) or p4 (UDP).
	wantSummary(t, epGet(t, st, "web"),
		"10.0.0.1 10.0.0.3 10.0.0.4 |10.0.0.2 |metrics:TCP:9100 ",
		"10.0.0.1 ||http:TCP:8080 ",
		"|10.0.0.2 |http:TCP:9090 ",
	)
}

func TestPlanEndpointsHeadlessHostnames(t *testing.T) {
	db := map[string]string{"app": "db"}
	svc := epService("db", db)
	svc.Spec.ClusterIP = api.ClusterIPNone
	named := epPod("db-0", "10.0.0.7", true, db)
	named.Spec.Hostname, named.Spec.Subdomain = "db-0", "db"
	elsewhere := epPod("db-1", "10.0.0.8", true, db)
	elsewhere.Spec.Hostname, elsewhere.Spec.Subdomain = "db-1", "other"
	st := epState(svc, named, elsewhere)
	st.apply(placement.PlanEndpoints(st))
	ep := epGet(t, st, "db")
	wantSummary(t, ep, "10.0.0.7 10.0.0.8 ||")
	if h := ep.Subsets[0].Addresses; h[0].Hostname != "db-0" || h[1].Hostname != "" {
		t.Fatalf("hostnames = %q, %q", h[0].Hostname, h[1].Hostname)
	}
	if _, ok := ep.Labels[placement.LabelHeadless]; !ok {
		t.Fatalf("labels = %v, want the headless label", ep.Labels)
	}
}

func TestPlanEndpointsServiceGone(t *testing.T) {
	web := map[string]string{"app": "web"}
	svc := epService("web", web, api.ServicePort{Port: 80})
	manual := epService("ext", nil, api.ServicePort{Port: 80})
	userEP := &api.Endpoints{
		TypeMeta:   api.TypeMeta{APIVersion: "v1", Kind: "Endpoints"},
		ObjectMeta: api.ObjectMeta{Name: "ext", Namespace: "default"},
		Subsets:    []api.EndpointSubset{{Addresses: []api.EndpointAddress{{IP: "192.168.1.1"}}, Ports: []api.EndpointPort{{Port: 80}}}},
	}
	st := epState(svc, manual, userEP, epPod("a", "10.0.0.1", true, web))
	changes := placement.PlanEndpoints(st)
	if len(changes) != 1 || api.KeyOf(changes[0].Put).Name != "web" {
		t.Fatalf("changes = %+v; a Service without a selector is left alone", changes)
	}
	st.apply(changes)

	// The selector goes: the controller's Endpoints go; the user's stay.
	noSel := api.Copy(svc)
	noSel.Spec.Selector = nil
	st[api.KeyOf(noSel)] = noSel
	changes = placement.PlanEndpoints(st)
	if len(changes) != 1 || changes[0].Delete == nil || changes[0].Delete.Name != "web" {
		t.Fatalf("selector removed: %+v", changes)
	}

	// The Service goes: so do its Endpoints.
	delete(st, api.KeyOf(svc))
	changes = placement.PlanEndpoints(st)
	if len(changes) != 1 || changes[0].Delete == nil || changes[0].Delete.Name != "web" {
		t.Fatalf("service deleted: %+v", changes)
	}
	st.apply(changes)
	if c := placement.PlanEndpoints(st); len(c) != 0 {
		t.Fatalf("after cleanup: %+v", c)
	}
	if _, ok := st[api.KeyOf(userEP)]; !ok {
		t.Fatal("the user's Endpoints were deleted")
	}
}

func TestEndpointsControllerPass(t *testing.T) {
	web := map[string]string{"app": "web"}
	st := epState(epService("web", web, api.ServicePort{Port: 80}), epPod("a", "10.0.0.1", true, web))
	c := &placement.EndpointsController{State: st, Writer: fakeWriter{st}}
	if _, err := c.Pass(context.Background(), time.Time{}); err != nil {
		t.Fatal(err)
	}
	wantSummary(t, epGet(t, st, "web"), "10.0.0.1 ||:TCP:80 ")
}
