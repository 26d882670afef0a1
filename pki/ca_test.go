package pki

import (
	"crypto/elliptic"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

func TestNewCA(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	ca, err := NewCA(now, "prod")
	if err != nil {
		t.Fatal(err)
	}
	c := ca.Cert
	if !c.IsCA || !c.BasicConstraintsValid {
		t.Error("CA certificate is not marked as a CA")
	}
	if ca.Key.Curve != elliptic.P256() {
		t.Errorf("curve %v, want P-256", ca.Key.Curve.Params().Name)
	}
	if err := c.CheckSignatureFrom(c); err != nil {
		t.Errorf("not self-signed: %v", err)
	}
	if got := c.NotAfter.Sub(now); got != CALifetime {
		t.Errorf("lifetime %v, want %v", got, CALifetime)
	}
	if c.NotBefore.After(now) {
		t.Errorf("NotBefore %v is after now", c.NotBefore)
	}
	if c.SerialNumber.Sign() <= 0 || c.SerialNumber.BitLen() > 128 {
		t.Errorf("serial %v is not a positive 128-bit number", c.SerialNumber)
	}
	ca2, _ := NewCA(now, "prod")
	if ca2.Cert.SerialNumber.Cmp(c.SerialNumber) == 0 {
		t.Error("two CAs got the same serial")
	}
	if !regexp.MustCompile(`^sha256:[0-9a-f]{64}$`).MatchString(ca.Fingerprint()) {
		t.Errorf("fingerprint %q", ca.Fingerprint())
	}
	if ca.Fingerprint() == ca2.Fingerprint() {
		t.Error("two CAs have the same fingerprint")
	}
	if _, err := IdentityOf(c); !errors.Is(err, ErrNoRole) {
		t.Errorf("IdentityOf(CA) = %v, want ErrNoRole", err)
	}
	if _, err := NewCA(now, ""); err == nil {
		t.Error("NewCA accepted an empty cluster name")
	}
}

func TestCASaveLoad(t *testing.T) {
	ca := mustCA(t, "test")
	dir := filepath.Join(t.TempDir(), "pki")
	if err := SaveCA(dir, ca); err != nil {
		t.Fatal(err)
	}
	if err := SaveCA(dir, ca); err != nil { // idempotent
		t.Fatal(err)
	}
	for name, want := range map[string]os.FileMode{"ca.crt": 0o644, "ca.key": 0o600} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s has mode %v, want %v", name, fi.Mode().Perm(), want)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("dir holds %d files, want 2 (temporary files left behind?)", len(entries))
	}
	got, err := LoadCAFromDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got.Fingerprint() != ca.Fingerprint() || got.Key == nil || !got.Key.Equal(ca.Key) {
		t.Error("loaded CA differs from the saved one")
	}
	// The loaded CA can sign, and what it signs verifies against the original.
	certPEM, _ := mustIssue(t, got, time.Now(), "n1", RoleNode, time.Hour)
	leaf, _ := ParseCertPEM(certPEM)
	if err := leaf.CheckSignatureFrom(ca.Cert); err != nil {
		t.Error(err)
	}

	// A node that only verifies has no ca.key.
	if err := os.Remove(filepath.Join(dir, "ca.key")); err != nil {
		t.Fatal(err)
	}
	vo, err := LoadCAFromDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if vo.Key != nil {
		t.Error("verify-only CA has a key")
	}
	if _, err := vo.KeyPEM(); !errors.Is(err, ErrNoCAKey) {
		t.Errorf("KeyPEM on verify-only CA: %v", err)
	}
	key, _ := NewKey()
	if _, err := vo.Issue(time.Now(), &key.PublicKey, "n", RoleNode, nil, nil, time.Hour); !errors.Is(err, ErrNoCAKey) {
		t.Errorf("Issue on verify-only CA: %v", err)
	}
	// Saving a verify-only CA writes only the certificate.
	dir2 := t.TempDir()
	if err := SaveCA(dir2, vo); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir2, "ca.key")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("verify-only SaveCA wrote a key: %v", err)
	}

	if _, err := LoadCAFromDir(t.TempDir()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("empty dir: %v", err)
	}
}

func TestLoadCARefusals(t *testing.T) {
	ca, other := mustCA(t, "a"), mustCA(t, "b")
	otherKey, _ := other.KeyPEM()
	if _, err := LoadCA(ca.CertPEM, otherKey); !errors.Is(err, ErrKeyMismatch) {
		t.Errorf("mismatched key: %v", err)
	}
	leafPEM, leafKey := mustIssue(t, ca, time.Now(), "n1", RoleNode, time.Hour)
	if _, err := LoadCA(leafPEM, leafKey); !errors.Is(err, ErrNotCA) {
		t.Errorf("leaf as CA: %v", err)
	}
	if _, err := LoadCA([]byte("junk"), nil); !errors.Is(err, ErrBadPEM) {
		t.Errorf("junk: %v", err)
	}
	if _, err := LoadCA(ca.CertPEM, []byte("junk")); !errors.Is(err, ErrBadPEM) {
		t.Errorf("junk key: %v", err)
	}
}
