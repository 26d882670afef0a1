package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/node"
	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"
)

// resolveKind turns what a user typed (po, deploy, services) into a kind.
func resolveKind(name string) (api.Resource, error) {
	r, ok := api.ResourceForName(strings.Split(name, ".")[0])
	if !ok || r.System {
		var known []string
		for _, k := range api.Kinds() {
			if res, _ := api.ResourceForKind(k); !res.System {
				known = append(known, res.Plural)
			}
		}
		return api.Resource{}, fmt.Errorf("the server doesn't have a resource type %q (known: %s)", name, strings.Join(known, ", "))
	}
	return r, nil
}

// qualifiedName is kubectl's "deployment.apps/web".
func qualifiedName(r api.Resource, name string) string {
	k := strings.ToLower(r.Kind)
	if r.Group != "" {
		k += "." + r.Group
	}
	return k + "/" + name
}

type nsFlags struct {
	namespace string
	all       bool
}

func (n *nsFlags) add(cmd *cobra.Command, withAll bool) {
	cmd.Flags().StringVarP(&n.namespace, "namespace", "n", "", `namespace (default "default")`)
	if withAll {
		cmd.Flags().BoolVarP(&n.all, "all-namespaces", "A", false, "every namespace")
	}
}

func (n *nsFlags) ns(r api.Resource) string {
	switch {
	case !r.Namespaced || n.all:
		return ""
	case n.namespace == "":
		return "default"
	}
	return n.namespace
}

func newApplyCmd(cf *clientFlags) *cobra.Command {
	var files []string
	var recursive, dryRun bool
	cmd := &cobra.Command{
		Use:   "apply -f FILE|DIR|-",
		Short: "Create or update objects from manifests; all of them change, or none",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(files) == 0 {
				return fmt.Errorf("apply needs -f FILE, -f DIR or -f - (stdin)")
			}
			docs, err := api.ReadManifests(files, cmd.InOrStdin(), recursive)
			if err != nil {
				return err
			}
			if len(docs) == 0 {
				return fmt.Errorf("no objects found in %s", strings.Join(files, ", "))
			}
			var problems []string
			req := node.ApplyRequest{DryRun: dryRun}
			for _, d := range docs {
				api.SetDefaults(d.Object)
				if err := api.Validate(d.Object); err != nil {
					problems = append(problems, fmt.Sprintf("%s doc %d: %v", d.Source, d.Index, err))
					continue
				}
				b, err := json.Marshal(d.Object)
				if err != nil {
					return err
				}
				req.Items = append(req.Items, b)
			}
			if len(problems) > 0 {
				return fmt.Errorf("nothing was applied:\n%s", strings.Join(problems, "\n"))
			}
			cl, err := cf.client()
			if err != nil {
				return err
			}
			var results []node.ApplyResult
			if _, err := cl.Do(cmd.Context(), http.MethodPost, "/v1/apply", req, &results); err != nil {
				return fmt.Errorf("nothing was applied: %w", err)
			}
			suffix := ""
			if dryRun {
				suffix = " (dry run)"
			}
			for _, r := range results {
				res, _ := api.ResourceForKind(r.Kind)
				fmt.Fprintf(cmd.OutOrStdout(), "%s %s%s\n", qualifiedName(res, r.Name), r.Action, suffix)
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVarP(&files, "filename", "f", nil, "file, directory or - for stdin (repeatable)")
	cmd.Flags().BoolVarP(&recursive, "recursive", "R", false, "read directories recursively")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "check everything and report what would change, without changing it")
	return cmd
}

func newGetCmd(cf *clientFlags) *cobra.Command {
	var nf nsFlags
	var selector, fieldSelector string
	var watch bool
	cmd := &cobra.Command{
		Use:   "get KIND [NAME]",
		Short: "List objects, or show one",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := resolveKind(args[0])
			if err != nil {
				return err
			}
			cl, err := cf.client()
			if err != nil {
				return err
			}
			ns := nf.ns(r)
			out := cmd.OutOrStdout()
			if len(args) == 2 {
				obj, err := cl.Get(cmd.Context(), r.Kind, ns, args[1])
				if err != nil {
					return err
				}
				return printObjects(out, cf.output, r, []api.Object{obj}, nf.all, false)
			}
			objs, idx, err := cl.ListWith(cmd.Context(), r.Kind, ns, api.ListOptions{LabelSelector: selector, FieldSelector: fieldSelector})
			if err != nil {
				return err
			}
			if len(objs) == 0 && !watch && cf.output == "" {
				if ns == "" {
					fmt.Fprintf(cmd.ErrOrStderr(), "No resources found\n")
				} else {
					fmt.Fprintf(cmd.ErrOrStderr(), "No resources found in %s namespace.\n", ns)
				}
				return nil
			}
			if err := printObjects(out, cf.output, r, objs, nf.all, true); err != nil || !watch {
				return err
			}
			return watchObjects(cmd.Context(), out, cl, cf.output, r, ns, idx, api.ListOptions{LabelSelector: selector, FieldSelector: fieldSelector}, nf.all)
		},
	}
	nf.add(cmd, true)
	cmd.Flags().StringVarP(&selector, "selector", "l", "", "label selector (app=web,tier!=db)")
	cmd.Flags().StringVar(&fieldSelector, "field-selector", "", "field selector (spec.nodeName=n1)")
	cmd.Flags().BoolVarP(&watch, "watch", "w", false, "after listing, keep printing changes")
	return cmd
}

func watchObjects(ctx context.Context, out io.Writer, cl *api.Client, format string, r api.Resource, ns string, from uint64, opts api.ListOptions, allNS bool) error {
	events, err := cl.WatchWith(ctx, r.Kind, ns, from, opts)
	if err != nil {
		return err
	}
	for ev := range events {
		if ev.Type == "ERROR" {
			return fmt.Errorf("watch ended: %s", ev.Object)
		}
		obj, err := api.DecodeJSON(r.Kind, ev.Object)
		if err != nil {
			return err
		}
		if err := printObjects(out, format, r, []api.Object{obj}, allNS, false); err != nil {
			return err
		}
	}
	return nil
}

func newDeleteCmd(cf *clientFlags) *cobra.Command {
	var nf nsFlags
	var files []string
	cmd := &cobra.Command{
		Use:   "delete (KIND NAME... | -f FILE)",
		Short: "Delete objects; what they own goes with them",
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := cf.client()
			if err != nil {
				return err
			}
			type target struct {
				r        api.Resource
				ns, name string
			}
			var targets []target
			if len(files) > 0 {
				docs, err := api.ReadManifests(files, cmd.InOrStdin(), false)
				if err != nil {
					return err
				}
				for _, d := range docs {
					r, _ := api.ResourceForKind(d.Object.GetTypeMeta().Kind)
					m := d.Object.GetObjectMeta()
					ns := m.Namespace
					if r.Namespaced && ns == "" {
						ns = nf.ns(r)
					}
					targets = append(targets, target{r, ns, m.Name})
				}
			} else {
				if len(args) < 2 {
					return fmt.Errorf("delete needs KIND NAME... or -f FILE")
				}
				r, err := resolveKind(args[0])
				if err != nil {
					return err
				}
				for _, name := range args[1:] {
					targets = append(targets, target{r, nf.ns(r), name})
				}
			}
			var failed []string
			for _, t := range targets {
				if err := cl.Delete(cmd.Context(), t.r.Kind, t.ns, t.name); err != nil {
					failed = append(failed, err.Error())
					continue
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s deleted\n", qualifiedName(t.r, t.name))
			}
			if len(failed) > 0 {
				return fmt.Errorf("%s", strings.Join(failed, "\n"))
			}
			return nil
		},
	}
	nf.add(cmd, false)
	cmd.Flags().StringArrayVarP(&files, "filename", "f", nil, "delete the objects named in these manifests")
	return cmd
}

func newScaleCmd(cf *clientFlags) *cobra.Command {
	var nf nsFlags
	var replicas int
	cmd := &cobra.Command{
		Use:   "scale KIND NAME --replicas N",
		Short: "Set the replica count of a Deployment or ReplicaSet",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if replicas < 0 {
				return fmt.Errorf("--replicas must be 0 or more")
			}
			r, err := resolveKind(args[0])
			if err != nil {
				return err
			}
			if r.Kind != "Deployment" && r.Kind != "ReplicaSet" {
				return fmt.Errorf("cannot scale a %s: only deployments and replicasets have replicas", r.Kind)
			}
			cl, err := cf.client()
			if err != nil {
				return err
			}
			p, _ := api.ObjectPath(r.Kind, nf.ns(r), args[1])
			for attempt := 0; ; attempt++ {
				var obj map[string]any
				if _, err := cl.Do(cmd.Context(), http.MethodGet, p, nil, &obj); err != nil {
					return err
				}
				spec, _ := obj["spec"].(map[string]any)
				if spec == nil {
					spec = map[string]any{}
					obj["spec"] = spec
				}
				spec["replicas"] = replicas
				_, err := cl.Do(cmd.Context(), http.MethodPut, p, obj, nil)
				if err == nil {
					fmt.Fprintf(cmd.OutOrStdout(), "%s scaled\n", qualifiedName(r, args[1]))
					return nil
				}
				if !api.IsConflict(err) || attempt == 5 {
					return err
				}
			}
		},
	}
	nf.add(cmd, false)
	cmd.Flags().IntVar(&replicas, "replicas", -1, "the number of replicas")
	cmd.MarkFlagRequired("replicas")
	return cmd
}

func newDescribeCmd(cf *clientFlags) *cobra.Command {
	var nf nsFlags
	cmd := &cobra.Command{
		Use:   "describe KIND NAME",
		Short: "Show an object in full, with its recent events",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := resolveKind(args[0])
			if err != nil {
				return err
			}
			cl, err := cf.client()
			if err != nil {
				return err
			}
			obj, err := cl.Get(cmd.Context(), r.Kind, nf.ns(r), args[1])
			if err != nil {
				return err
			}
			b, _ := yaml.Marshal(obj)
			out := cmd.OutOrStdout()
			out.Write(b)
			fmt.Fprintln(out, "Events:")
			evNS := obj.GetObjectMeta().Namespace
			if evNS == "" {
				evNS = "default"
			}
			events, _, err := cl.ListWith(cmd.Context(), "Event", evNS, api.ListOptions{FieldSelector: "involvedObject.uid=" + obj.GetObjectMeta().UID})
			if err != nil {
				return err
			}
			if len(events) == 0 {
				fmt.Fprintln(out, "  <none>")
				return nil
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "  TYPE\tREASON\tAGE\tFROM\tMESSAGE")
			rows := toMaps(events)
			sort.Slice(rows, func(i, j int) bool { return str(rows[i], "lastTimestamp") < str(rows[j], "lastTimestamp") })
			for _, e := range rows {
				fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", str(e, "type"), str(e, "reason"), ageOf(str(e, "lastTimestamp")), str(e, "source.component"), str(e, "message"))
			}
			return tw.Flush()
		},
	}
	nf.add(cmd, false)
	return cmd
}

// toMaps turns objects into generic maps for printing.
func toMaps(objs []api.Object) []map[string]any {
	out := make([]map[string]any, len(objs))
	for i, o := range objs {
		b, _ := json.Marshal(o)
		json.Unmarshal(b, &out[i])
	}
	return out
}

// field reads a dotted path out of a generic object.
func field(m map[string]any, path string) any {
	var cur any = m
	for _, p := range strings.Split(path, ".") {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = mm[p]
	}
	return cur
}

func str(m map[string]any, path string) string {
	v := field(m, path)
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		return fmt.Sprint(int64(x))
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func num(m map[string]any, path string) int64 {
	f, _ := field(m, path).(float64)
	return int64(f)
}

func ageOf(ts string) string {
	t, err := time.Parse(time.RFC3339, ts)
	if err != nil {
		return "<unknown>"
	}
	return age(t)
}
