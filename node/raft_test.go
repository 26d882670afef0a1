package node

import (
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
)

// A write sent to a follower is committed by the leader, and the follower's
// own replica has it by the time the write is acknowledged.
func TestFollowerWriteForwarding(t *testing.T) {
	c := newTestCluster(t)
	c.start("n1", "")
	c.start("n2", "n1")
	c.start("n3", "n1")
	c.waitRoles("n1", "n2", "n3")
	ctx := ctxT(t)
	var follower string
	for _, a := range c.running() {
		if !a.Raft().IsLeader() {
			follower = a.Name()
			break
		}
	}
	fc := c.client(follower)
	created, err := fc.Create(ctx, cm("forwarded"))
	if err != nil {
		t.Fatalf("create through follower %s: %v", follower, err)
	}
	if created.GetObjectMeta().ResourceVersion == "" {
		t.Fatal("created object has no resourceVersion")
	}
	got, err := fc.Get(ctx, "ConfigMap", "default", "forwarded")
	if err != nil {
		t.Fatalf("read-your-write on the follower: %v", err)
	}
	if got.GetObjectMeta().ResourceVersion != created.GetObjectMeta().ResourceVersion {
		t.Fatalf("follower read version %s, write returned %s", got.GetObjectMeta().ResourceVersion, created.GetObjectMeta().ResourceVersion)
	}
	// Compare-and-set through the follower: a stale version is refused.
	stale := api.Copy(created.(*api.ConfigMap))
	stale.Data["v"] = "first"
	if _, err := fc.Update(ctx, stale); err != nil {
		t.Fatalf("update with the current version: %v", err)
	}
	stale.Data["v"] = "second"
	_, err = fc.Update(ctx, stale)
	var st *api.Status
	if !errors.As(err, &st) || st.Code != http.StatusConflict {
		t.Fatalf("update with a stale version: got %v, want a 409 conflict", err)
	}
	// A create of an existing name is a conflict, not an overwrite.
	if _, err := fc.Create(ctx, cm("forwarded")); !api.IsConflict(err) {
		t.Fatalf("second create: got %v, want AlreadyExists", err)
	}
	// Consistent reads work on a follower too.
	objs, idx, err := fc.List(ctx, "ConfigMap", "default", true)
	if err != nil || len(objs) != 1 || idx == 0 {
		t.Fatalf("consistent list through follower: %d objects, index %d, err %v", len(objs), idx, err)
	}
}

// A restarted node keeps its identity and its data, and the voter set does
// not change.
func TestRestartWithDataDir(t *testing.T) {
	c := newTestCluster(t)
	c.start("n1", "")
	c.start("n2", "n1")
	c.start("n3", "n1")
	c.waitRoles("n1", "n2", "n3")
	ctx := ctxT(t)
	for i := range 10 {
		if _, err := c.client("n1").Create(ctx, cm(fmt.Sprintf("cm-%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	oldID := c.agents["n2"].ID()
	c.stop("n2")
	n2 := c.start("n2", "")
	if n2.ID() != oldID {
		t.Fatalf("restarted node has ID %s, was %s", n2.ID(), oldID)
	}
	c.waitRoles("n1", "n2", "n3")
	waitUntil(t, 10*time.Second, "restarted n2 to hold all ten objects", func() (bool, string) {
		objs, _ := n2.Store().List("ConfigMap", "default")
		return len(objs) == 10, fmt.Sprintf("%d objects", len(objs))
	})
	// The whole cluster restarting keeps everything too.
	for _, n := range []string{"n1", "n2", "n3"} {
		c.stop(n)
	}
	for _, n := range []string{"n3", "n2", "n1"} {
		c.start(n, "")
	}
	c.waitRoles("n1", "n2", "n3")
	if _, err := c.client("n3").Create(ctx, cm("after-full-restart")); err != nil {
		t.Fatalf("write after a full restart: %v", err)
	}
}

// Raft snapshots restore the store: a node restarted after a snapshot, and a
// node that joins after it, both end with every object.
func TestSnapshotRestore(t *testing.T) {
	c := newTestCluster(t)
	n1 := c.start("n1", "")
	c.waitRoles("n1")
	ctx := ctxT(t)
	for i := range 30 {
		if _, err := c.client("n1").Create(ctx, cm(fmt.Sprintf("cm-%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := n1.Raft().Raw().Snapshot().Error(); err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	if _, err := c.client("n1").Create(ctx, cm("after-snapshot")); err != nil {
		t.Fatal(err)
	}
	c.stop("n1")
	n1 = c.start("n1", "")
	c.waitRoles("n1")
	waitUntil(t, 10*time.Second, "the restarted node to restore the snapshot and replay the log after it", func() (bool, string) {
		objs, _ := n1.Store().List("ConfigMap", "default")
		return len(objs) == 31, fmt.Sprintf("%d objects", len(objs))
	})
	n2 := c.start("n2", "n1")
	waitUntil(t, 20*time.Second, "a joining node to install the snapshot", func() (bool, string) {
		objs, _ := n2.Store().List("ConfigMap", "default")
		return len(objs) == 31, fmt.Sprintf("%d objects", len(objs))
	})
}
