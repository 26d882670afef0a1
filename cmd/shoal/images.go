package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/node"
	"github.com/spf13/cobra"
)

func newImageCmd(cf *clientFlags) *cobra.Command {
	c := &cobra.Command{Use: "image", Aliases: []string{"images"}, Short: "Import and list container images on nodes"}
	var all bool
	imp := &cobra.Command{
		Use:   "import FILE",
		Short: "Upload an OCI or Docker image archive to the node the CLI talks to (or to every node)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			cl, err := cf.client()
			if err != nil {
				return err
			}
			return importImage(cmd.Context(), cl, f, all, cmd.OutOrStdout())
		},
	}
	imp.Flags().BoolVar(&all, "all-nodes", false, "import on every live node")
	ls := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List the images on the node the CLI talks to",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := cf.client()
			if err != nil {
				return err
			}
			var imgs []struct {
				Name   string `json:"name"`
				Digest string `json:"digest"`
				Size   int64  `json:"size"`
			}
			if _, err := cl.Do(cmd.Context(), http.MethodGet, "/v1/images", nil, &imgs); err != nil {
				return err
			}
			return cf.print(cmd.OutOrStdout(), imgs, func(bool) {
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 3, ' ', 0)
				fmt.Fprintln(tw, "IMAGE\tDIGEST\tSIZE")
				for _, i := range imgs {
					d := i.Digest
					if len(d) > 19 {
						d = d[:19]
					}
					fmt.Fprintf(tw, "%s\t%s\t%.1f MiB\n", i.Name, d, float64(i.Size)/(1<<20))
				}
				tw.Flush()
			})
		},
	}
	c.AddCommand(imp, ls)
	return c
}

// importImage uploads an image archive to the node cl talks to, or with
// all to every live node, and reports what each node imported.
func importImage(ctx context.Context, cl *api.Client, archive io.Reader, all bool, out io.Writer) error {
	url := cl.Base + "/v1/images"
	if all {
		url += "?allNodes=true"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, archive)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-tar")
	var results []node.ImageImportResult
	if _, err := cl.DoRequest(req, &results); err != nil {
		return err
	}
	var failed []string
	for _, r := range results {
		if r.Error != "" {
			failed = append(failed, r.Node+": "+r.Error)
			continue
		}
		fmt.Fprintf(out, "%s: imported %s\n", r.Node, strings.Join(r.Images, ", "))
	}
	if len(failed) > 0 {
		return fmt.Errorf("%s", strings.Join(failed, "\n"))
	}
	return nil
}
