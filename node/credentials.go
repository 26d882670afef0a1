package node

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/consensus"
	"github.com/shoal-dev/shoal/pki"
	"github.com/shoal-dev/shoal/state"
)

// CredentialRequest asks for a new API credential.
type CredentialRequest struct {
	Name     string        `json:"name"`
	ReadOnly bool          `json:"readOnly,omitempty"`
	Lifetime time.Duration `json:"lifetime,omitempty"`
}

// TokenAnswer carries a join token.
type TokenAnswer struct {
	Token string `json:"token"`
}

// RotateRequest asks for a new join secret, and optionally a new gossip key.
type RotateRequest struct {
	GossipKey bool `json:"gossipKey,omitempty"`
}

func (a *Agent) requireSecure(w http.ResponseWriter) bool {
	if a.sec == nil {
		writeError(w, api.NewError(api.ReasonBadRequest, "this cluster runs with --insecure-dev: it has no credentials or join secrets"))
		return false
	}
	return true
}

// commitObjects writes objects as one command and reports the first error.
func (a *Agent) commitObjects(ctx context.Context, mode state.Mode, objs ...api.Object) (*consensus.WriteResult, error) {
	changes := make([]state.Change, len(objs))
	for i, o := range objs {
		changes[i] = state.Change{Put: o, Mode: mode}
	}
	return a.commitChanges(ctx, changes...)
}

func (a *Agent) handleCreateCredential(w http.ResponseWriter, r *http.Request) {
	if !a.requireSecure(w) {
		return
	}
	var req CredentialRequest
	body, err := readBody(r)
	if err == nil {
		err = json.Unmarshal(body, &req)
	}
	if err != nil {
		writeError(w, api.NewError(api.ReasonBadRequest, "credential request: %v", err))
		return
	}
	if err := api.ValidateName("Credential", req.Name); err != nil {
		writeError(w, err)
		return
	}
	role := api.RoleAdmin
	if req.ReadOnly {
		role = api.RoleReadOnly
	}
	if req.Lifetime <= 0 {
		req.Lifetime = AdminCredentialLifetime
	}
	cc, rec, err := a.issueCredential(a.sec, a.cfg.Clock.Now(), req.Name, role, req.Lifetime)
	if err != nil {
		writeError(w, err)
		return
	}
	res, err := a.commitObjects(r.Context(), state.PutCreate, rec)
	if err != nil {
		if api.IsConflict(err) {
			err = api.NewError(api.ReasonAlreadyExists, "credential %q already exists; revoke it first or pick another name", req.Name)
		}
		writeError(w, err)
		return
	}
	a.waitReplicated(r.Context(), res.Index)
	a.log.Info("credential issued", "name", req.Name, "role", role)
	writeJSON(w, http.StatusCreated, cc)
}

func (a *Agent) handleRevokeCredential(w http.ResponseWriter, r *http.Request) {
	if !a.requireSecure(w) {
		return
	}
	name := r.PathValue("name")
	obj, err := a.store.Get(api.Key{Kind: "Credential", Name: name})
	if err != nil {
		writeError(w, api.NewError(api.ReasonNotFound, "credential %q does not exist (see `shoal credentials ls`)", name))
		return
	}
	cr := api.Copy(obj.(*api.Credential))
	if cr.Spec.Role == api.RoleNode {
		writeError(w, api.NewError(api.ReasonBadRequest, "credential %q belongs to a node; remove the node with `shoal node leave` instead", name))
		return
	}
	cr.Spec.Revoked = true
	cr.Spec.RevokedAt = api.NewTime(a.cfg.Clock.Now())
	res, err := a.commitObjects(r.Context(), state.PutUpdate, cr)
	if err != nil {
		writeError(w, err)
		return
	}
	a.waitReplicated(r.Context(), res.Index)
	a.log.Info("credential revoked", "name", name)
	writeJSON(w, http.StatusOK, cr)
}

func (a *Agent) handleListCredentials(w http.ResponseWriter, r *http.Request) {
	objs, idx := a.store.List("Credential", "")
	setIndex(w, idx)
	if objs == nil {
		objs = []api.Object{}
	}
	writeJSON(w, http.StatusOK, objs)
}

func (a *Agent) handleShowToken(w http.ResponseWriter, r *http.Request) {
	if !a.requireSecure(w) {
		return
	}
	t, err := a.clusterToken()
	if err != nil {
		writeError(w, api.NewError(api.ReasonServiceUnavailable, "the join token is not committed yet; retry"))
		return
	}
	writeJSON(w, http.StatusOK, TokenAnswer{Token: t})
}

// handleRotateToken replaces the cluster's join secret; the old one stops
// working at once. With gossipKey it also puts a new gossip key in front of
// the key ring, keeping the previous one so that no message is lost while
// nodes switch over.
func (a *Agent) handleRotateToken(w http.ResponseWriter, r *http.Request) {
	if !a.requireSecure(w) {
		return
	}
	var req RotateRequest
	if body, err := readBody(r); err == nil && len(body) > 0 {
		if err := json.Unmarshal(body, &req); err != nil {
			writeError(w, api.NewError(api.ReasonBadRequest, "rotate request: %v", err))
			return
		}
	}
	keys, err := a.currentGossipKeys()
	if err != nil {
		writeError(w, err)
		return
	}
	objs := []api.Object{}
	if req.GossipKey {
		k, err := pki.NewSealKey() // 32 random bytes, as a gossip key needs
		if err != nil {
			writeError(w, err)
			return
		}
		keys = [][]byte{k, keys[0]}
		objs = append(objs, clusterKeysRecord(a.sec, keys))
	}
	tok, err := pki.NewToken(keys[0], a.sec.ca)
	if err != nil {
		writeError(w, err)
		return
	}
	objs = append(objs, joinTokenRecord(a.sec, "cluster", tok, false))
	if _, err := a.commitObjects(r.Context(), state.PutAny, objs...); err != nil {
		writeError(w, err)
		return
	}
	a.log.Info("join token rotated", "gossipKey", req.GossipKey)
	writeJSON(w, http.StatusOK, TokenAnswer{Token: tok.String()})
}

// handleCreateToken makes a one-time join token: it admits one node.
func (a *Agent) handleCreateToken(w http.ResponseWriter, r *http.Request) {
	if !a.requireSecure(w) {
		return
	}
	keys, err := a.currentGossipKeys()
	if err != nil {
		writeError(w, err)
		return
	}
	tok, err := pki.NewToken(keys[0], a.sec.ca)
	if err != nil {
		writeError(w, err)
		return
	}
	b := make([]byte, 6)
	rand.Read(b)
	name := "once-" + hex.EncodeToString(b)
	if _, err := a.commitObjects(r.Context(), state.PutCreate, joinTokenRecord(a.sec, name, tok, true)); err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, TokenAnswer{Token: tok.String()})
}

// waitReplicated waits until every live member has applied index, so that
// a revocation is in force everywhere when the call returns. Members that
// do not answer within the timeout are skipped: they are not serving
// requests either.
func (a *Agent) waitReplicated(ctx context.Context, index uint64) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for _, m := range a.gossip.Members() {
		if m.Meta.ID == a.id || m.State != "alive" {
			continue
		}
		for ctx.Err() == nil {
			p, err := a.progress(ctx, m.Meta.APIAddr)
			if err != nil || p.Applied >= index {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}
