package pki

import (
	"errors"
	"fmt"
)

// Sentinel errors. Errors returned by this package match one of these with
// errors.Is, and usually carry a longer message for people.
var (
	ErrNoCAKey             = errors.New("pki: this node holds only the CA certificate, not its key, so it cannot sign")
	ErrNotCA               = errors.New("pki: the certificate is not a CA certificate")
	ErrKeyMismatch         = errors.New("pki: the private key does not match the certificate")
	ErrBadPEM              = errors.New("pki: no PEM block of the expected type")
	ErrUnsupportedKey      = errors.New("pki: unsupported key type (shoal uses ECDSA P-256)")
	ErrUnknownRole         = errors.New("pki: unknown role")
	ErrNoRole              = errors.New("pki: the certificate carries no shoal role")
	ErrBadCSR              = errors.New("pki: invalid certificate signing request")
	ErrUntrusted           = errors.New("pki: the peer's certificate is not signed by the cluster CA")
	ErrNotNode             = errors.New("pki: the server's certificate is not a node certificate")
	ErrNoPeerCertificate   = errors.New("pki: the peer presented no certificate")
	ErrFingerprintMismatch = errors.New("pki: the server's CA does not match the join token")
	ErrMalformedToken      = errors.New("pki: the join token is malformed")
	ErrBadKeyLength        = errors.New("pki: a seal key must be 32 bytes")
	ErrDecrypt             = errors.New("pki: cannot decrypt: wrong key or corrupted data")
	ErrSealVersion         = errors.New("pki: sealed data has an unknown format version")
)

// detailed is an error with a message for people that matches a sentinel.
type detailed struct {
	sentinel error
	msg      string
	cause    error // optional
}

func (e *detailed) Error() string { return e.msg }

func (e *detailed) Unwrap() []error {
	if e.cause != nil {
		return []error{e.sentinel, e.cause}
	}
	return []error{e.sentinel}
}

// errorf returns an error that reads "pki: " + the formatted message and
// matches sentinel. A %w verb in format also wraps that argument.
func errorf(sentinel error, format string, args ...any) error {
	err := fmt.Errorf("pki: "+format, args...)
	return &detailed{sentinel: sentinel, msg: err.Error(), cause: errors.Unwrap(err)}
}
