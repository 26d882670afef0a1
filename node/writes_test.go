package node

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"testing"

	"github.com/shoal-dev/shoal/api"
)

// Many clients updating one key through every node, without a
// resourceVersion, never see a conflict: such an update is unconditional,
// and the status a controller writes meanwhile is kept.
func TestUpdateWithoutVersionNeverConflicts(t *testing.T) {
	c := secureCluster(t, 3)
	ctx := ctxT(t)
	svc := &api.Service{TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "Service"}}
	svc.Name, svc.Namespace = "web", "default"
	svc.Spec.Selector = map[string]string{"app": "web"}
	svc.Spec.Ports = []api.ServicePort{{Port: 80}}
	if _, err := c.client("n1").Create(ctx, svc); err != nil {
		t.Fatal(err)
	}
	const writers, each = 12, 15
	var wg sync.WaitGroup
	errs := make(chan error, writers*each+each)
	for w := range writers {
		cl := c.client(fmt.Sprintf("n%d", w%3+1))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				s := api.Copy(svc)
				s.Spec.Ports = []api.ServicePort{{Port: int32(1000 + w*each + i)}}
				if _, err := cl.Update(ctx, s); err != nil {
					errs <- fmt.Errorf("writer %d, update %d: %w", w, i, err)
				}
			}
		}()
	}
	// A status writer races the updates, as a controller would.
	wg.Add(1)
	go func() {
		defer wg.Done()
		cl := c.client("n2")
		for i := range each {
			s := api.Copy(svc)
			s.Status.Conditions = []api.Condition{{Type: "Probed", Status: api.ConditionTrue, Reason: strconv.Itoa(i)}}
			if _, err := cl.Do(ctx, http.MethodPut, "/api/v1/namespaces/default/services/web/status", s, nil); err != nil {
				errs <- fmt.Errorf("status %d: %w", i, err)
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	obj, err := c.client("n2").Get(ctx, "Service", "default", "web") // the node the status went through
	if err != nil {
		t.Fatal(err)
	}
	got := obj.(*api.Service)
	if len(got.Status.Conditions) != 1 || got.Status.Conditions[0].Reason != strconv.Itoa(each-1) {
		t.Errorf("the status written last is gone after the updates: %+v", got.Status.Conditions)
	}
}

// An update or delete with a stale resourceVersion fails with 409 and
// changes nothing; so does an apply of a manifest carrying one.
func TestStaleVersionConflicts(t *testing.T) {
	c := secureCluster(t, 3)
	ctx := ctxT(t)
	cl := c.client("n2") // a follower or the leader; both must refuse
	created, err := cl.Create(ctx, cm("stale"))
	if err != nil {
		t.Fatal(err)
	}
	fresh := api.Copy(created.(*api.ConfigMap))
	fresh.Data = map[string]string{"v": "2"}
	if _, err := cl.Update(ctx, fresh); err != nil {
		t.Fatal(err)
	}
	stale := api.Copy(created.(*api.ConfigMap))
	stale.Data = map[string]string{"v": "stale"}
	if _, err := cl.Update(ctx, stale); !api.IsConflict(err) {
		t.Fatalf("update with the stale resourceVersion %s: got %v, want a conflict", stale.ResourceVersion, err)
	}
	dir := t.TempDir()
	manifest := func(file, rv string) string {
		return writeManifest(t, dir, file, fmt.Sprintf(`apiVersion: v1
kind: ConfigMap
metadata:
  name: stale
  namespace: default
  resourceVersion: %q
data:
  v: applied
`, rv))
	}
	_, err = applyFiles(t, c.client("n3"), manifest("stale.yaml", created.GetObjectMeta().ResourceVersion))
	var st *api.Status
	if !errors.As(err, &st) || st.Code != http.StatusConflict {
		t.Fatalf("apply of a manifest with the stale resourceVersion: got %v, want 409", err)
	}
	obj, err := c.client("n1").Get(ctx, "ConfigMap", "default", "stale")
	if err != nil {
		t.Fatal(err)
	}
	if v := obj.(*api.ConfigMap).Data["v"]; v != "2" {
		t.Fatalf("after the refused writes the data is %q, want %q", v, "2")
	}
	// The manifest with the current version applies.
	cur := obj.GetObjectMeta().ResourceVersion
	if _, err := applyFiles(t, c.client("n3"), manifest("fresh.yaml", cur)); err != nil {
		t.Fatalf("apply with the current resourceVersion %s: %v", cur, err)
	}
}

// A write acknowledged through a follower is seen by the next read through
// that follower, every time.
func TestReadYourWritesOnFollower(t *testing.T) {
	c := secureCluster(t, 3)
	ctx := ctxT(t)
	leader := c.leader()
	var follower string
	for name, a := range c.agents {
		if a != leader {
			follower = name
			break
		}
	}
	cl := c.client(follower)
	if _, err := cl.Create(ctx, cm("ryw")); err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		m := cm("ryw")
		m.Data = map[string]string{"i": strconv.Itoa(i)}
		if _, err := cl.Update(ctx, m); err != nil {
			t.Fatal(err)
		}
		obj, err := cl.Get(ctx, "ConfigMap", "default", "ryw")
		if err != nil {
			t.Fatal(err)
		}
		if got := obj.(*api.ConfigMap).Data["i"]; got != strconv.Itoa(i) {
			t.Fatalf("read %d through %s after its write: data.i is %q", i, follower, got)
		}
	}
}
