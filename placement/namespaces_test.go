package placement_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/placement"
)

func TestSystemNamespacesAreMade(t *testing.T) {
	st := fakeState{}
	def := &api.Namespace{TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "Namespace"}}
	def.Name = "default"
	st[api.KeyOf(def)] = def
	c := &placement.NamespaceController{State: st, Writer: fakeWriter{st}}
	if _, err := c.Pass(context.Background(), time.Time{}); err != nil {
		t.Fatal(err)
	}
	var names []string
	objs, _ := st.List("Namespace", "")
	for _, o := range objs {
		names = append(names, o.GetObjectMeta().Name)
	}
	if want := []string{"default", "kube-node-lease", "kube-public", "kube-system"}; !slices.Equal(names, want) {
		t.Fatalf("namespaces %q, want %q", names, want)
	}
	if ch := placement.PlanSystemNamespaces(st); len(ch) != 0 {
		t.Fatalf("a second pass plans %d changes, want none", len(ch))
	}
}
