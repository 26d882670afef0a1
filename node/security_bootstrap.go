package node

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/consensus"
	"github.com/shoal-dev/shoal/pki"
)

// AdminCredentialLifetime is how long the bootstrap admin credential lasts.
const AdminCredentialLifetime = 365 * 24 * time.Hour

func (a *Agent) pendingPath() string { return filepath.Join(a.cfg.DataDir, "pending.json") }

// defaultNamespace is the namespace every cluster starts with.
func defaultNamespace() *api.Namespace {
	return &api.Namespace{
		TypeMeta:   api.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
		ObjectMeta: api.ObjectMeta{Name: "default"},
		Status:     api.NamespaceStatus{Phase: "Active"},
	}
}

// savePending records objects a new cluster must commit once it has a
// leader; commitPending commits them.
func (a *Agent) savePending(objs ...api.Object) error {
	var ops []consensus.Op
	for _, o := range objs {
		op, err := consensus.OpFor(consensus.OpPut, o)
		if err != nil {
			return err
		}
		ops = append(ops, op)
	}
	b, err := json.Marshal(ops)
	if err != nil {
		return err
	}
	return pki.WriteFile0600(a.pendingPath(), b)
}

// bootstrapSecurity creates a new cluster's CA, sealing key, join token,
// this node's certificate and the admin credential. The records the cluster
// must hold about them are committed once this node leads.
func (a *Agent) bootstrapSecurity(gossipKey []byte) (*security, pki.Token, error) {
	now := a.cfg.Clock.Now()
	ca, err := pki.NewCA(now, "shoal")
	if err != nil {
		return nil, pki.Token{}, err
	}
	sealKey, err := pki.NewSealKey()
	if err != nil {
		return nil, pki.Token{}, err
	}
	nodeKey, err := pki.NewKey()
	if err != nil {
		return nil, pki.Token{}, err
	}
	ips, dns := a.nodeSANs()
	certPEM, err := ca.Issue(now, &nodeKey.PublicKey, a.id, api.RoleNode, ips, dns, a.cfg.CertLifetime)
	if err != nil {
		return nil, pki.Token{}, err
	}
	keyPEM, err := pki.KeyPEM(nodeKey)
	if err != nil {
		return nil, pki.Token{}, err
	}
	tok, err := pki.NewToken(gossipKey, ca)
	if err != nil {
		return nil, pki.Token{}, err
	}
	sec, err := newSecurity(ca, certPEM, keyPEM, sealKey)
	if err != nil {
		return nil, pki.Token{}, err
	}
	admin, adminRec, err := a.issueCredential(sec, now, "admin", api.RoleAdmin, AdminCredentialLifetime)
	if err != nil {
		return nil, pki.Token{}, err
	}
	nodeCert, err := pki.ParseCertPEM(certPEM)
	if err != nil {
		return nil, pki.Token{}, err
	}
	records := []api.Object{
		defaultNamespace(),
		adminRec,
		nodeCredential(a.id, nodeCert),
		joinTokenRecord(sec, "cluster", tok, false),
		clusterKeysRecord(sec, [][]byte{gossipKey}),
	}
	if err := a.savePending(records...); err != nil {
		return nil, pki.Token{}, err
	}
	if err := admin.Save(a.adminConfPath()); err != nil {
		return nil, pki.Token{}, err
	}
	if err := a.saveNodeMaterial(ca, certPEM, keyPEM, sealKey); err != nil {
		return nil, pki.Token{}, err
	}
	a.log.Info("created the cluster CA and an admin credential", "ca", ca.Fingerprint(), "admin", a.adminConfPath())
	return sec, tok, nil
}

// commitPending commits the bootstrap records once this node leads. The
// writes are puts, so a retry after a crash is harmless.
func (a *Agent) commitPending(ctx context.Context) {
	b, err := os.ReadFile(a.pendingPath())
	if errors.Is(err, os.ErrNotExist) {
		return
	}
	var ops []consensus.Op
	if err == nil {
		err = json.Unmarshal(b, &ops)
	}
	if err != nil {
		a.log.Error("cannot read the pending bootstrap records (default namespace, credentials)", "path", a.pendingPath(), "err", err)
		return
	}
	for ctx.Err() == nil {
		_, err := a.commitOps(ctx, ops...)
		if err == nil {
			os.Remove(a.pendingPath())
			a.log.Info("bootstrap records committed")
			return
		}
		a.log.Warn("committing bootstrap records failed; retrying", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// issueCredential makes a client certificate for a person or tool, and the
// record that lets it in.
func (a *Agent) issueCredential(sec *security, now time.Time, name, role string, lifetime time.Duration) (*ClientConfig, *api.Credential, error) {
	key, err := pki.NewKey()
	if err != nil {
		return nil, nil, err
	}
	certPEM, err := sec.ca.Issue(now, &key.PublicKey, name, role, nil, nil, lifetime)
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err := pki.KeyPEM(key)
	if err != nil {
		return nil, nil, err
	}
	cert, err := pki.ParseCertPEM(certPEM)
	if err != nil {
		return nil, nil, err
	}
	id, err := pki.IdentityOf(cert)
	if err != nil {
		return nil, nil, err
	}
	rec := &api.Credential{
		TypeMeta:   api.TypeMeta{APIVersion: "shoal.dev/v1", Kind: "Credential"},
		ObjectMeta: api.ObjectMeta{Name: name},
		Spec:       api.CredentialSpec{Role: role, Serial: id.Serial, NotAfter: api.NewTime(cert.NotAfter)},
	}
	cc := &ClientConfig{
		Name: name, Server: "https://" + a.cfg.apiAddr(),
		CA: string(sec.ca.CertPEM), Cert: string(certPEM), Key: string(keyPEM),
	}
	return cc, rec, nil
}

// nodeCredential records a node's certificate.
func nodeCredential(nodeID string, cert *x509.Certificate) *api.Credential {
	id, _ := pki.IdentityOf(cert)
	return &api.Credential{
		TypeMeta:   api.TypeMeta{APIVersion: "shoal.dev/v1", Kind: "Credential"},
		ObjectMeta: api.ObjectMeta{Name: "node-" + nodeID},
		Spec:       api.CredentialSpec{Role: api.RoleNode, Serial: id.Serial, NodeID: nodeID, NotAfter: api.NewTime(cert.NotAfter)},
	}
}

func joinTokenRecord(sec *security, name string, tok pki.Token, oneTime bool) *api.JoinToken {
	sealed, _ := sec.sealer.Seal([]byte(tok.String()), []byte("jointoken/"+name))
	return &api.JoinToken{
		TypeMeta:   api.TypeMeta{APIVersion: "shoal.dev/v1", Kind: "JoinToken"},
		ObjectMeta: api.ObjectMeta{Name: name},
		Spec:       api.JoinTokenSpec{SecretHash: pki.SecretID(tok.Secret), Sealed: sealed, OneTime: oneTime},
	}
}

func clusterKeysRecord(sec *security, keys [][]byte) *api.ClusterKeys {
	b, _ := json.Marshal(keys)
	sealed, _ := sec.sealer.Seal(b, []byte("clusterkeys/gossip"))
	return &api.ClusterKeys{
		TypeMeta:   api.TypeMeta{APIVersion: "shoal.dev/v1", Kind: "ClusterKeys"},
		ObjectMeta: api.ObjectMeta{Name: "gossip"},
		Sealed:     sealed,
	}
}
