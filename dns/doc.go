// Package dns is the DNS server every node runs. It answers the cluster
// domain from the node's own replica of the state, with no network hop, so
// discovery keeps working on both sides of a partition and while there is
// no leader; other names it forwards to upstream resolvers. It is built on
// github.com/miekg/dns.
//
// The names, after the Kubernetes DNS specification (<d> is the cluster
// domain, cluster.local by default):
//
//	<svc>.<ns>.svc.<d>                    A/AAAA: the Ready endpoints of the Service
//	_<port>._<proto>.<svc>.<ns>.svc.<d>   SRV: per Ready endpoint, the port on the pod and
//	                                      <label>.<svc>.<ns>.svc.<d> as the target
//	<label>.<svc>.<ns>.svc.<d>            A/AAAA of one endpoint: label is the pod's hostname
//	                                      when its subdomain is the Service, else its dashed IP
//	<a-b-c-d>.<ns>.pod.<d>                A/AAAA when a pod of <ns> has that IP
//	<node>.node.<d>                       A/AAAA of the Node's addresses
//
// Every Service is answered with its pods' addresses (shoal has no virtual
// Service IPs), and only Ready endpoints: a pod that stops being Ready
// leaves the answers as soon as the local replica applies the Endpoints
// change. A Service that does not exist is NXDOMAIN; one with no Ready
// endpoint is NODATA (NOERROR, no answer). Negative answers carry the
// zone's SOA. Names compare case-insensitively and answers keep the case
// of the question. Records are shuffled per query, their TTL is
// HandlerConfig.TTL (5 s by default). Over UDP an answer is truncated
// (TC set) to 512 bytes, or to the client's EDNS0 size up to 4096, and the
// client retries over TCP. Names outside the cluster domain go to the
// Forwarder, or are REFUSED without one; the cluster domain is never
// forwarded.
//
// The parts, each safe for concurrent use:
//
//   - Reader, the narrow read interface the Handler answers from: lookups
//     by Service, namespace, pod IP and Node name.
//   - Index, the Reader the node uses: precomputed records per Service
//     (BuildService), pod IPs and Node addresses in maps. Its owner feeds it
//     (Reset with a list of one kind, then Apply with each watch event) from
//     the replica's watches, not by polling. A change to a Service or its
//     Endpoints rebuilds that Service's records only; a query is a map
//     lookup under a read lock.
//   - Handler, the miekg/dns Handler: Reader for the cluster domain,
//     Resolver for the rest. It is table-tested with a response recorder
//     against a fake Reader, as CoreDNS's plugins are.
//   - Forwarder, the Resolver to upstream resolvers, with a small cache
//     that keeps each answer for its TTL (the SOA's negative TTL for
//     NXDOMAIN and NODATA) and hands it out with TTLs lowered by its age.
//     Its clock is injected.
//   - Server, UDP and TCP listeners on addresses added and removed at run
//     time (Listen, Stop), and Shutdown. Sockets are bound with
//     IP_FREEBIND, so the node can bind its pod bridge's gateway address
//     before the bridge exists. It never binds a wildcard address unless
//     given one. Over UDP the common queries (A/AAAA, NXDOMAIN, NODATA,
//     REFUSED, cached forwarded answers) take a fast path that reads and
//     writes wire format without allocating; the rest go through miekg/dns
//     and the Handler. Both resolve names with the same code, and a test
//     holds their answers equal.
//
// The package sees the state only through api objects: it imports no
// other package of shoal than api and clock.
package dns
