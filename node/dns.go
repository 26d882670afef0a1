package node

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/shoal-dev/shoal/dns"
	"github.com/shoal-dev/shoal/runtime"
)

// DNSOff, as Config.DNSAddr (--dns-addr off), turns the node's DNS server
// off; as the only Config.DNSUpstreams (--dns-upstream off), it turns
// forwarding off, so names outside the cluster domain are REFUSED.
const DNSOff = "off"

// hostResolvConf is where the default upstream resolvers come from.
const hostResolvConf = "/etc/resolv.conf"

// dnsDefaults checks the DNS settings and fills in their defaults:
// DNSAddr becomes IP:port (the advertise address, port 53, unless given)
// or DNSOff.
func (c *Config) dnsDefaults() error {
	switch {
	case c.DNSTTL == 0:
		c.DNSTTL = dns.DefaultTTL
	case c.DNSTTL < time.Second:
		return fmt.Errorf("--dns-ttl %s: DNS TTLs are whole seconds; use 1s or more", c.DNSTTL)
	}
	addr, err := dnsListenAddr(c.DNSAddr, c.AdvertiseAddr)
	if err != nil {
		return err
	}
	c.DNSAddr = addr
	if len(c.DNSUpstreams) == 1 && c.DNSUpstreams[0] == DNSOff {
		return nil
	}
	for _, u := range c.DNSUpstreams {
		if u == DNSOff {
			return fmt.Errorf("--dns-upstream off turns forwarding off and cannot be combined with upstream resolvers")
		}
		if _, err := dns.ParseUpstream(u); err != nil {
			return fmt.Errorf("--dns-upstream %q: not an IP address or IP:port (such as 10.0.0.2 or 10.0.0.2:53)", u)
		}
	}
	return nil
}

// dnsListenAddr reads --dns-addr: IP, IP:port, :port, off, or "" (the
// advertise address, port 53).
func dnsListenAddr(s, advertise string) (string, error) {
	if s == DNSOff {
		return DNSOff, nil
	}
	if s == "" {
		s = ":53"
	}
	if port, ok := strings.CutPrefix(s, ":"); ok {
		s = net.JoinHostPort(advertise, port)
	}
	if ip, err := netip.ParseAddr(s); err == nil {
		return netip.AddrPortFrom(ip, 53).String(), nil
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return "", fmt.Errorf("--dns-addr %q: use an IP, IP:port, :port or off (such as 10.0.0.5:53)", s)
	}
	return ap.String(), nil
}

// dnsUpstreams are the resolvers forwarded to: the configured ones, or
// the host's; nil when forwarding is off.
func (a *Agent) dnsUpstreams() ([]string, error) {
	ups := a.cfg.DNSUpstreams
	if len(ups) == 1 && ups[0] == DNSOff {
		return nil, nil
	}
	if len(ups) > 0 {
		return ups, nil
	}
	// The host's resolvers, but never this node itself: that would loop.
	return dns.SystemUpstreams(hostResolvConf, a.cfg.DNSAddr)
}

// startDNS runs the node's DNS server: it answers the cluster domain from
// this node's replica, on --dns-addr and on the pod bridge's gateway
// address (what pods' resolv.conf names), once the replica has caught up
// with the local log. An address it cannot bind is a warning, not a
// failure: the node works on without that listener.
func (a *Agent) startDNS() {
	if a.cfg.DNSAddr == DNSOff {
		a.log.Info("DNS server off (--dns-addr off): pods on this node resolve no cluster names")
		return
	}
	log := a.log.With("component", "dns")
	var fwd dns.Resolver
	ups, err := a.dnsUpstreams()
	if err == nil && ups != nil {
		var f *dns.Forwarder
		if f, err = dns.NewForwarder(dns.ForwarderConfig{Upstreams: ups, Clock: a.cfg.Clock}); err == nil {
			fwd = f
			ups = f.Upstreams()
		}
	}
	if err != nil {
		log.Warn("DNS: names outside the cluster domain will be refused", "err", err)
	}
	idx := dns.NewIndex()
	srv := dns.NewServer(dns.NewHandler(dns.HandlerConfig{
		Domain: a.cfg.ClusterDomain, Reader: idx, TTL: a.cfg.DNSTTL,
		Forward: fwd, Clock: a.cfg.Clock, Logger: log,
	}), log)
	a.goLoop(func(ctx context.Context) {
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			srv.Shutdown(sctx)
		}()
		if err := a.store.WaitForIndex(ctx, a.startIndex); err != nil {
			return
		}
		loaded := make(chan struct{}, len(dns.Kinds))
		for _, kind := range dns.Kinds {
			a.goLoop(func(ctx context.Context) { idx.Follow(ctx, a.store, kind, loaded, a.cfg.Clock) })
		}
		for range dns.Kinds {
			select {
			case <-loaded:
			case <-ctx.Done():
				return
			}
		}
		if bound, err := srv.Listen(a.cfg.DNSAddr); err != nil {
			log.Warn("DNS: not answering on --dns-addr; clients there get no cluster names", "err", err)
		} else {
			log.Info("answering DNS", "addr", bound, "domain", a.cfg.ClusterDomain, "upstreams", ups)
		}
		if !a.dnsOnGateway() {
			<-ctx.Done()
			return
		}
		var gw string
		a.follow(ctx, "Node", func() { gw = a.syncDNSGateway(ctx, srv, gw) })
	})
}

// dnsOnGateway: this node runs pods on its own bridge, and --dns-addr
// does not already cover every address.
func (a *Agent) dnsOnGateway() bool {
	if a.podRuntime() == nil || a.cfg.PodNetwork != nil {
		return false
	}
	ap, err := netip.ParseAddrPort(a.cfg.DNSAddr)
	return err != nil || !ap.Addr().IsUnspecified()
}

// syncDNSGateway listens on the gateway address of this node's pod CIDR,
// port 53, moving when the CIDR changes; cur is the address served so far
// and the result the one served now. The bridge may not exist yet: the
// server binds with IP_FREEBIND and answers once it does.
func (a *Agent) syncDNSGateway(ctx context.Context, srv *dns.Server, cur string) string {
	var want string
	if gw := runtime.GatewayAddr(a.podCIDR()); gw.IsValid() {
		want = dns.HostPort(gw, 53)
	}
	if want == cur || want == a.cfg.DNSAddr {
		return cur
	}
	if cur != "" {
		srv.Stop(ctx, cur)
	}
	if want == "" {
		return ""
	}
	if _, err := srv.Listen(want); err != nil {
		a.log.Warn("DNS: not answering on the pod bridge's gateway; pods on this node cannot resolve names", "addr", want, "err", err)
	} else {
		a.log.Info("answering DNS for pods", "addr", want)
	}
	return want
}
