package node

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/shoal-dev/shoal/consensus"
	"github.com/shoal-dev/shoal/pki"
)

// DefaultCertLifetime is how long node and credential certificates last.
// Nodes renew theirs at two thirds of it.
const DefaultCertLifetime = 90 * 24 * time.Hour

// security is a secure agent's key material. It is loaded once at start;
// the node's Keypair is swapped in place on renewal.
type security struct {
	ca      *pki.CA // with its key: any node may become leader and sign
	node    *pki.Keypair
	sealer  *pki.Sealer
	sealKey []byte
	server  *tls.Config // API: client certificates optional, checked per route
	peer    *tls.Config // Raft: client certificates required
	client  *tls.Config // to other nodes
}

func (a *Agent) tlsDir() string        { return filepath.Join(a.cfg.DataDir, "tls") }
func (a *Agent) adminConfPath() string { return filepath.Join(a.cfg.DataDir, "admin.conf") }

// haveNodeCert reports whether this node has already been admitted.
func (a *Agent) haveNodeCert() bool {
	_, err := os.Stat(filepath.Join(a.tlsDir(), "node.crt"))
	return err == nil
}

// loadSecurity reads the key material saved by a bootstrap or a join.
func (a *Agent) loadSecurity() (*security, error) {
	dir := a.tlsDir()
	ca, err := pki.LoadCAFromDir(dir)
	if err != nil {
		return nil, fmt.Errorf("load the cluster CA from %s: %w", dir, err)
	}
	read := func(name string) ([]byte, error) {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("%w (the data dir is incomplete: restore it, or start with an empty one and --join)", err)
		}
		return b, nil
	}
	certPEM, err := read("node.crt")
	if err != nil {
		return nil, err
	}
	keyPEM, err := read("node.key")
	if err != nil {
		return nil, err
	}
	sealKey, err := read("seal.key")
	if err != nil {
		return nil, err
	}
	return newSecurity(ca, certPEM, keyPEM, sealKey)
}

func newSecurity(ca *pki.CA, certPEM, keyPEM, sealKey []byte) (*security, error) {
	kp, err := pki.NewKeypair(certPEM, keyPEM, ca.CertPEM)
	if err != nil {
		return nil, fmt.Errorf("node certificate: %w", err)
	}
	sealer, err := pki.NewSealer(sealKey)
	if err != nil {
		return nil, err
	}
	return &security{
		ca: ca, node: kp, sealer: sealer, sealKey: sealKey,
		server: pki.ServerTLS(ca, kp, false),
		peer:   pki.ServerTLS(ca, kp, true),
		client: pki.ClientTLS(ca, kp),
	}, nil
}

// saveNodeMaterial writes what a node needs to restart without rejoining.
func (a *Agent) saveNodeMaterial(ca *pki.CA, certPEM, keyPEM, sealKey []byte) error {
	dir := a.tlsDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := pki.SaveCA(dir, ca); err != nil {
		return err
	}
	for name, data := range map[string][]byte{"seal.key": sealKey, "node.key": keyPEM} {
		if err := pki.WriteFile0600(filepath.Join(dir, name), data); err != nil {
			return err
		}
	}
	// The certificate goes last: its presence means "admitted".
	return pki.WriteFile0600(filepath.Join(dir, "node.crt"), certPEM)
}

// nodeSANs are the addresses a node's certificate is valid for.
func (a *Agent) nodeSANs() ([]net.IP, []string) {
	ips := []net.IP{net.ParseIP(a.cfg.AdvertiseAddr), net.ParseIP("127.0.0.1")}
	if ip := net.ParseIP(a.cfg.BindAddr); !ip.IsUnspecified() && !ip.Equal(ips[0]) {
		ips = append(ips, ip)
	}
	return ips, []string{"localhost", a.cfg.Name}
}

// raftTLS is Raft's mutual TLS; refused peers are logged and counted.
func (a *Agent) raftTLS() *consensus.RaftTLS {
	if a.sec == nil {
		return nil
	}
	return &consensus.RaftTLS{
		Server: a.sec.peer,
		Client: a.sec.client,
		OnReject: func(remote string, err error) {
			a.m.authRejected.WithLabelValues("raft-handshake").Inc()
			a.log.Warn("raft connection refused at the TLS handshake", "remote", remote, "reason", err)
		},
	}
}

// peerHTTP is the client agents use to call each other.
func (a *Agent) peerHTTP() *http.Client {
	if a.sec == nil {
		return &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	}
	return &http.Client{
		Timeout: 15 * time.Second,
		// net/http adjusts the config it is given (HTTP/2 protocols), and
		// Raft's transport shares a.sec.client: give HTTP its own copy.
		Transport: &http.Transport{TLSClientConfig: a.sec.client.Clone(), MaxIdleConnsPerHost: 64, ForceAttemptHTTP2: true},
	}
}

func (a *Agent) scheme() string {
	if a.sec == nil {
		return "http"
	}
	return "https"
}

// errRefused marks a join the cluster answered with a definite no, which
// retrying cannot fix.
var errRefused = errors.New("node: join refused")
