package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
)

func configMap(name string) *api.ConfigMap {
	return &api.ConfigMap{
		TypeMeta:   api.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default"},
		Data:       map[string]string{"value": name},
	}
}

// TestLeaderKillReelection kills -9 the leader of three voters: a new
// leader is elected, writes through a survivor succeed, every acknowledged
// write is still there, and the killed node rejoins with its data.
func TestLeaderKillReelection(t *testing.T) {
	c := startCluster(t, 3)
	ctx := context.Background()
	old := c.leader()
	var survivor *agent
	for _, a := range c.agents {
		if a != old {
			survivor = a
			break
		}
	}
	var acked []string
	for i := range 20 {
		name := fmt.Sprintf("before-%d", i)
		if _, err := survivor.client().Create(ctx, configMap(name)); err != nil {
			t.Fatalf("write %s through follower %s: %v", name, survivor.name, err)
		}
		acked = append(acked, name)
	}
	old.kill9()
	waitFor(t, 30*time.Second, "a write through a survivor after the leader was killed", func() (bool, string) {
		_, err := survivor.client().Create(ctx, configMap("after-kill"))
		return err == nil || api.IsConflict(err), fmt.Sprint(err)
	})
	acked = append(acked, "after-kill")
	newLeader := c.leader()
	if newLeader == old {
		t.Fatalf("the killed node %s is still reported as leader", old.name)
	}
	old.start()
	c.waitVoters(3)
	waitFor(t, 20*time.Second, "the restarted node to hold every acknowledged write", func() (bool, string) {
		objs, _, err := old.client().List(ctx, "ConfigMap", "default", false)
		if err != nil {
			return false, err.Error()
		}
		have := map[string]bool{}
		for _, o := range objs {
			have[o.GetObjectMeta().Name] = true
		}
		for _, n := range acked {
			if !have[n] {
				return false, "missing " + n
			}
		}
		return true, ""
	})
}
