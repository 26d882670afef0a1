package dns

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/shoal-dev/shoal/clock"
)

// Defaults of a Forwarder.
const (
	DefaultCacheSize      = 10000
	DefaultCacheMaxTTL    = time.Hour
	DefaultUpstreamTimout = 2 * time.Second
)

// ForwarderConfig configures a Forwarder.
type ForwarderConfig struct {
	// Upstreams are the resolvers asked, in order until one answers:
	// "IP" (port 53) or "IP:port".
	Upstreams []string
	// Timeout bounds one attempt at one upstream; DefaultUpstreamTimout
	// when zero.
	Timeout time.Duration
	// CacheSize is how many answers are kept; DefaultCacheSize when zero,
	// no cache when negative.
	CacheSize int
	// CacheMaxTTL caps how long an answer is kept, whatever its TTL;
	// DefaultCacheMaxTTL when zero.
	CacheMaxTTL time.Duration
	// Clock ages cached answers; the wall clock when nil.
	Clock clock.Clock
}

// Forwarder is the Resolver for names outside the cluster domain: it asks
// upstream resolvers over UDP (TCP when the answer is truncated) and
// caches their answers for as long as their TTLs allow, handing them out
// with the TTLs lowered by the time spent in the cache. Identical
// questions in flight at once share one upstream query. It is safe for
// concurrent use.
type Forwarder struct {
	upstreams []string
	timeout   time.Duration
	udp, tcp  *mdns.Client
	cache     *cache
	clock     clock.Clock
	next      atomic.Uint32 // the upstream to try first: the last that answered

	mu       sync.Mutex
	inflight map[cacheKey]*call
}

type call struct {
	done chan struct{}
	msg  *mdns.Msg
	err  error
}

var _ Resolver = (*Forwarder)(nil)

// NewForwarder checks cfg and returns a Forwarder.
func NewForwarder(cfg ForwarderConfig) (*Forwarder, error) {
	if len(cfg.Upstreams) == 0 {
		return nil, errors.New("dns: no upstream resolvers to forward to: name one (--dns-upstream 10.0.0.2) or turn forwarding off (--dns-upstream off)")
	}
	f := &Forwarder{timeout: cfg.Timeout, clock: cfg.Clock, inflight: map[cacheKey]*call{}}
	for _, u := range cfg.Upstreams {
		addr, err := ParseUpstream(u)
		if err != nil {
			return nil, err
		}
		f.upstreams = append(f.upstreams, addr)
	}
	if f.timeout <= 0 {
		f.timeout = DefaultUpstreamTimout
	}
	if f.clock == nil {
		f.clock = clock.Real{}
	}
	size, maxTTL := cfg.CacheSize, cfg.CacheMaxTTL
	if size == 0 {
		size = DefaultCacheSize
	}
	if maxTTL <= 0 {
		maxTTL = DefaultCacheMaxTTL
	}
	f.cache = newCache(size, maxTTL)
	f.udp = &mdns.Client{Net: "udp", UDPSize: AdvertisedUDPSize, Timeout: f.timeout}
	f.tcp = &mdns.Client{Net: "tcp", Timeout: f.timeout}
	return f, nil
}

// ParseUpstream reads an upstream resolver, "IP" or "IP:port", into
// "IP:port".
func ParseUpstream(s string) (string, error) {
	if ip, err := netip.ParseAddr(s); err == nil {
		return netip.AddrPortFrom(ip, 53).String(), nil
	}
	if ap, err := netip.ParseAddrPort(s); err == nil && ap.Port() != 0 {
		return ap.String(), nil
	}
	return "", fmt.Errorf("dns: upstream resolver %q is not an IP address or IP:port (such as 10.0.0.2 or 10.0.0.2:53)", s)
}

// Upstreams returns the upstream resolvers, as IP:port.
func (f *Forwarder) Upstreams() []string { return append([]string(nil), f.upstreams...) }

// Resolve implements Resolver: the answer from the cache, or else from an
// upstream.
func (f *Forwarder) Resolve(ctx context.Context, r *mdns.Msg) (*mdns.Msg, error) {
	q := r.Question[0]
	opt := r.IsEdns0()
	k := cacheKey{name: strings.ToLower(q.Name), qtype: q.Qtype, qclass: q.Qclass, do: opt != nil && opt.Do(), cd: r.CheckingDisabled}
	now := f.clock.Now()
	e := f.cache.get(k, now)
	if e == nil {
		m, err := f.fetch(ctx, k)
		if err != nil {
			return nil, err
		}
		e = &entry{msg: m, stored: now}
	}
	a := e.records(now)
	out := new(mdns.Msg)
	out.SetReply(r)
	out.Rcode = e.msg.Rcode
	out.RecursionAvailable = true
	out.AuthenticatedData = e.msg.AuthenticatedData && (k.do || r.AuthenticatedData)
	out.Answer, out.Ns = a.ans, a.ns
	out.Extra = append([]mdns.RR(nil), a.extra...) // the caller appends to it
	return out, nil
}

// fetch asks the upstreams for k, sharing the query with callers asking
// the same meanwhile, and caches the answer.
func (f *Forwarder) fetch(ctx context.Context, k cacheKey) (*mdns.Msg, error) {
	f.mu.Lock()
	if c, ok := f.inflight[k]; ok {
		f.mu.Unlock()
		select {
		case <-c.done:
			return c.msg, c.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	c := &call{done: make(chan struct{})}
	f.inflight[k] = c
	f.mu.Unlock()

	c.msg, c.err = f.exchange(ctx, k)
	if c.err == nil {
		f.cache.put(k, c.msg, f.clock.Now())
	}
	f.mu.Lock()
	delete(f.inflight, k)
	f.mu.Unlock()
	close(c.done)
	return c.msg, c.err
}

// exchange asks each upstream in turn, starting with the last that
// answered, until one gives an answer other than SERVFAIL or REFUSED. The
// returned message has no OPT record.
func (f *Forwarder) exchange(ctx context.Context, k cacheKey) (*mdns.Msg, error) {
	m := new(mdns.Msg)
	m.SetQuestion(k.name, k.qtype)
	m.Question[0].Qclass = k.qclass
	m.CheckingDisabled = k.cd
	m.SetEdns0(AdvertisedUDPSize, k.do)
	n := uint32(len(f.upstreams))
	first := f.next.Load()
	var errs []error
	var failed *mdns.Msg
	for i := range n {
		at := (first + i) % n
		up := f.upstreams[at]
		resp, err := f.exchangeOne(ctx, m, up)
		if err != nil {
			errs = append(errs, fmt.Errorf("upstream %s: %w", up, err))
			if ctx.Err() != nil {
				break
			}
			continue
		}
		stripOPT(resp)
		if resp.Rcode == mdns.RcodeServerFailure || resp.Rcode == mdns.RcodeRefused {
			errs = append(errs, fmt.Errorf("upstream %s answered %s", up, mdns.RcodeToString[resp.Rcode]))
			failed = resp
			continue
		}
		f.next.Store(at)
		return resp, nil
	}
	if failed != nil {
		failed.Rcode = mdns.RcodeServerFailure
		return failed, nil
	}
	return nil, errors.Join(errs...)
}

func (f *Forwarder) exchangeOne(ctx context.Context, m *mdns.Msg, up string) (*mdns.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	resp, _, err := f.udp.ExchangeContext(ctx, m, up)
	if err == nil && resp.Truncated {
		resp, _, err = f.tcp.ExchangeContext(ctx, m, up)
	}
	if err != nil {
		return nil, err
	}
	if len(resp.Question) != 1 || !strings.EqualFold(resp.Question[0].Name, m.Question[0].Name) ||
		resp.Question[0].Qtype != m.Question[0].Qtype {
		return nil, errors.New("the answer is for another question")
	}
	return resp, nil
}

func stripOPT(m *mdns.Msg) {
	out := m.Extra[:0]
	for _, rr := range m.Extra {
		if rr.Header().Rrtype != mdns.TypeOPT {
			out = append(out, rr)
		}
	}
	m.Extra = out
}

// SystemUpstreams returns the nameservers of a resolv.conf file (normally
// /etc/resolv.conf) as IP:port, leaving out those in skip (the node's own
// DNS addresses, which would make a loop).
func SystemUpstreams(path string, skip ...string) ([]string, error) {
	cc, err := mdns.ClientConfigFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("dns: reading upstream resolvers from %s: %w (name them with --dns-upstream, or turn forwarding off with --dns-upstream off)", path, err)
	}
	var out []string
	for _, s := range cc.Servers {
		addr, err := ParseUpstream(net.JoinHostPort(s, cc.Port))
		if err != nil {
			continue
		}
		keep := true
		for _, sk := range skip {
			if sk == addr {
				keep = false
			}
		}
		if keep {
			out = append(out, addr)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("dns: %s names no usable nameserver (name one with --dns-upstream, or turn forwarding off with --dns-upstream off)", path)
	}
	return out, nil
}

// fastHit writes the cached answer to q, whose lower-case name is name,
// into s.out: the packed answer with q's ID, flags and question (so the
// client's case), and an OPT record if q had one. It returns nil on a miss
// or when the answer would need truncating: the general path takes those.
func (f *Forwarder) fastHit(q *wireQuery, name string, s *scratch) []byte {
	k := cacheKey{name: name, qtype: q.qtype, qclass: q.qclass, do: q.do, cd: q.flags&flagCD != 0}
	now := f.clock.Now()
	e := f.cache.get(k, now)
	if e == nil {
		return nil
	}
	p := e.packed(k, now)
	if p == nil {
		return nil
	}
	need := len(p.wire)
	if q.edns {
		need += optLen
	}
	if need > q.sizeLimit() || len(p.wire) < headerLen+len(q.question) {
		return nil
	}
	out := append(s.out[:0], p.wire...)
	flags := uint16(flagQR|flagRA) | q.flags&(flagRD|flagCD) | uint16(e.msg.Rcode&0xF)
	if e.msg.AuthenticatedData && (q.do || q.flags&flagAD != 0) {
		flags |= flagAD
	}
	binary.BigEndian.PutUint16(out, q.id)
	binary.BigEndian.PutUint16(out[2:], flags)
	copy(out[headerLen:], q.question)
	if q.edns {
		out = append(out, 0, 0, byte(mdns.TypeOPT), byte(AdvertisedUDPSize>>8), byte(AdvertisedUDPSize&0xff), 0, 0, 0, 0, 0, 0)
		binary.BigEndian.PutUint16(out[10:], binary.BigEndian.Uint16(out[10:])+1)
	}
	return out
}
