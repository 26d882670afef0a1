package pki

import (
	"crypto/tls"
	"crypto/x509"
	"sync"
	"sync/atomic"
)

// Keypair holds this node's certificate and key, and optionally the CA
// certificate to send after the leaf, for the TLS configurations in this
// package. Set swaps the certificate at run time; the next handshake uses the
// new one, and handshakes already under way finish with the old one. A
// Keypair is safe for concurrent use.
//
// A server must send the CA certificate in its chain (pass caPEM) for a
// joining node's PinnedClientTLS to accept it. Make one with NewKeypair; the
// zero value is not usable.
type Keypair struct {
	mu  sync.Mutex // serializes writers; readers use cur
	cur atomic.Pointer[keypairState]
}

type keypairState struct {
	cert    *tls.Certificate
	leafPEM []byte
	keyPEM  []byte
	chain   *x509.Certificate // nil when no CA certificate is sent
}

// NewKeypair builds a Keypair from a PEM certificate and key. caPEM, which
// may be nil, is the CA certificate to send after the leaf; the leaf must be
// signed by it.
func NewKeypair(certPEM, keyPEM, caPEM []byte) (*Keypair, error) {
	var chain *x509.Certificate
	if caPEM != nil {
		c, err := ParseCertPEM(caPEM)
		if err != nil {
			return nil, err
		}
		chain = c
	}
	st, err := buildKeypair(certPEM, keyPEM, chain)
	if err != nil {
		return nil, err
	}
	k := &Keypair{}
	k.cur.Store(st)
	return k, nil
}

// Set replaces the certificate and key, keeping the CA certificate sent
// after the leaf, if any. On error the Keypair is unchanged.
func (k *Keypair) Set(certPEM, keyPEM []byte) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	st, err := buildKeypair(certPEM, keyPEM, k.cur.Load().chain)
	if err != nil {
		return err
	}
	k.cur.Store(st)
	return nil
}

// SetChain replaces the CA certificate sent after the leaf (nil sends none).
// The current leaf must be signed by it. On error the Keypair is unchanged.
func (k *Keypair) SetChain(caPEM []byte) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	var chain *x509.Certificate
	if caPEM != nil {
		c, err := ParseCertPEM(caPEM)
		if err != nil {
			return err
		}
		chain = c
	}
	old := k.cur.Load()
	st, err := buildKeypair(old.leafPEM, old.keyPEM, chain)
	if err != nil {
		return err
	}
	k.cur.Store(st)
	return nil
}

// Certificate returns the current certificate, with the CA certificate after
// the leaf when there is one. Do not modify it.
func (k *Keypair) Certificate() *tls.Certificate { return k.cur.Load().cert }

// Leaf returns the current leaf certificate. Do not modify it.
func (k *Keypair) Leaf() *x509.Certificate { return k.cur.Load().cert.Leaf }

func buildKeypair(certPEM, keyPEM []byte, chain *x509.Certificate) (*keypairState, error) {
	leaf, err := ParseCertPEM(certPEM)
	if err != nil {
		return nil, err
	}
	key, err := ParseKeyPEM(keyPEM)
	if err != nil {
		return nil, err
	}
	if !key.PublicKey.Equal(leaf.PublicKey) {
		return nil, errorf(ErrKeyMismatch, "the key does not belong to the certificate %q (serial %s)", leaf.Subject.CommonName, serialHex(leaf))
	}
	if chain != nil {
		if err := leaf.CheckSignatureFrom(chain); err != nil {
			return nil, errorf(ErrUntrusted, "the certificate %q is not signed by the CA %q sent with it: %w", leaf.Subject.CommonName, chain.Subject.CommonName, err)
		}
	}
	der := [][]byte{leaf.Raw}
	if chain != nil {
		der = append(der, chain.Raw)
	}
	return &keypairState{
		cert:    &tls.Certificate{Certificate: der, PrivateKey: key, Leaf: leaf},
		leafPEM: append([]byte(nil), certPEM...),
		keyPEM:  append([]byte(nil), keyPEM...),
		chain:   chain,
	}, nil
}
