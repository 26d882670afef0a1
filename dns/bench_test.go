package dns

import (
	"fmt"
	"net/netip"
	"testing"

	mdns "github.com/miekg/dns"

	"github.com/shoal-dev/shoal/api"
)

// benchIndex holds 1,000 Services of 10 Ready pods each, in 100
// namespaces.
func benchIndex() *Index {
	idx := NewIndex()
	var objs []api.Object
	for i := range 1000 {
		ns := fmt.Sprintf("ns-%d", i/10)
		name := fmt.Sprintf("svc-%d", i)
		var ready []string
		for j := range 10 {
			ip := fmt.Sprintf("10.%d.%d.%d", 100+i/250, i%250, j+1)
			ready = append(ready, ip)
			objs = append(objs, pod(ns, fmt.Sprintf("%s-%d", name, j), ip, api.PodRunning))
		}
		objs = append(objs, service(ns, name, port("http", api.ProtocolTCP, 80)),
			endpoints(ns, name, subset(ready, nil, epPort("http", api.ProtocolTCP, 8080))))
	}
	resetAll(idx, objs)
	return idx
}

// BenchmarkHandler is one query through the handler, packed as the
// server would send it.
func BenchmarkHandler(b *testing.B) {
	h := NewHandler(HandlerConfig{Domain: "cluster.local", Reader: benchIndex()})
	for _, c := range []struct {
		name  string
		qname string
		qtype uint16
	}{
		{"service-A", "svc-512.ns-51.svc.cluster.local.", mdns.TypeA},
		{"SRV", "_http._tcp.svc-512.ns-51.svc.cluster.local.", mdns.TypeSRV},
		{"NXDOMAIN", "nope.ns-51.svc.cluster.local.", mdns.TypeA},
		{"pod", "10-102-12-3.ns-51.pod.cluster.local.", mdns.TypeA},
	} {
		b.Run(c.name, func(b *testing.B) {
			q := query(c.qname, c.qtype, 1232)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				w := newRecorder(false)
				for pb.Next() {
					h.ServeDNS(w, q)
				}
			})
		})
	}
}

// BenchmarkFastPath is one query through the UDP fast path: parse, look
// up, answer into the reader's buffer.
func BenchmarkFastPath(b *testing.B) {
	h := NewHandler(HandlerConfig{Domain: "cluster.local", Reader: benchIndex()})
	for _, c := range []struct {
		name  string
		qname string
		qtype uint16
	}{
		{"service-A", "svc-512.ns-51.svc.cluster.local.", mdns.TypeA},
		{"NXDOMAIN", "nope.ns-51.svc.cluster.local.", mdns.TypeA},
		{"pod", "10-102-12-3.ns-51.pod.cluster.local.", mdns.TypeA},
	} {
		b.Run(c.name, func(b *testing.B) {
			pkt, _ := query(c.qname, c.qtype, 1232).Pack()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				s := &scratch{out: make([]byte, 0, maxUDPSize)}
				var q wireQuery
				for pb.Next() {
					if !parseQuery(pkt, &q, s.name[:]) || h.fastAnswer(&q, netip.Addr{}, s) == nil {
						b.Fatal("not on the fast path")
					}
				}
			})
		})
	}
}
