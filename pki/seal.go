package pki

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"fmt"
)

const (
	sealVersion  = 1
	sealKeyLen   = 32
	sealNonceLen = 12
)

// Sealer encrypts secret data at rest with AES-256-GCM. It is safe for
// concurrent use.
type Sealer struct {
	aead cipher.AEAD
}

// NewSealKey returns a fresh random 32-byte key for NewSealer.
func NewSealKey() ([]byte, error) {
	k := make([]byte, sealKeyLen)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("pki: generating a seal key: %w", err)
	}
	return k, nil
}

// NewSealer returns a Sealer for a 32-byte key.
func NewSealer(key []byte) (*Sealer, error) {
	if len(key) != sealKeyLen {
		return nil, errorf(ErrBadKeyLength, "a seal key must be %d bytes, not %d", sealKeyLen, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	return &Sealer{aead: aead}, nil
}

// Seal encrypts plaintext and authenticates it together with additionalData
// (which is not stored: pass the same to Open, e.g. the object's name, so a
// sealed value cannot be moved to another object). The output is the
// version byte 1, a 12-byte random nonce, and the ciphertext with its tag.
// The version byte is authenticated too.
func (s *Sealer) Seal(plaintext, additionalData []byte) ([]byte, error) {
	out := make([]byte, 1+sealNonceLen, 1+sealNonceLen+len(plaintext)+s.aead.Overhead())
	out[0] = sealVersion
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, fmt.Errorf("pki: generating a nonce: %w", err)
	}
	return s.aead.Seal(out, out[1:], plaintext, sealAD(additionalData)), nil
}

// Open decrypts what Seal returned. It fails with ErrDecrypt if the key or
// additionalData differ or the data was changed, and with ErrSealVersion if
// the data has a format this build does not know.
func (s *Sealer) Open(sealed, additionalData []byte) ([]byte, error) {
	if len(sealed) < 1+sealNonceLen+s.aead.Overhead() {
		return nil, ErrDecrypt
	}
	if sealed[0] != sealVersion {
		return nil, errorf(ErrSealVersion, "sealed data has format version %d; this build reads version %d (is it from a newer shoal?)", sealed[0], sealVersion)
	}
	pt, err := s.aead.Open(nil, sealed[1:1+sealNonceLen], sealed[1+sealNonceLen:], sealAD(additionalData))
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt, nil
}

// sealAD prefixes the caller's additional data with the version byte, so it
// is authenticated as well.
func sealAD(ad []byte) []byte {
	return append([]byte{sealVersion}, ad...)
}
