package consensus

import (
	"crypto/tls"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// RaftTLS makes Raft's transport mutual TLS: every connection, in and out,
// must present a certificate the other side trusts.
type RaftTLS struct {
	Server *tls.Config // must require and verify client certificates
	Client *tls.Config
	// OnReject is told about every inbound connection refused at the
	// handshake (nil = ignore).
	OnReject func(remote string, err error)
}

// tlsStreamLayer is a raft.StreamLayer over TLS.
type tlsStreamLayer struct {
	ln        net.Listener
	advertise net.Addr
	cfg       *RaftTLS
}

func newTLSStreamLayer(bind string, advertise net.Addr, cfg *RaftTLS) (*tlsStreamLayer, error) {
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, err
	}
	return &tlsStreamLayer{ln: ln, advertise: advertise, cfg: cfg}, nil
}

// Accept returns the next inbound connection. The TLS handshake runs on the
// connection's first read, so one slow peer cannot stall the accept loop; a
// failed handshake is reported through OnReject and ends that connection.
func (l *tlsStreamLayer) Accept() (net.Conn, error) {
	c, err := l.ln.Accept()
	if err != nil {
		return nil, err
	}
	return &handshakeConn{Conn: tls.Server(c, l.cfg.Server), onReject: l.cfg.OnReject}, nil
}

func (l *tlsStreamLayer) Close() error   { return l.ln.Close() }
func (l *tlsStreamLayer) Addr() net.Addr { return l.advertise }

// Dial opens a mutual-TLS connection to another node's Raft port.
func (l *tlsStreamLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	d := &net.Dialer{Timeout: timeout}
	c, err := tls.DialWithDialer(d, "tcp", string(addr), l.cfg.Client)
	if err != nil {
		return nil, fmt.Errorf("consensus: tls dial %s: %w", addr, err)
	}
	return c, nil
}

// handshakeConn completes the server handshake before the first read.
type handshakeConn struct {
	*tls.Conn
	once     sync.Once
	err      error
	onReject func(string, error)
}

func (c *handshakeConn) Read(p []byte) (int, error) {
	c.once.Do(func() {
		c.Conn.SetDeadline(time.Now().Add(10 * time.Second))
		if c.err = c.Conn.Handshake(); c.err != nil {
			if c.onReject != nil {
				c.onReject(c.RemoteAddr().String(), c.err)
			}
			c.Conn.Close()
			return
		}
		c.Conn.SetDeadline(time.Time{})
	})
	if c.err != nil {
		return 0, c.err
	}
	return c.Conn.Read(p)
}
