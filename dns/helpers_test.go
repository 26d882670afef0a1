package dns

import (
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strings"

	mdns "github.com/miekg/dns"

	"github.com/shoal-dev/shoal/api"
)

// recorder is a mdns.ResponseWriter that keeps what the handler wrote, as
// CoreDNS's dnstest.Recorder does.
type recorder struct {
	local, remote net.Addr
	msg           *mdns.Msg
	wire          []byte
	writes        int
}

func newRecorder(tcp bool) *recorder {
	if tcp {
		return &recorder{local: &net.TCPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 53}, remote: &net.TCPAddr{IP: net.IPv4(10, 244, 1, 9), Port: 40000}}
	}
	return &recorder{local: &net.UDPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 53}, remote: &net.UDPAddr{IP: net.IPv4(10, 244, 1, 9), Port: 40000}}
}

func (r *recorder) LocalAddr() net.Addr  { return r.local }
func (r *recorder) RemoteAddr() net.Addr { return r.remote }
func (r *recorder) WriteMsg(m *mdns.Msg) error {
	r.writes++
	r.msg = m
	b, err := m.Pack()
	r.wire = b
	return err
}
func (r *recorder) Write(b []byte) (int, error) {
	r.writes++
	r.wire = b
	r.msg = new(mdns.Msg)
	return len(b), r.msg.Unpack(b)
}
func (r *recorder) Close() error        { return nil }
func (r *recorder) TsigStatus() error   { return nil }
func (r *recorder) TsigTimersOnly(bool) {}
func (r *recorder) Hijack()             {}

// fakeReader is the obviously right Reader: it scans a list of objects on
// every call. Handler tests use it; the Index must answer as it does.
type fakeReader struct{ objs []api.Object }

func (f *fakeReader) find(kind, ns, name string) api.Object {
	for _, o := range f.objs {
		m := o.GetObjectMeta()
		if kindOf(o) == kind && m.Namespace == ns && m.Name == name {
			return o
		}
	}
	return nil
}

func (f *fakeReader) Service(ns, name string) *ServiceRecords {
	svc, _ := f.find("Service", ns, name).(*api.Service)
	if svc == nil {
		return nil
	}
	eps, _ := f.find("Endpoints", ns, name).(*api.Endpoints)
	return BuildService(svc, eps)
}

func (f *fakeReader) Namespace(ns string) bool {
	for _, o := range f.objs {
		if k := kindOf(o); (k == "Service" || k == "Pod") && o.GetObjectMeta().Namespace == ns {
			return true
		}
	}
	return false
}

func (f *fakeReader) Pod(ns string, ip netip.Addr) bool {
	for _, o := range f.objs {
		if p, ok := o.(*api.Pod); ok && p.Namespace == ns {
			for _, a := range PodAddrs(p) {
				if a == ip {
					return true
				}
			}
		}
	}
	return false
}

func (f *fakeReader) Node(name string) (Addrs, bool) {
	if n, ok := f.find("Node", "", name).(*api.Node); ok {
		return NodeAddrs(n), true
	}
	return Addrs{}, false
}

// Objects for tests.

func service(ns, name string, ports ...api.ServicePort) *api.Service {
	s := &api.Service{TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "Service"}, Spec: api.ServiceSpec{Ports: ports, Selector: map[string]string{"app": name}}}
	s.Namespace, s.Name = ns, name
	return s
}

func port(name string, proto api.Protocol, p int32) api.ServicePort {
	return api.ServicePort{Name: name, Protocol: proto, Port: p}
}

// addr is an endpoint address: "10.244.1.5" or "web-0=10.244.1.5" for one
// with a hostname.
func addr(s string) api.EndpointAddress {
	if h, ip, ok := strings.Cut(s, "="); ok {
		return api.EndpointAddress{IP: ip, Hostname: h}
	}
	return api.EndpointAddress{IP: s}
}

func subset(ready, notReady []string, ports ...api.EndpointPort) api.EndpointSubset {
	var ss api.EndpointSubset
	for _, a := range ready {
		ss.Addresses = append(ss.Addresses, addr(a))
	}
	for _, a := range notReady {
		ss.NotReadyAddresses = append(ss.NotReadyAddresses, addr(a))
	}
	ss.Ports = ports
	return ss
}

func epPort(name string, proto api.Protocol, p int32) api.EndpointPort {
	return api.EndpointPort{Name: name, Protocol: proto, Port: p}
}

func endpoints(ns, name string, subsets ...api.EndpointSubset) *api.Endpoints {
	e := &api.Endpoints{TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "Endpoints"}, Subsets: subsets}
	e.Namespace, e.Name = ns, name
	return e
}

func pod(ns, name, ip string, phase api.PodPhase) *api.Pod {
	p := &api.Pod{TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "Pod"}}
	p.Namespace, p.Name, p.UID = ns, name, ns+"-"+name
	p.Status.Phase, p.Status.PodIP = phase, ip
	if ip != "" {
		p.Status.PodIPs = []api.PodIP{{IP: ip}}
	}
	return p
}

func node(name string, addrs ...string) *api.Node {
	n := &api.Node{TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "Node"}}
	n.Name = name
	for _, a := range addrs {
		n.Status.Addresses = append(n.Status.Addresses, api.NodeAddress{Type: "InternalIP", Address: a})
	}
	n.Status.Addresses = append(n.Status.Addresses, api.NodeAddress{Type: "Hostname", Address: name})
	return n
}

// query makes a question for name and type, with an OPT record of size
// when size > 0.
func query(name string, qtype uint16, size uint16) *mdns.Msg {
	m := new(mdns.Msg)
	m.SetQuestion(name, qtype)
	if size > 0 {
		m.SetEdns0(size, false)
	}
	return m
}

// rrs renders records the same way whatever their order: "name TTL type
// data", sorted.
func rrs(list []mdns.RR) []string {
	var out []string
	for _, rr := range list {
		if rr.Header().Rrtype == mdns.TypeOPT {
			continue
		}
		f := strings.Split(rr.String(), "\t")
		// name, ttl, class, type, data...
		out = append(out, strings.Join(append([]string{f[0], f[1], f[3]}, f[4:]...), " "))
	}
	sort.Strings(out)
	return out
}

// summary describes an answer in one line for comparisons.
func summary(m *mdns.Msg) string {
	if m == nil {
		return "<no answer>"
	}
	return fmt.Sprintf("%s aa=%v tc=%v ans=%v ns=%v extra=%v", mdns.RcodeToString[m.Rcode], m.Authoritative, m.Truncated, rrs(m.Answer), rrs(m.Ns), rrs(m.Extra))
}
