package dns

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/shoal-dev/shoal/clock"
)

// fast runs q through the fast path: nil when it takes the general path.
func fast(t *testing.T, h *Handler, q *mdns.Msg) *mdns.Msg {
	t.Helper()
	b, err := q.Pack()
	if err != nil {
		t.Fatal(err)
	}
	var wq wireQuery
	s := &scratch{}
	if !parseQuery(b, &wq, s.name[:]) {
		return nil
	}
	out := h.fastAnswer(&wq, netip.MustParseAddr("10.0.0.1"), s)
	if out == nil {
		return nil
	}
	m := new(mdns.Msg)
	if err := m.Unpack(out); err != nil {
		t.Fatalf("the fast path's answer to %s does not unpack: %v", q.Question[0].Name, err)
	}
	if len(out) > 512 && q.IsEdns0() == nil || q.IsEdns0() != nil && len(out) > int(max(q.IsEdns0().UDPSize(), 512)) {
		t.Fatalf("the fast path's answer to %s is %d bytes", q.Question[0].Name, len(out))
	}
	return m
}

// same describes everything of an answer the two paths must agree on.
// The question must be as asked; other names may differ in case (the
// fast path points into the question, so its records carry the client's
// case), which DNS ignores.
func same(m *mdns.Msg) string {
	opt := "no OPT"
	if o := m.IsEdns0(); o != nil {
		opt = fmt.Sprintf("OPT %d v%d do=%v", o.UDPSize(), o.Version(), o.Do())
	}
	q := "no question"
	if len(m.Question) == 1 {
		q = m.Question[0].String()
	}
	return fmt.Sprintf("id=%d qr=%v op=%d aa=%v rd=%v ra=%v ad=%v cd=%v q=%s %s %s; %d answers",
		m.Id, m.Response, m.Opcode, m.Authoritative, m.RecursionDesired, m.RecursionAvailable, m.AuthenticatedData, m.CheckingDisabled,
		q, opt, strings.ToLower(summary(m)), len(m.Answer))
}

// compare asks both paths and checks they agree. Answers that were
// truncated are compared by size and TC only (which records fit is
// random). It reports whether the fast path took the query.
func compare(t *testing.T, h *Handler, q *mdns.Msg) bool {
	t.Helper()
	f := fast(t, h, q.Copy())
	if f == nil {
		return false
	}
	w := newRecorder(false)
	h.ServeDNS(w, q.Copy())
	g := w.msg
	if f.Truncated || g.Truncated {
		if f.Truncated != g.Truncated || len(f.Answer) != len(g.Answer) || f.Rcode != g.Rcode {
			t.Errorf("%s %s truncated:\nfast    tc=%v %d answers\ngeneral tc=%v %d answers", q.Question[0].Name, mdns.TypeToString[q.Question[0].Qtype],
				f.Truncated, len(f.Answer), g.Truncated, len(g.Answer))
		}
		return true
	}
	if a, b := same(f), same(g); a != b {
		t.Errorf("%s %s:\nfast    %s\ngeneral %s", q.Question[0].Name, mdns.TypeToString[q.Question[0].Qtype], a, b)
	}
	return true
}

func TestFastPathAnswersAsTheHandler(t *testing.T) {
	objs := append(testState(), bigState(300)...)
	for _, forward := range []bool{false, true} {
		cfg := HandlerConfig{Domain: "cluster.local", Reader: &fakeReader{objs}, Clock: clock.NewFake(testStart)}
		if forward {
			cfg.Forward = &fakeResolver{}
		}
		h := NewHandler(cfg)
		taken := 0
		names := []string{
			"web.default.svc.cluster.local.", "WEB.Default.Svc.Cluster.Local.", "dual.default.svc.cluster.local.",
			"empty.default.svc.cluster.local.", "down.default.svc.cluster.local.", "nope.default.svc.cluster.local.",
			"orphan.default.svc.cluster.local.", "web-0.web.default.svc.cluster.local.", "10-244-2-7.web.default.svc.cluster.local.",
			"_http._tcp.web.default.svc.cluster.local.", "_tcp.web.default.svc.cluster.local.", "_udp.web.default.svc.cluster.local.",
			"10-244-1-5.default.pod.cluster.local.", "fd00-10-244--6.default.pod.cluster.local.", "10-244-2-99.default.pod.cluster.local.",
			"n1.node.cluster.local.", "N2.example.com.node.cluster.local.", "n9.node.cluster.local.", "default.svc.cluster.local.",
			"nope.svc.cluster.local.", "svc.cluster.local.", "cluster.local.", "ns.dns.cluster.local.",
			"big.default.svc.cluster.local.", "a.b.c.d.e.f.svc.cluster.local.", "example.com.", "notcluster.local.", ".",
		}
		for _, name := range names {
			for _, qtype := range []uint16{mdns.TypeA, mdns.TypeAAAA, mdns.TypeSRV, mdns.TypeTXT, mdns.TypeANY, mdns.TypeSOA} {
				for _, edns := range []uint16{0, 512, 1232, 4096, 100} {
					q := query(name, qtype, edns)
					q.CheckingDisabled = qtype == mdns.TypeTXT
					q.RecursionDesired = edns != 1232
					if compare(t, h, q) {
						taken++
					}
				}
			}
		}
		if taken < 200 {
			t.Errorf("forward=%v: the fast path took only %d queries", forward, taken)
		}
	}
}

func TestFastPathDeclines(t *testing.T) {
	h := NewHandler(HandlerConfig{Domain: "cluster.local", Reader: &fakeReader{testState()}})
	ednsV1 := query("web.default.svc.cluster.local.", mdns.TypeA, 1232)
	ednsV1.IsEdns0().SetVersion(1)
	chaos := query("web.default.svc.cluster.local.", mdns.TypeA, 0)
	chaos.Question[0].Qclass = mdns.ClassCHAOS
	escaped := query(`we\.b.default.svc.cluster.local.`, mdns.TypeA, 0)
	notify := query("web.default.svc.cluster.local.", mdns.TypeA, 0)
	notify.Opcode = mdns.OpcodeNotify
	answer := query("web.default.svc.cluster.local.", mdns.TypeA, 0)
	answer.Response = true
	tsig := query("web.default.svc.cluster.local.", mdns.TypeA, 0)
	tsig.Extra = append(tsig.Extra, &mdns.TXT{Hdr: mdns.RR_Header{Name: "x.", Rrtype: mdns.TypeTXT, Class: mdns.ClassINET}, Txt: []string{"x"}})
	for name, q := range map[string]*mdns.Msg{
		"EDNS version 1": ednsV1, "class CHAOS": chaos, "escaped dot": escaped, "NOTIFY": notify,
		"a response": answer, "a non-OPT additional record": tsig,
		"SRV":  query("_http._tcp.web.default.svc.cluster.local.", mdns.TypeSRV, 0),
		"apex": query("cluster.local.", mdns.TypeSOA, 0), "ANY": query("web.default.svc.cluster.local.", mdns.TypeANY, 0),
	} {
		if m := fast(t, h, q); m != nil {
			t.Errorf("%s: the fast path answered %s", name, summary(m))
		}
	}
	// Garbage never parses.
	var wq wireQuery
	s := &scratch{}
	for _, b := range [][]byte{nil, {1, 2, 3}, make([]byte, 12), append(make([]byte, 12), 0xC0, 0x0C, 0, 1, 0, 1)} {
		if len(b) >= 6 {
			b[5] = 1
		}
		if parseQuery(b, &wq, s.name[:]) {
			t.Errorf("parsed garbage %v", b)
		}
	}
}

func TestFastPathForwardedFromTheCache(t *testing.T) {
	up := startUpstream(t, false)
	h, _, clk := forwarding(t, ForwarderConfig{}, up)
	for _, name := range []string{"a.example.", "nx.example.", "nodata.example.", "big.example."} {
		// A miss takes the general path, which fills the cache.
		if m := fast(t, h, query(name, mdns.TypeA, 0)); m != nil {
			t.Fatalf("%s: a cache miss was answered by the fast path", name)
		}
		ask(h, name, mdns.TypeA, true)
	}
	clk.Advance(7 * time.Second)
	taken := 0
	for _, name := range []string{"a.example.", "A.EXAMPLE.", "nx.example.", "nodata.example.", "big.example."} {
		for _, edns := range []uint16{0, 1232, 4096} {
			for _, rd := range []bool{false, true} {
				q := query(name, mdns.TypeA, edns)
				q.RecursionDesired = rd
				if compare(t, h, q) {
					taken++
				}
			}
		}
	}
	// big.example (100 records) fits only 4096 bytes: with less it needs
	// truncating, which is the general path's; everything else is a hit.
	if taken != 26 {
		t.Errorf("the fast path answered %d of 30 cached queries, want 26", taken)
	}
	if m := fast(t, h, query("a.example.", mdns.TypeA, 0)); m == nil || m.Answer[0].Header().Ttl != 53 {
		t.Errorf("a cached answer after 7 s: %v", m)
	}
}
