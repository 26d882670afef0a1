package pki

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestTLSMutualOK(t *testing.T) {
	ca := mustCA(t, "test")
	srv, cli := mustKeypair(t, ca, "server-node", RoleNode), mustKeypair(t, ca, "admin", RoleAdmin)
	for _, require := range []bool{false, true} {
		res := handshake(t, ServerTLS(ca, srv, require), ClientTLS(ca, cli))
		if res.clientErr != nil || res.serverErr != nil {
			t.Fatalf("require=%v: client %v, server %v", require, res.clientErr, res.serverErr)
		}
		if res.clientState.Version != tls.VersionTLS13 {
			t.Errorf("version %x", res.clientState.Version)
		}
		id, err := PeerIdentity(&res.serverState)
		if err != nil || id.Name != "admin" || id.Role != RoleAdmin {
			t.Errorf("server sees %+v, %v", id, err)
		}
		id, err = PeerIdentity(&res.clientState)
		if err != nil || id.Name != "server-node" || id.Role != RoleNode {
			t.Errorf("client sees %+v, %v", id, err)
		}
	}
}

func TestTLSNoClientCert(t *testing.T) {
	ca := mustCA(t, "test")
	srv := mustKeypair(t, ca, "n1", RoleNode)

	// Optional: the handshake succeeds and the handler sees no identity.
	res := handshake(t, ServerTLS(ca, srv, false), ClientTLS(ca, nil))
	if res.clientErr != nil || res.serverErr != nil {
		t.Fatalf("client %v, server %v", res.clientErr, res.serverErr)
	}
	if _, err := PeerIdentity(&res.serverState); !errors.Is(err, ErrNoPeerCertificate) {
		t.Errorf("PeerIdentity without a cert: %v", err)
	}

	// Required: the server refuses, and the client learns of it.
	res = handshake(t, ServerTLS(ca, srv, true), ClientTLS(ca, nil))
	if res.serverErr == nil || res.clientErr == nil {
		t.Fatalf("client without a certificate accepted: client %v, server %v", res.clientErr, res.serverErr)
	}
}

func TestTLSOtherCARefused(t *testing.T) {
	ca, other := mustCA(t, "ours"), mustCA(t, "theirs")
	good := mustKeypair(t, ca, "n1", RoleNode)
	foreign := mustKeypair(t, other, "n1", RoleNode)

	t.Run("server from another CA", func(t *testing.T) {
		res := handshake(t, ServerTLS(other, foreign, false), ClientTLS(ca, good))
		if !errors.Is(res.clientErr, ErrUntrusted) {
			t.Errorf("client error %v, want ErrUntrusted", res.clientErr)
		}
	})
	for _, require := range []bool{false, true} {
		t.Run(fmt.Sprintf("client from another CA, require=%v", require), func(t *testing.T) {
			res := handshake(t, ServerTLS(ca, good, require), ClientTLS(other, foreign))
			if res.serverErr == nil {
				t.Errorf("require=%v: server accepted a client from another CA", require)
			}
			if res.clientErr == nil {
				t.Errorf("require=%v: client did not learn it was refused", require)
			}
		})
	}
}

func TestTLSExpiredRefused(t *testing.T) {
	ca := mustCA(t, "test")
	past := time.Now().Add(-2 * time.Hour)
	expCert, expKey := mustIssue(t, ca, past, "old", RoleNode, time.Hour)
	expired, err := NewKeypair(expCert, expKey, ca.CertPEM)
	if err != nil {
		t.Fatal(err)
	}
	good := mustKeypair(t, ca, "n1", RoleNode)

	res := handshake(t, ServerTLS(ca, expired, false), ClientTLS(ca, good))
	if !errors.Is(res.clientErr, ErrUntrusted) || !strings.Contains(res.clientErr.Error(), "expired") {
		t.Errorf("expired server: client error %v", res.clientErr)
	}
	res = handshake(t, ServerTLS(ca, good, true), ClientTLS(ca, expired))
	if res.serverErr == nil || !strings.Contains(res.serverErr.Error(), "expired") {
		t.Errorf("expired client: server error %v", res.serverErr)
	}
	res = handshake(t, ServerTLS(ca, expired, false), PinnedClientTLS(ca.Fingerprint()))
	if !errors.Is(res.clientErr, ErrUntrusted) {
		t.Errorf("expired server, pinned client: %v", res.clientErr)
	}
}

func TestTLSRoles(t *testing.T) {
	ca := mustCA(t, "test")
	node := mustKeypair(t, ca, "n1", RoleNode)

	// A non-node certificate cannot serve, even one allowed to.
	serverAdmin := mustCustom(t, ca, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "admin", Organization: []string{RoleAdmin}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	res := handshake(t, ServerTLS(ca, serverAdmin, false), ClientTLS(ca, node))
	if !errors.Is(res.clientErr, ErrNotNode) {
		t.Errorf("admin as server: %v, want ErrNotNode", res.clientErr)
	}
	// An ordinary admin certificate lacks server auth.
	admin := mustKeypair(t, ca, "admin", RoleAdmin)
	res = handshake(t, ServerTLS(ca, admin, false), ClientTLS(ca, node))
	if !errors.Is(res.clientErr, ErrUntrusted) {
		t.Errorf("client-auth-only cert as server: %v, want ErrUntrusted", res.clientErr)
	}
	// A client certificate signed by the CA but without a role is refused.
	noRole := mustCustom(t, ca, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "anon"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	res = handshake(t, ServerTLS(ca, node, false), ClientTLS(ca, noRole))
	if !errors.Is(res.serverErr, ErrNoRole) {
		t.Errorf("roleless client: server %v, want ErrNoRole", res.serverErr)
	}
}

func TestPinnedClientTLS(t *testing.T) {
	ca, other := mustCA(t, "ours"), mustCA(t, "theirs")
	srv := mustKeypair(t, ca, "n1", RoleNode)

	res := handshake(t, ServerTLS(ca, srv, false), PinnedClientTLS(ca.Fingerprint()))
	if res.clientErr != nil || res.serverErr != nil {
		t.Fatalf("right CA refused: client %v, server %v", res.clientErr, res.serverErr)
	}

	res = handshake(t, ServerTLS(ca, srv, false), PinnedClientTLS(other.Fingerprint()))
	want := "pki: the server's CA fingerprint " + ca.Fingerprint() + " does not match the join token's " + other.Fingerprint() + "; the token is for a different cluster"
	if !errors.Is(res.clientErr, ErrFingerprintMismatch) || res.clientErr.Error() != want {
		t.Errorf("different CA:\n got %v\nwant %s", res.clientErr, want)
	}
	if res.serverErr == nil {
		t.Error("server did not learn the client refused it")
	}

	// A server that sends no CA certificate cannot be checked.
	c, k := mustIssue(t, ca, time.Now(), "n1", RoleNode, time.Hour)
	bare, _ := NewKeypair(c, k, nil)
	res = handshake(t, ServerTLS(ca, bare, false), PinnedClientTLS(ca.Fingerprint()))
	if !errors.Is(res.clientErr, ErrFingerprintMismatch) || !strings.Contains(res.clientErr.Error(), "sent no CA certificate") {
		t.Errorf("no chain: %v", res.clientErr)
	}

	// A server that sends the right CA certificate next to a leaf the CA did
	// not sign is refused: the pin covers the leaf, not just the chain.
	fc, fk := mustIssue(t, other, time.Now(), "n1", RoleNode, time.Hour)
	forged := &Keypair{}
	leaf, _ := ParseCertPEM(fc)
	key, _ := ParseKeyPEM(fk)
	forged.cur.Store(&keypairState{cert: &tls.Certificate{Certificate: [][]byte{leaf.Raw, ca.Cert.Raw}, PrivateKey: key, Leaf: leaf}})
	res = handshake(t, ServerTLS(other, forged, false), PinnedClientTLS(ca.Fingerprint()))
	if !errors.Is(res.clientErr, ErrUntrusted) {
		t.Errorf("leaf from another CA with the pinned CA in the chain: %v", res.clientErr)
	}
}

func TestKeypairSwap(t *testing.T) {
	ca := mustCA(t, "test")
	kp := mustKeypair(t, ca, "before", RoleNode)
	scfg, ccfg := ServerTLS(ca, kp, false), ClientTLS(ca, nil)

	res := handshake(t, scfg, ccfg)
	if id, _ := PeerIdentity(&res.clientState); id.Name != "before" {
		t.Fatalf("first handshake: %v %+v", res.clientErr, id)
	}
	c, k := mustIssue(t, ca, time.Now(), "after", RoleNode, time.Hour)
	if err := kp.Set(c, k); err != nil {
		t.Fatal(err)
	}
	res = handshake(t, scfg, ccfg)
	if id, _ := PeerIdentity(&res.clientState); id.Name != "after" {
		t.Fatalf("after Set: %v %+v", res.clientErr, id)
	}
	if kp.Leaf().Subject.CommonName != "after" || len(kp.Certificate().Certificate) != 2 {
		t.Error("Set did not keep the chain or update the leaf")
	}

	// Refused updates leave the Keypair unchanged.
	_, otherKey := mustIssue(t, ca, time.Now(), "x", RoleNode, time.Hour)
	if err := kp.Set(c, otherKey); !errors.Is(err, ErrKeyMismatch) {
		t.Errorf("Set with a foreign key: %v", err)
	}
	if err := kp.SetChain(mustCA(t, "other").CertPEM); !errors.Is(err, ErrUntrusted) {
		t.Errorf("SetChain with a CA that did not sign the leaf: %v", err)
	}
	if kp.Leaf().Subject.CommonName != "after" || len(kp.Certificate().Certificate) != 2 {
		t.Error("a refused update changed the Keypair")
	}
	if err := kp.SetChain(nil); err != nil || len(kp.Certificate().Certificate) != 1 {
		t.Errorf("SetChain(nil): %v", err)
	}
	if _, err := NewKeypair(c, k, mustCA(t, "other").CertPEM); !errors.Is(err, ErrUntrusted) {
		t.Errorf("NewKeypair with the wrong CA: %v", err)
	}
}

func TestKeypairConcurrent(t *testing.T) {
	ca := mustCA(t, "test")
	kp := mustKeypair(t, ca, "n", RoleNode)
	c, k := mustIssue(t, ca, time.Now(), "m", RoleNode, time.Hour)
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for j := 0; j < 50; j++ {
				if err := kp.Set(c, k); err != nil {
					t.Error(err)
				}
				_ = kp.SetChain(ca.CertPEM)
			}
		}()
		go func() {
			defer wg.Done()
			for j := 0; j < 50; j++ {
				if kp.Certificate().Leaf != kp.Leaf() && kp.Leaf() == nil {
					t.Error("nil leaf")
				}
			}
		}()
	}
	wg.Wait()
}
