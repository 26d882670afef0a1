package dns

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/shoal-dev/shoal/clock"
)

// DefaultTTL is the TTL of answers from the cluster domain, and the
// negative TTL of its SOA, unless HandlerConfig.TTL says otherwise.
const DefaultTTL = 5 * time.Second

// Sizes of UDP answers: what this server advertises in its OPT record, and
// the most it sends whatever a client advertises.
const (
	AdvertisedUDPSize = 1232
	maxUDPSize        = 4096
)

// Resolver answers names outside the cluster domain. The Forwarder is one.
type Resolver interface {
	// Resolve returns the reply to r (its ID and question), without an OPT
	// record: the Handler adds its own and truncates.
	Resolve(ctx context.Context, r *mdns.Msg) (*mdns.Msg, error)
}

// HandlerConfig configures a Handler.
type HandlerConfig struct {
	// Domain is the cluster domain, such as cluster.local.
	Domain string
	// Reader is the state the cluster domain is answered from.
	Reader Reader
	// TTL of cluster answers; DefaultTTL when zero.
	TTL time.Duration
	// Forward answers every other name; nil refuses them (REFUSED).
	Forward Resolver
	// ForwardTimeout bounds one forwarded query; 5 s when zero.
	ForwardTimeout time.Duration
	// Clock gives the SOA serial; the wall clock when nil.
	Clock  clock.Clock
	Logger *slog.Logger
}

// Handler is a miekg/dns Handler: it answers the cluster domain from its
// Reader, following the Kubernetes DNS specification, and hands other
// names to its Resolver. It keeps no per-query state and is safe for
// concurrent use.
type Handler struct {
	zone    string // lower-case FQDN of the cluster domain
	reader  Reader
	ttl     uint32
	forward Resolver
	fwdTime time.Duration
	log     *slog.Logger
	soa     *mdns.SOA
	ns      *mdns.NS
}

// NewHandler returns a Handler for cfg.
func NewHandler(cfg HandlerConfig) *Handler {
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ForwardTimeout <= 0 {
		cfg.ForwardTimeout = 5 * time.Second
	}
	zone := mdns.Fqdn(strings.ToLower(strings.Trim(cfg.Domain, ".")))
	ttl := uint32(max(cfg.TTL/time.Second, 1))
	h := &Handler{zone: zone, reader: cfg.Reader, ttl: ttl, forward: cfg.Forward, fwdTime: cfg.ForwardTimeout, log: cfg.Logger}
	h.soa = &mdns.SOA{
		Hdr: mdns.RR_Header{Name: zone, Rrtype: mdns.TypeSOA, Class: mdns.ClassINET, Ttl: ttl},
		Ns:  "ns.dns." + zone, Mbox: "hostmaster." + zone,
		Serial: uint32(cfg.Clock.Now().Unix()), Refresh: 7200, Retry: 1800, Expire: 86400, Minttl: ttl,
	}
	h.ns = &mdns.NS{Hdr: mdns.RR_Header{Name: zone, Rrtype: mdns.TypeNS, Class: mdns.ClassINET, Ttl: ttl}, Ns: "ns.dns." + zone}
	return h
}

// Zone returns the cluster domain as a lower-case FQDN.
func (h *Handler) Zone() string { return h.zone }

// ServeDNS implements mdns.Handler.
func (h *Handler) ServeDNS(w mdns.ResponseWriter, r *mdns.Msg) {
	if r.Response {
		return // never answer an answer
	}
	m := new(mdns.Msg)
	m.SetReply(r)
	switch {
	case r.Opcode != mdns.OpcodeQuery:
		m.Rcode = mdns.RcodeNotImplemented
		m.Question = nil
	case len(r.Question) != 1:
		m.Rcode = mdns.RcodeFormatError
		m.Question = nil
	case r.IsEdns0() != nil && r.IsEdns0().Version() != 0:
		m.Rcode = mdns.RcodeBadVers
	default:
		m = h.answer(w, r, m)
	}
	h.write(w, r, m)
}

// answer fills m, the empty reply to r's one question.
func (h *Handler) answer(w mdns.ResponseWriter, r, m *mdns.Msg) *mdns.Msg {
	q := r.Question[0]
	name := strings.ToLower(q.Name)
	rel, ok := h.relative(name)
	if !ok {
		if h.forward == nil {
			m.Rcode = mdns.RcodeRefused
			return m
		}
		ctx, cancel := context.WithTimeout(context.Background(), h.fwdTime)
		defer cancel()
		fm, err := h.forward.Resolve(ctx, r)
		if err != nil {
			h.log.Debug("dns: forwarding failed", "name", q.Name, "type", mdns.TypeToString[q.Qtype], "err", err)
			m.Rcode = mdns.RcodeServerFailure
			m.RecursionAvailable = true
			return m
		}
		return fm
	}
	m.RecursionAvailable = h.forward != nil
	if q.Qclass != mdns.ClassINET && q.Qclass != mdns.ClassANY {
		m.Rcode = mdns.RcodeRefused
		return m
	}
	m.Authoritative = true
	a := h.lookup(q, rel, w)
	switch {
	case a.nx:
		m.Rcode = mdns.RcodeNameError
		m.Ns = []mdns.RR{h.soa}
	case len(a.ans) == 0:
		m.Ns = []mdns.RR{h.soa} // NODATA
	default:
		m.Answer, m.Extra = a.ans, a.extra
	}
	return m
}

// relative returns name (lower case, FQDN) without the cluster domain,
// and whether name is in it; the apex is "".
func (h *Handler) relative(name string) (string, bool) {
	if name == h.zone {
		return "", true
	}
	if len(name) > len(h.zone) && strings.HasSuffix(name, h.zone) && name[len(name)-len(h.zone)-1] == '.' {
		return name[:len(name)-len(h.zone)-1], true
	}
	return "", false
}

// answerSet is what a name in the cluster domain answers: records, or
// NXDOMAIN; neither is NODATA.
type answerSet struct {
	ans, extra []mdns.RR
	nx         bool
}

// lookup answers q, whose name is rel under the cluster domain, with
// records (see resolve for the names).
func (h *Handler) lookup(q mdns.Question, rel string, w mdns.ResponseWriter) answerSet {
	res := h.resolve(rel, localAddr(w.LocalAddr()))
	switch res.kind {
	case resultNX:
		return answerSet{nx: true}
	case resultAddrs:
		return answerSet{ans: h.addrs(q, res.addrs)}
	case resultSRV:
		if q.Qtype != mdns.TypeSRV && q.Qtype != mdns.TypeANY {
			return answerSet{}
		}
		return h.srv(q, res.rec, res.targets)
	case resultApex:
		var ans []mdns.RR
		if q.Qtype == mdns.TypeSOA || q.Qtype == mdns.TypeANY {
			ans = append(ans, h.withName(h.soa, q.Name))
		}
		if q.Qtype == mdns.TypeNS || q.Qtype == mdns.TypeANY {
			ans = append(ans, h.withName(h.ns, q.Name))
		}
		return answerSet{ans: ans}
	}
	return answerSet{} // NODATA
}

// addrs returns the A or AAAA records (both for ANY) of a for the name
// asked, shuffled.
func (h *Handler) addrs(q mdns.Question, a Addrs) []mdns.RR {
	var n int
	switch q.Qtype {
	case mdns.TypeA:
		n = len(a.V4)
	case mdns.TypeAAAA:
		n = len(a.V6)
	case mdns.TypeANY:
		n = len(a.V4) + len(a.V6)
	}
	if n == 0 {
		return nil
	}
	out := make([]mdns.RR, 0, n)
	if q.Qtype != mdns.TypeAAAA && len(a.V4) > 0 {
		recs := make([]mdns.A, len(a.V4))
		for i, ip := range a.V4 {
			recs[i] = mdns.A{Hdr: h.hdr(q.Name, mdns.TypeA), A: ip}
			out = append(out, &recs[i])
		}
	}
	if q.Qtype != mdns.TypeA && len(a.V6) > 0 {
		recs := make([]mdns.AAAA, len(a.V6))
		for i, ip := range a.V6 {
			recs[i] = mdns.AAAA{Hdr: h.hdr(q.Name, mdns.TypeAAAA), AAAA: ip}
			out = append(out, &recs[i])
		}
	}
	shuffle(out)
	return out
}

// srv returns the SRV records of targets, shuffled, with the targets'
// addresses as additional records.
func (h *Handler) srv(q mdns.Question, rec *ServiceRecords, targets []SRVTarget) answerSet {
	if len(targets) == 0 {
		return answerSet{}
	}
	suffix := "." + rec.Name + "." + rec.Namespace + ".svc." + h.zone
	weight := uint16(max(100/len(targets), 1))
	srvs := make([]mdns.SRV, len(targets))
	ans := make([]mdns.RR, len(targets))
	extra := make([]mdns.RR, 0, len(targets))
	seen := make(map[string]bool, len(targets))
	for i, t := range targets {
		target := t.Label + suffix
		srvs[i] = mdns.SRV{Hdr: h.hdr(q.Name, mdns.TypeSRV), Weight: weight, Port: t.Port, Target: target}
		ans[i] = &srvs[i]
		if seen[target+t.IP.String()] {
			continue
		}
		seen[target+t.IP.String()] = true
		if ip4 := t.IP.To4(); ip4 != nil {
			extra = append(extra, &mdns.A{Hdr: h.hdr(target, mdns.TypeA), A: ip4})
		} else {
			extra = append(extra, &mdns.AAAA{Hdr: h.hdr(target, mdns.TypeAAAA), AAAA: t.IP})
		}
	}
	shuffle(ans)
	return answerSet{ans: ans, extra: extra}
}

func (h *Handler) hdr(name string, t uint16) mdns.RR_Header {
	return mdns.RR_Header{Name: name, Rrtype: t, Class: mdns.ClassINET, Ttl: h.ttl}
}

// withName returns a copy of rr owned by name (the case the client used).
func (h *Handler) withName(rr mdns.RR, name string) mdns.RR {
	if rr.Header().Name == name {
		return rr
	}
	c := mdns.Copy(rr)
	c.Header().Name = name
	return c
}

func shuffle(rrs []mdns.RR) {
	if len(rrs) > 1 {
		rand.Shuffle(len(rrs), func(i, j int) { rrs[i], rrs[j] = rrs[j], rrs[i] })
	}
}

// localAddr is the address a query arrived at, if known.
func localAddr(a net.Addr) netip.Addr {
	var ip net.IP
	switch a := a.(type) {
	case *net.UDPAddr:
		ip = a.IP
	case *net.TCPAddr:
		ip = a.IP
	}
	addr, _ := netip.AddrFromSlice(ip)
	return addr.Unmap()
}

// write sends m: with an OPT record when r had one, truncated (TC set) to
// what the client can take over UDP.
func (h *Handler) write(w mdns.ResponseWriter, r, m *mdns.Msg) {
	size := mdns.MinMsgSize
	if opt := r.IsEdns0(); opt != nil {
		size = min(max(int(opt.UDPSize()), mdns.MinMsgSize), maxUDPSize)
		o := &mdns.OPT{Hdr: mdns.RR_Header{Name: ".", Rrtype: mdns.TypeOPT}}
		o.SetUDPSize(AdvertisedUDPSize)
		m.Extra = append(m.Extra, o)
	}
	if _, tcp := w.RemoteAddr().(*net.TCPAddr); tcp {
		size = mdns.MaxMsgSize
	}
	m.Truncate(size)
	if err := w.WriteMsg(m); err != nil {
		h.log.Debug("dns: writing an answer", "to", w.RemoteAddr(), "err", err)
	}
}
