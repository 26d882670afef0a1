package main

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestNoGoPlugin checks that the binary `make build` makes does not link
// the standard "plugin" package: with it the linker exports every symbol
// and keeps every exported method, about 9 MB of each agent's RSS. A new
// dependency that imports "plugin" without a build tag to leave it out
// fails here.
func TestNoGoPlugin(t *testing.T) {
	out, err := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "list", "-tags", "no_dynamic_plugins", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if pkg == "plugin" {
			t.Fatal(`cmd/shoal links the standard "plugin" package even with -tags no_dynamic_plugins; find the importer with: go list -tags no_dynamic_plugins -deps -f '{{.ImportPath}}: {{.Imports}}' ./cmd/shoal | grep -w plugin`)
		}
	}
}
