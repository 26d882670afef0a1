package node

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/pki"
	"github.com/shoal-dev/shoal/state"
)

// joinRequest is what a new node sends to be admitted. It travels over TLS
// to a server whose CA matches the token's fingerprint.
type joinRequest struct {
	NodeID string   `json:"nodeID"`
	Name   string   `json:"name"`
	Secret []byte   `json:"secret"`
	CSR    string   `json:"csr"`
	IPs    []string `json:"ips"`
	DNS    []string `json:"dns"`
}

// joinResponse admits a node: its certificate and the cluster's keys.
type joinResponse struct {
	Cert       string   `json:"cert"`
	CA         string   `json:"ca"`
	CAKey      string   `json:"caKey"`
	SealKey    []byte   `json:"sealKey"`
	GossipKeys [][]byte `json:"gossipKeys"`
}

// admit gets this node a certificate from the cluster named by --join,
// retrying unreachable members with backoff. A definite refusal (wrong
// token, another cluster, a spent one-time token) is returned at once.
func (a *Agent) admit(ctx context.Context, tok pki.Token) (*security, error) {
	key, err := pki.NewKey()
	if err != nil {
		return nil, err
	}
	csr, err := pki.NewCSR(key, a.id)
	if err != nil {
		return nil, err
	}
	ips, dns := a.nodeSANs()
	req := joinRequest{NodeID: a.id, Name: a.cfg.Name, Secret: tok.Secret, CSR: string(csr), DNS: dns}
	for _, ip := range ips {
		req.IPs = append(req.IPs, ip.String())
	}
	hc := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{TLSClientConfig: pki.PinnedClientTLS(tok.CAFingerprint)}}
	backoff := 500 * time.Millisecond
	for {
		var errs []string
		for _, j := range a.cfg.Join {
			resp, err := a.askToJoin(ctx, hc, j, req)
			if err == nil {
				return a.acceptAdmission(resp, key)
			}
			if errors.Is(err, errRefused) {
				return nil, err
			}
			errs = append(errs, err.Error())
		}
		a.log.Warn("cannot reach the cluster to join yet; retrying", "err", strings.Join(errs, "; "), "in", backoff)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("join abandoned: %w", ctx.Err())
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

// joinURL turns a --join address (host or host:gossip-port) into the API
// URL of the same member; members are assumed to use this node's API port.
func (a *Agent) joinURL(addr string) string {
	host := addr
	if h, _, err := net.SplitHostPort(addr); err == nil {
		host = h
	}
	return "https://" + net.JoinHostPort(host, strconv.Itoa(a.cfg.APIPort)) + "/v1/join"
}

func (a *Agent) askToJoin(ctx context.Context, hc *http.Client, addr string, req joinRequest) (*joinResponse, error) {
	body, _ := json.Marshal(req)
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, a.joinURL(addr), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(hreq)
	if err != nil {
		if strings.Contains(err.Error(), "fingerprint") {
			return nil, fmt.Errorf("%w: %s: %v", errRefused, addr, unwrapTLS(err))
		}
		return nil, fmt.Errorf("%s: %v", addr, unwrapTLS(err))
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode == http.StatusOK {
		var jr joinResponse
		if err := json.Unmarshal(b, &jr); err != nil {
			return nil, fmt.Errorf("%s: bad join answer: %v", addr, err)
		}
		return &jr, nil
	}
	var st api.Status
	json.Unmarshal(b, &st)
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusBadRequest || resp.StatusCode == http.StatusConflict {
		return nil, fmt.Errorf("%w by %s: %s", errRefused, addr, st.Message)
	}
	return nil, fmt.Errorf("%s: %s %s", addr, resp.Status, st.Message)
}

func unwrapTLS(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, "pki: "); i >= 0 {
		return s[i:]
	}
	return s
}

// acceptAdmission saves what the cluster sent and builds the TLS configs.
func (a *Agent) acceptAdmission(jr *joinResponse, key *ecdsa.PrivateKey) (*security, error) {
	ca, err := pki.LoadCA([]byte(jr.CA), []byte(jr.CAKey))
	if err != nil {
		return nil, err
	}
	k, err := pki.KeyPEM(key)
	if err != nil {
		return nil, err
	}
	if err := a.saveNodeMaterial(ca, []byte(jr.Cert), k, jr.SealKey); err != nil {
		return nil, err
	}
	a.gossipKeys = jr.GossipKeys
	a.log.Info("admitted to the cluster", "ca", ca.Fingerprint())
	return newSecurity(ca, []byte(jr.Cert), k, jr.SealKey)
}

// handleJoin admits a node that proves it holds a valid join secret. Only
// the leader decides; other nodes pass the request on.
func (a *Agent) handleJoin(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(r)
	if err != nil {
		writeError(w, err)
		return
	}
	if a.sec == nil {
		writeError(w, api.NewError(api.ReasonBadRequest, "this cluster runs with --insecure-dev and admits nodes through gossip only: start the new node with --insecure-dev"))
		return
	}
	if !a.raft.IsLeader() {
		a.forwardJoin(w, r, body)
		return
	}
	var req joinRequest
	if err := json.Unmarshal(body, &req); err != nil {
		writeError(w, api.NewError(api.ReasonBadRequest, "join request: %v", err))
		return
	}
	resp, err := a.admitNode(r.Context(), req)
	if err != nil {
		st := api.AsStatus(err)
		if st.Code == http.StatusUnauthorized || st.Code == http.StatusBadRequest || st.Code == http.StatusConflict {
			a.m.authRejected.WithLabelValues("join").Inc()
			a.log.Warn("join refused", "node", req.Name, "id", req.NodeID, "remote", r.RemoteAddr, "reason", st.Message)
		}
		writeError(w, st)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (a *Agent) forwardJoin(w http.ResponseWriter, r *http.Request, body []byte) {
	leaderAPI, ok := a.leaderAPI()
	if !ok {
		writeError(w, a.noLeaderError())
		return
	}
	req, _ := http.NewRequestWithContext(r.Context(), http.MethodPost, "https://"+leaderAPI+"/v1/join", bytes.NewReader(body))
	resp, err := a.client.Do(req)
	if err != nil {
		writeError(w, api.NewError(api.ReasonServiceUnavailable, "cannot reach the leader to admit the node: %v", err))
		return
	}
	defer resp.Body.Close()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, resp.Body)
}

// admitNode checks the secret, signs the node's certificate and commits
// its record, spending a one-time token in the same command so that a
// replay loses the race.
func (a *Agent) admitNode(ctx context.Context, req joinRequest) (*joinResponse, error) {
	if _, err := uuid.Parse(req.NodeID); err != nil {
		return nil, api.NewError(api.ReasonBadRequest, "join: node ID %q is not a UUID", req.NodeID)
	}
	tokObj, err := a.findJoinToken(req.Secret)
	if err != nil {
		return nil, err
	}
	for _, m := range a.gossip.Members() {
		if m.Name == req.Name && m.Meta.ID != req.NodeID && (m.State == "alive" || m.State == "suspect") {
			return nil, api.NewError(api.ReasonConflict, "join refused: node name %q is already used by node %s at %s; start this node with a different --name", req.Name, m.Meta.ID, m.Addr)
		}
	}
	csr, err := pki.ParseCSR([]byte(req.CSR))
	if err != nil {
		return nil, api.NewError(api.ReasonBadRequest, "join: %v", err)
	}
	var ips []net.IP
	for _, s := range req.IPs {
		if ip := net.ParseIP(s); ip != nil {
			ips = append(ips, ip)
		}
	}
	now := a.cfg.Clock.Now()
	certPEM, err := a.sec.ca.Issue(now, csr.PublicKey, req.NodeID, api.RoleNode, ips, req.DNS, a.cfg.CertLifetime)
	if err != nil {
		return nil, err
	}
	cert, _ := pki.ParseCertPEM(certPEM)
	changes := []state.Change{{Put: nodeCredential(req.NodeID, cert)}}
	if tokObj.Spec.OneTime {
		spent := api.Copy(tokObj)
		spent.Spec.UsedBy = req.Name + " (" + req.NodeID + ")"
		spent.Spec.UsedAt = api.NewTime(now)
		changes = append(changes, state.Change{Put: spent, Mode: state.PutUpdate}) // compare-and-set on its version
	}
	if _, err := a.commitChanges(ctx, changes...); err != nil {
		if api.IsConflict(err) {
			return nil, api.NewError(api.ReasonUnauthorized, "join refused: the one-time token was used by another node at the same moment")
		}
		return nil, err
	}
	keys, err := a.currentGossipKeys()
	if err != nil {
		return nil, err
	}
	caKey, err := a.sec.ca.KeyPEM()
	if err != nil {
		return nil, err
	}
	a.log.Info("node admitted", "node", req.Name, "id", req.NodeID)
	return &joinResponse{Cert: string(certPEM), CA: string(a.sec.ca.CertPEM), CAKey: string(caKey), SealKey: a.sec.sealKey, GossipKeys: keys}, nil
}

// findJoinToken finds the token record a secret belongs to, refusing
// unknown secrets and spent one-time tokens.
func (a *Agent) findJoinToken(secret []byte) (*api.JoinToken, error) {
	if len(secret) == 0 {
		return nil, api.NewError(api.ReasonUnauthorized, "join refused: the request carries no join secret")
	}
	id := pki.SecretID(secret)
	objs, _ := a.store.List("JoinToken", "")
	if len(objs) == 0 {
		return nil, api.NewError(api.ReasonServiceUnavailable, "the cluster is still starting and has not committed its join token yet; retry")
	}
	for _, o := range objs {
		t := o.(*api.JoinToken)
		if t.Spec.SecretHash != id {
			continue
		}
		if t.Spec.OneTime && t.Spec.UsedBy != "" {
			return nil, api.NewError(api.ReasonUnauthorized, "join refused: this one-time token was already used by %s; create another with `shoal token create`", t.Spec.UsedBy)
		}
		return t, nil
	}
	return nil, api.NewError(api.ReasonUnauthorized, "join refused: the token's secret is not valid for this cluster (it may have been rotated); get the current one with `shoal token show`")
}

// currentGossipKeys opens the gossip key ring held in the replica.
func (a *Agent) currentGossipKeys() ([][]byte, error) {
	obj, err := a.store.Get(api.Key{Kind: "ClusterKeys", Name: "gossip"})
	if err != nil {
		return nil, api.NewError(api.ReasonServiceUnavailable, "the cluster's gossip keys are not committed yet; retry")
	}
	return a.openKeys(obj.(*api.ClusterKeys))
}

func (a *Agent) openKeys(k *api.ClusterKeys) ([][]byte, error) {
	b, err := a.sec.sealer.Open(k.Sealed, []byte("clusterkeys/gossip"))
	if err != nil {
		return nil, err
	}
	var keys [][]byte
	return keys, json.Unmarshal(b, &keys)
}
