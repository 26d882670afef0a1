package dns

import (
	"sync"
	"sync/atomic"
	"time"

	mdns "github.com/miekg/dns"
)

// cacheKey names one forwarded question. Names are lower case; the DO and
// CD bits change what upstreams answer, so they are part of the key.
type cacheKey struct {
	name   string
	qtype  uint16
	qclass uint16
	do, cd bool
}

// cache holds upstream answers for as long as their TTL says, up to max
// entries. It is safe for concurrent use.
type cache struct {
	mu      sync.RWMutex
	max     int
	maxTTL  time.Duration
	entries map[cacheKey]*entry
}

// entry is one cached answer. msg is never modified; aged holds its
// records with TTLs lowered by the entry's age in whole seconds, rebuilt
// at most once a second.
type entry struct {
	msg     *mdns.Msg
	stored  time.Time
	expires time.Time
	aged    atomic.Pointer[agedRecords]
	wire    atomic.Pointer[packedAnswer]
}

type agedRecords struct {
	age            uint32
	ans, ns, extra []mdns.RR
}

func newCache(max int, maxTTL time.Duration) *cache {
	return &cache{max: max, maxTTL: maxTTL, entries: map[cacheKey]*entry{}}
}

// get returns the entry for k if it has not expired at now.
func (c *cache) get(k cacheKey, now time.Time) *entry {
	c.mu.RLock()
	e := c.entries[k]
	c.mu.RUnlock()
	if e == nil || !now.Before(e.expires) {
		return nil
	}
	return e
}

// put stores m (an upstream reply without its OPT record) for as long as
// cacheTTL allows; answers that must not be cached are dropped.
func (c *cache) put(k cacheKey, m *mdns.Msg, now time.Time) {
	ttl := min(cacheTTL(m), c.maxTTL)
	if ttl <= 0 || c.max <= 0 {
		return
	}
	e := &entry{msg: m, stored: now, expires: now.Add(ttl)}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[k]; !ok && len(c.entries) >= c.max {
		c.evict(now)
	}
	c.entries[k] = e
}

// evict makes room for one entry: it drops expired entries among the first
// few it meets, or else one entry, effectively at random (Go map order).
// The caller holds mu.
func (c *cache) evict(now time.Time) {
	const look = 16
	n, dropped := 0, false
	for k, e := range c.entries {
		if !now.Before(e.expires) {
			delete(c.entries, k)
			dropped = true
		}
		if n++; n == look {
			break
		}
	}
	if dropped {
		return
	}
	for k := range c.entries {
		delete(c.entries, k)
		return
	}
}

// len is the number of entries, expired or not.
func (c *cache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.entries)
}

// cacheTTL is how long m may be cached: the lowest TTL of its records, or
// for a negative answer (NXDOMAIN, NODATA) the SOA's negative TTL (RFC
// 2308). Failures, and negative answers without a SOA, are not cached.
func cacheTTL(m *mdns.Msg) time.Duration {
	if m.Truncated {
		return 0
	}
	switch {
	case m.Rcode == mdns.RcodeSuccess && len(m.Answer) > 0:
		low := ^uint32(0)
		for _, sec := range [][]mdns.RR{m.Answer, m.Ns} {
			for _, rr := range sec {
				low = min(low, rr.Header().Ttl)
			}
		}
		return time.Duration(low) * time.Second
	case m.Rcode == mdns.RcodeSuccess || m.Rcode == mdns.RcodeNameError:
		for _, rr := range m.Ns {
			if soa, ok := rr.(*mdns.SOA); ok {
				return time.Duration(min(soa.Hdr.Ttl, soa.Minttl)) * time.Second
			}
		}
	}
	return 0
}

// records returns the entry's records as of now: TTLs lowered by the time
// spent in the cache. The slices are shared: do not modify them.
func (e *entry) records(now time.Time) *agedRecords {
	age := uint32(max(now.Sub(e.stored), 0) / time.Second)
	if a := e.aged.Load(); a != nil && a.age == age {
		return a
	}
	a := &agedRecords{age: age, ans: agedCopy(e.msg.Answer, age), ns: agedCopy(e.msg.Ns, age), extra: agedCopy(e.msg.Extra, age)}
	e.aged.Store(a)
	return a
}

func agedCopy(rrs []mdns.RR, age uint32) []mdns.RR {
	if len(rrs) == 0 {
		return nil
	}
	out := make([]mdns.RR, len(rrs))
	for i, rr := range rrs {
		if age == 0 {
			out[i] = rr
			continue
		}
		c := mdns.Copy(rr)
		h := c.Header()
		h.Ttl -= min(h.Ttl, age)
		out[i] = c
	}
	return out
}

// packedAnswer is an entry's answer in wire format, as of an age in whole
// seconds: ID 0, the question in lower case, no OPT record.
type packedAnswer struct {
	age  uint32
	wire []byte
}

// packed returns the entry's answer packed as of now, or nil when it
// cannot be (an extended rcode needs an OPT record). Like records, it is
// rebuilt at most once a second.
func (e *entry) packed(k cacheKey, now time.Time) *packedAnswer {
	if e.msg.Rcode > 0xF {
		return nil
	}
	a := e.records(now)
	if p := e.wire.Load(); p != nil && p.age == a.age {
		return p
	}
	m := &mdns.Msg{
		MsgHdr:   mdns.MsgHdr{Response: true, Rcode: e.msg.Rcode},
		Compress: true,
		Question: []mdns.Question{{Name: k.name, Qtype: k.qtype, Qclass: k.qclass}},
		Answer:   a.ans, Ns: a.ns, Extra: a.extra,
	}
	wire, err := m.Pack()
	if err != nil {
		return nil
	}
	p := &packedAnswer{age: a.age, wire: wire}
	e.wire.Store(p)
	return p
}
