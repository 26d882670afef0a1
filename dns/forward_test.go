package dns

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/shoal-dev/shoal/clock"
)

// upstream is a resolver the test starts on loopback. It answers:
//
//	a.example.     A 192.0.2.1, TTL 60
//	big.example.   100 A records (truncated over UDP)
//	nx.example.    NXDOMAIN, SOA TTL 60, negative TTL 30
//	nodata.example NODATA, SOA TTL 60, negative TTL 20
//	zero.example.  A with TTL 0
//	slow.example.  A after 100 ms
//	n<N>.example.  A 192.0.2.<N>
//
// and SERVFAIL to everything when failing.
type upstream struct {
	addr    string
	failing bool
	mu      sync.Mutex
	count   map[string]int
	total   atomic.Int64
}

func startUpstream(t *testing.T, failing bool) *upstream {
	t.Helper()
	u := &upstream{failing: failing, count: map[string]int{}}
	srv := NewServer(mdns.HandlerFunc(u.serve), nil)
	addr, err := srv.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	u.addr = addr
	return u
}

func (u *upstream) queries(name string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.count[name]
}

func (u *upstream) serve(w mdns.ResponseWriter, r *mdns.Msg) {
	q := r.Question[0]
	u.mu.Lock()
	u.count[q.Name]++
	u.mu.Unlock()
	u.total.Add(1)
	m := new(mdns.Msg)
	m.SetReply(r)
	m.RecursionAvailable = true
	rr := func(s string) mdns.RR {
		x, err := mdns.NewRR(s)
		if err != nil {
			panic(err)
		}
		return x
	}
	soa := func(neg int) mdns.RR {
		return rr(fmt.Sprintf("example. 60 IN SOA ns.example. root.example. 1 7200 1800 86400 %d", neg))
	}
	switch {
	case u.failing:
		m.Rcode = mdns.RcodeServerFailure
	case q.Name == "a.example.":
		m.Answer = append(m.Answer, rr("a.example. 60 IN A 192.0.2.1"))
	case q.Name == "big.example.":
		for i := range 100 {
			m.Answer = append(m.Answer, rr(fmt.Sprintf("big.example. 60 IN A 198.51.100.%d", i)))
		}
	case q.Name == "nx.example.":
		m.Rcode = mdns.RcodeNameError
		m.Ns = []mdns.RR{soa(30)}
	case q.Name == "nodata.example.":
		m.Ns = []mdns.RR{soa(20)}
	case q.Name == "zero.example.":
		m.Answer = append(m.Answer, rr("zero.example. 0 IN A 192.0.2.9"))
	case q.Name == "slow.example.":
		time.Sleep(100 * time.Millisecond)
		m.Answer = append(m.Answer, rr("slow.example. 60 IN A 192.0.2.10"))
	case strings.HasPrefix(q.Name, "n") && strings.HasSuffix(q.Name, ".example."):
		m.Answer = append(m.Answer, rr(fmt.Sprintf("%s 60 IN A 192.0.2.%s", q.Name, strings.TrimSuffix(q.Name[1:], ".example."))))
	default:
		m.Rcode = mdns.RcodeNameError
		m.Ns = []mdns.RR{soa(30)}
	}
	if opt := r.IsEdns0(); opt != nil {
		m.SetEdns0(opt.UDPSize(), false)
	}
	if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
		size := mdns.MinMsgSize
		if opt := r.IsEdns0(); opt != nil {
			size = int(opt.UDPSize())
		}
		m.Truncate(size)
	}
	w.WriteMsg(m)
}

// forwarding returns a Handler forwarding to ups through a Forwarder with
// a fake clock.
func forwarding(t *testing.T, cfg ForwarderConfig, ups ...*upstream) (*Handler, *Forwarder, *clock.Fake) {
	t.Helper()
	clk := clock.NewFake(testStart)
	for _, u := range ups {
		cfg.Upstreams = append(cfg.Upstreams, u.addr)
	}
	cfg.Clock = clk
	if cfg.Timeout == 0 {
		cfg.Timeout = time.Second
	}
	f, err := NewForwarder(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return NewHandler(HandlerConfig{Domain: "cluster.local", Reader: &fakeReader{}, Forward: f}), f, clk
}

func ask(h *Handler, name string, qtype uint16, tcp bool) *mdns.Msg {
	w := newRecorder(tcp)
	h.ServeDNS(w, query(name, qtype, 0))
	return w.msg
}

func TestForwarderCachesForTheTTL(t *testing.T) {
	up := startUpstream(t, false)
	h, _, clk := forwarding(t, ForwarderConfig{}, up)
	if got := summary(ask(h, "a.example.", mdns.TypeA, false)); got != "NOERROR aa=false tc=false ans=[a.example. 60 A 192.0.2.1] ns=[] extra=[]" {
		t.Fatalf("first answer: %s", got)
	}
	clk.Advance(10 * time.Second)
	m := ask(h, "A.Example.", mdns.TypeA, false)
	if got := summary(m); got != "NOERROR aa=false tc=false ans=[a.example. 50 A 192.0.2.1] ns=[] extra=[]" || m.Question[0].Name != "A.Example." || !m.RecursionAvailable {
		t.Fatalf("cached answer after 10 s: %s (question %s)", got, m.Question[0].Name)
	}
	if n := up.queries("a.example."); n != 1 {
		t.Fatalf("upstream asked %d times, want 1: the second answer should come from the cache", n)
	}
	clk.Advance(50 * time.Second) // the TTL is over
	if got := summary(ask(h, "a.example.", mdns.TypeA, false)); got != "NOERROR aa=false tc=false ans=[a.example. 60 A 192.0.2.1] ns=[] extra=[]" {
		t.Fatalf("after expiry: %s", got)
	}
	if n := up.queries("a.example."); n != 2 {
		t.Fatalf("upstream asked %d times, want 2 after the TTL ran out", n)
	}
	// Another type is another question.
	ask(h, "a.example.", mdns.TypeAAAA, false)
	if n := up.queries("a.example."); n != 3 {
		t.Fatalf("upstream asked %d times, want 3", n)
	}
}

func TestForwarderNegativeCaching(t *testing.T) {
	up := startUpstream(t, false)
	h, _, clk := forwarding(t, ForwarderConfig{}, up)
	for _, c := range []struct {
		name string
		neg  time.Duration
		want string
	}{
		{"nx.example.", 30 * time.Second, "NXDOMAIN aa=false tc=false ans=[] ns=[example. 60 SOA ns.example. root.example. 1 7200 1800 86400 30] extra=[]"},
		{"nodata.example.", 20 * time.Second, "NOERROR aa=false tc=false ans=[] ns=[example. 60 SOA ns.example. root.example. 1 7200 1800 86400 20] extra=[]"},
	} {
		if got := summary(ask(h, c.name, mdns.TypeA, false)); got != c.want {
			t.Fatalf("%s: %s", c.name, got)
		}
		clk.Advance(c.neg - time.Second)
		ask(h, c.name, mdns.TypeA, false)
		if n := up.queries(c.name); n != 1 {
			t.Fatalf("%s: upstream asked %d times within the negative TTL, want 1", c.name, n)
		}
		clk.Advance(time.Second)
		ask(h, c.name, mdns.TypeA, false)
		if n := up.queries(c.name); n != 2 {
			t.Fatalf("%s: upstream asked %d times after the negative TTL, want 2", c.name, n)
		}
	}
	// TTL 0 is not cached.
	ask(h, "zero.example.", mdns.TypeA, false)
	ask(h, "zero.example.", mdns.TypeA, false)
	if n := up.queries("zero.example."); n != 2 {
		t.Fatalf("TTL 0: upstream asked %d times, want 2", n)
	}
}

func TestForwarderFailsOver(t *testing.T) {
	bad, good := startUpstream(t, true), startUpstream(t, false)
	// An upstream that is not there: a port bound and closed again.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := &upstream{addr: pc.LocalAddr().String()}
	pc.Close()
	h, f, _ := forwarding(t, ForwarderConfig{Timeout: 300 * time.Millisecond}, dead, bad, good)
	if got := summary(ask(h, "a.example.", mdns.TypeA, false)); got != "NOERROR aa=false tc=false ans=[a.example. 60 A 192.0.2.1] ns=[] extra=[]" {
		t.Fatalf("%s", got)
	}
	if bad.queries("a.example.") != 1 || good.queries("a.example.") != 1 {
		t.Fatalf("bad asked %d, good %d; want 1 each", bad.queries("a.example."), good.queries("a.example."))
	}
	// The one that answered is asked first from then on.
	ask(h, "n7.example.", mdns.TypeA, false)
	if bad.queries("n7.example.") != 0 || good.queries("n7.example.") != 1 {
		t.Fatalf("the upstream that answered last is not asked first")
	}
	if got := f.Upstreams(); !reflect.DeepEqual(got, []string{dead.addr, bad.addr, good.addr}) {
		t.Errorf("upstreams %v", got)
	}

	// Only failing upstreams: SERVFAIL, never cached.
	h, _, _ = forwarding(t, ForwarderConfig{Timeout: 300 * time.Millisecond}, bad)
	for range 2 {
		if m := ask(h, "b.example.", mdns.TypeA, false); m.Rcode != mdns.RcodeServerFailure {
			t.Fatalf("got %s, want SERVFAIL", mdns.RcodeToString[m.Rcode])
		}
	}
	if n := bad.queries("b.example."); n != 2 {
		t.Fatalf("SERVFAIL was cached: upstream asked %d times, want 2", n)
	}
	h, _, _ = forwarding(t, ForwarderConfig{Timeout: 300 * time.Millisecond}, dead)
	if m := ask(h, "b.example.", mdns.TypeA, false); m.Rcode != mdns.RcodeServerFailure {
		t.Fatalf("no upstream reachable: got %s, want SERVFAIL", mdns.RcodeToString[m.Rcode])
	}
}

func TestForwarderTCPFallback(t *testing.T) {
	up := startUpstream(t, false)
	h, _, _ := forwarding(t, ForwarderConfig{}, up)
	// The upstream truncates over UDP; the forwarder asks again over TCP
	// and caches the whole answer.
	if m := ask(h, "big.example.", mdns.TypeA, true); len(m.Answer) != 100 || m.Truncated {
		t.Fatalf("over TCP: %d answers, tc=%v; want 100", len(m.Answer), m.Truncated)
	}
	// A UDP client without EDNS0 gets what fits in 512 bytes, and TC.
	if m := ask(h, "big.example.", mdns.TypeA, false); !m.Truncated || len(m.Answer) == 0 || len(m.Answer) >= 100 {
		t.Fatalf("over UDP: %d answers, tc=%v; want some, truncated", len(m.Answer), m.Truncated)
	}
	if n := up.queries("big.example."); n != 2 {
		t.Fatalf("upstream asked %d times, want 2 (UDP, then TCP)", n)
	}
}

func TestForwarderSharesQueriesInFlight(t *testing.T) {
	up := startUpstream(t, false)
	h, _, _ := forwarding(t, ForwarderConfig{}, up)
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if m := ask(h, "slow.example.", mdns.TypeA, false); len(m.Answer) != 1 {
				t.Errorf("answer %v", m)
			}
		}()
	}
	wg.Wait()
	if n := up.queries("slow.example."); n != 1 {
		t.Fatalf("20 queries at once made %d upstream queries, want 1", n)
	}
}

func TestForwarderCacheIsBounded(t *testing.T) {
	up := startUpstream(t, false)
	h, f, clk := forwarding(t, ForwarderConfig{CacheSize: 3}, up)
	for i := range 10 {
		ask(h, fmt.Sprintf("n%d.example.", i), mdns.TypeA, false)
		if n := f.cache.len(); n > 3 {
			t.Fatalf("%d entries in a cache of 3", n)
		}
	}
	// Expired entries make room first.
	clk.Advance(time.Hour)
	ask(h, "a.example.", mdns.TypeA, false)
	if n := f.cache.len(); n != 1 {
		t.Fatalf("%d entries after all others expired, want 1", n)
	}
	// A negative size turns the cache off.
	h, f, _ = forwarding(t, ForwarderConfig{CacheSize: -1}, up)
	ask(h, "n1.example.", mdns.TypeA, false)
	if n := f.cache.len(); n != 0 {
		t.Fatalf("%d entries in a disabled cache", n)
	}
}

func TestParseUpstream(t *testing.T) {
	for in, want := range map[string]string{"10.0.0.2": "10.0.0.2:53", "10.0.0.2:5353": "10.0.0.2:5353", "fd00::1": "[fd00::1]:53", "[fd00::1]:54": "[fd00::1]:54"} {
		if got, err := ParseUpstream(in); err != nil || got != want {
			t.Errorf("ParseUpstream(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "dns.example", "10.0.0.2:0", "10.0.0.2:x"} {
		if _, err := ParseUpstream(in); err == nil || !strings.Contains(err.Error(), "such as 10.0.0.2") {
			t.Errorf("ParseUpstream(%q): %v", in, err)
		}
	}
	if _, err := NewForwarder(ForwarderConfig{}); err == nil || !strings.Contains(err.Error(), "--dns-upstream off") {
		t.Errorf("no upstreams: %v", err)
	}
}

func TestSystemUpstreams(t *testing.T) {
	path := filepath.Join(t.TempDir(), "resolv.conf")
	os.WriteFile(path, []byte("# test\nnameserver 10.0.0.1\nnameserver 127.0.0.53\nnameserver fe80::1%eth0\nsearch example\n"), 0o644)
	got, err := SystemUpstreams(path, "10.0.0.1:53")
	if err != nil || !reflect.DeepEqual(got, []string{"127.0.0.53:53", "[fe80::1%eth0]:53"}) {
		t.Fatalf("got %v, %v", got, err)
	}
	if _, err := SystemUpstreams(path, "10.0.0.1:53", "127.0.0.53:53", "[fe80::1%eth0]:53"); err == nil || !strings.Contains(err.Error(), "--dns-upstream") {
		t.Fatalf("nothing left: %v", err)
	}
	if _, err := SystemUpstreams(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("a missing file gave no error")
	}
}
