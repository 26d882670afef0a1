package dns

import (
	"net/netip"
	"testing"

	mdns "github.com/miekg/dns"

	"github.com/shoal-dev/shoal/api"
)

// indexQueries cover every kind of name in testState and in the changes
// of TestIndexFollowsChanges.
var indexQueries = []struct {
	name  string
	qtype uint16
}{
	{"web.default.svc.cluster.local.", mdns.TypeA},
	{"web.default.svc.cluster.local.", mdns.TypeAAAA},
	{"_http._tcp.web.default.svc.cluster.local.", mdns.TypeSRV},
	{"_metrics._tcp.web.default.svc.cluster.local.", mdns.TypeSRV},
	{"_tcp.web.default.svc.cluster.local.", mdns.TypeSRV},
	{"web-0.web.default.svc.cluster.local.", mdns.TypeA},
	{"10-244-2-7.web.default.svc.cluster.local.", mdns.TypeA},
	{"10-244-3-9.web.default.svc.cluster.local.", mdns.TypeA},
	{"empty.default.svc.cluster.local.", mdns.TypeA},
	{"down.default.svc.cluster.local.", mdns.TypeA},
	{"dual.default.svc.cluster.local.", mdns.TypeANY},
	{"orphan.default.svc.cluster.local.", mdns.TypeA},
	{"web.other.svc.cluster.local.", mdns.TypeA},
	{"new.other.svc.cluster.local.", mdns.TypeA},
	{"other.svc.cluster.local.", mdns.TypeA},
	{"default.svc.cluster.local.", mdns.TypeA},
	{"podonly.pod.cluster.local.", mdns.TypeA},
	{"10-244-1-5.default.pod.cluster.local.", mdns.TypeA},
	{"10-244-2-7.default.pod.cluster.local.", mdns.TypeA},
	{"10-244-2-8.default.pod.cluster.local.", mdns.TypeA},
	{"10-244-2-99.default.pod.cluster.local.", mdns.TypeA},
	{"fd00-10-244--6.default.pod.cluster.local.", mdns.TypeAAAA},
	{"10-244-5-5.podonly.pod.cluster.local.", mdns.TypeA},
	{"n1.node.cluster.local.", mdns.TypeA},
	{"n2.example.com.node.cluster.local.", mdns.TypeANY},
	{"n3.node.cluster.local.", mdns.TypeA},
}

// sameAnswers checks that idx answers every query as the fake reader of
// objs does.
func sameAnswers(t *testing.T, step string, objs []api.Object, idx *Index) {
	t.Helper()
	want := NewHandler(HandlerConfig{Domain: "cluster.local", Reader: &fakeReader{objs}})
	got := NewHandler(HandlerConfig{Domain: "cluster.local", Reader: idx})
	for _, q := range indexQueries {
		ww, gw := newRecorder(false), newRecorder(false)
		want.ServeDNS(ww, query(q.name, q.qtype, 0))
		got.ServeDNS(gw, query(q.name, q.qtype, 0))
		if w, g := summary(ww.msg), summary(gw.msg); w != g {
			t.Errorf("%s: %s %s:\nindex %s\n fake %s", step, q.name, mdns.TypeToString[q.qtype], g, w)
		}
	}
}

func resetAll(idx *Index, objs []api.Object) {
	for _, k := range Kinds {
		idx.Reset(k, objs)
	}
}

// replace returns objs with o in place of the object of the same kind and
// key (appended if new), or without it when deleted.
func replace(objs []api.Object, o api.Object, deleted bool) []api.Object {
	var out []api.Object
	found := false
	for _, x := range objs {
		if kindOf(x) == kindOf(o) && api.KeyOf(x).Namespace == api.KeyOf(o).Namespace && x.GetObjectMeta().Name == o.GetObjectMeta().Name {
			found = true
			if !deleted {
				out = append(out, o)
			}
			continue
		}
		out = append(out, x)
	}
	if !found && !deleted {
		out = append(out, o)
	}
	return out
}

func TestIndexFollowsChanges(t *testing.T) {
	objs := testState()
	idx := NewIndex()
	resetAll(idx, objs)
	sameAnswers(t, "after Reset", objs, idx)

	steps := []struct {
		name    string
		obj     api.Object
		deleted bool
	}{
		{"web-0 stops being Ready", endpoints("default", "web",
			subset([]string{"10.244.2.7"}, []string{"web-0=10.244.1.5", "10.244.3.9"},
				epPort("http", api.ProtocolTCP, 8080), epPort("metrics", api.ProtocolTCP, 9090))), false},
		{"a pod moves to another IP", pod("default", "b", "10.244.2.8", api.PodRunning), false},
		{"a pod finishes", pod("default", "a", "10.244.1.5", api.PodSucceeded), false},
		{"a new Service before its Endpoints", service("other", "new"), false},
		{"its Endpoints", endpoints("other", "new", subset([]string{"10.244.4.5"}, nil)), false},
		{"the Endpoints of a Service go", endpoints("default", "dual"), true},
		{"a Service goes", service("other", "web"), true},
		{"the orphan Endpoints get their Service", service("default", "orphan"), false},
		{"the last pod of a namespace goes", pod("podonly", "p", "", ""), true},
		{"a node goes", node("n1"), true},
		{"a node comes", node("n3", "10.0.0.3"), false},
	}
	for _, s := range steps {
		objs = replace(objs, s.obj, s.deleted)
		idx.Apply(Change{Object: s.obj, Deleted: s.deleted})
		sameAnswers(t, s.name, objs, idx)
	}

	// A fresh list replaces what the index holds, dropping what is gone.
	objs = replace(objs, service("default", "web"), true)
	objs = replace(objs, pod("default", "v6", "", ""), true)
	resetAll(idx, objs)
	sameAnswers(t, "after a second Reset", objs, idx)
	if idx.Service("default", "web") != nil {
		t.Error("a Service gone from the list is still answered")
	}
	if idx.Pod("default", netip.MustParseAddr("fd00:10:244::6")) {
		t.Error("a pod gone from the list is still answered")
	}
}

func TestIndexTwoPodsOneIP(t *testing.T) {
	// While an old pod is still recorded with an IP its successor already
	// has, the IP stays answered until both are gone.
	idx := NewIndex()
	old, cur := pod("default", "old", "10.244.1.5", api.PodRunning), pod("default", "new", "10.244.1.5", api.PodRunning)
	idx.Apply(Change{Object: old}, Change{Object: cur})
	ip := netip.MustParseAddr("10.244.1.5")
	idx.Apply(Change{Object: old, Deleted: true})
	if !idx.Pod("default", ip) {
		t.Fatal("the IP went with the old pod although the new one has it")
	}
	idx.Apply(Change{Object: cur, Deleted: true})
	if idx.Pod("default", ip) || idx.Namespace("default") {
		t.Fatal("the IP or the namespace outlived both pods")
	}
}

func TestBuildServicePorts(t *testing.T) {
	svc := service("default", "db", port("PG", api.ProtocolTCP, 5432), port("dns", api.ProtocolUDP, 53))
	eps := endpoints("default", "db",
		subset([]string{"db-0=10.244.1.1"}, nil, epPort("PG", api.ProtocolTCP, 15432)),
		subset([]string{"10.244.1.2"}, nil, epPort("dns", api.ProtocolUDP, 5353), epPort("", api.ProtocolTCP, 1)))
	r := BuildService(svc, eps)
	if got := r.Ports["_pg._tcp"]; len(got) != 1 || got[0].Label != "db-0" || got[0].Port != 15432 {
		t.Errorf("_pg._tcp: %+v", got)
	}
	if got := r.Ports["_dns._udp"]; len(got) != 1 || got[0].Label != "10-244-1-2" || got[0].Port != 5353 {
		t.Errorf("_dns._udp: %+v", got)
	}
	if len(r.Ports) != 2 || !r.Protocols["_tcp"] || !r.Protocols["_udp"] {
		t.Errorf("ports %v protocols %v", r.Ports, r.Protocols)
	}
	if len(r.Ready.V4) != 2 || len(r.Hosts) != 2 {
		t.Errorf("ready %v hosts %v", r.Ready, r.Hosts)
	}
}
