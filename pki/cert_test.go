package pki

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestIssueAndIdentity(t *testing.T) {
	ca := mustCA(t, "test")
	now := time.Now().Truncate(time.Second) // certificates keep whole seconds
	for _, tc := range []struct {
		role string
		ekus []x509.ExtKeyUsage
	}{
		{RoleNode, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}},
		{RoleAdmin, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}},
		{RoleReadOnly, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}},
	} {
		t.Run(tc.role, func(t *testing.T) {
			key, _ := NewKey()
			var ips []net.IP
			var dns []string
			if tc.role == RoleNode {
				ips = []net.IP{net.ParseIP("10.0.0.5"), net.ParseIP("fd00::5")}
				dns = []string{"n1.example"}
			}
			p, err := ca.Issue(now, &key.PublicKey, "id-1", tc.role, ips, dns, 24*time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			cert, err := ParseCertPEM(p)
			if err != nil {
				t.Fatal(err)
			}
			id, err := IdentityOf(cert)
			if err != nil {
				t.Fatal(err)
			}
			if id.Name != "id-1" || id.Role != tc.role || id.Serial != cert.SerialNumber.Text(16) || !id.NotAfter.Equal(cert.NotAfter) {
				t.Errorf("identity %+v", id)
			}
			if !slices.Equal(cert.ExtKeyUsage, tc.ekus) {
				t.Errorf("ext key usage %v, want %v", cert.ExtKeyUsage, tc.ekus)
			}
			if cert.IsCA {
				t.Error("leaf is a CA")
			}
			if len(cert.IPAddresses) != len(ips) || len(cert.DNSNames) != len(dns) {
				t.Errorf("SANs %v %v, want %v %v", cert.IPAddresses, cert.DNSNames, ips, dns)
			}
			if got := cert.NotAfter.Sub(now); got != 24*time.Hour {
				t.Errorf("lifetime %v", got)
			}
			if cert.SerialNumber.Sign() <= 0 || cert.SerialNumber.BitLen() > 128 {
				t.Errorf("serial %v", cert.SerialNumber)
			}
			if _, err := cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
				t.Errorf("does not verify for client auth: %v", err)
			}
		})
	}
}

func TestIssueRefusals(t *testing.T) {
	ca := mustCA(t, "test")
	key, _ := NewKey()
	now := time.Now()
	if _, err := ca.Issue(now, &key.PublicKey, "x", "shoal:root", nil, nil, time.Hour); !errors.Is(err, ErrUnknownRole) {
		t.Errorf("unknown role: %v", err)
	}
	if _, err := ca.Issue(now, &key.PublicKey, "", RoleNode, nil, nil, time.Hour); err == nil {
		t.Error("empty name accepted")
	}
	if _, err := ca.Issue(now, &key.PublicKey, "x", RoleNode, nil, nil, 0); err == nil {
		t.Error("zero lifetime accepted")
	}
	if _, err := ca.Issue(now, &key.PublicKey, "x", RoleAdmin, []net.IP{net.IPv4(1, 2, 3, 4)}, nil, time.Hour); err == nil {
		t.Error("admin certificate with an IP accepted")
	}
	// A certificate never outlives its CA.
	p, err := ca.Issue(now, &key.PublicKey, "x", RoleNode, nil, nil, 20*365*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := ParseCertPEM(p)
	if !c.NotAfter.Equal(ca.Cert.NotAfter) {
		t.Errorf("NotAfter %v, want the CA's %v", c.NotAfter, ca.Cert.NotAfter)
	}
}

func TestIdentityOfNoRole(t *testing.T) {
	ca := mustCA(t, "test")
	for name, subj := range map[string]pkix.Name{
		"no organization":   {CommonName: "n1"},
		"unknown role":      {CommonName: "n1", Organization: []string{"system:masters"}},
		"role not first":    {CommonName: "n1", Organization: []string{"acme", RoleAdmin}},
		"role without name": {Organization: []string{RoleAdmin}},
	} {
		kp := mustCustom(t, ca, &x509.Certificate{Subject: subj})
		if _, err := IdentityOf(kp.Leaf()); !errors.Is(err, ErrNoRole) {
			t.Errorf("%s: %v, want ErrNoRole", name, err)
		}
	}
	if _, err := IdentityOf(nil); err == nil {
		t.Error("nil certificate accepted")
	}
}

func TestKeyPEM(t *testing.T) {
	k, _ := NewKey()
	p, err := KeyPEM(k)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseKeyPEM(p)
	if err != nil || !got.Equal(k) {
		t.Fatalf("PKCS#8 round trip: %v", err)
	}
	der, _ := x509.MarshalECPrivateKey(k)
	sec1 := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
	if got, err := ParseKeyPEM(sec1); err != nil || !got.Equal(k) {
		t.Fatalf("SEC 1: %v", err)
	}
	if _, err := ParseKeyPEM(nil); !errors.Is(err, ErrBadPEM) {
		t.Errorf("empty: %v", err)
	}
	ca := mustCA(t, "x")
	if _, err := ParseKeyPEM(ca.CertPEM); !errors.Is(err, ErrBadPEM) {
		t.Errorf("a certificate as a key: %v", err)
	}
	if _, err := ParseCertPEM(p); !errors.Is(err, ErrBadPEM) {
		t.Errorf("a key as a certificate: %v", err)
	}
}

func TestCSR(t *testing.T) {
	k, _ := NewKey()
	p, err := NewCSR(k, "node-uuid")
	if err != nil {
		t.Fatal(err)
	}
	csr, err := ParseCSR(p)
	if err != nil {
		t.Fatal(err)
	}
	if csr.Subject.CommonName != "node-uuid" {
		t.Errorf("CN %q", csr.Subject.CommonName)
	}
	// The leader signs it; the joiner's key matches the certificate.
	ca := mustCA(t, "x")
	certPEM, err := ca.Issue(time.Now(), csr.PublicKey, csr.Subject.CommonName, RoleNode, nil, nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, _ := KeyPEM(k)
	if _, err := NewKeypair(certPEM, keyPEM, ca.CertPEM); err != nil {
		t.Fatal(err)
	}

	// A changed byte inside the signed part breaks the signature.
	block, _ := pem.Decode(p)
	der := slices.Clone(block.Bytes)
	i := strings.Index(string(der), "node-uuid")
	der[i] = 'N'
	bad := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
	if _, err := ParseCSR(bad); !errors.Is(err, ErrBadCSR) {
		t.Errorf("tampered CSR: %v", err)
	}
	if _, err := ParseCSR([]byte("junk")); !errors.Is(err, ErrBadCSR) {
		t.Errorf("junk: %v", err)
	}
	if _, err := NewCSR(k, ""); err == nil {
		t.Error("empty name accepted")
	}
}

func TestRenewAt(t *testing.T) {
	start := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, d := range []time.Duration{3 * time.Hour, 90 * 24 * time.Hour, 10 * time.Nanosecond, 3650 * 24 * time.Hour} {
		c := &x509.Certificate{NotBefore: start, NotAfter: start.Add(d)}
		got := RenewAt(c).Sub(start)
		want := time.Duration(int64(d) * 2 / 3)
		if got != want {
			t.Errorf("lifetime %v: renew after %v, want %v", d, got, want)
		}
	}
	c := &x509.Certificate{NotBefore: start, NotAfter: start.Add(3 * time.Hour)}
	if !RenewAt(c).Equal(start.Add(2 * time.Hour)) {
		t.Errorf("RenewAt = %v", RenewAt(c))
	}
	// An issued certificate's renewal time falls inside its validity.
	ca := mustCA(t, "x")
	p, _ := mustIssue(t, ca, start, "n", RoleNode, 24*time.Hour)
	leaf, _ := ParseCertPEM(p)
	at := RenewAt(leaf)
	if !at.After(start) || !at.Before(leaf.NotAfter) {
		t.Errorf("RenewAt %v outside (%v, %v)", at, start, leaf.NotAfter)
	}
}
