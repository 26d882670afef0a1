package main

import (
	"fmt"
	"strings"

	"github.com/shoal-dev/shoal/api"
	"github.com/spf13/cobra"
)

// podName accepts a pod as kubectl does: NAME, pod/NAME or pods/NAME.
func podName(arg string) (string, error) {
	kind, name, ok := strings.Cut(arg, "/")
	if !ok {
		return arg, nil
	}
	if kind != "pod" && kind != "pods" && kind != "po" || name == "" {
		return "", fmt.Errorf("%q: name a pod (NAME or pod/NAME); logs and exec work on pods only", arg)
	}
	return name, nil
}

func newLogsCmd(cf *clientFlags) *cobra.Command {
	var nf nsFlags
	var opts api.PodLogOptions
	var tail int64
	cmd := &cobra.Command{
		Use:   "logs POD [-c CONTAINER]",
		Short: "Print a container's output (stdout and stderr), from whichever node runs it",
		Long: `Print the output of a container of a pod: everything it wrote to stdout and
stderr, as its node kept it. -c names the container when the pod has several.
--previous shows the attempt before a restart. -f keeps printing until the
container exits (or Ctrl-C).`,
		Example: "  shoal logs web-0\n  shoal logs web-0 -c sidecar --tail 20 -f\n  shoal logs web-0 --previous",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := podName(args[0])
			if err != nil {
				return err
			}
			if tail < -1 {
				return fmt.Errorf("--tail %d: give a number of lines, or -1 for all", tail)
			}
			if tail >= 0 {
				opts.TailLines = &tail
			}
			cl, err := cf.client()
			if err != nil {
				return err
			}
			pods, _ := api.ResourceForKind("Pod")
			return cl.Logs(cmd.Context(), nf.ns(pods), name, opts, cmd.OutOrStdout())
		},
	}
	nf.add(cmd, false)
	cmd.Flags().StringVarP(&opts.Container, "container", "c", "", "container name (required when the pod has several)")
	cmd.Flags().BoolVarP(&opts.Follow, "follow", "f", false, "keep printing new output until the container exits")
	cmd.Flags().BoolVarP(&opts.Previous, "previous", "p", false, "the previous attempt of the container, before its last restart")
	cmd.Flags().Int64Var(&tail, "tail", -1, "print only the last N lines (-1: all)")
	cmd.Flags().Int64Var(&opts.LimitBytes, "limit-bytes", 0, "stop after N bytes (0: no limit)")
	return cmd
}
