package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/api"
)

// setUnschedulable cordons or uncordons a node with a compare-and-set.
func setUnschedulable(ctx context.Context, cl *api.Client, name string, on bool) error {
	for attempt := 0; ; attempt++ {
		o, err := cl.Get(ctx, "Node", "", name)
		if err != nil {
			return err
		}
		n := o.(*api.Node)
		if n.Spec.Unschedulable == on {
			return nil
		}
		n.Spec.Unschedulable = on
		if _, err = cl.Update(ctx, n); err == nil || !api.IsConflict(err) || attempt == 5 {
			return err
		}
	}
}

func newCordonCmd(cf *clientFlags, use, short, done string, on bool) *cobra.Command {
	return &cobra.Command{
		Use: use + " NODE", Short: short, Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := cf.client()
			if err != nil {
				return err
			}
			if err := setUnschedulable(cmd.Context(), cl, args[0], on); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "node/%s %s\n", args[0], done)
			return nil
		},
	}
}

func newDrainCmd(cf *clientFlags) *cobra.Command {
	var force bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "drain NODE",
		Short: "Cordon a node and move its pods elsewhere (DaemonSet pods stay)",
		Long: `Drain marks the node unschedulable, then deletes the pods bound to it so
that their controllers start replacements on other nodes, and waits until
they are gone. Pods of DaemonSets stay. Pods that no controller owns would
be lost for good, so drain refuses to delete them unless --force is given.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			cl, err := cf.client()
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			if err := setUnschedulable(ctx, cl, name, true); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "node/%s cordoned\n", name)
			evict, err := podsToEvict(ctx, cl, name, force)
			if err != nil {
				return err
			}
			for _, p := range evict {
				if err := cl.Delete(ctx, "Pod", p.Namespace, p.Name); err != nil && !api.IsNotFound(err) {
					return err
				}
				fmt.Fprintf(out, "evicting pod %s/%s\n", p.Namespace, p.Name)
			}
			for _, p := range evict {
				for {
					o, err := cl.Get(ctx, "Pod", p.Namespace, p.Name)
					if api.IsNotFound(err) || (err == nil && o.GetObjectMeta().UID != p.UID) {
						break
					}
					select {
					case <-ctx.Done():
						return fmt.Errorf("node %s: pod %s/%s is still there after %s", name, p.Namespace, p.Name, timeout)
					case <-time.After(200 * time.Millisecond):
					}
				}
			}
			fmt.Fprintf(out, "node/%s drained\n", name)
			return nil
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "also delete pods that no controller owns (they will not come back)")
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "give up after this long")
	return cmd
}

// podsToEvict lists the pods on node that drain deletes.
func podsToEvict(ctx context.Context, cl *api.Client, node string, force bool) ([]*api.Pod, error) {
	objs, _, err := cl.ListWith(ctx, "Pod", "", api.ListOptions{FieldSelector: "spec.nodeName=" + node})
	if err != nil {
		return nil, err
	}
	var out []*api.Pod
	var bare []string
	for _, o := range objs {
		p := o.(*api.Pod)
		var ctrl *api.OwnerReference
		for i, r := range p.OwnerReferences {
			if r.Controller != nil && *r.Controller {
				ctrl = &p.OwnerReferences[i]
			}
		}
		switch {
		case ctrl != nil && ctrl.Kind == "DaemonSet":
			continue
		case ctrl == nil && !force:
			bare = append(bare, p.Namespace+"/"+p.Name)
			continue
		}
		out = append(out, p)
	}
	if len(bare) > 0 {
		return nil, fmt.Errorf("node %s: no controller owns pods %s, so deleting them loses them; delete them yourself or pass --force", node, strings.Join(bare, ", "))
	}
	return out, nil
}
