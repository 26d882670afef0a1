package node

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// --insecure-dev runs the whole cluster on plain HTTP and TCP, says so
// loudly, and refuses to mix with secure tokens.
func TestInsecureDev(t *testing.T) {
	c := newTestCluster(t)
	logs := &lockedBuffer{}
	insecure := func(cfg *Config) {
		cfg.InsecureDev = true
		cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
	}
	c.start("n1", "", insecure)
	c.start("n2", "n1", insecure)
	c.start("n3", "n1", insecure)
	c.waitRoles("n1", "n2", "n3")
	if !strings.HasPrefix(c.agents["n2"].APIURL(), "http://") {
		t.Fatalf("insecure agent serves %s", c.agents["n2"].APIURL())
	}
	if _, err := c.client("n2").Create(ctxT(t), cm("plain")); err != nil {
		t.Fatalf("write on an insecure cluster: %v", err)
	}
	if !strings.Contains(logs.String(), "RUNNING WITH --insecure-dev") {
		t.Fatal("no loud warning at start")
	}
	// A secure node cannot use an insecure cluster's token, and the reverse.
	cfg := testConfig(t, "secure", t.TempDir())
	cfg.Join, cfg.Token = []string{c.cfgs["n1"].BindAddr}, c.agents["n1"].Token()
	if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "--insecure-dev") {
		t.Fatalf("secure node with an insecure token: %v", err)
	}
	sc := secureCluster(t, 1)
	cfg = testConfig(t, "lax", t.TempDir())
	cfg.InsecureDev = true
	cfg.Join, cfg.Token = []string{sc.cfgs["n1"].BindAddr}, sc.agents["n1"].Token()
	if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "secure cluster") {
		t.Fatalf("insecure node with a secure token: %v", err)
	}
}

// lockedBuffer is a log sink that many goroutines may write to.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
