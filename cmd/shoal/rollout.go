package main

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/placement"
)

var deploymentResource = api.Resource{Kind: "Deployment", Namespaced: true}

func newRolloutCmd(cf *clientFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "rollout", Short: "Follow, inspect, undo and restart the rollouts of a Deployment"}
	cmd.AddCommand(newRolloutStatusCmd(cf), newRolloutHistoryCmd(cf), newRolloutUndoCmd(cf), newRolloutRestartCmd(cf))
	return cmd
}

// deploymentArg reads "deployment/NAME" or "NAME".
func deploymentArg(s string) (string, error) {
	kind, name, ok := strings.Cut(s, "/")
	if !ok {
		return s, nil
	}
	if r, err := resolveKind(kind); err != nil || r.Kind != "Deployment" {
		return "", fmt.Errorf("%q: rollouts are of deployments (deployment/NAME)", s)
	}
	return name, nil
}

// rolloutTarget reads a rollout command's deployment argument and makes
// the client.
func rolloutTarget(cf *clientFlags, arg string) (string, *api.Client, error) {
	name, err := deploymentArg(arg)
	if err != nil {
		return "", nil, err
	}
	cl, err := cf.client()
	return name, cl, err
}

func getDeployment(ctx context.Context, cl *api.Client, ns, name string) (*api.Deployment, error) {
	o, err := cl.Get(ctx, "Deployment", ns, name)
	if err != nil {
		return nil, err
	}
	return o.(*api.Deployment), nil
}

// updateDeployment applies change to the newest copy and writes it with a
// compare-and-set, trying again when someone else wrote first.
func updateDeployment(ctx context.Context, cl *api.Client, ns, name string, change func(*api.Deployment) error) error {
	for attempt := 0; ; attempt++ {
		d, err := getDeployment(ctx, cl, ns, name)
		if err != nil {
			return err
		}
		if err := change(d); err != nil {
			return err
		}
		if _, err = cl.Update(ctx, d); err == nil || !api.IsConflict(err) || attempt == 5 {
			return err
		}
	}
}

// revisions returns the Deployment's ReplicaSets by revision.
func revisions(ctx context.Context, cl *api.Client, d *api.Deployment) (map[int64]*api.ReplicaSet, []int64, error) {
	objs, _, err := cl.List(ctx, "ReplicaSet", d.Namespace, false)
	if err != nil {
		return nil, nil, err
	}
	out := map[int64]*api.ReplicaSet{}
	var revs []int64
	for _, o := range objs {
		rs := o.(*api.ReplicaSet)
		owned := false
		for _, r := range rs.OwnerReferences {
			owned = owned || r.UID == d.UID
		}
		rev, err := strconv.ParseInt(rs.Annotations[placement.AnnotationRevision], 10, 64)
		if owned && err == nil {
			out[rev] = rs
			revs = append(revs, rev)
		}
	}
	sort.Slice(revs, func(i, j int) bool { return revs[i] < revs[j] })
	return out, revs, nil
}

func newRolloutStatusCmd(cf *clientFlags) *cobra.Command {
	var nf nsFlags
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "status deployment/NAME",
		Short: "Follow a rollout until it completes; exit 1 if it fails or times out",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, cl, err := rolloutTarget(cf, args[0])
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, timeout)
				defer cancel()
			}
			out := cmd.OutOrStdout()
			last := ""
			for {
				d, err := getDeployment(ctx, cl, nf.ns(deploymentResource), name)
				if err != nil {
					if ctx.Err() != nil {
						return fmt.Errorf("deployment %q: timed out after %s waiting for the rollout (last: %s)", name, timeout, last)
					}
					return err
				}
				msg, done, err := rolloutState(d)
				if err != nil {
					return err
				}
				if msg != last {
					fmt.Fprintln(out, msg)
					last = msg
				}
				if done {
					return nil
				}
				select {
				case <-ctx.Done():
					return fmt.Errorf("deployment %q: timed out after %s waiting for the rollout (last: %s)", name, timeout, last)
				case <-time.After(300 * time.Millisecond):
				}
			}
		},
	}
	nf.add(cmd, false)
	cmd.Flags().DurationVar(&timeout, "timeout", 0, "give up after this long (0: wait for as long as it takes)")
	return cmd
}

// rolloutState says where a rollout stands, as kubectl words it.
func rolloutState(d *api.Deployment) (msg string, done bool, err error) {
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	st := d.Status
	for _, c := range st.Conditions {
		if c.Type == api.DeploymentProgressing && c.Reason == "ProgressDeadlineExceeded" {
			return "", false, fmt.Errorf("deployment %q exceeded its progress deadline", d.Name)
		}
	}
	switch {
	case st.ObservedGeneration < d.Generation:
		return "Waiting for deployment spec update to be observed...", false, nil
	case st.UpdatedReplicas < want:
		return fmt.Sprintf("Waiting for deployment %q rollout to finish: %d out of %d new replicas have been updated...", d.Name, st.UpdatedReplicas, want), false, nil
	case st.Replicas > st.UpdatedReplicas:
		return fmt.Sprintf("Waiting for deployment %q rollout to finish: %d old replicas are pending termination...", d.Name, st.Replicas-st.UpdatedReplicas), false, nil
	case st.AvailableReplicas < st.UpdatedReplicas:
		return fmt.Sprintf("Waiting for deployment %q rollout to finish: %d of %d updated replicas are available...", d.Name, st.AvailableReplicas, st.UpdatedReplicas), false, nil
	}
	return fmt.Sprintf("deployment %q successfully rolled out", d.Name), true, nil
}

func newRolloutHistoryCmd(cf *clientFlags) *cobra.Command {
	var nf nsFlags
	var revision int64
	cmd := &cobra.Command{
		Use:   "history deployment/NAME [--revision N]",
		Short: "List a Deployment's revisions, or show one",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, cl, err := rolloutTarget(cf, args[0])
			if err != nil {
				return err
			}
			d, err := getDeployment(cmd.Context(), cl, nf.ns(deploymentResource), name)
			if err != nil {
				return err
			}
			byRev, revs, err := revisions(cmd.Context(), cl, d)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if revision > 0 {
				rs, ok := byRev[revision]
				if !ok {
					return fmt.Errorf("deployment %q has no revision %d (it has %v)", name, revision, revs)
				}
				fmt.Fprintf(out, "deployment %q revision %d\n", name, revision)
				b, err := yaml.Marshal(rs.Spec.Template)
				if err != nil {
					return err
				}
				_, err = out.Write(b)
				return err
			}
			fmt.Fprintf(out, "deployment %q\n", name)
			tw := tabwriter.NewWriter(out, 0, 8, 2, ' ', 0)
			fmt.Fprintln(tw, "REVISION\tCHANGE-CAUSE")
			for _, r := range revs {
				fmt.Fprintf(tw, "%d\t%s\n", r, dashIfEmpty(byRev[r].Annotations[placement.AnnotationChangeCause]))
			}
			return tw.Flush()
		},
	}
	nf.add(cmd, false)
	cmd.Flags().Int64Var(&revision, "revision", 0, "show the pod template of this revision")
	return cmd
}

func newRolloutUndoCmd(cf *clientFlags) *cobra.Command {
	var nf nsFlags
	var to int64
	cmd := &cobra.Command{
		Use:   "undo deployment/NAME [--to-revision N]",
		Short: "Roll a Deployment back to its previous revision, or to revision N",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, cl, err := rolloutTarget(cf, args[0])
			if err != nil {
				return err
			}
			var target int64
			err = updateDeployment(cmd.Context(), cl, nf.ns(deploymentResource), name, func(d *api.Deployment) error {
				byRev, revs, err := revisions(cmd.Context(), cl, d)
				if err != nil {
					return err
				}
				target = to
				if target == 0 {
					if len(revs) < 2 {
						return errors.New("deployment " + strconv.Quote(name) + " has no previous revision to roll back to")
					}
					target = revs[len(revs)-2]
				}
				rs, ok := byRev[target]
				if !ok {
					return fmt.Errorf("deployment %q has no revision %d (it has %v)", name, target, revs)
				}
				d.Spec.Template = rs.Spec.Template
				delete(d.Spec.Template.Labels, placement.LabelPodTemplateHash)
				return nil
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "deployment.apps/%s rolled back to revision %d\n", name, target)
			return nil
		},
	}
	nf.add(cmd, false)
	cmd.Flags().Int64Var(&to, "to-revision", 0, "the revision to go back to (default: the previous one)")
	return cmd
}

func newRolloutRestartCmd(cf *clientFlags) *cobra.Command {
	var nf nsFlags
	cmd := &cobra.Command{
		Use:   "restart deployment/NAME",
		Short: "Replace every pod of a Deployment with a rolling update",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, cl, err := rolloutTarget(cf, args[0])
			if err != nil {
				return err
			}
			err = updateDeployment(cmd.Context(), cl, nf.ns(deploymentResource), name, func(d *api.Deployment) error {
				if d.Spec.Template.Annotations == nil {
					d.Spec.Template.Annotations = map[string]string{}
				}
				d.Spec.Template.Annotations["kubectl.kubernetes.io/restartedAt"] = time.Now().UTC().Format(time.RFC3339)
				return nil
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "deployment.apps/%s restarted\n", name)
			return nil
		},
	}
	nf.add(cmd, false)
	return cmd
}
