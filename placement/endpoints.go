package placement

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/state"
)

// EndpointsController keeps one Endpoints object per Service that has a
// selector, listing the pods behind it. Run it with a Loop, triggered by
// changes to Services and Pods. It never writes a Service, and never
// touches Endpoints of Services without a selector unless it wrote them.
type EndpointsController struct {
	State  Reader
	Writer Writer
}

// Pass converges every Service's Endpoints. The writes are independent:
// it commits them together and, if that fails because the state moved (a
// conflict, or an object already gone), in smaller commands, dropping
// those that still fail (state.CommitIndependent); the next pass sees the
// newer state. It is idempotent.
func (c *EndpointsController) Pass(ctx context.Context, _ time.Time) (time.Duration, error) {
	changes := PlanEndpoints(c.State)
	if len(changes) == 0 {
		return 0, nil
	}
	dropped, err := state.CommitIndependent(ctx, c.Writer, changes, len(changes), nil)
	if err != nil || dropped == 0 {
		return 0, err
	}
	return time.Second, nil
}

// LabelHeadless marks the Endpoints of a headless Service, as Kubernetes
// does.
const LabelHeadless = "service.kubernetes.io/headless"

// PlanEndpoints computes the Endpoints writes that bring the state in line
// with its Services and Pods. For each Service with a selector (and not of
// type ExternalName) it wants an Endpoints object of the same namespace and
// name, carrying the Service's labels and controlled by the Service (so
// deleting the Service deletes it), listing every pod in the namespace that
// matches the selector, has an IP and is neither finished nor being
// deleted: Ready pods under addresses, the rest under notReadyAddresses.
// An address names the pod (targetRef), its node and, when the pod's
// spec.subdomain is the Service's name, its spec.hostname.
//
// Ports come from the Service's ports; a named targetPort is resolved
// through each pod's container ports (of the same protocol), and a pod
// that does not have the name is left out of that port. Addresses that
// offer the same ports share a subset, as Kubernetes packs them. Everything
// is sorted (addresses by IP), so equal state gives equal objects, and an
// object is only written when its encoding would change; writes to an
// existing object are compare-and-set. Endpoints this controller made whose
// Service is gone or has lost its selector are deleted. PlanEndpoints only
// reads state.
func PlanEndpoints(state Reader) []Change {
	svcs, _ := state.List("Service", "")
	sort.Slice(svcs, func(i, j int) bool { return api.KeyOf(svcs[i]).String() < api.KeyOf(svcs[j]).String() })
	var changes []Change
	for _, o := range svcs {
		svc := o.(*api.Service)
		if !endpointsWanted(svc) {
			continue
		}
		want := desiredEndpoints(svc, selectedPods(state, svc))
		key := api.KeyOf(want)
		cur, _ := state.Get(key)
		if cur != nil {
			old := cur.(*api.Endpoints)
			if sameEndpoints(old, want) {
				continue
			}
			want.ResourceVersion = old.ResourceVersion
			want.Annotations = maps.Clone(old.Annotations)
		}
		changes = append(changes, Change{Put: want})
	}
	eps, _ := state.List("Endpoints", "")
	sort.Slice(eps, func(i, j int) bool { return api.KeyOf(eps[i]).String() < api.KeyOf(eps[j]).String() })
	for _, o := range eps {
		ref := controllerRef(o)
		if ref == nil || ref.Kind != "Service" || ref.Name != o.GetObjectMeta().Name {
			continue // not ours
		}
		svcKey := api.Key{Kind: "Service", Namespace: o.GetObjectMeta().Namespace, Name: ref.Name}
		if svc, err := state.Get(svcKey); err == nil && endpointsWanted(svc.(*api.Service)) {
			continue
		}
		key := api.KeyOf(o)
		changes = append(changes, Change{Delete: &key})
	}
	return changes
}

// endpointsWanted: the controller manages the Service's Endpoints.
func endpointsWanted(svc *api.Service) bool {
	return len(svc.Spec.Selector) > 0 && svc.Spec.Type != api.ServiceTypeExternalName
}

// selectedPods returns the pods of svc's namespace that its selector
// selects, from the state's label index.
func selectedPods(state Reader, svc *api.Service) []*api.Pod {
	objs, _ := state.ListSelected("Pod", svc.Namespace, api.SelectorFromSet(svc.Spec.Selector))
	pods := make([]*api.Pod, len(objs))
	for i, o := range objs {
		pods[i] = o.(*api.Pod)
	}
	return pods
}

func desiredEndpoints(svc *api.Service, pods []*api.Pod) *api.Endpoints {
	ep := &api.Endpoints{
		TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "Endpoints"},
		ObjectMeta: api.ObjectMeta{
			Name: svc.Name, Namespace: svc.Namespace,
			Labels:          maps.Clone(svc.Labels),
			OwnerReferences: []api.OwnerReference{ownerRef(svc)},
		},
	}
	if svc.Spec.ClusterIP == api.ClusterIPNone {
		if ep.Labels == nil {
			ep.Labels = map[string]string{}
		}
		ep.Labels[LabelHeadless] = ""
	}
	sel := api.SelectorFromSet(svc.Spec.Selector)
	var pk endpointPacker
	for _, p := range pods {
		if !podActive(p) || p.Status.PodIP == "" || !sel.Matches(p.Labels) {
			continue
		}
		addr := endpointAddress(svc, p)
		ready := podReady(p)
		if len(svc.Spec.Ports) == 0 {
			pk.add(addr, ready, nil) // a headless Service without ports
			continue
		}
		for i := range svc.Spec.Ports {
			if port, ok := resolvePort(p, &svc.Spec.Ports[i]); ok {
				pk.add(addr, ready, &port)
			}
		}
	}
	ep.Subsets = pk.subsets()
	return ep
}

func endpointAddress(svc *api.Service, p *api.Pod) api.EndpointAddress {
	a := api.EndpointAddress{
		IP:        p.Status.PodIP,
		TargetRef: &api.ObjectReference{Kind: "Pod", Namespace: p.Namespace, Name: p.Name, UID: p.UID},
	}
	if p.Spec.Hostname != "" && p.Spec.Subdomain == svc.Name {
		a.Hostname = p.Spec.Hostname
	}
	if p.Spec.NodeName != "" {
		node := p.Spec.NodeName
		a.NodeName = &node
	}
	return a
}

// resolvePort finds the pod's port for a Service port: a number is itself;
// a name is the port of that name and protocol on one of the pod's
// containers (or sidecars).
func resolvePort(p *api.Pod, sp *api.ServicePort) (api.EndpointPort, bool) {
	proto := sp.Protocol
	if proto == "" {
		proto = api.ProtocolTCP
	}
	out := api.EndpointPort{Name: sp.Name, Protocol: proto}
	tp := sp.TargetPort
	switch {
	case tp.Type == api.IntOrStringString && tp.StrVal != "":
		containers := p.Spec.Containers
		for _, c := range p.Spec.InitContainers {
			if c.IsSidecar() {
				containers = append(containers[:len(containers):len(containers)], c)
			}
		}
		for _, c := range containers {
			for _, cp := range c.Ports {
				cproto := cp.Protocol
				if cproto == "" {
					cproto = api.ProtocolTCP
				}
				if cp.Name == tp.StrVal && cproto == proto {
					out.Port = cp.ContainerPort
					return out, true
				}
			}
		}
		return out, false
	case tp.IsZero():
		out.Port = sp.Port
	default:
		out.Port = int32(tp.IntValue())
	}
	return out, out.Port > 0
}

// endpointPacker groups (address, port) pairs into subsets the way
// Kubernetes repacks them: ports offered by the same set of addresses
// share a subset.
type endpointPacker struct {
	addrs  map[string]api.EndpointAddress
	byPort map[api.EndpointPort]map[string]bool // port -> address key -> ready
}

// noPorts stands for "no ports" (a headless Service without any).
var noPorts = api.EndpointPort{Port: -1}

func (pk *endpointPacker) add(a api.EndpointAddress, ready bool, port *api.EndpointPort) {
	if pk.addrs == nil {
		pk.addrs = map[string]api.EndpointAddress{}
		pk.byPort = map[api.EndpointPort]map[string]bool{}
	}
	k := a.IP + "\x00" + a.TargetRef.UID
	pk.addrs[k] = a
	pt := noPorts
	if port != nil {
		pt = *port
	}
	if pk.byPort[pt] == nil {
		pk.byPort[pt] = map[string]bool{}
	}
	pk.byPort[pt][k] = ready
}

func (pk *endpointPacker) subsets() []api.EndpointSubset {
	type group struct {
		set   map[string]bool
		ports []api.EndpointPort
	}
	groups := map[string]*group{}
	for port, set := range pk.byPort {
		keys := make([]string, 0, len(set))
		for k, ready := range set {
			keys = append(keys, k+"\x00"+strconv.FormatBool(ready))
		}
		sort.Strings(keys)
		id := strings.Join(keys, "\x01")
		g := groups[id]
		if g == nil {
			g = &group{set: set}
			groups[id] = g
		}
		if port != noPorts {
			g.ports = append(g.ports, port)
		}
	}
	out := make([]api.EndpointSubset, 0, len(groups))
	for _, g := range groups {
		var ss api.EndpointSubset
		for k, ready := range g.set {
			if ready {
				ss.Addresses = append(ss.Addresses, pk.addrs[k])
			} else {
				ss.NotReadyAddresses = append(ss.NotReadyAddresses, pk.addrs[k])
			}
		}
		sortAddresses(ss.Addresses)
		sortAddresses(ss.NotReadyAddresses)
		sort.Slice(g.ports, func(i, j int) bool { return portLess(g.ports[i], g.ports[j]) })
		ss.Ports = g.ports
		out = append(out, ss)
	}
	sort.Slice(out, func(i, j int) bool { return subsetLess(out[i], out[j]) })
	if len(out) == 0 {
		return nil
	}
	return out
}

// ipLess orders IPs numerically, falling back to the text for anything
// that does not parse.
func ipLess(a, b string) bool {
	pa, errA := netip.ParseAddr(a)
	pb, errB := netip.ParseAddr(b)
	if errA == nil && errB == nil && pa != pb {
		return pa.Less(pb)
	}
	return a < b
}

func sortAddresses(as []api.EndpointAddress) {
	sort.Slice(as, func(i, j int) bool {
		if as[i].IP != as[j].IP {
			return ipLess(as[i].IP, as[j].IP)
		}
		return as[i].TargetRef.UID < as[j].TargetRef.UID
	})
}

func portLess(a, b api.EndpointPort) bool {
	if a.Name != b.Name {
		return a.Name < b.Name
	}
	if a.Port != b.Port {
		return a.Port < b.Port
	}
	return a.Protocol < b.Protocol
}

// subsetLess orders subsets by their first address, then by their ports.
func subsetLess(a, b api.EndpointSubset) bool {
	fa, fb := firstIP(a), firstIP(b)
	if fa != fb {
		return ipLess(fa, fb)
	}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Compare(ja, jb) < 0
}

func firstIP(s api.EndpointSubset) string {
	switch {
	case len(s.Addresses) > 0 && len(s.NotReadyAddresses) > 0:
		if ipLess(s.NotReadyAddresses[0].IP, s.Addresses[0].IP) {
			return s.NotReadyAddresses[0].IP
		}
		return s.Addresses[0].IP
	case len(s.Addresses) > 0:
		return s.Addresses[0].IP
	case len(s.NotReadyAddresses) > 0:
		return s.NotReadyAddresses[0].IP
	}
	return ""
}

// sameEndpoints compares what the controller owns: labels, owner and
// subsets, by their encodings.
func sameEndpoints(a, b *api.Endpoints) bool {
	enc := func(e *api.Endpoints) []byte {
		labels := e.Labels
		if len(labels) == 0 {
			labels = nil // an empty map is stored as none
		}
		data, _ := json.Marshal(struct {
			Labels  map[string]string
			Owners  []api.OwnerReference
			Subsets []api.EndpointSubset
		}{labels, e.OwnerReferences, e.Subsets})
		return data
	}
	return bytes.Equal(enc(a), enc(b))
}
