package pki

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

const (
	// CALifetime is how long a new CA certificate is valid.
	CALifetime = 10 * 365 * 24 * time.Hour
	// backdate is how far before "now" certificates become valid, so that a
	// peer whose clock is a little behind still accepts them.
	backdate = 5 * time.Minute

	caCertFile = "ca.crt"
	caKeyFile  = "ca.key"
)

// CA is the cluster's certificate authority. Key is nil on nodes that only
// verify. Treat a CA as read-only once it is shared.
type CA struct {
	Cert    *x509.Certificate
	CertPEM []byte
	Key     *ecdsa.PrivateKey
}

// NewCA creates a CA for the cluster clusterName: a fresh ECDSA P-256 key and
// a self-signed certificate valid from now for CALifetime.
func NewCA(now time.Time, clusterName string) (*CA, error) {
	if clusterName == "" {
		return nil, errors.New("pki: NewCA needs a cluster name")
	}
	key, err := NewKey()
	if err != nil {
		return nil, err
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "shoal CA for cluster " + clusterName},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(CALifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("pki: creating the CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("pki: parsing the new CA certificate: %w", err)
	}
	return &CA{Cert: cert, CertPEM: certPEM(der), Key: key}, nil
}

// Fingerprint returns "sha256:" and the hex SHA-256 of the CA certificate's
// DER encoding. Join tokens carry it.
func (ca *CA) Fingerprint() string { return fingerprint(ca.Cert) }

func fingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// KeyPEM returns the CA key in PEM, or ErrNoCAKey on a verify-only CA.
func (ca *CA) KeyPEM() ([]byte, error) {
	if ca.Key == nil {
		return nil, ErrNoCAKey
	}
	return KeyPEM(ca.Key)
}

// Pool returns a new certificate pool holding only the CA certificate.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// LoadCA parses a CA from its certificate and, unless keyPEM is nil, its
// key. It checks that the certificate is a CA and that the key matches it.
func LoadCA(certPEM, keyPEM []byte) (*CA, error) {
	cert, err := ParseCertPEM(certPEM)
	if err != nil {
		return nil, err
	}
	if !cert.IsCA || !cert.BasicConstraintsValid {
		return nil, errorf(ErrNotCA, "the certificate %q is not a CA certificate", cert.Subject.CommonName)
	}
	ca := &CA{Cert: cert, CertPEM: append([]byte(nil), certPEM...)}
	if keyPEM == nil {
		return ca, nil
	}
	key, err := ParseKeyPEM(keyPEM)
	if err != nil {
		return nil, err
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, errorf(ErrKeyMismatch, "the CA key does not belong to the CA certificate %q", cert.Subject.CommonName)
	}
	ca.Key = key
	return ca, nil
}

// SaveCA writes dir/ca.crt (mode 0644) and, when the CA has a key, dir/ca.key
// (mode 0600), creating dir (mode 0700) if needed.
func SaveCA(dir string, ca *CA) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	if ca.Key != nil {
		keyPEM, err := ca.KeyPEM()
		if err != nil {
			return err
		}
		if err := writeFileAtomic(filepath.Join(dir, caKeyFile), keyPEM, 0o600); err != nil {
			return err
		}
	}
	return writeFileAtomic(filepath.Join(dir, caCertFile), ca.CertPEM, 0o644)
}

// LoadCAFromDir reads dir/ca.crt and, if it exists, dir/ca.key.
func LoadCAFromDir(dir string) (*CA, error) {
	certPEM, err := os.ReadFile(filepath.Join(dir, caCertFile))
	if err != nil {
		return nil, fmt.Errorf("pki: reading the cluster CA: %w", err)
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, caKeyFile))
	if errors.Is(err, os.ErrNotExist) {
		keyPEM = nil
	} else if err != nil {
		return nil, fmt.Errorf("pki: reading the cluster CA key: %w", err)
	}
	ca, err := LoadCA(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, dir)
	}
	return ca, nil
}
