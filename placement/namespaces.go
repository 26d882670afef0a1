package placement

import (
	"context"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/state"
)

// SystemNamespaces are the namespaces every cluster has, as Kubernetes
// users expect: default, kube-system, kube-public and kube-node-lease.
var SystemNamespaces = []string{"default", "kube-system", "kube-public", "kube-node-lease"}

// Undeletable are the system namespaces a user may not delete, as in
// Kubernetes; kube-node-lease may be, and is made again.
var Undeletable = []string{"default", "kube-system", "kube-public"}

// NamespaceController makes each of SystemNamespaces that is missing.
type NamespaceController struct {
	State  Reader
	Writer Writer
}

// Pass creates the missing system namespaces in one command. One that
// appeared meanwhile (state.Stale) waits for the next pass.
func (c *NamespaceController) Pass(ctx context.Context, _ time.Time) (time.Duration, error) {
	changes := PlanSystemNamespaces(c.State)
	if len(changes) == 0 {
		return 0, nil
	}
	if err := c.Writer.Commit(ctx, changes); err != nil && !state.Stale(err) {
		return 0, err
	}
	return 0, nil
}

// PlanSystemNamespaces creates each system namespace the state lacks.
func PlanSystemNamespaces(st Reader) []Change {
	var out []Change
	for _, name := range SystemNamespaces {
		if exists(st, api.Key{Kind: "Namespace", Name: name}) {
			continue
		}
		ns := &api.Namespace{TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "Namespace"}, Status: api.NamespaceStatus{Phase: "Active"}}
		ns.Name = name
		out = append(out, Change{Put: ns, Mode: state.PutCreate})
	}
	return out
}
