package node

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/pki"
)

// caller is who made a request, as proven by its client certificate.
type caller struct {
	pki.Identity
}

type callerKey struct{}

func callerOf(r *http.Request) (caller, bool) {
	c, ok := r.Context().Value(callerKey{}).(caller)
	return c, ok
}

// access is what a route needs.
type access int

const (
	accessPublic access = iota // anyone, even without a certificate
	accessRead                 // any valid credential
	accessWrite                // an admin or a node
	accessAdmin                // an admin (or a node, which acts for one)
	accessNode                 // another node of the cluster
)

func routeAccess(r *http.Request) access {
	p := r.URL.Path
	switch {
	case p == "/healthz", p == "/v1/join" && r.Method == http.MethodPost:
		return accessPublic
	case strings.HasPrefix(p, "/internal/"):
		return accessNode
	case strings.HasPrefix(p, "/v1/credentials"), strings.HasPrefix(p, "/v1/token"), p == "/v1/node/leave":
		return accessAdmin
	case strings.HasPrefix(p, "/apis/shoal.dev/"), strings.HasPrefix(p, "/debug/pprof/"):
		return accessAdmin
	case podSubresource(p) == "log" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		return accessRead
	case podSubresource(p) == "exec":
		return accessWrite
	case strings.Contains(p, "/secrets"):
		// Read-only credentials do not see secret data (as Kubernetes'
		// "view" role does not).
		return accessWrite
	case r.Method == http.MethodGet || r.Method == http.MethodHead:
		return accessRead
	}
	return accessWrite
}

// authenticate wraps h with the API's access rules. With --insecure-dev it
// lets everything through.
func (a *Agent) authenticate(h http.Handler) http.Handler {
	if a.cfg.InsecureDev {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		need := routeAccess(r)
		if need == accessPublic {
			h.ServeHTTP(w, r)
			return
		}
		c, err := a.identify(r)
		if err != nil {
			a.reject(w, r, http.StatusUnauthorized, "unauthenticated", err.Error())
			return
		}
		ok := false
		switch c.Role {
		case api.RoleNode:
			ok = true
		case api.RoleAdmin:
			ok = need != accessNode
		case api.RoleReadOnly:
			ok = need == accessRead
		}
		if !ok {
			why := "credential " + c.Name + " (" + c.Role + ") may not " + r.Method + " " + r.URL.Path
			if c.Role == api.RoleReadOnly {
				why = "credential " + c.Name + " is read-only: it cannot write or exec"
			}
			a.reject(w, r, http.StatusForbidden, "forbidden", why)
			return
		}
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), callerKey{}, c)))
	})
}

// identify checks the request's client certificate against the cluster CA
// (done by TLS) and, for people's credentials, against the replica: the
// credential must exist, match the serial and not be revoked.
func (a *Agent) identify(r *http.Request) (caller, error) {
	id, err := pki.PeerIdentity(r.TLS)
	if errors.Is(err, pki.ErrNoPeerCertificate) {
		return caller{}, errString("no client certificate: pass a credential with --config or SHOAL_CONFIG (the first node wrote <data-dir>/admin.conf)")
	}
	if err != nil {
		return caller{}, err
	}
	if id.Role == api.RoleNode {
		return caller{id}, nil
	}
	obj, err := a.store.Get(api.Key{Kind: "Credential", Name: id.Name})
	if err != nil && a.store.Index() < a.startIndex {
		// Just restarted: the replica is still replaying the local log.
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		a.store.WaitForIndex(ctx, a.startIndex)
		cancel()
		obj, err = a.store.Get(api.Key{Kind: "Credential", Name: id.Name})
	}
	if err != nil {
		return caller{}, errString("credential " + id.Name + " is not known to this cluster (deleted, or issued by another cluster)")
	}
	cr := obj.(*api.Credential)
	switch {
	case cr.Spec.Revoked:
		return caller{}, errString("credential " + id.Name + " was revoked")
	case cr.Spec.Serial != id.Serial:
		return caller{}, errString("credential " + id.Name + " was reissued; this certificate is no longer valid")
	}
	return caller{id}, nil
}

type errString string

func (e errString) Error() string { return string(e) }

// reject refuses a request with a one-line reason, logs it and counts it.
func (a *Agent) reject(w http.ResponseWriter, r *http.Request, code int, kind, why string) {
	a.m.authRejected.WithLabelValues(kind).Inc()
	a.log.Warn("request refused", "reason", why, "remote", r.RemoteAddr, "method", r.Method, "path", r.URL.Path)
	st := api.NewError(api.ReasonUnauthorized, "%s", why)
	if code == http.StatusForbidden {
		st = api.NewError(api.ReasonForbidden, "%s", why)
	}
	writeError(w, st)
}
