package pki

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"math/big"
	"net"
	"testing"
	"time"
)

func mustCA(t testing.TB, name string) *CA {
	t.Helper()
	ca, err := NewCA(time.Now(), name)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// mustIssue returns a fresh key and a certificate for it, in PEM.
func mustIssue(t testing.TB, ca *CA, now time.Time, name, role string, lifetime time.Duration) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	var ips []net.IP
	if role == RoleNode {
		ips = []net.IP{net.ParseIP("10.0.0.1")}
	}
	certPEM, err = ca.Issue(now, &key.PublicKey, name, role, ips, nil, lifetime)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err = KeyPEM(key)
	if err != nil {
		t.Fatal(err)
	}
	return certPEM, keyPEM
}

// mustKeypair issues a certificate and wraps it, sending ca's certificate
// after the leaf.
func mustKeypair(t testing.TB, ca *CA, name, role string) *Keypair {
	t.Helper()
	c, k := mustIssue(t, ca, time.Now(), name, role, time.Hour)
	kp, err := NewKeypair(c, k, ca.CertPEM)
	if err != nil {
		t.Fatal(err)
	}
	return kp
}

// mustCustom signs tmpl with ca, bypassing Issue's checks, to build
// certificates Issue would refuse to make.
func mustCustom(t testing.TB, ca *CA, tmpl *x509.Certificate) *Keypair {
	t.Helper()
	key, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	tmpl.SerialNumber = big.NewInt(42)
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore = time.Now().Add(-time.Hour)
		tmpl.NotAfter = time.Now().Add(time.Hour)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, _ := KeyPEM(key)
	kp, err := NewKeypair(certPEM(der), keyPEM, ca.CertPEM)
	if err != nil {
		t.Fatal(err)
	}
	return kp
}

type result struct {
	clientErr, serverErr     error
	clientState, serverState tls.ConnectionState
}

// handshake runs a real TLS handshake over loopback TCP and exchanges one
// byte each way, so a refusal on either side shows on both.
func handshake(t *testing.T, server, client *tls.Config) result {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var res result
	done := make(chan struct{})
	go func() {
		defer close(done)
		raw, err := ln.Accept()
		if err != nil {
			res.serverErr = err
			return
		}
		defer raw.Close()
		raw.SetDeadline(time.Now().Add(10 * time.Second))
		conn := tls.Server(raw, server)
		if res.serverErr = conn.Handshake(); res.serverErr != nil {
			return
		}
		res.serverState = conn.ConnectionState()
		b := make([]byte, 1)
		if _, res.serverErr = conn.Read(b); res.serverErr != nil {
			return
		}
		_, res.serverErr = conn.Write(b)
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(10 * time.Second))
	conn := tls.Client(raw, client)
	res.clientErr = conn.Handshake()
	if res.clientErr == nil {
		res.clientState = conn.ConnectionState()
		if _, res.clientErr = conn.Write([]byte{'x'}); res.clientErr == nil {
			_, res.clientErr = conn.Read(make([]byte, 1))
		}
	}
	raw.Close()
	<-done
	return res
}
