package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/shoal-dev/shoal/api"
	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"
)

// clientFlags are shared by every command that talks to an agent.
type clientFlags struct {
	server string
	output string
}

func (f *clientFlags) client() *api.Client { return api.NewClient(f.server) }

func (f *clientFlags) add(cmd *cobra.Command) {
	def := os.Getenv("SHOAL_SERVER")
	if def == "" {
		def = api.DefaultServer
	}
	cmd.PersistentFlags().StringVar(&f.server, "server", def, "URL of any agent's API (env SHOAL_SERVER)")
	cmd.PersistentFlags().StringVarP(&f.output, "output", "o", "", "output format: json, yaml or wide")
}

// print writes v as JSON or YAML when asked, else calls table.
func (f *clientFlags) print(w io.Writer, v any, table func(wide bool)) error {
	switch f.output {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case "yaml":
		b, err := yaml.Marshal(v)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	case "", "wide":
		table(f.output == "wide")
		return nil
	}
	return fmt.Errorf("-o %q is not a known output format (use json, yaml or wide)", f.output)
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "shoal",
		Short:         "shoal runs containers on your own machines, with no master",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	cf := &clientFlags{}
	cf.add(root)
	root.AddCommand(
		newAgentCmd(),
		newMembersCmd(cf),
		newStatusCmd(cf),
		newNodeCmd(cf),
		newOperatorCmd(),
		&cobra.Command{
			Use:   "version",
			Short: "Print the shoal version",
			Args:  cobra.NoArgs,
			Run:   func(cmd *cobra.Command, _ []string) { fmt.Fprintln(cmd.OutOrStdout(), "shoal", version) },
		},
	)
	return root
}
