package node

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/clock"
	"github.com/shoal-dev/shoal/pki"
)

// The renewer sleeps until two thirds of the certificate's lifetime on the
// injected clock, then swaps in a new certificate without a restart.
func TestCertificateRenewalWithFakeClock(t *testing.T) {
	start := time.Now()
	fc := clock.NewFake(start)
	ca, _ := pki.NewCA(start, "test")
	issue := func(now time.Time, csrPEM []byte) ([]byte, error) {
		csr, err := pki.ParseCSR(csrPEM)
		if err != nil {
			return nil, err
		}
		return ca.Issue(now, csr.PublicKey, csr.Subject.CommonName, pki.RoleNode, []net.IP{net.ParseIP("127.0.0.1")}, nil, 90*24*time.Hour)
	}
	key, _ := pki.NewKey()
	csr, _ := pki.NewCSR(key, "node-a")
	certPEM, _ := issue(start, csr)
	keyPEM, _ := pki.KeyPEM(key)
	kp, err := pki.NewKeypair(certPEM, keyPEM, ca.CertPEM)
	if err != nil {
		t.Fatal(err)
	}
	first := kp.Leaf().SerialNumber.String()
	renewed := make(chan struct{}, 4)
	r := &renewer{
		name: "node-a", clock: fc, kp: kp,
		log:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		renew: func(_ context.Context, csr []byte) ([]byte, error) { return issue(fc.Now(), csr) },
		save:  func(_, _ []byte) error { renewed <- struct{}{}; return nil },
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.run(ctx)
	waitUntil(t, 5*time.Second, "the renewer to arm its timer", func() (bool, string) { return fc.Waiters() == 1, "" })
	fc.Advance(59 * 24 * time.Hour)
	select {
	case <-renewed:
		t.Fatal("renewed before two thirds of the lifetime")
	case <-time.After(100 * time.Millisecond):
	}
	if kp.Leaf().SerialNumber.String() != first {
		t.Fatal("certificate changed early")
	}
	fc.Advance(2 * 24 * time.Hour) // past day 60 (of 90, minus the 5-minute backdate)
	select {
	case <-renewed:
	case <-time.After(5 * time.Second):
		t.Fatal("no renewal at two thirds of the lifetime")
	}
	if kp.Leaf().SerialNumber.String() == first {
		t.Fatal("the keypair still holds the old certificate")
	}
	if got := kp.Leaf().NotAfter.Sub(fc.Now()); got < 89*24*time.Hour {
		t.Fatalf("renewed certificate lasts only %v", got)
	}
}
