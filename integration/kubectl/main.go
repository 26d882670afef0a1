// Command kubectl is kubectl itself, built from k8s.io/kubectl at the
// release of the other k8s.io modules, for the tests that drive a cluster
// as a Kubernetes user would. It is not shipped.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubectl/pkg/cmd"
)

func main() {
	os.Exit(cli.Run(cmd.NewDefaultKubectlCommand()))
}
