package node

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"log/slog"
	"net/http"
	"path/filepath"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/clock"
	"github.com/shoal-dev/shoal/pki"
	"github.com/shoal-dev/shoal/state"
)

// renewer renews a certificate at two thirds of its lifetime, with no
// restart: the Keypair is swapped in place and the next handshake uses it.
type renewer struct {
	name  string // the certificate's CommonName
	clock clock.Clock
	kp    *pki.Keypair
	renew func(ctx context.Context, csrPEM []byte) ([]byte, error) // returns the new certificate
	save  func(certPEM, keyPEM []byte) error
	log   *slog.Logger
}

func (r *renewer) run(ctx context.Context) {
	backoff := time.Second
	for {
		if wait := pki.RenewAt(r.kp.Leaf()).Sub(r.clock.Now()); wait > 0 {
			select {
			case <-ctx.Done():
				return
			case <-r.clock.After(wait):
			}
		}
		if err := r.once(ctx); err != nil {
			r.log.Warn("certificate renewal failed; retrying", "err", err, "in", backoff)
			select {
			case <-ctx.Done():
				return
			case <-r.clock.After(backoff):
			}
			backoff = min(2*backoff, 5*time.Minute)
			continue
		}
		backoff = time.Second
	}
}

func (r *renewer) once(ctx context.Context) error {
	key, err := pki.NewKey()
	if err != nil {
		return err
	}
	csr, err := pki.NewCSR(key, r.name)
	if err != nil {
		return err
	}
	certPEM, err := r.renew(ctx, csr)
	if err != nil {
		return err
	}
	keyPEM, err := pki.KeyPEM(key)
	if err != nil {
		return err
	}
	if err := r.kp.Set(certPEM, keyPEM); err != nil {
		return err
	}
	if err := r.save(certPEM, keyPEM); err != nil {
		return err
	}
	r.log.Info("certificate renewed", "notAfter", r.kp.Leaf().NotAfter)
	return nil
}

func (a *Agent) renewLoop(ctx context.Context) {
	r := &renewer{
		name: a.id, clock: a.cfg.Clock, kp: a.sec.node, log: a.log,
		renew: a.requestRenewal,
		save: func(certPEM, keyPEM []byte) error {
			if err := writeFileAtomic(filepath.Join(a.tlsDir(), "node.key"), keyPEM, 0o600); err != nil {
				return err
			}
			return writeFileAtomic(filepath.Join(a.tlsDir(), "node.crt"), certPEM, 0o600)
		},
	}
	r.run(ctx)
}

type renewRequest struct {
	CSR string `json:"csr"`
}

type renewResponse struct {
	Cert string `json:"cert"`
}

// requestRenewal has the leader sign a new certificate for this node.
func (a *Agent) requestRenewal(ctx context.Context, csrPEM []byte) ([]byte, error) {
	if a.raft.IsLeader() {
		return a.signRenewal(ctx, a.id, a.sec.node.Leaf(), csrPEM)
	}
	leaderAPI, ok := a.leaderAPI()
	if !ok {
		return nil, a.noLeaderError()
	}
	var resp renewResponse
	_, err := a.peerClient(leaderAPI).Do(ctx, http.MethodPost, "/internal/v1/certs/renew", renewRequest{CSR: string(csrPEM)}, &resp)
	return []byte(resp.Cert), err
}

// handleRenew signs a renewal for the node that calls, for the same name
// and addresses as the certificate it presents.
func (a *Agent) handleRenew(w http.ResponseWriter, r *http.Request) {
	c, _ := callerOf(r)
	if !a.raft.IsLeader() {
		writeError(w, errMisdirected)
		return
	}
	body, err := readBody(r)
	if err != nil {
		writeError(w, err)
		return
	}
	var req renewRequest
	if err := json.Unmarshal(body, &req); err != nil {
		writeError(w, api.NewError(api.ReasonBadRequest, "renew: %v", err))
		return
	}
	cert, err := a.signRenewal(r.Context(), c.Name, r.TLS.PeerCertificates[0], []byte(req.CSR))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, renewResponse{Cert: string(cert)})
}

func (a *Agent) signRenewal(ctx context.Context, nodeID string, current *x509.Certificate, csrPEM []byte) ([]byte, error) {
	csr, err := pki.ParseCSR(csrPEM)
	if err != nil {
		return nil, api.NewError(api.ReasonBadRequest, "renew: %v", err)
	}
	if csr.Subject.CommonName != nodeID {
		return nil, api.NewError(api.ReasonForbidden, "renew: node %s asked for a certificate named %q", nodeID, csr.Subject.CommonName)
	}
	now := a.cfg.Clock.Now()
	certPEM, err := a.sec.ca.Issue(now, csr.PublicKey, nodeID, api.RoleNode, current.IPAddresses, current.DNSNames, a.cfg.CertLifetime)
	if err != nil {
		return nil, err
	}
	cert, _ := pki.ParseCertPEM(certPEM)
	if _, err := a.commitChanges(ctx, state.Change{Put: nodeCredential(nodeID, cert)}); err != nil {
		return nil, err
	}
	return certPEM, nil
}
