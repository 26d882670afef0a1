package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/spf13/cobra"
)

func newMembersCmd(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "members",
		Short: "List the cluster's nodes as the agent sees them",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := cf.client()
			if err != nil {
				return err
			}
			ms, err := cl.Members(cmd.Context())
			if err != nil {
				return err
			}
			return cf.print(cmd.OutOrStdout(), ms, func(wide bool) {
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				head := "NAME\tADDRESS\tGOSSIP\tRAFT\tZONE\tAGE"
				if wide {
					head += "\tID\tRAFT-ADDRESS\tAPI-ADDRESS\tLABELS"
				}
				fmt.Fprintln(tw, head)
				for _, m := range ms {
					line := fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s", m.Name, m.Address, m.Gossip, dash(m.Raft), dash(m.Zone), age(m.Since))
					if wide {
						line += fmt.Sprintf("\t%s\t%s\t%s\t%s", m.ID, m.RaftAddr, m.APIAddr, labels(m.Labels))
					}
					fmt.Fprintln(tw, line)
				}
				tw.Flush()
			})
		},
	}
}

func newStatusCmd(cf *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show the Raft leader, term, indexes and voters",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := cf.client()
			if err != nil {
				return err
			}
			st, err := cl.Status(cmd.Context())
			if err != nil {
				return err
			}
			return cf.print(cmd.OutOrStdout(), st, func(bool) {
				w := cmd.OutOrStdout()
				leader := "none"
				if st.Leader != nil {
					leader = fmt.Sprintf("%s (%s)", st.Leader.Name, st.Leader.Address)
				}
				fmt.Fprintf(w, "Leader:        %s\n", leader)
				fmt.Fprintf(w, "Term:          %d\n", st.Term)
				fmt.Fprintf(w, "Commit index:  %d\n", st.CommitIndex)
				fmt.Fprintf(w, "Applied index: %d\n", st.AppliedIndex)
				fmt.Fprintf(w, "Voters:        %s\n", refs(st.Voters))
				fmt.Fprintf(w, "Non-voters:    %s\n", refs(st.Nonvoters))
				fmt.Fprintf(w, "This node:     %s (%s, %s)\n", st.Self.Name, st.Self.RaftState, st.Self.ID)
			})
		},
	}
}

func newNodeCmd(cf *clientFlags) *cobra.Command {
	node := &cobra.Command{Use: "node", Short: "Cordon, uncordon or drain a node; leave the cluster"}
	node.AddCommand(
		newCordonCmd(cf, "cordon", "Mark a node unschedulable: no new pods go there", "cordoned", true),
		newCordonCmd(cf, "uncordon", "Mark a node schedulable again", "uncordoned", false),
		newDrainCmd(cf),
	)
	node.AddCommand(&cobra.Command{
		Use:   "leave",
		Short: "Make the node the CLI talks to leave the cluster for good: hand over leadership, leave Raft and gossip, stop the agent",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), 45*time.Second)
			defer cancel()
			cl, err := cf.client()
			if err != nil {
				return err
			}
			if err := cl.Leave(ctx); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "node left the cluster")
			return nil
		},
	})
	return node
}

func refs(rs []api.NodeRef) string {
	if len(rs) == 0 {
		return "-"
	}
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = r.Name
		if r.Name == "" {
			parts[i] = r.ID
		}
	}
	return strings.Join(parts, ", ")
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// joinLabels prints labels as k=v,... in key order.
func joinLabels[V any](m map[string]V) string {
	var parts []string
	for k, v := range m {
		parts = append(parts, fmt.Sprintf("%s=%v", k, v))
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

func labels(m map[string]string) string { return dash(joinLabels(m)) }

func age(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := time.Since(t)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}
