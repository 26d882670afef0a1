package dns

import (
	"net/netip"
	"strings"
	"sync"

	"github.com/shoal-dev/shoal/api"
)

// Reader is the state the Handler answers from. Each call is a lookup,
// never a scan; names are lower case. Implementations are safe for
// concurrent use, and what they return is never modified afterwards.
type Reader interface {
	// Service returns the records of Service namespace/name, or nil when
	// there is no such Service.
	Service(namespace, name string) *ServiceRecords
	// Namespace reports whether any Service or pod lives in namespace.
	Namespace(namespace string) bool
	// Pod reports whether a pod of namespace, neither Succeeded nor
	// Failed, has ip.
	Pod(namespace string, ip netip.Addr) bool
	// Node returns the addresses of Node name; ok is false when there is
	// no such Node.
	Node(name string) (addrs Addrs, ok bool)
}

// Kinds are the kinds of objects the Index follows.
var Kinds = []string{"Service", "Endpoints", "Pod", "Node"}

// Change is one change to an object of one of Kinds, as a watch reports it.
type Change struct {
	// Object is the object as stored; for a deletion, as it was.
	Object  api.Object
	Deleted bool
}

type nsName struct{ ns, name string }

type podIP struct {
	ns string
	ip netip.Addr
}

// Index is the Reader the server answers from: maps from names to
// precomputed records, kept current by Reset and Apply from the local
// replica's watches. A query costs one map lookup under a read lock; a
// change to a Service or its Endpoints rebuilds that Service's records
// only. All methods are safe for concurrent use.
type Index struct {
	mu        sync.RWMutex
	services  map[nsName]*api.Service
	endpoints map[nsName]*api.Endpoints
	records   map[nsName]*ServiceRecords // one per Service
	svcPerNS  map[string]int
	pods      map[nsName][]podIP // what each pod is indexed under
	podIPs    map[podIP]int      // how many pods have the IP
	podPerNS  map[string]int
	nodes     map[string]Addrs
}

// NewIndex returns an empty index.
func NewIndex() *Index {
	return &Index{
		services: map[nsName]*api.Service{}, endpoints: map[nsName]*api.Endpoints{},
		records: map[nsName]*ServiceRecords{}, svcPerNS: map[string]int{},
		pods: map[nsName][]podIP{}, podIPs: map[podIP]int{}, podPerNS: map[string]int{},
		nodes: map[string]Addrs{},
	}
}

var _ Reader = (*Index)(nil)

// Service implements Reader.
func (x *Index) Service(namespace, name string) *ServiceRecords {
	x.mu.RLock()
	r := x.records[nsName{namespace, name}]
	x.mu.RUnlock()
	return r
}

// Namespace implements Reader.
func (x *Index) Namespace(namespace string) bool {
	x.mu.RLock()
	ok := x.svcPerNS[namespace] > 0 || x.podPerNS[namespace] > 0
	x.mu.RUnlock()
	return ok
}

// Pod implements Reader.
func (x *Index) Pod(namespace string, ip netip.Addr) bool {
	x.mu.RLock()
	ok := x.podIPs[podIP{namespace, ip}] > 0
	x.mu.RUnlock()
	return ok
}

// Node implements Reader.
func (x *Index) Node(name string) (Addrs, bool) {
	x.mu.RLock()
	a, ok := x.nodes[name]
	x.mu.RUnlock()
	return a, ok
}

// Reset replaces every object of kind (one of Kinds) with objs: what a
// fresh list of the replica holds. Objects of other kinds are ignored.
func (x *Index) Reset(kind string, objs []api.Object) {
	x.mu.Lock()
	defer x.mu.Unlock()
	switch kind {
	case "Service":
		for k := range x.services {
			x.deleteService(k)
		}
	case "Endpoints":
		clear(x.endpoints)
		for k := range x.records {
			x.rebuild(k)
		}
	case "Pod":
		clear(x.pods)
		clear(x.podIPs)
		clear(x.podPerNS)
	case "Node":
		clear(x.nodes)
	default:
		return
	}
	for _, o := range objs {
		if kindOf(o) == kind {
			x.apply(Change{Object: o})
		}
	}
}

// Apply applies changes in order, under one lock, so a query sees all of
// them or none.
func (x *Index) Apply(changes ...Change) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, c := range changes {
		x.apply(c)
	}
}

func kindOf(o api.Object) string {
	switch o.(type) {
	case *api.Service:
		return "Service"
	case *api.Endpoints:
		return "Endpoints"
	case *api.Pod:
		return "Pod"
	case *api.Node:
		return "Node"
	}
	return ""
}

// apply applies one change; the caller holds mu for writing.
func (x *Index) apply(c Change) {
	if c.Object == nil {
		return
	}
	m := c.Object.GetObjectMeta()
	k := nsName{strings.ToLower(m.Namespace), strings.ToLower(m.Name)}
	switch o := c.Object.(type) {
	case *api.Service:
		if c.Deleted {
			x.deleteService(k)
			return
		}
		if _, ok := x.services[k]; !ok {
			x.svcPerNS[k.ns]++
		}
		x.services[k] = o
		x.rebuild(k)
	case *api.Endpoints:
		if c.Deleted {
			delete(x.endpoints, k)
		} else {
			x.endpoints[k] = o
		}
		x.rebuild(k)
	case *api.Pod:
		x.unindexPod(k)
		if !c.Deleted {
			x.indexPod(k, o)
		}
	case *api.Node:
		if c.Deleted {
			delete(x.nodes, k.name)
		} else {
			x.nodes[k.name] = NodeAddrs(o)
		}
	}
}

// rebuild recomputes the records of Service k, if it exists.
func (x *Index) rebuild(k nsName) {
	svc, ok := x.services[k]
	if !ok {
		return
	}
	x.records[k] = BuildService(svc, x.endpoints[k])
}

func (x *Index) deleteService(k nsName) {
	if _, ok := x.services[k]; !ok {
		return
	}
	delete(x.services, k)
	delete(x.records, k)
	if x.svcPerNS[k.ns]--; x.svcPerNS[k.ns] <= 0 {
		delete(x.svcPerNS, k.ns)
	}
}

func (x *Index) indexPod(k nsName, p *api.Pod) {
	ips := PodAddrs(p)
	keys := make([]podIP, len(ips))
	for i, ip := range ips {
		keys[i] = podIP{k.ns, ip}
		x.podIPs[keys[i]]++
	}
	x.pods[k] = keys
	x.podPerNS[k.ns]++
}

func (x *Index) unindexPod(k nsName) {
	keys, ok := x.pods[k]
	if !ok {
		return
	}
	for _, key := range keys {
		if x.podIPs[key]--; x.podIPs[key] <= 0 {
			delete(x.podIPs, key)
		}
	}
	delete(x.pods, k)
	if x.podPerNS[k.ns]--; x.podPerNS[k.ns] <= 0 {
		delete(x.podPerNS, k.ns)
	}
}
