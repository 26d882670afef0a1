package node

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Five nodes over three zones: five voters, covering every zone. A sixth
// node stays a non-voter.
func TestFiveVotersSpreadOverZones(t *testing.T) {
	if testing.Short() {
		t.Skip("six agents; skipped with -short")
	}
	c := newTestCluster(t)
	zone := func(z string) func(*Config) {
		return func(cfg *Config) { cfg.Labels = map[string]string{ZoneLabel: z} }
	}
	c.start("n1", "", zone("z1"))
	for i := 2; i <= 6; i++ {
		c.start(fmt.Sprintf("n%d", i), "n1", zone(fmt.Sprintf("z%d", 1+(i-1)%3)))
	}
	waitUntil(t, 30*time.Second, "five voters in three zones", func() (bool, string) {
		l := c.leader()
		st := l.Status()
		if len(st.Voters) != 5 || len(st.Nonvoters) != 1 {
			return false, fmt.Sprintf("voters %v non-voters %v", st.Voters, st.Nonvoters)
		}
		zones := map[string]int{}
		for _, m := range l.Members() {
			if m.Raft == "voter" || m.Raft == "leader" {
				zones[m.Zone]++
			}
		}
		return len(zones) == 3, fmt.Sprintf("voters by zone %v", zones)
	})
}

// A second node claiming a member's name with another identity is refused
// when it asks to be admitted.
func TestSameNameDifferentIDRefused(t *testing.T) {
	c := newTestCluster(t)
	c.start("n1", "")
	c.start("n2", "n1")
	c.waitRoles("n1")
	waitUntil(t, 10*time.Second, "n2 alive", func() (bool, string) { return len(c.agents["n1"].Members()) == 2, "" })
	cfg := testConfig(t, "n2", filepath.Join(c.dir, "impostor"))
	cfg.Token = c.agents["n1"].Token()
	cfg.Join = []string{c.cfgs["n1"].BindAddr}
	imp, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = imp.Start()
	defer imp.Shutdown()
	if err == nil || !strings.Contains(err.Error(), "already used") {
		t.Fatalf("join with a taken name: got %v, want a clear refusal", err)
	}
	for _, m := range c.agents["n1"].Members() {
		if m.Name == "n2" && m.ID != c.agents["n2"].ID() {
			t.Fatalf("the impostor replaced n2 in the member list: %+v", m)
		}
	}
}
