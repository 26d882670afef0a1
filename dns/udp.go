package dns

import (
	"encoding/binary"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sync"

	mdns "github.com/miekg/dns"
)

// maxSlowInFlight bounds the queries on the general path at once per
// socket (each may wait for an upstream); more are dropped, and their
// clients retry.
const maxSlowInFlight = 1024

// udpLoop serves one UDP socket: a single reader answers the fast path in
// place and hands everything else to a goroutine of its own.
type udpLoop struct {
	pc      *net.UDPConn
	local   netip.Addr
	handler mdns.Handler
	fast    *Handler // nil when handler is not a *Handler
	log     *slog.Logger
	slow    chan struct{} // semaphore of general-path goroutines
	wg      sync.WaitGroup
}

func newUDPLoop(pc *net.UDPConn, h mdns.Handler, log *slog.Logger) *udpLoop {
	l := &udpLoop{pc: pc, handler: h, log: log, slow: make(chan struct{}, maxSlowInFlight)}
	l.fast, _ = h.(*Handler)
	if a, ok := pc.LocalAddr().(*net.UDPAddr); ok {
		l.local = a.AddrPort().Addr().Unmap()
	}
	return l
}

// run reads until the socket is closed, then waits for the queries in
// flight.
func (l *udpLoop) run() {
	defer l.wg.Wait()
	buf := make([]byte, maxUDPSize)
	s := &scratch{out: make([]byte, 0, maxUDPSize+optLen)}
	var q wireQuery
	for {
		n, from, err := l.pc.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			l.log.Debug("dns: reading a query", "addr", l.pc.LocalAddr(), "err", err)
			continue
		}
		pkt := buf[:n]
		if l.fast != nil && parseQuery(pkt, &q, s.name[:]) {
			if out := l.fast.fastAnswer(&q, l.local, s); out != nil {
				l.pc.WriteToUDPAddrPort(out, from)
				continue
			}
		}
		if n < headerLen {
			continue
		}
		select {
		case l.slow <- struct{}{}:
		default:
			continue // overloaded: drop, the client retries
		}
		msg := append([]byte(nil), pkt...)
		l.wg.Add(1)
		go func() {
			defer func() { <-l.slow; l.wg.Done() }()
			l.serveSlow(msg, from)
		}()
	}
}

// serveSlow is the general path: miekg/dns unpacks the query and the
// handler answers it, as miekg's own server would.
func (l *udpLoop) serveSlow(msg []byte, from netip.AddrPort) {
	w := &udpResponse{pc: l.pc, local: l.pc.LocalAddr(), remote: from}
	req := new(mdns.Msg)
	if err := req.Unpack(msg); err != nil {
		// A query whose message does not parse gets FORMERR; an answer,
		// nothing (answering garbage only helps amplification).
		flags := binary.BigEndian.Uint16(msg[2:])
		if flags&flagQR == 0 {
			m := new(mdns.Msg)
			m.Id, m.Response, m.Opcode, m.Rcode = binary.BigEndian.Uint16(msg), true, int(flags>>11)&0xF, mdns.RcodeFormatError
			w.WriteMsg(m)
		}
		return
	}
	l.handler.ServeDNS(w, req)
}

// udpResponse is the mdns.ResponseWriter of one general-path query.
type udpResponse struct {
	pc     *net.UDPConn
	local  net.Addr
	remote netip.AddrPort
}

func (w *udpResponse) LocalAddr() net.Addr  { return w.local }
func (w *udpResponse) RemoteAddr() net.Addr { return net.UDPAddrFromAddrPort(w.remote) }
func (w *udpResponse) WriteMsg(m *mdns.Msg) error {
	b, err := m.Pack()
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}
func (w *udpResponse) Write(b []byte) (int, error) { return w.pc.WriteToUDPAddrPort(b, w.remote) }
func (w *udpResponse) Close() error                { return nil }
func (w *udpResponse) TsigStatus() error           { return nil }
func (w *udpResponse) TsigTimersOnly(bool)         {}
func (w *udpResponse) Hijack()                     {}
