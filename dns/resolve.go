package dns

import (
	"net"
	"net/netip"
	"strings"
)

// resultKind is what a name in the cluster domain is.
type resultKind uint8

const (
	resultNoData resultKind = iota // the name exists, with no records of any type here
	resultNX                       // the name does not exist
	resultAddrs                    // A/AAAA: result.addrs
	resultSRV                      // SRV: result.rec and result.targets
	resultApex                     // the zone's SOA and NS
)

// result is what resolve found for a name; records of the asked type are
// taken from it by the caller (none of that type is NODATA).
type result struct {
	kind    resultKind
	addrs   Addrs
	rec     *ServiceRecords
	targets []SRVTarget
}

var nxResult = result{kind: resultNX}

// resolve finds rel, a lower-case name relative to the cluster domain
// ("" for the apex), in the Reader. local is the address the query came
// to, for ns.dns. The names:
//
//	""                                    SOA, NS
//	ns.dns                                the address the query came to
//	svc, pod, node                        empty non-terminals (NODATA)
//	<ns>.svc, <ns>.pod                    NODATA if the namespace has a Service or pod
//	<svc>.<ns>.svc                        A/AAAA of the Ready endpoints
//	<label>.<svc>.<ns>.svc                A/AAAA of one endpoint (hostname or dashed IP)
//	_<proto>.<svc>.<ns>.svc               NODATA if the Service has a named port of proto
//	_<port>._<proto>.<svc>.<ns>.svc       SRV, one per Ready endpoint
//	<a-b-c-d>.<ns>.pod                    A/AAAA if a pod of ns has that IP
//	<node>.node                           A/AAAA of the Node's addresses
//
// Everything else is NXDOMAIN. It does not allocate for the common names.
func (h *Handler) resolve(rel string, local netip.Addr) result {
	switch rel {
	case "":
		return result{kind: resultApex}
	case "ns.dns":
		var a Addrs
		if local.IsValid() && !local.IsUnspecified() {
			if local.Is4() {
				a.V4 = []net.IP{local.AsSlice()}
			} else {
				a.V6 = []net.IP{local.AsSlice()}
			}
		}
		return result{kind: resultAddrs, addrs: a}
	case "svc", "pod", "node":
		return result{}
	}
	var labels [4]string
	switch {
	case strings.HasSuffix(rel, ".svc"):
		rest := rel[:len(rel)-len(".svc")]
		l := split(rest, labels[:])
		switch len(l) {
		case 1:
			return h.namespace(l[0])
		case 2:
			if rec := h.reader.Service(l[1], l[0]); rec != nil {
				return result{kind: resultAddrs, addrs: rec.Ready}
			}
		case 3:
			rec := h.reader.Service(l[2], l[1])
			switch {
			case rec == nil:
			case l[0][0] == '_':
				if rec.Protocols[l[0]] {
					return result{}
				}
			default:
				if hosts, ok := rec.Hosts[l[0]]; ok {
					return result{kind: resultAddrs, addrs: hosts}
				}
			}
		case 4:
			if l[0][0] != '_' || l[1][0] != '_' {
				break
			}
			rec := h.reader.Service(l[3], l[2])
			if rec == nil {
				break
			}
			if targets, ok := rec.Ports[rest[:len(l[0])+1+len(l[1])]]; ok {
				return result{kind: resultSRV, rec: rec, targets: targets}
			}
		}
	case strings.HasSuffix(rel, ".pod"):
		rest := rel[:len(rel)-len(".pod")]
		switch l := split(rest, labels[:]); len(l) {
		case 1:
			return h.namespace(l[0])
		case 2:
			ip, ok := parseDashedIP(l[0])
			if !ok || !h.reader.Pod(l[1], ip) {
				break
			}
			var a Addrs
			if ip.Is4() {
				a.V4 = []net.IP{ip.AsSlice()}
			} else {
				a.V6 = []net.IP{ip.AsSlice()}
			}
			return result{kind: resultAddrs, addrs: a}
		}
	case strings.HasSuffix(rel, ".node"):
		if a, ok := h.reader.Node(rel[:len(rel)-len(".node")]); ok {
			return result{kind: resultAddrs, addrs: a}
		}
	}
	return nxResult
}

func (h *Handler) namespace(ns string) result {
	if h.reader.Namespace(ns) {
		return result{}
	}
	return nxResult
}

// split splits name into its labels, left to right, in buf; nil when it
// has more labels than buf holds or an empty label.
func split(name string, buf []string) []string {
	n := 0
	for {
		if n == len(buf) {
			return nil
		}
		i := strings.IndexByte(name, '.')
		if i < 0 {
			if name == "" {
				return nil
			}
			buf[n] = name
			return buf[:n+1]
		}
		if i == 0 {
			return nil
		}
		buf[n], name = name[:i], name[i+1:]
		n++
	}
}
