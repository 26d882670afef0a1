package integration

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/shoal-dev/shoal/"

// allowedDeps is the package import rule of the design: which of our
// packages each package may depend on (directly or not).
var allowedDeps = map[string][]string{
	"api":                     {},
	"clock":                   {},
	"devnet":                  {},
	"pki":                     {},
	"state":                   {"api", "clock"},
	"leader":                  {"clock"},
	"apiserver":               {"api"},
	"placement/placementtest": {"api", "clock", "placement", "state"},
	"runtime/runtimetest":     {"api", "clock", "state", "runtime"},
	"gossip":                  {"api", "clock"},
	"consensus":               {"api", "clock", "state", "leader"},
	"placement":               {"api", "clock", "state"},
	"runtime":                 {"api", "clock", "state"},
	"dns":                     {"api", "clock", "state"},
	"node":                    {"api", "clock", "pki", "gossip", "state", "leader", "consensus", "placement", "runtime", "dns", "apiserver"},
	"cmd/shoal":               {"api", "clock", "pki", "node", "gossip", "state", "leader", "consensus", "placement", "runtime", "dns", "apiserver", "devnet", "integration/testimage"},
}

func TestPackageDependencies(t *testing.T) {
	for pkg, allowed := range allowedDeps {
		out, err := exec.Command("go", "list", "-deps", "../"+pkg).CombinedOutput()
		if err != nil {
			if strings.Contains(string(out), "no Go files") || strings.Contains(string(out), "directory not found") || strings.Contains(string(out), "cannot find") {
				continue // package not written yet
			}
			t.Fatalf("go list %s: %v\n%s", pkg, err, out)
		}
		ok := map[string]bool{pkg: true}
		for _, a := range allowed {
			ok[a] = true
		}
		for _, dep := range strings.Fields(string(out)) {
			if !strings.HasPrefix(dep, module) {
				continue
			}
			rel := strings.TrimPrefix(dep, module)
			if !ok[rel] {
				t.Errorf("%s imports %s, which the design does not allow (allowed: %v)", pkg, rel, allowed)
			}
		}
	}
}
