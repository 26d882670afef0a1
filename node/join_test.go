package node

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A node may join through any member, not only the first.
func TestBootstrapAndJoinThroughAnyMember(t *testing.T) {
	c := newTestCluster(t)
	n1 := c.start("n1", "")
	fi, err := os.Stat(filepath.Join(c.cfgs["n1"].DataDir, "token"))
	if err != nil {
		t.Fatalf("bootstrap node wrote no token: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode = %v, want 0600", fi.Mode().Perm())
	}
	c.waitRoles("n1")
	c.start("n2", "n1")
	c.start("n3", "n2") // through a member that is not the seed
	c.waitRoles("n1", "n2", "n3")
	waitUntil(t, 10*time.Second, "every member alive everywhere", func() (bool, string) {
		for _, a := range c.running() {
			ms := a.Members()
			if len(ms) != 3 {
				return false, a.Name() + " sees " + strconv.Itoa(len(ms)) + " members"
			}
			for _, m := range ms {
				if m.Gossip != "alive" || m.Raft == "" {
					return false, a.Name() + " sees " + m.Name + " as " + m.Gossip + "/" + m.Raft
				}
			}
		}
		return true, ""
	})
	if st := n1.Status(); st.Self.ID != n1.ID() || st.Leader == nil {
		t.Fatalf("status of n1 = %+v", st)
	}
}

func TestMalformedTokenIsAClearError(t *testing.T) {
	cfg := testConfig(t, "n1", t.TempDir())
	cfg.Join = []string{"127.0.0.1"}
	cfg.Token = "SHL2-not-a-token"
	if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "token") {
		t.Fatalf("New with a malformed token: %v", err)
	}
	cfg.Token = ""
	if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "--token") {
		t.Fatalf("New with --join and no token: %v", err)
	}
}
