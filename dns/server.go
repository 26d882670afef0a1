package dns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"time"

	mdns "github.com/miekg/dns"
)

// Server answers DNS over UDP and TCP on any number of addresses, each
// added with Listen and removed with Stop, all with one Handler.
//
// Sockets are bound with IP_FREEBIND, so an address need not exist yet: a
// node binds its pod bridge's gateway address as soon as it knows its pod
// CIDR, and the bridge (made with the first pod) brings the address later;
// the kernel delivers to the socket from then on. Server never binds a
// wildcard address unless asked to.
//
// UDP gets one socket per core (SO_REUSEPORT) with a 4 MiB receive
// buffer, each read by one goroutine that answers the fast path (see
// wire.go) in place, without allocating, and starts a goroutine only for
// the general path (miekg/dns and Handler.ServeDNS), at most 1,024 at a
// time per socket. TCP is miekg/dns's server. On a wildcard address UDP is
// miekg/dns's server too, which replies from the address each query came
// to.
type Server struct {
	handler mdns.Handler
	log     *slog.Logger

	mu     sync.Mutex
	addrs  map[string]*listener // by the address asked for
	closed bool
}

// listener is one address: its UDP sockets and TCP server.
type listener struct {
	addr    string // as bound, with the real port
	udp     []*udpLoop
	udpDone sync.WaitGroup
	servers []*served // TCP, and UDP on a wildcard address
}

// served is one mdns.Server and its goroutine.
type served struct {
	srv     *mdns.Server
	started chan struct{} // closed once it serves
	exited  chan struct{} // closed when ActivateAndServe has returned
}

func newServed(srv *mdns.Server) *served {
	sv := &served{srv: srv, started: make(chan struct{}), exited: make(chan struct{})}
	srv.NotifyStartedFunc = func() { close(sv.started) }
	return sv
}

// NewServer returns a Server that answers with h and listens nowhere yet.
func NewServer(h mdns.Handler, log *slog.Logger) *Server {
	if log == nil {
		log = slog.Default()
	}
	return &Server{handler: h, log: log, addrs: map[string]*listener{}}
}

// ErrServerClosed is returned by Listen after Shutdown.
var ErrServerClosed = errors.New("dns: server is shut down")

// Listen starts answering on addr, "IP:port", over UDP and TCP, and
// returns the address bound (port 0 picks a free port, the same for both).
// Listening again on an address already served does nothing.
func (s *Server) Listen(addr string) (string, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return "", fmt.Errorf("dns: listen address %q is not IP:port (such as 10.0.0.5:53)", addr)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return "", ErrServerClosed
	}
	if l, ok := s.addrs[addr]; ok {
		return l.addr, nil
	}
	var l *listener
	for range 10 { // port 0: the UDP port may be taken for TCP; pick again
		l, err = s.bind(ap)
		if err == nil || ap.Port() != 0 {
			break
		}
	}
	if err != nil {
		return "", err
	}
	for _, u := range l.udp {
		l.udpDone.Add(1)
		go func() { defer l.udpDone.Done(); u.run() }()
	}
	for _, sv := range l.servers {
		go func() {
			defer close(sv.exited)
			if err := sv.srv.ActivateAndServe(); err != nil {
				s.log.Warn("dns: server stopped", "addr", l.addr, "err", err)
			}
		}()
	}
	s.addrs[addr] = l
	return l.addr, nil
}

// bind opens the sockets of one address.
func (s *Server) bind(ap netip.AddrPort) (*listener, error) {
	udp := net.ListenConfig{Control: freebindControl(true)}
	tcp := net.ListenConfig{Control: freebindControl(false)}
	ctx := context.Background()
	var pcs []net.PacketConn
	closeAll := func() {
		for _, pc := range pcs {
			pc.Close()
		}
	}
	first, err := udp.ListenPacket(ctx, "udp", ap.String())
	if err != nil {
		return nil, bindError(ap, err)
	}
	pcs = append(pcs, first)
	bound := netip.AddrPortFrom(ap.Addr(), uint16(first.LocalAddr().(*net.UDPAddr).Port))
	for range runtime.GOMAXPROCS(0) - 1 {
		// Further sockets share the port (SO_REUSEPORT); where that is
		// not possible, one socket serves.
		pc, err := udp.ListenPacket(ctx, "udp", bound.String())
		if err != nil {
			break
		}
		pcs = append(pcs, pc)
	}
	// TCP takes no SO_REUSEPORT: its bind fails when another server
	// already holds the address, so two never share it unknowingly.
	ln, err := tcp.Listen(ctx, "tcp", bound.String())
	if err != nil {
		closeAll()
		return nil, bindError(bound, err)
	}
	l := &listener{addr: bound.String()}
	for _, pc := range pcs {
		if ap.Addr().IsUnspecified() {
			// miekg's server answers from the address each query came to
			// (IP_PKTINFO), which a wildcard socket needs.
			l.servers = append(l.servers, newServed(&mdns.Server{PacketConn: pc, Handler: s.handler, UDPSize: maxUDPSize}))
			continue
		}
		l.udp = append(l.udp, newUDPLoop(pc.(*net.UDPConn), s.handler, s.log))
	}
	l.servers = append(l.servers, newServed(&mdns.Server{Listener: ln, Handler: s.handler, ReadTimeout: 2 * time.Second}))
	return l, nil
}

// bindError says what to do about a failed bind.
func bindError(ap netip.AddrPort, err error) error {
	switch {
	case errors.Is(err, syscall.EACCES) || errors.Is(err, os.ErrPermission):
		return fmt.Errorf("dns: cannot listen on %s: %w (ports below 1024 need root or CAP_NET_BIND_SERVICE; or pick another port with --dns-addr, or --dns-addr off)", ap, err)
	case errors.Is(err, syscall.EADDRINUSE):
		return fmt.Errorf("dns: cannot listen on %s: %w (another DNS server holds the port: stop it, or move one of them with --dns-addr, or --dns-addr off)", ap, err)
	}
	return fmt.Errorf("dns: cannot listen on %s: %w", ap, err)
}

// Stop stops answering on addr, as given to Listen, and waits until its
// sockets are closed. Stopping an address not served does nothing.
func (s *Server) Stop(ctx context.Context, addr string) error {
	s.mu.Lock()
	l, ok := s.addrs[addr]
	delete(s.addrs, addr)
	s.mu.Unlock()
	if !ok {
		return nil
	}
	return l.shutdown(ctx)
}

// Addrs returns the addresses served, as bound, sorted.
func (s *Server) Addrs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, l := range s.addrs {
		out = append(out, l.addr)
	}
	sort.Strings(out)
	return out
}

// Shutdown stops answering everywhere; Listen fails afterwards. It
// returns when every socket is closed or ctx is done.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	ls := s.addrs
	s.addrs = map[string]*listener{}
	s.mu.Unlock()
	var errs []error
	for _, l := range ls {
		errs = append(errs, l.shutdown(ctx))
	}
	return errors.Join(errs...)
}

func (l *listener) shutdown(ctx context.Context) error {
	for _, u := range l.udp {
		u.pc.Close()
	}
	for _, sv := range l.servers {
		select {
		case <-sv.started:
			sv.srv.ShutdownContext(ctx)
		case <-sv.exited:
		case <-ctx.Done():
		}
	}
	udpDone := make(chan struct{})
	go func() { l.udpDone.Wait(); close(udpDone) }()
	for _, done := range l.exits(udpDone) {
		select {
		case <-done:
		case <-ctx.Done():
			return fmt.Errorf("dns: stopping %s: %w", l.addr, ctx.Err())
		}
	}
	return nil
}

// exits are the channels closed when each part of l has stopped.
func (l *listener) exits(udp <-chan struct{}) []<-chan struct{} {
	out := []<-chan struct{}{udp}
	for _, sv := range l.servers {
		out = append(out, sv.exited)
	}
	return out
}

// HostPort joins an IP and a port.
func HostPort(ip netip.Addr, port int) string {
	return net.JoinHostPort(ip.String(), strconv.Itoa(port))
}
