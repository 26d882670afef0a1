package runtime

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/coreos/go-iptables/iptables"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Defaults of HostNetwork.
const (
	DefaultNATChain     = "SHOAL-POSTROUTING"
	DefaultForwardChain = "SHOAL-FORWARD"
	// DefaultRouteProtocol marks the routes SyncRoutes installs (see
	// `ip route show proto 83`); no routing daemon uses it.
	DefaultRouteProtocol = netlink.RouteProtocol(0x53)
)

const ipForwardPath = "/proc/sys/net/ipv4/ip_forward"

// HostNetwork is the part of pod networking that belongs to the node, not
// to one pod: IP forwarding, masquerading of traffic that leaves the
// cluster, forwarding rules that a FORWARD policy of DROP cannot break, and
// routes to the other nodes' pod CIDRs (host-gw). It owns two iptables
// chains (NATChain in table nat, jumped to from POSTROUTING; ForwardChain in
// table filter, jumped to from FORWARD) and the main table's routes of
// protocol RouteProtocol; it touches nothing else.
//
// Every method is level-triggered and idempotent: it reads what the kernel
// has and changes only what differs, so it is safe to call on every pass
// and after an agent restart. Methods may be called concurrently (they are
// serialised), but the fields must not change during a call; change them
// between calls, then call Ensure or SyncRoutes again. Use it by pointer;
// ClusterCIDR is the only field without a default. IPv4 only for now:
// IPv6 prefixes are refused with an error.
type HostNetwork struct {
	// ClusterCIDR holds every pod IP of the cluster; required.
	ClusterCIDR netip.Prefix
	// PodCIDR is this node's part of ClusterCIDR. Until it is set, Ensure
	// keeps the NAT chain empty and SyncRoutes routes every CIDR given.
	PodCIDR netip.Prefix
	// NATChain and ForwardChain name shoal's chains; defaults
	// DefaultNATChain and DefaultForwardChain.
	NATChain, ForwardChain string
	// RouteProtocol marks the routes SyncRoutes owns; default
	// DefaultRouteProtocol.
	RouteProtocol netlink.RouteProtocol

	mu  sync.Mutex
	ipt *iptables.IPTables
}

// Route sends the pods of one other node (its pod CIDR) through that
// node's address, which must be on a directly connected network.
type Route struct {
	CIDR netip.Prefix
	Via  netip.Addr
}

func (h *HostNetwork) natChain() string     { return cmpOr(h.NATChain, DefaultNATChain) }
func (h *HostNetwork) forwardChain() string { return cmpOr(h.ForwardChain, DefaultForwardChain) }
func (h *HostNetwork) routeProto() netlink.RouteProtocol {
	return cmpOr(h.RouteProtocol, DefaultRouteProtocol)
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Ensure turns IP forwarding on and makes shoal's chains, their rules and
// the jumps to them what the fields say, replacing rules for an old
// PodCIDR or ClusterCIDR. Rules are added before stale ones are deleted,
// so traffic never meets a gap.
//
//	nat:    POSTROUTING -j NATChain; NATChain: -s PodCIDR ! -d ClusterCIDR -j MASQUERADE
//	filter: FORWARD -j ForwardChain; ForwardChain: -s ClusterCIDR -j ACCEPT, -d ClusterCIDR -j ACCEPT
func (h *HostNetwork) Ensure() error {
	if err := checkIPv4Prefix("ClusterCIDR", h.ClusterCIDR, true); err != nil {
		return err
	}
	if err := checkIPv4Prefix("PodCIDR", h.PodCIDR, false); err != nil {
		return err
	}
	cluster := h.ClusterCIDR.Masked()
	pod := h.PodCIDR.Masked()
	if pod.IsValid() && (pod.Bits() < cluster.Bits() || !cluster.Contains(pod.Addr())) {
		return fmt.Errorf("runtime: host network: PodCIDR %s is not inside ClusterCIDR %s (check the cluster's configuration)", pod, cluster)
	}
	h.mu.Lock()
	defer h.mu.Unlock()

	if err := enableIPForward(); err != nil {
		return err
	}
	ipt, err := h.iptables()
	if err != nil {
		return err
	}
	var nat [][]string
	if pod.IsValid() {
		nat = append(nat, []string{"-s", pod.String(), "!", "-d", cluster.String(), "-j", "MASQUERADE"})
	}
	if err := ensureChain(ipt, "nat", "POSTROUTING", h.natChain(), nat); err != nil {
		return err
	}
	fwd := [][]string{
		{"-s", cluster.String(), "-j", "ACCEPT"},
		{"-d", cluster.String(), "-j", "ACCEPT"},
	}
	return ensureChain(ipt, "filter", "FORWARD", h.forwardChain(), fwd)
}

// Cleanup removes shoal's chains and the jumps to them, as when the node
// leaves the cluster. IP forwarding and routes stay (SyncRoutes(nil)
// removes the routes). Idempotent.
func (h *HostNetwork) Cleanup() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	ipt, err := h.iptables()
	if err != nil {
		return err
	}
	var errs []error
	for _, c := range []struct{ table, from, chain string }{
		{"nat", "POSTROUTING", h.natChain()},
		{"filter", "FORWARD", h.forwardChain()},
	} {
		// Without the chain there can be no jump to it.
		if ok, err := ipt.ChainExists(c.table, c.chain); err != nil || !ok {
			if err != nil {
				errs = append(errs, fmt.Errorf("runtime: iptables -t %s: %w", c.table, err))
			}
			continue
		}
		if err := ipt.DeleteIfExists(c.table, c.from, "-j", c.chain); err != nil {
			errs = append(errs, fmt.Errorf("runtime: iptables -t %s: remove the jump to %s: %w", c.table, c.chain, err))
			continue
		}
		if err := ipt.ClearAndDeleteChain(c.table, c.chain); err != nil {
			errs = append(errs, fmt.Errorf("runtime: iptables -t %s: delete chain %s: %w", c.table, c.chain, err))
		}
	}
	return errors.Join(errs...)
}

func (h *HostNetwork) iptables() (*iptables.IPTables, error) {
	if h.ipt == nil {
		ipt, err := iptables.New()
		if err != nil {
			return nil, fmt.Errorf("runtime: host network: %w (install iptables: apt-get install iptables)", err)
		}
		h.ipt = ipt
	}
	return h.ipt, nil
}

func enableIPForward() error {
	b, err := os.ReadFile(ipForwardPath)
	if err == nil && strings.TrimSpace(string(b)) == "1" {
		return nil
	}
	if err := os.WriteFile(ipForwardPath, []byte("1\n"), 0o644); err != nil {
		return fmt.Errorf("runtime: turn on IP forwarding (%s): %w (shoal needs root)", ipForwardPath, err)
	}
	return nil
}

// ensureChain makes chain in table exist, jumped to from the top of from,
// and hold exactly rules (in any order): missing rules are appended, then
// others deleted.
func ensureChain(ipt *iptables.IPTables, table, from, chain string, rules [][]string) error {
	wrap := func(err error) error {
		return fmt.Errorf("runtime: iptables -t %s, chain %s: %w", table, chain, err)
	}
	if ok, err := ipt.ChainExists(table, chain); err != nil {
		return wrap(err)
	} else if !ok {
		if err := ipt.NewChain(table, chain); err != nil {
			return wrap(err)
		}
	}
	if err := ipt.InsertUnique(table, from, 1, "-j", chain); err != nil {
		return wrap(err)
	}
	want := make([]string, 0, len(rules))
	for _, r := range rules {
		if err := ipt.AppendUnique(table, chain, r...); err != nil {
			return wrap(err)
		}
		want = append(want, "-A "+chain+" "+strings.Join(r, " "))
	}
	have, err := ipt.List(table, chain)
	if err != nil {
		return wrap(err)
	}
	// have[0] is "-N chain"; rule n is have[n]. Delete from the end so
	// numbers stay valid.
	deleted := false
	for n := len(have) - 1; n >= 1; n-- {
		if !slices.Contains(want, have[n]) {
			if err := ipt.DeleteById(table, chain, n); err != nil {
				return wrap(err)
			}
			deleted = true
		}
	}
	if deleted {
		// Should iptables ever print a wanted rule differently from how
		// it was given, the rule was deleted above: put it back.
		for _, r := range rules {
			if err := ipt.AppendUnique(table, chain, r...); err != nil {
				return wrap(err)
			}
		}
	}
	return nil
}

// SyncRoutes makes the main table's routes of protocol RouteProtocol
// exactly routes: each is added or replaced (when its gateway changed), and
// every other route of that protocol, left by an earlier call or an earlier
// run of the agent, is deleted. Routes of other protocols are never
// touched: an entry whose CIDR already has one, and any entry that overlaps
// PodCIDR (this node's own pods are on the bridge), is skipped. Entries
// that are invalid, IPv6 or skipped are reported together in the error;
// the rest are still applied.
func (h *HostNetwork) SyncRoutes(routes []Route) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	proto := h.routeProto()
	own := h.PodCIDR.Masked()

	var errs []error
	want := map[netip.Prefix]netip.Addr{}
	skip := map[netip.Prefix]bool{} // left as they are: neither added nor deleted
	for _, r := range routes {
		cidr := r.CIDR.Masked()
		switch {
		case !r.CIDR.IsValid() || !r.Via.IsValid():
			errs = append(errs, fmt.Errorf("route to %s via %s: CIDR and gateway are both required", r.CIDR, r.Via))
		case !r.CIDR.Addr().Is4() || !r.Via.Is4():
			errs = append(errs, fmt.Errorf("route to %s via %s: not IPv4 (pod routes are IPv4-only for now)", r.CIDR, r.Via))
		case cidr.Bits() == 0:
			errs = append(errs, fmt.Errorf("route to %s via %s: that is the default route, not a node's pod CIDR", cidr, r.Via))
		case own.IsValid() && cidr.Overlaps(own):
			errs = append(errs, fmt.Errorf("route to %s via %s: overlaps this node's pod CIDR %s; skipped", cidr, r.Via, own))
		default:
			if via, dup := want[cidr]; dup && via != r.Via {
				errs = append(errs, fmt.Errorf("route to %s: given twice, via %s and via %s; skipped", cidr, via, r.Via))
				skip[cidr] = true
			}
			want[cidr] = r.Via
		}
	}

	all, err := listRoutes(&netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return fmt.Errorf("runtime: list routes: %w", err)
	}
	have := map[netip.Prefix]netlink.Route{}
	for _, kr := range all {
		dst := routeDst(kr)
		if !dst.Addr().Is4() {
			continue
		}
		if kr.Protocol == proto {
			have[dst] = kr
			continue
		}
		if via, ok := want[dst]; ok && !skip[dst] {
			errs = append(errs, fmt.Errorf("route to %s via %s: the kernel already has a route to %s (protocol %s) that shoal leaves alone; skipped (delete it to let shoal route there)", dst, via, dst, kr.Protocol))
			skip[dst] = true
		}
	}

	for dst, kr := range have {
		if _, ok := want[dst]; ok || skip[dst] {
			continue // kept or replaced below
		}
		if err := netlink.RouteDel(&kr); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("delete route to %s: %w", dst, err))
		}
	}
	for dst, via := range want {
		if skip[dst] {
			continue
		}
		if kr, ok := have[dst]; ok && routeGw(kr) == via {
			continue
		}
		nr := &netlink.Route{
			Dst:      &net.IPNet{IP: dst.Addr().AsSlice(), Mask: net.CIDRMask(dst.Bits(), 32)},
			Gw:       via.AsSlice(),
			Protocol: proto,
			Table:    unix.RT_TABLE_MAIN,
		}
		if err := netlink.RouteReplace(nr); err != nil {
			errs = append(errs, fmt.Errorf("route to %s via %s: %w (is %s on a directly connected network?)", dst, via, err, via))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("runtime: sync pod routes: %w", errors.Join(errs...))
	}
	return nil
}

// listRoutes retries a dump that a concurrent change interrupted.
func listRoutes(filter *netlink.Route, mask uint64) ([]netlink.Route, error) {
	var err error
	for range 5 {
		var rs []netlink.Route
		rs, err = netlink.RouteListFiltered(netlink.FAMILY_V4, filter, mask)
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			return rs, err
		}
	}
	return nil, err
}

func routeDst(r netlink.Route) netip.Prefix {
	if r.Dst == nil {
		return netip.PrefixFrom(netip.IPv4Unspecified(), 0) // the default route
	}
	a, ok := netip.AddrFromSlice(r.Dst.IP)
	if !ok {
		return netip.Prefix{}
	}
	ones, _ := r.Dst.Mask.Size()
	return netip.PrefixFrom(a.Unmap(), ones)
}

func routeGw(r netlink.Route) netip.Addr {
	a, _ := netip.AddrFromSlice(r.Gw)
	return a.Unmap()
}

func checkIPv4Prefix(field string, p netip.Prefix, required bool) error {
	switch {
	case !p.IsValid() && required:
		return fmt.Errorf("runtime: host network: %s is not set", field)
	case !p.IsValid():
		return nil
	case !p.Addr().Is4():
		return fmt.Errorf("runtime: host network: %s %s is not IPv4: pod networks are IPv4-only for now", field, p)
	}
	return nil
}
