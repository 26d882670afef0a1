package dns

import (
	"encoding/binary"
	"math/rand/v2"
	"net"
	"net/netip"

	mdns "github.com/miekg/dns"
)

// The fast path answers the common queries straight from and into wire
// format, without allocating: a query of one question with at most an OPT
// record, whose name is plain (letters, digits, '-' and '_'), answered by
// A or AAAA records, NXDOMAIN or NODATA with the SOA, REFUSED, or an
// upstream answer from the forwarder's cache. Everything else (SRV, the
// apex, ANY, other classes, EDNS versions other than 0, answers that need
// truncating beyond whole records, forwarding) takes the general path:
// miekg/dns unpacks it and Handler.ServeDNS answers. Both paths take the
// same name resolution (Handler.resolve), and a test compares their
// answers.

// wireQuery is a parsed query. Its slices point into the packet.
type wireQuery struct {
	id       uint16
	flags    uint16 // of the header
	question []byte // the question section as received: name, type, class
	nameLen  int    // wire length of the name
	name     []byte // lower-case presentation form, with the final dot
	qtype    uint16
	qclass   uint16
	edns     bool
	udpSize  uint16
	do       bool
}

const (
	flagQR = 1 << 15
	flagAA = 1 << 10
	flagTC = 1 << 9
	flagRD = 1 << 8
	flagRA = 1 << 7
	flagAD = 1 << 5
	flagCD = 1 << 4

	headerLen = 12
	optLen    = 11 // an OPT record without options
)

// parseQuery reads b into q, with name written into nameBuf (at least 255
// bytes). ok is false for anything the fast path does not take.
func parseQuery(b []byte, q *wireQuery, nameBuf []byte) bool {
	if len(b) < headerLen+5 {
		return false
	}
	q.id = binary.BigEndian.Uint16(b)
	q.flags = binary.BigEndian.Uint16(b[2:])
	// A query (QR 0) with opcode QUERY, not truncated, one question, no
	// answer or authority, at most one additional record.
	if q.flags&(flagQR|0x7800|flagTC) != 0 || binary.BigEndian.Uint16(b[4:]) != 1 ||
		binary.BigEndian.Uint16(b[6:]) != 0 || binary.BigEndian.Uint16(b[8:]) != 0 {
		return false
	}
	arcount := binary.BigEndian.Uint16(b[10:])
	if arcount > 1 {
		return false
	}
	off := headerLen
	name := nameBuf[:0]
	for {
		if off >= len(b) {
			return false
		}
		l := int(b[off])
		off++
		if l == 0 {
			break
		}
		if l > 63 || off+l > len(b) || len(name)+l+1 > 254 {
			return false // a pointer, a reserved label type, or too long
		}
		for _, c := range b[off : off+l] {
			switch {
			case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_':
			case c >= 'A' && c <= 'Z':
				c += 'a' - 'A'
			default:
				return false // needs escaping: the general path handles it
			}
			name = append(name, c)
		}
		name = append(name, '.')
		off += l
	}
	if len(name) == 0 {
		name = append(name, '.')
	}
	q.nameLen = off - headerLen
	if off+4 > len(b) {
		return false
	}
	q.qtype = binary.BigEndian.Uint16(b[off:])
	q.qclass = binary.BigEndian.Uint16(b[off+2:])
	off += 4
	q.question = b[headerLen:off]
	q.name = name
	q.edns, q.do, q.udpSize = false, false, 0
	if arcount == 1 {
		// OPT: root name, type 41, class = UDP size, TTL = extended
		// rcode, version, flags; then its options, which are ignored.
		if off+optLen > len(b) || b[off] != 0 || binary.BigEndian.Uint16(b[off+1:]) != mdns.TypeOPT {
			return false
		}
		if b[off+6] != 0 { // EDNS version: BADVERS is the general path's
			return false
		}
		q.edns = true
		q.udpSize = binary.BigEndian.Uint16(b[off+3:])
		q.do = b[off+7]&0x80 != 0
		rdlen := int(binary.BigEndian.Uint16(b[off+9:]))
		off += optLen + rdlen
	}
	return off == len(b)
}

// sizeLimit is the most a UDP answer to q may take.
func (q *wireQuery) sizeLimit() int {
	if !q.edns {
		return mdns.MinMsgSize
	}
	return min(max(int(q.udpSize), mdns.MinMsgSize), maxUDPSize)
}

// scratch is one UDP reader's reusable state.
type scratch struct {
	name  [256]byte
	out   []byte
	order []int
}

// fastAnswer writes the answer to q into s.out and returns it, or nil
// when q takes the general path. local is the address q came to.
func (h *Handler) fastAnswer(q *wireQuery, local netip.Addr, s *scratch) []byte {
	name := string(q.name) // the one allocation: map keys are strings
	rel, ok := h.relative(name)
	if !ok {
		if h.forward == nil {
			return h.wireHeader(q, s, mdns.RcodeRefused, 0)
		}
		if f, ok := h.forward.(*Forwarder); ok {
			return f.fastHit(q, name, s)
		}
		return nil
	}
	if q.qclass != mdns.ClassINET || (q.qtype != mdns.TypeA && q.qtype != mdns.TypeAAAA) {
		return nil
	}
	res := h.resolve(rel, local)
	switch res.kind {
	case resultNX:
		return h.wireNegative(q, s, mdns.RcodeNameError, name)
	case resultAddrs:
		ips := res.addrs.V4
		if q.qtype == mdns.TypeAAAA {
			ips = res.addrs.V6
		}
		if len(ips) == 0 {
			return h.wireNegative(q, s, mdns.RcodeSuccess, name)
		}
		return h.wireAddrs(q, s, ips)
	case resultNoData:
		return h.wireNegative(q, s, mdns.RcodeSuccess, name)
	case resultSRV:
		return h.wireNegative(q, s, mdns.RcodeSuccess, name) // an SRV name asked for A/AAAA
	}
	return nil
}

// wireHeader starts an answer to q in s.out: header and question.
// authoritative marks the cluster domain's answers.
func (h *Handler) wireHeader(q *wireQuery, s *scratch, rcode int, flags uint16) []byte {
	out := s.out[:0]
	flags |= flagQR | q.flags&(flagRD|flagCD) | uint16(rcode&0xF)
	if h.forward != nil {
		flags |= flagRA
	}
	out = binary.BigEndian.AppendUint16(out, q.id)
	out = binary.BigEndian.AppendUint16(out, flags)
	out = append(out, 0, 1, 0, 0, 0, 0, 0, 0) // counts, filled in by finish
	out = append(out, q.question...)
	if rcode == mdns.RcodeRefused {
		return finish(q, out, 0, 0)
	}
	return out
}

// finish sets the counts and adds an OPT record when q had one.
func finish(q *wireQuery, out []byte, an, ns int) []byte {
	binary.BigEndian.PutUint16(out[6:], uint16(an))
	binary.BigEndian.PutUint16(out[8:], uint16(ns))
	if q.edns {
		out = append(out, 0, 0, byte(mdns.TypeOPT), byte(AdvertisedUDPSize>>8), byte(AdvertisedUDPSize&0xff), 0, 0, 0, 0, 0, 0)
		binary.BigEndian.PutUint16(out[10:], 1)
	}
	return out
}

// wireAddrs answers with one A or AAAA record per IP, shuffled, as many
// as fit (TC set when some do not).
func (h *Handler) wireAddrs(q *wireQuery, s *scratch, ips []net.IP) []byte {
	out := h.wireHeader(q, s, mdns.RcodeSuccess, flagAA)
	per := 12 + 4 // pointer, type, class, TTL, length, address
	if q.qtype == mdns.TypeAAAA {
		per = 12 + 16
	}
	room := q.sizeLimit() - len(out)
	if q.edns {
		room -= optLen
	}
	n := min(len(ips), room/per)
	if n < len(ips) {
		out[2] |= flagTC >> 8
	}
	order := s.order[:0]
	for i := range ips {
		order = append(order, i)
	}
	rand.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	s.order = order
	for _, i := range order[:n] {
		out = append(out, 0xC0, headerLen) // the name as asked, in the question
		out = binary.BigEndian.AppendUint16(out, q.qtype)
		out = append(out, 0, 1)
		out = binary.BigEndian.AppendUint32(out, h.ttl)
		if q.qtype == mdns.TypeAAAA {
			out = append(out, 0, 16)
			out = append(out, ips[i].To16()...)
		} else {
			out = append(out, 0, 4)
			out = append(out, ips[i].To4()...)
		}
	}
	return finish(q, out, n, 0)
}

// wireNegative answers NXDOMAIN or NODATA, with the zone's SOA.
func (h *Handler) wireNegative(q *wireQuery, s *scratch, rcode int, name string) []byte {
	out := h.wireHeader(q, s, rcode, flagAA)
	// The zone's name is the end of the question's: point at it.
	zoneAt := headerLen + len(name) - len(h.zone)
	ptr := []byte{0xC0 | byte(zoneAt>>8), byte(zoneAt)}
	out = append(out, ptr...)
	out = append(out, 0, byte(mdns.TypeSOA), 0, 1)
	out = binary.BigEndian.AppendUint32(out, h.ttl)
	out = append(out, 0, 9+13+20)
	out = append(out, 2, 'n', 's', 3, 'd', 'n', 's')
	out = append(out, ptr...)
	out = append(out, 10, 'h', 'o', 's', 't', 'm', 'a', 's', 't', 'e', 'r')
	out = append(out, ptr...)
	for _, v := range []uint32{h.soa.Serial, h.soa.Refresh, h.soa.Retry, h.soa.Expire, h.soa.Minttl} {
		out = binary.BigEndian.AppendUint32(out, v)
	}
	return finish(q, out, 0, 1)
}
