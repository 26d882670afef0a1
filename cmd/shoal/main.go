// Command shoal is the single binary of the shoal orchestrator: `shoal agent`
// runs a node, and every other subcommand is a client of a node's API.
package main

import (
	"fmt"
	"os"

	"github.com/shoal-dev/shoal/api"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	if err := newRoot().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		if api.IsRetryable(err) {
			os.Exit(3)
		}
		os.Exit(1)
	}
}
