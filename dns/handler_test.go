package dns

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/clock"
)

var testStart = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// testState is one namespace "default" with:
//
//	web   two Ready pods (one with hostname web-0), one not Ready; ports http/TCP → 8080, metrics/TCP → 9090
//	empty a Service with no Endpoints
//	down  a Service whose only pod is not Ready
//	dual  a Ready IPv4 and a Ready IPv6 endpoint
//	orphan Endpoints without a Service
//
// and pods, nodes n1 (10.0.0.1) and n2.example.com (10.0.0.2, fd00::2).
func testState() []api.Object {
	return []api.Object{
		service("default", "web", port("http", api.ProtocolTCP, 80), port("metrics", "", 9090), port("", api.ProtocolTCP, 81)),
		endpoints("default", "web",
			subset([]string{"web-0=10.244.1.5", "10.244.2.7"}, []string{"10.244.3.9"},
				epPort("http", api.ProtocolTCP, 8080), epPort("metrics", api.ProtocolTCP, 9090))),
		service("default", "empty", port("http", api.ProtocolTCP, 80)),
		service("default", "down"),
		endpoints("default", "down", subset(nil, []string{"10.244.1.8"})),
		service("default", "dual"),
		endpoints("default", "dual", subset([]string{"10.244.1.6", "fd00:10:244::6"}, nil)),
		endpoints("default", "orphan", subset([]string{"10.244.1.99"}, nil)),
		service("other", "web"),
		endpoints("other", "web", subset([]string{"10.244.4.4"}, nil)),
		pod("default", "a", "10.244.1.5", api.PodRunning),
		pod("default", "b", "10.244.2.7", api.PodRunning),
		pod("default", "done", "10.244.2.99", api.PodSucceeded),
		pod("default", "v6", "fd00:10:244::6", api.PodRunning),
		pod("podonly", "p", "10.244.5.5", api.PodPending),
		node("n1", "10.0.0.1"),
		node("n2.example.com", "10.0.0.2", "fd00::2"),
	}
}

// fakeResolver answers every forwarded question with one A record, or err.
type fakeResolver struct {
	calls int
	err   error
}

func (f *fakeResolver) Resolve(_ context.Context, r *mdns.Msg) (*mdns.Msg, error) {
	f.calls++
	if f.err != nil {
		return nil, f.err
	}
	m := new(mdns.Msg)
	m.SetReply(r)
	m.RecursionAvailable = true
	rr, _ := mdns.NewRR(r.Question[0].Name + " 60 IN A 192.0.2.1")
	m.Answer = []mdns.RR{rr}
	return m, nil
}

const (
	soa  = "cluster.local. 5 SOA ns.dns.cluster.local. hostmaster.cluster.local. 1795780800 7200 1800 86400 5"
	zone = "cluster.local."
)

func TestHandler(t *testing.T) {
	type tc struct {
		name  string
		qname string
		qtype uint16
		class uint16 // IN when zero
		// want
		rcode int
		ans   []string
		ns    []string
		extra []string
	}
	noData := []string{soa}
	cases := []tc{
		{name: "service A: Ready pods only", qname: "web.default.svc.cluster.local.", qtype: mdns.TypeA,
			ans: []string{"web.default.svc.cluster.local. 5 A 10.244.1.5", "web.default.svc.cluster.local. 5 A 10.244.2.7"}},
		{name: "names are case-insensitive, answers keep the question's case", qname: "WEB.Default.SVC.Cluster.LOCAL.", qtype: mdns.TypeA,
			ans: []string{"WEB.Default.SVC.Cluster.LOCAL. 5 A 10.244.1.5", "WEB.Default.SVC.Cluster.LOCAL. 5 A 10.244.2.7"}},
		{name: "service AAAA without IPv6 endpoints is NODATA", qname: "web.default.svc.cluster.local.", qtype: mdns.TypeAAAA, ns: noData},
		{name: "service TXT is NODATA", qname: "web.default.svc.cluster.local.", qtype: mdns.TypeTXT, ns: noData},
		{name: "service without Endpoints is NODATA", qname: "empty.default.svc.cluster.local.", qtype: mdns.TypeA, ns: noData},
		{name: "service with no Ready pod is NODATA", qname: "down.default.svc.cluster.local.", qtype: mdns.TypeA, ns: noData},
		{name: "missing service is NXDOMAIN", qname: "nope.default.svc.cluster.local.", qtype: mdns.TypeA, rcode: mdns.RcodeNameError, ns: noData},
		{name: "Endpoints without a Service is NXDOMAIN", qname: "orphan.default.svc.cluster.local.", qtype: mdns.TypeA, rcode: mdns.RcodeNameError, ns: noData},
		{name: "same name in another namespace", qname: "web.other.svc.cluster.local.", qtype: mdns.TypeA,
			ans: []string{"web.other.svc.cluster.local. 5 A 10.244.4.4"}},
		{name: "dual-stack A", qname: "dual.default.svc.cluster.local.", qtype: mdns.TypeA, ans: []string{"dual.default.svc.cluster.local. 5 A 10.244.1.6"}},
		{name: "dual-stack AAAA", qname: "dual.default.svc.cluster.local.", qtype: mdns.TypeAAAA, ans: []string{"dual.default.svc.cluster.local. 5 AAAA fd00:10:244::6"}},
		{name: "ANY gives both families", qname: "dual.default.svc.cluster.local.", qtype: mdns.TypeANY,
			ans: []string{"dual.default.svc.cluster.local. 5 A 10.244.1.6", "dual.default.svc.cluster.local. 5 AAAA fd00:10:244::6"}},

		{name: "SRV of a named port: target port and per-pod names", qname: "_http._tcp.web.default.svc.cluster.local.", qtype: mdns.TypeSRV,
			ans: []string{
				"_http._tcp.web.default.svc.cluster.local. 5 SRV 0 50 8080 10-244-2-7.web.default.svc.cluster.local.",
				"_http._tcp.web.default.svc.cluster.local. 5 SRV 0 50 8080 web-0.web.default.svc.cluster.local.",
			},
			extra: []string{"10-244-2-7.web.default.svc.cluster.local. 5 A 10.244.2.7", "web-0.web.default.svc.cluster.local. 5 A 10.244.1.5"}},
		{name: "SRV protocol defaults to tcp", qname: "_metrics._tcp.web.default.svc.cluster.local.", qtype: mdns.TypeSRV,
			ans: []string{
				"_metrics._tcp.web.default.svc.cluster.local. 5 SRV 0 50 9090 10-244-2-7.web.default.svc.cluster.local.",
				"_metrics._tcp.web.default.svc.cluster.local. 5 SRV 0 50 9090 web-0.web.default.svc.cluster.local.",
			},
			extra: []string{"10-244-2-7.web.default.svc.cluster.local. 5 A 10.244.2.7", "web-0.web.default.svc.cluster.local. 5 A 10.244.1.5"}},
		{name: "SRV name asked for A is NODATA", qname: "_http._tcp.web.default.svc.cluster.local.", qtype: mdns.TypeA, ns: noData},
		{name: "SRV of a port with no Ready endpoint is NODATA", qname: "_http._tcp.empty.default.svc.cluster.local.", qtype: mdns.TypeSRV, ns: noData},
		{name: "SRV of an unknown port is NXDOMAIN", qname: "_grpc._tcp.web.default.svc.cluster.local.", qtype: mdns.TypeSRV, rcode: mdns.RcodeNameError, ns: noData},
		{name: "SRV of the wrong protocol is NXDOMAIN", qname: "_http._udp.web.default.svc.cluster.local.", qtype: mdns.TypeSRV, rcode: mdns.RcodeNameError, ns: noData},
		{name: "protocol label is an empty non-terminal", qname: "_tcp.web.default.svc.cluster.local.", qtype: mdns.TypeSRV, ns: noData},
		{name: "unknown protocol label is NXDOMAIN", qname: "_udp.web.default.svc.cluster.local.", qtype: mdns.TypeSRV, rcode: mdns.RcodeNameError, ns: noData},

		{name: "per-pod name by hostname", qname: "web-0.web.default.svc.cluster.local.", qtype: mdns.TypeA, ans: []string{"web-0.web.default.svc.cluster.local. 5 A 10.244.1.5"}},
		{name: "per-pod name by dashed IP", qname: "10-244-2-7.web.default.svc.cluster.local.", qtype: mdns.TypeA, ans: []string{"10-244-2-7.web.default.svc.cluster.local. 5 A 10.244.2.7"}},
		{name: "per-pod name of a pod that is not Ready is NXDOMAIN", qname: "10-244-3-9.web.default.svc.cluster.local.", qtype: mdns.TypeA, rcode: mdns.RcodeNameError, ns: noData},
		{name: "per-pod name, AAAA of an IPv4 pod is NODATA", qname: "web-0.web.default.svc.cluster.local.", qtype: mdns.TypeAAAA, ns: noData},
		{name: "too many labels is NXDOMAIN", qname: "a.b._http._tcp.web.default.svc.cluster.local.", qtype: mdns.TypeA, rcode: mdns.RcodeNameError, ns: noData},

		{name: "pod record", qname: "10-244-1-5.default.pod.cluster.local.", qtype: mdns.TypeA, ans: []string{"10-244-1-5.default.pod.cluster.local. 5 A 10.244.1.5"}},
		{name: "pod record of an IPv6 pod", qname: "fd00-10-244--6.default.pod.cluster.local.", qtype: mdns.TypeAAAA, ans: []string{"fd00-10-244--6.default.pod.cluster.local. 5 AAAA fd00:10:244::6"}},
		{name: "pod record, AAAA of an IPv4 pod is NODATA", qname: "10-244-1-5.default.pod.cluster.local.", qtype: mdns.TypeAAAA, ns: noData},
		{name: "pod record in the wrong namespace is NXDOMAIN", qname: "10-244-1-5.other.pod.cluster.local.", qtype: mdns.TypeA, rcode: mdns.RcodeNameError, ns: noData},
		{name: "pod record of an unknown IP is NXDOMAIN", qname: "10-244-9-9.default.pod.cluster.local.", qtype: mdns.TypeA, rcode: mdns.RcodeNameError, ns: noData},
		{name: "pod record of a finished pod is NXDOMAIN", qname: "10-244-2-99.default.pod.cluster.local.", qtype: mdns.TypeA, rcode: mdns.RcodeNameError, ns: noData},
		{name: "pod record that is not an IP is NXDOMAIN", qname: "web.default.pod.cluster.local.", qtype: mdns.TypeA, rcode: mdns.RcodeNameError, ns: noData},

		{name: "node", qname: "n1.node.cluster.local.", qtype: mdns.TypeA, ans: []string{"n1.node.cluster.local. 5 A 10.0.0.1"}},
		{name: "node with dots in its name", qname: "N2.example.com.node.cluster.local.", qtype: mdns.TypeAAAA, ans: []string{"N2.example.com.node.cluster.local. 5 AAAA fd00::2"}},
		{name: "unknown node is NXDOMAIN", qname: "n9.node.cluster.local.", qtype: mdns.TypeA, rcode: mdns.RcodeNameError, ns: noData},

		{name: "apex SOA", qname: "cluster.local.", qtype: mdns.TypeSOA, ans: []string{soa}},
		{name: "apex NS", qname: "Cluster.Local.", qtype: mdns.TypeNS, ans: []string{"Cluster.Local. 5 NS ns.dns.cluster.local."}},
		{name: "apex A is NODATA", qname: "cluster.local.", qtype: mdns.TypeA, ns: noData},
		{name: "the name server's address is where the query came", qname: "ns.dns.cluster.local.", qtype: mdns.TypeA, ans: []string{"ns.dns.cluster.local. 5 A 10.0.0.1"}},
		{name: "svc is an empty non-terminal", qname: "svc.cluster.local.", qtype: mdns.TypeA, ns: noData},
		{name: "namespace with Services is an empty non-terminal", qname: "default.svc.cluster.local.", qtype: mdns.TypeA, ns: noData},
		{name: "namespace with only pods is an empty non-terminal", qname: "podonly.pod.cluster.local.", qtype: mdns.TypeA, ns: noData},
		{name: "unknown namespace is NXDOMAIN", qname: "nope.svc.cluster.local.", qtype: mdns.TypeA, rcode: mdns.RcodeNameError, ns: noData},
		{name: "unknown subtree is NXDOMAIN", qname: "web.default.foo.cluster.local.", qtype: mdns.TypeA, rcode: mdns.RcodeNameError, ns: noData},
		{name: "empty label is NXDOMAIN", qname: "web..svc.cluster.local.", qtype: mdns.TypeA, rcode: mdns.RcodeNameError, ns: noData},
		{name: "class CHAOS in the zone is REFUSED", qname: "web.default.svc.cluster.local.", qtype: mdns.TypeA, class: mdns.ClassCHAOS, rcode: mdns.RcodeRefused},
		{name: "a name ending like the zone is not in it", qname: "notcluster.local.", qtype: mdns.TypeA, rcode: mdns.RcodeRefused},
		{name: "outside the zone without forwarding is REFUSED", qname: "example.com.", qtype: mdns.TypeA, rcode: mdns.RcodeRefused},
	}
	h := NewHandler(HandlerConfig{Domain: "cluster.local", Reader: &fakeReader{testState()}, Clock: clock.NewFake(testStart)})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := query(c.qname, c.qtype, 0)
			if c.class != 0 {
				r.Question[0].Qclass = c.class
			}
			w := newRecorder(false)
			h.ServeDNS(w, r)
			m := w.msg
			if w.writes != 1 || m == nil {
				t.Fatalf("%d writes, want 1", w.writes)
			}
			if m.Id != r.Id || !m.Response || len(m.Question) != 1 || m.Question[0] != r.Question[0] {
				t.Errorf("header/question do not match the query: %v", m)
			}
			if m.Rcode != c.rcode {
				t.Errorf("rcode %s, want %s", mdns.RcodeToString[m.Rcode], mdns.RcodeToString[c.rcode])
			}
			inZone := strings.HasSuffix(strings.ToLower(c.qname), "."+zone) || strings.EqualFold(c.qname, zone)
			if m.Authoritative != (inZone && c.rcode != mdns.RcodeRefused) {
				t.Errorf("aa=%v for %s", m.Authoritative, c.qname)
			}
			if m.RecursionAvailable {
				t.Error("ra set without a forwarder")
			}
			for _, s := range []struct {
				name      string
				got, want []string
			}{{"answer", rrs(m.Answer), c.ans}, {"authority", rrs(m.Ns), c.ns}, {"additional", rrs(m.Extra), c.extra}} {
				if !reflect.DeepEqual(s.got, s.want) && (len(s.got) > 0 || len(s.want) > 0) {
					t.Errorf("%s:\n got %q\nwant %q", s.name, s.got, s.want)
				}
			}
		})
	}
}

func TestHandlerTTL(t *testing.T) {
	h := NewHandler(HandlerConfig{Domain: "Cluster.Local.", Reader: &fakeReader{testState()}, TTL: 30 * time.Second, Clock: clock.NewFake(testStart)})
	for _, q := range []*mdns.Msg{query("web.default.svc.cluster.local.", mdns.TypeA, 0), query("nope.default.svc.cluster.local.", mdns.TypeA, 0)} {
		w := newRecorder(false)
		h.ServeDNS(w, q)
		for _, rr := range append(append([]mdns.RR{}, w.msg.Answer...), w.msg.Ns...) {
			if rr.Header().Ttl != 30 {
				t.Errorf("TTL %d, want 30: %v", rr.Header().Ttl, rr)
			}
			if s, ok := rr.(*mdns.SOA); ok && s.Minttl != 30 {
				t.Errorf("SOA minimum %d, want 30", s.Minttl)
			}
		}
	}
}

func TestHandlerForwards(t *testing.T) {
	fwd := &fakeResolver{}
	h := NewHandler(HandlerConfig{Domain: "cluster.local", Reader: &fakeReader{testState()}, Forward: fwd})
	w := newRecorder(false)
	h.ServeDNS(w, query("Example.COM.", mdns.TypeA, 0))
	if got := summary(w.msg); got != "NOERROR aa=false tc=false ans=[Example.COM. 60 A 192.0.2.1] ns=[] extra=[]" || !w.msg.RecursionAvailable {
		t.Errorf("forwarded: %s ra=%v", got, w.msg.RecursionAvailable)
	}
	// The cluster domain is never forwarded, whatever the answer.
	for _, name := range []string{"nope.default.svc.cluster.local.", "cluster.local.", "x.cluster.local."} {
		w := newRecorder(false)
		h.ServeDNS(w, query(name, mdns.TypeA, 0))
		if !w.msg.Authoritative || !w.msg.RecursionAvailable {
			t.Errorf("%s: aa=%v ra=%v, want both", name, w.msg.Authoritative, w.msg.RecursionAvailable)
		}
	}
	if fwd.calls != 1 {
		t.Errorf("%d forwarded queries, want 1 (only example.com)", fwd.calls)
	}
	fwd.err = errors.New("all upstreams failed")
	w = newRecorder(false)
	h.ServeDNS(w, query("example.org.", mdns.TypeA, 0))
	if w.msg.Rcode != mdns.RcodeServerFailure {
		t.Errorf("a failed forward gives %s, want SERVFAIL", mdns.RcodeToString[w.msg.Rcode])
	}
}

func TestHandlerEDNS(t *testing.T) {
	h := NewHandler(HandlerConfig{Domain: "cluster.local", Reader: &fakeReader{testState()}})
	w := newRecorder(false)
	h.ServeDNS(w, query("web.default.svc.cluster.local.", mdns.TypeA, 4096))
	opt := w.msg.IsEdns0()
	if opt == nil || opt.UDPSize() != AdvertisedUDPSize || len(w.msg.Answer) != 2 {
		t.Fatalf("EDNS0 query: %v", w.msg)
	}
	// Without EDNS0 in the query there is none in the answer.
	w = newRecorder(false)
	h.ServeDNS(w, query("web.default.svc.cluster.local.", mdns.TypeA, 0))
	if w.msg.IsEdns0() != nil {
		t.Error("OPT in the answer to a query without one")
	}
	// An unknown EDNS version is BADVERS.
	r := query("web.default.svc.cluster.local.", mdns.TypeA, 1232)
	r.IsEdns0().SetVersion(1)
	w = newRecorder(false)
	h.ServeDNS(w, r)
	got := new(mdns.Msg)
	if err := got.Unpack(w.wire); err != nil || got.Rcode != mdns.RcodeBadVers || got.IsEdns0() == nil || len(got.Answer) != 0 {
		t.Errorf("EDNS version 1: err %v, answer %v", err, got)
	}
}

func TestHandlerMalformed(t *testing.T) {
	h := NewHandler(HandlerConfig{Domain: "cluster.local", Reader: &fakeReader{testState()}})
	none := new(mdns.Msg)
	none.Id = 7
	two := query("web.default.svc.cluster.local.", mdns.TypeA, 0)
	two.Question = append(two.Question, two.Question[0])
	notify := query("cluster.local.", mdns.TypeSOA, 0)
	notify.Opcode = mdns.OpcodeNotify
	for _, c := range []struct {
		m     *mdns.Msg
		rcode int
	}{{none, mdns.RcodeFormatError}, {two, mdns.RcodeFormatError}, {notify, mdns.RcodeNotImplemented}} {
		w := newRecorder(false)
		h.ServeDNS(w, c.m)
		if w.msg == nil || w.msg.Rcode != c.rcode || w.msg.Id != c.m.Id {
			t.Errorf("got %v, want %s", w.msg, mdns.RcodeToString[c.rcode])
		}
	}
	// An answer is never answered.
	resp := query("web.default.svc.cluster.local.", mdns.TypeA, 0)
	resp.Response = true
	w := newRecorder(false)
	h.ServeDNS(w, resp)
	if w.writes != 0 {
		t.Error("answered a response")
	}
}

// bigState is a Service with n Ready pods.
func bigState(n int) []api.Object {
	var ready []string
	for i := range n {
		ready = append(ready, fmt.Sprintf("10.244.%d.%d", i/200, 1+i%200))
	}
	return []api.Object{
		service("default", "big", port("http", api.ProtocolTCP, 80)),
		endpoints("default", "big", subset(ready, nil, epPort("http", api.ProtocolTCP, 8080))),
	}
}

func TestHandlerTruncates(t *testing.T) {
	h := NewHandler(HandlerConfig{Domain: "cluster.local", Reader: &fakeReader{bigState(300)}})
	for _, c := range []struct {
		name    string
		qtype   uint16
		edns    uint16
		tcp     bool
		maxWire int
		tc      bool
	}{
		{"UDP without EDNS0: 512 bytes", mdns.TypeA, 0, false, 512, true},
		{"UDP with EDNS0 1232", mdns.TypeA, 1232, false, 1232, true},
		{"UDP with EDNS0 above 4096 is capped", mdns.TypeSRV, 65000, false, 4096, true},
		{"UDP with EDNS0 below 512 counts as 512", mdns.TypeA, 100, false, 512, true},
		{"TCP takes everything", mdns.TypeA, 0, true, 65535, false},
		{"TCP takes every SRV", mdns.TypeSRV, 0, true, 65535, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			name := "big.default.svc.cluster.local."
			if c.qtype == mdns.TypeSRV {
				name = "_http._tcp." + name
			}
			w := newRecorder(c.tcp)
			h.ServeDNS(w, query(name, c.qtype, c.edns))
			if len(w.wire) > c.maxWire || w.msg.Truncated != c.tc {
				t.Fatalf("%d bytes, tc=%v; want at most %d, tc=%v", len(w.wire), w.msg.Truncated, c.maxWire, c.tc)
			}
			if c.tc && len(w.msg.Answer) == 0 {
				t.Error("a truncated answer should carry what fits")
			}
			if !c.tc && len(w.msg.Answer) != 300 {
				t.Errorf("%d answers, want all 300", len(w.msg.Answer))
			}
			if c.edns != 0 && w.msg.IsEdns0() == nil {
				t.Error("truncation dropped the OPT record")
			}
		})
	}
}

func TestHandlerShuffles(t *testing.T) {
	h := NewHandler(HandlerConfig{Domain: "cluster.local", Reader: &fakeReader{bigState(10)}})
	orders := map[string]bool{}
	for range 50 {
		w := newRecorder(false)
		h.ServeDNS(w, query("big.default.svc.cluster.local.", mdns.TypeA, 0))
		var ips []string
		for _, rr := range w.msg.Answer {
			ips = append(ips, rr.(*mdns.A).A.String())
		}
		if len(ips) != 10 {
			t.Fatalf("%d answers, want 10", len(ips))
		}
		orders[strings.Join(ips, ",")] = true
	}
	if len(orders) < 10 {
		t.Errorf("50 queries gave %d orders of 10 records; answers are not shuffled", len(orders))
	}
}
