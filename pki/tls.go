package pki

import (
	"crypto/tls"
	"crypto/x509"
	"strings"
	"time"
)

// ServerTLS returns the configuration for an agent's listeners: TLS 1.3,
// this node's certificate taken from kp on every handshake (so renewal needs
// no restart), and client certificates checked against the CA. A client
// certificate must also carry a role. With requireClientCert false a client
// may connect without a certificate (tls.VerifyClientCertIfGiven), so an HTTP
// handler can serve /healthz and answer 401 itself; with true the handshake
// fails without one. PeerIdentity reads who the client is.
func ServerTLS(ca *CA, kp *Keypair, requireClientCert bool) *tls.Config {
	auth := tls.VerifyClientCertIfGiven
	if requireClientCert {
		auth = tls.RequireAndVerifyClientCert
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return kp.Certificate(), nil
		},
		ClientAuth: auth,
		ClientCAs:  ca.Pool(),
		// crypto/tls has verified the chain and the client-auth key usage
		// by now; this adds the role check.
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return nil // allowed only by VerifyClientCertIfGiven
			}
			_, err := IdentityOf(cs.PeerCertificates[0])
			return err
		},
	}
}

// ClientTLS returns the configuration for calling an agent: TLS 1.3, the
// server's chain checked against the CA, and the server's certificate
// required to be a node certificate (RoleNode, server auth). kp, if not nil,
// supplies the client certificate on every handshake.
//
// It does not match the server's name or IP against the certificate's SANs:
// nodes are addressed by IP and may move, and a node's identity is its
// certificate, not its address. crypto/tls cannot skip the name check alone,
// so InsecureSkipVerify turns off its verification and VerifyConnection does
// all of it (chain, validity period, key usage, role) with x509.Verify.
// Nothing is skipped except the name. A caller that must reach one specific
// node compares PeerIdentity's Name with the node ID it expects.
func ClientTLS(ca *CA, kp *Keypair) *tls.Config {
	pool := ca.Pool()
	cfg := &tls.Config{
		MinVersion:         tls.VersionTLS13,
		InsecureSkipVerify: true, // see above: VerifyConnection verifies
		VerifyConnection: func(cs tls.ConnectionState) error {
			return verifyServer(cs.PeerCertificates, pool, time.Now())
		},
	}
	if kp != nil {
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return kp.Certificate(), nil
		}
	}
	return cfg
}

// verifyServer checks that certs[0] chains to a root in pool for server auth
// at now, and that it is a node certificate.
func verifyServer(certs []*x509.Certificate, pool *x509.CertPool, now time.Time) error {
	if len(certs) == 0 {
		return ErrNoPeerCertificate
	}
	leaf := certs[0]
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{
		Roots:         pool,
		Intermediates: inter,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}); err != nil {
		return errorf(ErrUntrusted, "the server's certificate %q is not trusted by this cluster: %w", leaf.Subject.CommonName, err)
	}
	id, err := IdentityOf(leaf)
	if err != nil {
		return err
	}
	if id.Role != RoleNode {
		return errorf(ErrNotNode, "the server's certificate %q has role %s, not %s", id.Name, id.Role, RoleNode)
	}
	return nil
}

// PinnedClientTLS returns the configuration a joining node uses before it
// has the CA: it holds only the CA fingerprint from the join token. The
// server must send the CA certificate after its leaf (see Keypair); the
// handshake succeeds only if a certificate in the chain has that
// fingerprint, is a CA, and signed the server's node certificate. Names and
// IPs are not checked, for the reasons given at ClientTLS. The handshake
// error names both fingerprints when they differ.
func PinnedClientTLS(fingerprint string) *tls.Config {
	want := strings.ToLower(strings.TrimSpace(fingerprint))
	return &tls.Config{
		MinVersion:         tls.VersionTLS13,
		InsecureSkipVerify: true, // VerifyConnection checks against the pinned CA
		VerifyConnection: func(cs tls.ConnectionState) error {
			return verifyPinned(cs.PeerCertificates, want, time.Now())
		},
	}
}

func verifyPinned(certs []*x509.Certificate, want string, now time.Time) error {
	if len(certs) == 0 {
		return ErrNoPeerCertificate
	}
	var got string // the first CA the server sent, for the error
	for _, c := range certs[1:] {
		if !c.IsCA {
			continue
		}
		fp := fingerprint(c)
		if got == "" {
			got = fp
		}
		if fp == want {
			pool := x509.NewCertPool()
			pool.AddCert(c)
			return verifyServer(certs[:1], pool, now)
		}
	}
	if got == "" {
		return errorf(ErrFingerprintMismatch, "the server sent no CA certificate, so it cannot be checked against the join token's %s (is it a shoal agent of a version that supports SHL2- tokens?)", want)
	}
	return errorf(ErrFingerprintMismatch, "the server's CA fingerprint %s does not match the join token's %s; the token is for a different cluster", got, want)
}

// PeerIdentity returns the identity in the peer's verified certificate of a
// connection made with ServerTLS or ClientTLS, such as an http.Request's TLS
// field. It returns ErrNoPeerCertificate when the peer sent none (possible
// with ServerTLS(..., false)): answer 401.
func PeerIdentity(cs *tls.ConnectionState) (Identity, error) {
	if cs == nil || len(cs.PeerCertificates) == 0 {
		return Identity{}, ErrNoPeerCertificate
	}
	return IdentityOf(cs.PeerCertificates[0])
}
