package dns

import (
	"net"
	"net/netip"
	"sort"
	"strings"

	"github.com/shoal-dev/shoal/api"
)

// Addrs are the addresses one name answers with, split by family. The
// slices are shared and never modified once built.
type Addrs struct {
	V4 []net.IP // 4-byte form
	V6 []net.IP // 16-byte form
}

// Empty reports whether there is no address at all.
func (a Addrs) Empty() bool { return len(a.V4) == 0 && len(a.V6) == 0 }

// addrSet collects addresses without duplicates, in the order first seen.
type addrSet struct {
	seen map[netip.Addr]bool
	out  Addrs
}

func (s *addrSet) add(ip netip.Addr) {
	ip = ip.Unmap()
	if !ip.IsValid() || s.seen[ip] {
		return
	}
	if s.seen == nil {
		s.seen = map[netip.Addr]bool{}
	}
	s.seen[ip] = true
	if ip.Is4() {
		s.out.V4 = append(s.out.V4, ip.AsSlice())
	} else {
		s.out.V6 = append(s.out.V6, ip.AsSlice())
	}
}

// SRVTarget is one SRV answer: a Ready endpoint offering a named port.
type SRVTarget struct {
	// Label is the endpoint's own name under the Service: the pod's
	// hostname when it set one for this Service (spec.hostname with
	// spec.subdomain naming the Service), else its IP with dashes
	// (10-244-1-5). <Label>.<svc>.<ns>.svc.<domain> resolves to IP.
	Label string
	IP    net.IP
	Port  uint16
}

// ServiceRecords is everything DNS answers under one Service's name,
// computed once per change of the Service or its Endpoints. A value is
// immutable once built; readers share it without locks.
type ServiceRecords struct {
	Namespace, Name string
	// Ready holds the IPs of the Ready endpoints, each once.
	Ready Addrs
	// Ports maps "_<port-name>._<protocol>" (lower case) to the Ready
	// endpoints offering that port. A port of the Service exists as a key
	// even when no endpoint offers it yet.
	Ports map[string][]SRVTarget
	// Protocols holds "_tcp", "_udp", "_sctp" for each protocol of the
	// Service's named ports: the empty non-terminals of the SRV names.
	Protocols map[string]bool
	// Hosts maps an endpoint's label (see SRVTarget.Label) to its IPs.
	Hosts map[string]Addrs
}

// BuildService computes the records of svc from its Endpoints, eps (nil
// when there are none yet). Only Ready addresses (Endpoints' addresses,
// not notReadyAddresses) are answered. It is a pure function.
func BuildService(svc *api.Service, eps *api.Endpoints) *ServiceRecords {
	r := &ServiceRecords{
		Namespace: svc.Namespace, Name: svc.Name,
		Ports: map[string][]SRVTarget{}, Protocols: map[string]bool{}, Hosts: map[string]Addrs{},
	}
	for _, p := range svc.Spec.Ports {
		if p.Name != "" {
			key, proto := srvKey(p.Name, p.Protocol)
			r.Ports[key] = nil
			r.Protocols[proto] = true
		}
	}
	if eps == nil {
		return r
	}
	var ready addrSet
	hosts := map[string]*addrSet{}
	var labels []string
	for _, ss := range eps.Subsets {
		for _, a := range ss.Addresses {
			ip, err := netip.ParseAddr(a.IP)
			if err != nil {
				continue
			}
			ip = ip.Unmap()
			ready.add(ip)
			label := strings.ToLower(a.Hostname)
			if label == "" {
				label = DashedIP(ip)
			}
			if hosts[label] == nil {
				hosts[label] = &addrSet{}
				labels = append(labels, label)
			}
			hosts[label].add(ip)
			for _, p := range ss.Ports {
				if p.Name == "" || p.Port <= 0 || p.Port > 65535 {
					continue
				}
				key, proto := srvKey(p.Name, p.Protocol)
				r.Ports[key] = append(r.Ports[key], SRVTarget{Label: label, IP: ip.AsSlice(), Port: uint16(p.Port)})
				r.Protocols[proto] = true
			}
		}
	}
	r.Ready = ready.out
	for _, l := range labels {
		r.Hosts[l] = hosts[l].out
	}
	return r
}

// srvKey is "_<name>._<protocol>" in lower case, and "_<protocol>".
func srvKey(name string, proto api.Protocol) (key, protoLabel string) {
	p := strings.ToLower(string(proto))
	if p == "" {
		p = "tcp"
	}
	return "_" + strings.ToLower(name) + "._" + p, "_" + p
}

// DashedIP writes ip the way pod and endpoint names carry it:
// 10-244-1-5, or fd00--5 for IPv6.
func DashedIP(ip netip.Addr) string {
	return strings.ReplaceAll(strings.ReplaceAll(ip.Unmap().String(), ".", "-"), ":", "-")
}

// parseDashedIP reads a label written by DashedIP; ok is false when the
// label is not an address.
func parseDashedIP(label string) (netip.Addr, bool) {
	if strings.Count(label, "-") == 3 {
		ip, err := netip.ParseAddr(strings.ReplaceAll(label, "-", "."))
		return ip, err == nil && ip.Is4()
	}
	ip, err := netip.ParseAddr(strings.ReplaceAll(label, "-", ":"))
	return ip, err == nil && ip.Is6() && !ip.Is4In6()
}

// PodAddrs are the IPs a pod is answered with under
// a-b-c-d.<ns>.pod.<domain>: its IPs while it is neither Succeeded nor
// Failed (a finished pod's IP may already belong to another).
func PodAddrs(p *api.Pod) []netip.Addr {
	if p.Status.Phase == api.PodSucceeded || p.Status.Phase == api.PodFailed {
		return nil
	}
	var out []netip.Addr
	add := func(s string) {
		if ip, err := netip.ParseAddr(s); err == nil {
			ip = ip.Unmap()
			for _, o := range out {
				if o == ip {
					return
				}
			}
			out = append(out, ip)
		}
	}
	add(p.Status.PodIP)
	for _, ip := range p.Status.PodIPs {
		add(ip.IP)
	}
	return out
}

// NodeAddrs are the addresses <node>.node.<domain> answers with: every
// address of the node's status that is an IP (InternalIP, ExternalIP), in
// a stable order.
func NodeAddrs(n *api.Node) Addrs {
	var ips []netip.Addr
	for _, a := range n.Status.Addresses {
		if ip, err := netip.ParseAddr(a.Address); err == nil {
			ips = append(ips, ip.Unmap())
		}
	}
	sort.Slice(ips, func(i, j int) bool { return ips[i].Less(ips[j]) })
	var s addrSet
	for _, ip := range ips {
		s.add(ip)
	}
	return s.out
}
