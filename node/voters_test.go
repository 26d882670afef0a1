package node

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
)

// Four nodes: three voters and a non-voter. A voter that stays failed past
// --dead-voter-timeout is replaced by the non-voter.
func TestVoterReplacement(t *testing.T) {
	c := newTestCluster(t)
	c.start("n1", "")
	c.start("n2", "n1")
	c.start("n3", "n1")
	c.waitRoles("n1", "n2", "n3")
	c.start("n4", "n1")
	waitUntil(t, 10*time.Second, "n4 as a non-voter", func() (bool, string) {
		st := c.agents["n1"].Status()
		return len(st.Nonvoters) == 1 && st.Nonvoters[0].Name == "n4", fmt.Sprintf("non-voters %v", st.Nonvoters)
	})
	c.waitRoles("n1", "n2", "n3") // still three: four nodes want three voters
	victim := "n2"
	if c.agents[victim].Raft().IsLeader() {
		victim = "n3"
	}
	c.stop(victim)
	rest := []string{"n1", "n2", "n3", "n4"}
	for i, n := range rest {
		if n == victim {
			rest = append(rest[:i], rest[i+1:]...)
			break
		}
	}
	c.waitRoles(rest...)
	if _, err := c.client("n4").Create(ctxT(t), cm("after-replacement")); err != nil {
		t.Fatalf("write after replacement: %v", err)
	}
	// The replaced node comes back: it rejoins as a non-voter and the voter
	// set is left alone.
	c.start(victim, "")
	waitUntil(t, 15*time.Second, victim+" back as a non-voter", func() (bool, string) {
		st := c.leader().Status()
		return len(st.Nonvoters) == 1 && st.Nonvoters[0].Name == victim, fmt.Sprintf("non-voters %v", st.Nonvoters)
	})
	c.waitRoles(rest...)
}

// A voter that is down for less than the timeout keeps its vote.
func TestShortOutageKeepsVoters(t *testing.T) {
	c := newTestCluster(t)
	c.start("n1", "", func(cfg *Config) { cfg.DeadVoterTimeout = time.Minute })
	c.start("n2", "n1", func(cfg *Config) { cfg.DeadVoterTimeout = time.Minute })
	c.start("n3", "n1", func(cfg *Config) { cfg.DeadVoterTimeout = time.Minute })
	c.start("n4", "n1", func(cfg *Config) { cfg.DeadVoterTimeout = time.Minute })
	c.waitRoles("n1", "n2", "n3")
	victim := "n2"
	if c.agents[victim].Raft().IsLeader() {
		victim = "n3"
	}
	c.stop(victim)
	time.Sleep(2 * time.Second) // an outage; nothing may change during it
	for _, v := range c.leader().Status().Voters {
		if v.Name == "n4" {
			t.Fatalf("n4 was promoted during a short outage of %s", victim)
		}
	}
	c.start(victim, "")
	c.waitRoles("n1", "n2", "n3")
}

// Graceful leave of the leader: it hands leadership over, leaves Raft and
// gossip, and the cluster promotes a non-voter to keep three voters.
func TestGracefulLeave(t *testing.T) {
	c := newTestCluster(t)
	c.start("n1", "")
	c.start("n2", "n1")
	c.start("n3", "n1")
	c.waitRoles("n1", "n2", "n3")
	c.start("n4", "n1")
	waitUntil(t, 10*time.Second, "n4 as a non-voter", func() (bool, string) {
		return len(c.agents["n1"].Status().Nonvoters) == 1, ""
	})
	l := c.leader()
	name := l.Name()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := l.Leave(ctx); err != nil {
		t.Fatalf("leave: %v", err)
	}
	delete(c.agents, name)
	var rest []string
	for _, n := range []string{"n1", "n2", "n3", "n4"} {
		if n != name {
			rest = append(rest, n)
		}
	}
	c.waitRoles(rest...)
	waitUntil(t, 10*time.Second, name+" shown as left", func() (bool, string) {
		for _, m := range c.agents[rest[0]].Members() {
			if m.Name == name {
				return m.Gossip == "left" && m.Raft == "", m.Gossip + "/" + m.Raft
			}
		}
		return true, "" // already forgotten
	})
}

// After losing two of three voters for good, `operator recover` on the
// survivor makes it a one-voter cluster with all its data, and the lost
// nodes can come back.
func TestOperatorRecover(t *testing.T) {
	c := newTestCluster(t)
	c.start("n1", "")
	c.start("n2", "n1")
	c.start("n3", "n1")
	c.waitRoles("n1", "n2", "n3")
	ctx := ctxT(t)
	for i := range 5 {
		if _, err := c.client("n1").Create(ctx, cm(fmt.Sprintf("cm-%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	survivor := "n1"
	c.stop("n2")
	c.stop("n3")
	// No quorum: once the survivor has stepped down, a write fails with a
	// clear, retryable error.
	waitUntil(t, 10*time.Second, "the survivor to step down", func() (bool, string) {
		_, id := c.agents[survivor].Raft().Leader()
		return id == "", "leader " + id
	})
	_, err := c.client(survivor).Create(ctx, cm("no-quorum"))
	if !api.IsRetryable(err) || !strings.Contains(err.Error(), "majority") {
		t.Fatalf("write without quorum: got %v, want a retryable error that explains the lost majority", err)
	}
	c.stop(survivor)
	if err := Recover(ctx, c.cfgs[survivor].DataDir); err != nil {
		t.Fatalf("recover: %v", err)
	}
	s := c.start(survivor, "")
	c.waitRoles(survivor)
	if _, err := c.client(survivor).Create(ctx, cm("after-recover")); err != nil {
		t.Fatalf("write after recover: %v", err)
	}
	if objs, _ := s.Store().List("ConfigMap", "default"); len(objs) != 6 {
		t.Fatalf("after recover: %d objects, want 6", len(objs))
	}
	// The lost nodes return with their old data dirs and rejoin.
	c.start("n2", "")
	c.start("n3", "")
	c.waitRoles("n1", "n2", "n3")
	waitUntil(t, 10*time.Second, "n3 to catch up", func() (bool, string) {
		objs, _ := c.agents["n3"].Store().List("ConfigMap", "default")
		return len(objs) == 6, fmt.Sprintf("%d objects", len(objs))
	})
}
