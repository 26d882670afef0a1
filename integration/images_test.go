package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoal-dev/shoal/integration/testimage"
)

// Agents supervise their own containerd; `shoal image import --all-nodes`
// puts the test image on every node and `shoal image ls` shows it.
func TestImageImportAllNodes(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run containerd")
	}
	if _, err := exec.LookPath("containerd"); err != nil {
		t.Skip("needs containerd (apt-get install -y containerd runc)")
	}
	busybox, err := testimage.BusyboxPath()
	if err != nil {
		t.Fatal("the test image needs busybox-static (apt-get install -y busybox-static): " + err.Error())
	}
	archive := filepath.Join(t.TempDir(), "testimage.tar")
	f, err := os.Create(archive)
	if err != nil {
		t.Fatal(err)
	}
	if err := testimage.Build(f, busybox); err != nil {
		t.Fatal(err)
	}
	f.Close()
	c := startCluster(t, 2, "--containerd", "supervise")
	run := func(a *agent, args ...string) (string, error) {
		out, err := exec.Command(shoalBin, append(args, "--server", a.url(), "--config", a.adminConf)...).CombinedOutput()
		return string(out), err
	}
	out, err := run(c.agents[0], "image", "import", archive, "--all-nodes")
	if err != nil || strings.Count(out, "imported") != 2 {
		t.Fatalf("image import --all-nodes: %v\n%s", err, out)
	}
	for _, a := range c.agents {
		out, err := run(a, "image", "ls")
		if err != nil || !strings.Contains(out, testimage.ImageName) {
			t.Fatalf("image ls on %s: %v\n%s", a.name, err, out)
		}
	}
	// The agents' containerd processes live under their data dirs.
	for _, a := range c.agents {
		if _, err := os.Stat(filepath.Join(a.dataDir, "containerd", "config.toml")); err != nil {
			t.Fatalf("%s runs no supervised containerd: %v", a.name, err)
		}
	}
}
