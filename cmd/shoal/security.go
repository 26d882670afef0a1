package main

import (
	"fmt"
	"net/http"
	"text/tabwriter"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/node"
	"github.com/spf13/cobra"
)

func newCredentialsCmd(cf *clientFlags) *cobra.Command {
	c := &cobra.Command{Use: "credentials", Aliases: []string{"credential", "creds"}, Short: "Issue, list and revoke API credentials"}
	var readOnly bool
	var out string
	var lifetime time.Duration
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "Issue a credential and write it as a config file (to stdout, or --file)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := cf.client()
			if err != nil {
				return err
			}
			var cc node.ClientConfig
			if _, err := cl.Do(cmd.Context(), http.MethodPost, "/v1/credentials", node.CredentialRequest{Name: args[0], ReadOnly: readOnly, Lifetime: lifetime}, &cc); err != nil {
				return err
			}
			if out != "" {
				if err := cc.Save(out); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "credential %s written to %s; use it with --config %s or SHOAL_CONFIG\n", args[0], out, out)
				return nil
			}
			format := "yaml"
			if cf.output == "json" {
				format = "json"
			}
			return (&clientFlags{output: format}).print(cmd.OutOrStdout(), cc, nil)
		},
	}
	create.Flags().BoolVar(&readOnly, "read-only", false, "the credential may only read: no writes, no exec")
	create.Flags().StringVarP(&out, "file", "f", "", "write the credential file here (mode 0600)")
	create.Flags().DurationVar(&lifetime, "lifetime", node.AdminCredentialLifetime, "how long the credential is valid")
	revoke := &cobra.Command{
		Use:   "revoke NAME",
		Short: "Revoke a credential on every node at once",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := cf.client()
			if err != nil {
				return err
			}
			if _, err := cl.Do(cmd.Context(), http.MethodDelete, "/v1/credentials/"+args[0], nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "credential %s revoked\n", args[0])
			return nil
		},
	}
	ls := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List credentials",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := cf.client()
			if err != nil {
				return err
			}
			var creds []api.Credential
			if _, err := cl.Do(cmd.Context(), http.MethodGet, "/v1/credentials", nil, &creds); err != nil {
				return err
			}
			return cf.print(cmd.OutOrStdout(), creds, func(bool) {
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tROLE\tEXPIRES\tREVOKED")
				for _, c := range creds {
					exp := "-"
					if c.Spec.NotAfter != nil {
						exp = c.Spec.NotAfter.Format("2006-01-02")
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%v\n", c.Name, c.Spec.Role, exp, c.Spec.Revoked)
				}
				tw.Flush()
			})
		},
	}
	c.AddCommand(create, revoke, ls)
	return c
}

func newTokenCmd(cf *clientFlags) *cobra.Command {
	c := &cobra.Command{Use: "token", Short: "Show, rotate and create join tokens"}
	tokenCall := func(method, path string, body any) func(cmd *cobra.Command, _ []string) error {
		return func(cmd *cobra.Command, _ []string) error {
			cl, err := cf.client()
			if err != nil {
				return err
			}
			var t node.TokenAnswer
			if _, err := cl.Do(cmd.Context(), method, path, body, &t); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), t.Token)
			return nil
		}
	}
	var rot node.RotateRequest
	rotate := &cobra.Command{
		Use:   "rotate",
		Short: "Issue a new join secret; the old token stops working, members are unaffected",
		Args:  cobra.NoArgs,
		RunE:  tokenCall(http.MethodPost, "/v1/token/rotate", &rot),
	}
	rotate.Flags().BoolVar(&rot.GossipKey, "gossip-key", false, "also rotate the gossip encryption key")
	c.AddCommand(
		&cobra.Command{Use: "show", Short: "Print the cluster's join token", Args: cobra.NoArgs, RunE: tokenCall(http.MethodGet, "/v1/token", nil)},
		rotate,
		&cobra.Command{Use: "create", Short: "Create a one-time join token: it admits a single node", Args: cobra.NoArgs, RunE: tokenCall(http.MethodPost, "/v1/token/create", nil)},
	)
	return c
}
