package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"time"
)

// Roles, carried in a certificate's Subject.Organization[0].
const (
	RoleNode     = "shoal:node"      // an agent: serves and calls other agents
	RoleAdmin    = "shoal:admin"     // a person or tool with full access
	RoleReadOnly = "shoal:read-only" // a person or tool that may only read
)

func knownRole(r string) bool { return r == RoleNode || r == RoleAdmin || r == RoleReadOnly }

// Identity is who a certificate speaks for.
type Identity struct {
	Name     string // Subject CommonName: the node ID for nodes
	Role     string // one of the Role constants
	Serial   string // certificate serial number, lower-case hex
	NotAfter time.Time
}

// IdentityOf reads the identity from cert. It does not verify the
// certificate; do that first (the TLS configurations here do). It returns an
// error matching ErrNoRole if cert has no known role or no name.
func IdentityOf(cert *x509.Certificate) (Identity, error) {
	if cert == nil {
		return Identity{}, ErrNoPeerCertificate
	}
	if len(cert.Subject.Organization) == 0 || !knownRole(cert.Subject.Organization[0]) {
		return Identity{}, errorf(ErrNoRole, "the certificate %q (serial %s) carries no shoal role", cert.Subject.CommonName, serialHex(cert))
	}
	if cert.Subject.CommonName == "" {
		return Identity{}, errorf(ErrNoRole, "the certificate with serial %s has no name (CommonName)", serialHex(cert))
	}
	return Identity{
		Name:     cert.Subject.CommonName,
		Role:     cert.Subject.Organization[0],
		Serial:   serialHex(cert),
		NotAfter: cert.NotAfter,
	}, nil
}

func serialHex(cert *x509.Certificate) string {
	if cert.SerialNumber == nil {
		return ""
	}
	return cert.SerialNumber.Text(16)
}

// Issue signs a certificate for pub, valid from now for lifetime (but never
// past the CA's own expiry), and returns it in PEM. For RoleNode the name is
// the node ID, the certificate is good for server and client auth, and ips
// and dns become its SANs. Other roles get client auth only and must not
// pass ips or dns.
func (ca *CA) Issue(now time.Time, pub crypto.PublicKey, name, role string, ips []net.IP, dns []string, lifetime time.Duration) ([]byte, error) {
	if ca.Key == nil {
		return nil, ErrNoCAKey
	}
	if !knownRole(role) {
		return nil, errorf(ErrUnknownRole, "cannot issue a certificate for %q: unknown role %q (want %s, %s or %s)", name, role, RoleNode, RoleAdmin, RoleReadOnly)
	}
	if name == "" {
		return nil, errors.New("pki: Issue needs a name")
	}
	if lifetime <= 0 {
		return nil, fmt.Errorf("pki: cannot issue a certificate for %q with lifetime %v", name, lifetime)
	}
	if role != RoleNode && (len(ips) > 0 || len(dns) > 0) {
		return nil, fmt.Errorf("pki: cannot issue a %s certificate for %q with IP or DNS names: only node certificates carry them", role, name)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	notAfter := now.Add(lifetime)
	if notAfter.After(ca.Cert.NotAfter) {
		notAfter = ca.Cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name, Organization: []string{role}},
		NotBefore:             now.Add(-backdate),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	if role == RoleNode {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
		tmpl.IPAddresses = ips
		tmpl.DNSNames = dns
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, pub, ca.Key)
	if err != nil {
		return nil, fmt.Errorf("pki: signing a certificate for %q: %w", name, err)
	}
	return certPEM(der), nil
}

// RenewAt returns when cert should be renewed: two thirds into its lifetime.
func RenewAt(cert *x509.Certificate) time.Time {
	d := cert.NotAfter.Sub(cert.NotBefore)
	return cert.NotBefore.Add(d/3*2 + d%3*2/3) // 2d/3 without overflow
}

// newSerial returns a random positive 128-bit serial number.
func newSerial() (*big.Int, error) {
	limit := new(big.Int).Lsh(big.NewInt(1), 128)
	for {
		n, err := rand.Int(rand.Reader, limit)
		if err != nil {
			return nil, fmt.Errorf("pki: generating a serial number: %w", err)
		}
		if n.Sign() > 0 {
			return n, nil
		}
	}
}

// NewKey generates an ECDSA P-256 private key.
func NewKey() (*ecdsa.PrivateKey, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("pki: generating a key: %w", err)
	}
	return k, nil
}

// KeyPEM encodes k as a PKCS #8 "PRIVATE KEY" PEM block.
func KeyPEM(k *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("pki: encoding a key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// ParseKeyPEM reads the first private key in b: PKCS #8 ("PRIVATE KEY") or
// SEC 1 ("EC PRIVATE KEY"). It must be an ECDSA key.
func ParseKeyPEM(b []byte) (*ecdsa.PrivateKey, error) {
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			return nil, errorf(ErrBadPEM, "no PRIVATE KEY or EC PRIVATE KEY block found")
		}
		switch block.Type {
		case "EC PRIVATE KEY":
			k, err := x509.ParseECPrivateKey(block.Bytes)
			if err != nil {
				return nil, errorf(ErrBadPEM, "parsing an EC private key: %w", err)
			}
			return k, nil
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
			if err != nil {
				return nil, errorf(ErrBadPEM, "parsing a private key: %w", err)
			}
			ek, ok := k.(*ecdsa.PrivateKey)
			if !ok {
				return nil, errorf(ErrUnsupportedKey, "the private key is a %T; shoal uses ECDSA P-256", k)
			}
			return ek, nil
		}
	}
}

// ParseCertPEM reads the first CERTIFICATE block in b.
func ParseCertPEM(b []byte) (*x509.Certificate, error) {
	certs, err := parseCertsPEM(b)
	if err != nil {
		return nil, err
	}
	return certs[0], nil
}

// parseCertsPEM reads every CERTIFICATE block in b; there must be one.
func parseCertsPEM(b []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, errorf(ErrBadPEM, "parsing a certificate: %w", err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errorf(ErrBadPEM, "no CERTIFICATE block found")
	}
	return certs, nil
}

func certPEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// NewCSR makes a PEM certificate signing request for key, naming name (the
// node ID). The joiner keeps the key; the leader decides the role when it
// signs.
func NewCSR(key *ecdsa.PrivateKey, name string) ([]byte, error) {
	if name == "" {
		return nil, errors.New("pki: NewCSR needs a name")
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: name},
	}, key)
	if err != nil {
		return nil, fmt.Errorf("pki: creating a CSR for %q: %w", name, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), nil
}

// ParseCSR reads a PEM certificate signing request and verifies its
// signature, so the sender holds the key it asks a certificate for. The key
// must be ECDSA.
func ParseCSR(pemBytes []byte) (*x509.CertificateRequest, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return nil, errorf(ErrBadCSR, "no CERTIFICATE REQUEST PEM block found")
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, errorf(ErrBadCSR, "parsing the CSR: %w", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, errorf(ErrBadCSR, "the CSR for %q has a bad signature: %w", csr.Subject.CommonName, err)
	}
	if _, ok := csr.PublicKey.(*ecdsa.PublicKey); !ok {
		return nil, errorf(ErrUnsupportedKey, "the CSR for %q has a %T key; shoal uses ECDSA P-256", csr.Subject.CommonName, csr.PublicKey)
	}
	return csr, nil
}
