package node

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/clock"
	"github.com/shoal-dev/shoal/consensus"
	"github.com/shoal-dev/shoal/dns"
)

func TestDNSConfig(t *testing.T) {
	for _, c := range []struct {
		addr, want string
	}{
		{"", "10.0.0.5:53"},
		{"off", "off"},
		{"10.0.0.9", "10.0.0.9:53"},
		{":5353", "10.0.0.5:5353"},
		{"127.0.0.1:1053", "127.0.0.1:1053"},
		{"[fd00::1]:53", "[fd00::1]:53"},
	} {
		got, err := dnsListenAddr(c.addr, "10.0.0.5")
		if err != nil || got != c.want {
			t.Errorf("--dns-addr %q: %q, %v; want %q", c.addr, got, err, c.want)
		}
	}
	if got, _ := dnsListenAddr(":53", "fd00::5"); got != "[fd00::5]:53" {
		t.Errorf("IPv6 advertise address: %s", got)
	}
	for _, bad := range []string{"dns.example", "10.0.0.1:x", "on"} {
		if _, err := dnsListenAddr(bad, "10.0.0.5"); err == nil || !strings.Contains(err.Error(), "--dns-addr") {
			t.Errorf("--dns-addr %q: %v", bad, err)
		}
	}
	for _, c := range []struct {
		cfg  Config
		want string // "" for no error
	}{
		{Config{AdvertiseAddr: "10.0.0.5", DNSUpstreams: []string{"off"}}, ""},
		{Config{AdvertiseAddr: "10.0.0.5", DNSUpstreams: []string{"10.0.0.2", "10.0.0.3:5353"}}, ""},
		{Config{AdvertiseAddr: "10.0.0.5", DNSUpstreams: []string{"off", "10.0.0.2"}}, "cannot be combined"},
		{Config{AdvertiseAddr: "10.0.0.5", DNSUpstreams: []string{"dns.example"}}, `--dns-upstream "dns.example"`},
		{Config{AdvertiseAddr: "10.0.0.5", DNSTTL: 500 * time.Millisecond}, "--dns-ttl"},
	} {
		err := c.cfg.dnsDefaults()
		if (c.want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.cfg.DNSUpstreams, err, c.want)
		}
	}
	var cfg Config
	cfg.AdvertiseAddr = "10.0.0.5"
	if err := cfg.dnsDefaults(); err != nil || cfg.DNSTTL != 5*time.Second || cfg.DNSAddr != "10.0.0.5:53" {
		t.Errorf("defaults: %v %s %s", err, cfg.DNSTTL, cfg.DNSAddr)
	}
}

// TestDNSFollowsTheReplica drives a store as the FSM would and checks
// that the index reflects each change as soon as it is applied.
func TestDNSFollowsTheReplica(t *testing.T) {
	store := consensus.NewStore()
	idx := dns.NewIndex()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	index := uint64(0)
	apply := func(op consensus.OpType, obj api.Object) {
		t.Helper()
		o, err := consensus.OpFor(op, obj)
		if err != nil {
			t.Fatal(err)
		}
		index++
		if res := store.Apply(index, consensus.WriteCommand{Time: time.Now(), Ops: []consensus.Op{o}}); res.Err != nil {
			t.Fatal(res.Err)
		}
	}
	svc := &api.Service{TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "Service"}, ObjectMeta: api.ObjectMeta{Name: "web", Namespace: "default"}}
	apply(consensus.OpCreate, svc) // before the feed starts: in the first list

	loaded := make(chan struct{}, len(dns.Kinds))
	for _, kind := range dns.Kinds {
		go idx.Follow(ctx, store, kind, loaded, clock.Real{})
	}
	for range dns.Kinds {
		<-loaded
	}
	if r := idx.Service("default", "web"); r == nil || !r.Ready.Empty() {
		t.Fatalf("after the first list: %+v", r)
	}
	eps := func(ready ...string) *api.Endpoints {
		e := &api.Endpoints{TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "Endpoints"}, ObjectMeta: api.ObjectMeta{Name: "web", Namespace: "default"}}
		ss := api.EndpointSubset{Ports: []api.EndpointPort{{Name: "http", Port: 8080, Protocol: api.ProtocolTCP}}}
		for _, ip := range ready {
			ss.Addresses = append(ss.Addresses, api.EndpointAddress{IP: ip})
		}
		ss.NotReadyAddresses = []api.EndpointAddress{{IP: "10.244.9.9"}}
		e.Subsets = []api.EndpointSubset{ss}
		return e
	}
	readyIPs := func() string {
		r := idx.Service("default", "web")
		if r == nil {
			return "<no service>"
		}
		return fmt.Sprint(r.Ready.V4)
	}
	waitIndex := func(what, want string) {
		t.Helper()
		start := time.Now()
		waitUntil(t, 2*time.Second, what, func() (bool, string) { got := readyIPs(); return got == want, got })
		if d := time.Since(start); d > 500*time.Millisecond {
			t.Errorf("%s took %s: the index should follow the watch at once", what, d)
		}
	}
	apply(consensus.OpCreate, eps("10.244.1.5", "10.244.2.7"))
	waitIndex("two Ready pods", "[10.244.1.5 10.244.2.7]")
	apply(consensus.OpPut, eps("10.244.2.7"))
	waitIndex("one pod no longer Ready", "[10.244.2.7]")
	apply(consensus.OpDelete, svc)
	waitIndex("the Service gone", "<no service>")
}

// dnsUpstream is a resolver the test starts on loopback: every name is
// 192.0.2.1.
func dnsUpstream(t *testing.T) string {
	t.Helper()
	srv := dns.NewServer(mdns.HandlerFunc(func(w mdns.ResponseWriter, r *mdns.Msg) {
		m := new(mdns.Msg)
		m.SetReply(r)
		rr, _ := mdns.NewRR(r.Question[0].Name + " 30 IN A 192.0.2.1")
		m.Answer = []mdns.RR{rr}
		w.WriteMsg(m)
	}), nil)
	addr, err := srv.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	return addr
}

func TestAgentAnswersDNS(t *testing.T) {
	up := dnsUpstream(t)
	c := newTestCluster(t)
	c.start("n1", "", func(cfg *Config) {
		cfg.DNSAddr = ":15353" // the agent's own 127.x.y.z address; no root needed
		cfg.DNSUpstreams = []string{up}
		cfg.DNSTTL = 7 * time.Second
	})
	addr := net.JoinHostPort(c.cfgs["n1"].BindAddr, "15353")
	ask := func(name string, qtype uint16) (*mdns.Msg, error) {
		q := new(mdns.Msg)
		q.SetQuestion(name, qtype)
		m, _, err := (&mdns.Client{Timeout: time.Second}).Exchange(q, addr)
		return m, err
	}
	waitUntil(t, 10*time.Second, "the node's DNS to answer", func() (bool, string) {
		m, err := ask("n1.node.cluster.local.", mdns.TypeA)
		if err != nil {
			return false, err.Error()
		}
		return len(m.Answer) == 1, m.String()
	})

	cl := c.client("n1")
	ctx := context.Background()
	if m, err := ask("web.default.svc.cluster.local.", mdns.TypeA); err != nil || m.Rcode != mdns.RcodeNameError {
		t.Fatalf("before the Service exists: %v %v", m, err)
	}
	svc := &api.Service{TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "Service"}, ObjectMeta: api.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: api.ServiceSpec{Ports: []api.ServicePort{{Name: "http", Port: 80}}}}
	if _, err := cl.Create(ctx, svc); err != nil {
		t.Fatal(err)
	}
	// A Service without a selector: its Endpoints are the user's.
	ep := &api.Endpoints{TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "Endpoints"}, ObjectMeta: api.ObjectMeta{Name: "web", Namespace: "default"},
		Subsets: []api.EndpointSubset{{Addresses: []api.EndpointAddress{{IP: "10.244.7.7"}}, Ports: []api.EndpointPort{{Name: "http", Port: 8080}}}}}
	if _, err := cl.Create(ctx, ep); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 5*time.Second, "the Service to resolve", func() (bool, string) {
		m, err := ask("web.default.svc.cluster.local.", mdns.TypeA)
		if err != nil {
			return false, err.Error()
		}
		return len(m.Answer) == 1 && m.Answer[0].(*mdns.A).A.String() == "10.244.7.7" && m.Answer[0].Header().Ttl == 7, m.String()
	})
	m, err := ask("_http._tcp.web.default.svc.cluster.local.", mdns.TypeSRV)
	if err != nil || len(m.Answer) != 1 || m.Answer[0].(*mdns.SRV).Port != 8080 {
		t.Fatalf("SRV: %v %v", m, err)
	}
	if err := cl.Delete(ctx, "Endpoints", "default", "web"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 5*time.Second, "NODATA once the Endpoints are gone", func() (bool, string) {
		m, err := ask("web.default.svc.cluster.local.", mdns.TypeA)
		if err != nil {
			return false, err.Error()
		}
		return m.Rcode == mdns.RcodeSuccess && len(m.Answer) == 0 && len(m.Ns) == 1, m.String()
	})
	// Other names go to the upstream.
	m, err = ask("www.example.org.", mdns.TypeA)
	if err != nil || len(m.Answer) != 1 || m.Answer[0].(*mdns.A).A.String() != "192.0.2.1" {
		t.Fatalf("forwarded: %v %v", m, err)
	}
}
