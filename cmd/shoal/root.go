package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/node"
	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"
)

// clientFlags are shared by every command that talks to an agent.
type clientFlags struct {
	server string
	output string
	config string
}

// localAdminConfig is where an agent with the default --data-dir keeps the
// admin credential; the CLI uses it when nothing else is given.
const localAdminConfig = "/var/lib/shoal/admin.conf"

// client builds an API client from the credential file (--config,
// SHOAL_CONFIG, ~/.shoal/config, then the local agent's admin.conf) and
// --server. With no credential it talks plain HTTP, which only
// --insecure-dev agents accept.
func (f *clientFlags) client() (*api.Client, error) {
	cc, server, err := f.credential()
	if err != nil {
		return nil, err
	}
	if cc == nil {
		return api.NewClient(server), nil
	}
	return cc.Client(server)
}

// credential finds the credential the flags name, and the server they ask
// for ("" for the credential's own). Without a credential it is nil, and
// the server is a plain-HTTP one (--insecure-dev agents).
func (f *clientFlags) credential() (*node.ClientConfig, string, error) {
	server := f.server
	if server == "" {
		server = os.Getenv("SHOAL_SERVER")
	}
	path := f.config
	if path == "" {
		path = os.Getenv("SHOAL_CONFIG")
	}
	if path == "" {
		for _, p := range []string{node.DefaultClientConfigPath(), localAdminConfig} {
			if _, err := os.Stat(p); err == nil {
				path = p
				break
			}
		}
	}
	if path == "" {
		if server == "" {
			server = api.DefaultServer
		}
		if strings.HasPrefix(server, "https://") {
			return nil, "", fmt.Errorf("no credential for %s: pass --config FILE or set SHOAL_CONFIG (the first node wrote <data-dir>/admin.conf)", server)
		}
		return nil, server, nil
	}
	cc, err := node.LoadClientConfig(path)
	if err != nil {
		return nil, "", err
	}
	return cc, server, nil
}

func (f *clientFlags) add(cmd *cobra.Command) {
	cmd.PersistentFlags().StringVar(&f.server, "server", "", "URL of any agent's API (env SHOAL_SERVER; default: the credential's server, or "+api.DefaultServer+")")
	cmd.PersistentFlags().StringVarP(&f.output, "output", "o", "", "output format: json, yaml or wide")
	cmd.PersistentFlags().StringVar(&f.config, "config", "", "credential file (env SHOAL_CONFIG; default ~/.shoal/config, then "+localAdminConfig+")")
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
		newDevCmd(),
		newMembersCmd(cf),
		newStatusCmd(cf),
		newNodeCmd(cf),
		newOperatorCmd(),
		newCredentialsCmd(cf),
		newKubeconfigCmd(cf),
		newApplyCmd(cf),
		newGetCmd(cf),
		newDescribeCmd(cf),
		newDeleteCmd(cf),
		newScaleCmd(cf),
		newRolloutCmd(cf),
		newLogsCmd(cf), newExecCmd(cf),
		newTopCmd(cf),
		newImageCmd(cf),
		newTokenCmd(cf),
		&cobra.Command{
			Use:   "version",
			Short: "Print the shoal version",
			Args:  cobra.NoArgs,
			Run:   func(cmd *cobra.Command, _ []string) { fmt.Fprintln(cmd.OutOrStdout(), "shoal", version) },
		},
	)
	return root
}
