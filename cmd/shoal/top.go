package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/shoal-dev/shoal/api"
	"github.com/spf13/cobra"
)

func init() {
	// `shoal get podmetrics` and `shoal get nodemetrics` show the numbers
	// as `shoal top` does.
	usage := func(p string) func(map[string]any) string {
		return func(m map[string]any) string { return dashIfEmpty(str(m, p)) }
	}
	columns["PodMetrics"] = []column{
		{head: "CPU(cores)", val: func(m map[string]any) string { return sumContainers(m, api.ResourceCPU, formatCPU) }},
		{head: "MEMORY(bytes)", val: func(m map[string]any) string { return sumContainers(m, api.ResourceMemory, formatMemory) }},
		{head: "WINDOW", wide: true, val: usage("window")},
	}
	columns["NodeMetrics"] = []column{
		{head: "CPU(cores)", val: func(m map[string]any) string { return formatMaybe(str(m, "usage.cpu"), formatCPU) }},
		{head: "MEMORY(bytes)", val: func(m map[string]any) string { return formatMaybe(str(m, "usage.memory"), formatMemory) }},
		{head: "WINDOW", wide: true, val: usage("window")},
	}
}

func sumContainers(m map[string]any, resource string, format func(api.Quantity) string) string {
	cs, _ := field(m, "containers").([]any)
	var sum api.Quantity
	for _, c := range cs {
		cm, _ := c.(map[string]any)
		if q, err := api.ParseQuantity(str(cm, "usage."+resource)); err == nil {
			sum = sum.Add(q)
		}
	}
	return format(sum)
}

func formatMaybe(s string, format func(api.Quantity) string) string {
	q, err := api.ParseQuantity(s)
	if err != nil {
		return "<unknown>"
	}
	return format(q)
}

// formatCPU writes cpu as kubectl top does: whole millicores, "12m".
func formatCPU(q api.Quantity) string { return fmt.Sprintf("%dm", q.MilliValue()) }

// formatMemory writes memory as kubectl top does: whole MiB, "3Mi".
func formatMemory(q api.Quantity) string { return fmt.Sprintf("%dMi", q.Value()/(1<<20)) }

func newTopCmd(cf *clientFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "top (pods|nodes)",
		Short: "Show the cpu and memory that pods or nodes use",
		Long: `Show the cpu and memory that pods or nodes use, as each node last reported
them: every 15 seconds, cpu averaged since the sample before, memory as the
working set. A pod shows up once its containers have been sampled twice.`,
	}
	cmd.AddCommand(newTopPodsCmd(cf), newTopNodesCmd(cf))
	return cmd
}

func newTopPodsCmd(cf *clientFlags) *cobra.Command {
	var nf nsFlags
	var selector, sortBy string
	var containers bool
	cmd := &cobra.Command{
		Use:     "pods [NAME]",
		Aliases: []string{"pod", "po"},
		Short:   "Show the cpu and memory use of pods",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkSortBy(sortBy); err != nil {
				return err
			}
			r, _ := api.ResourceForKind("PodMetrics")
			ns := nf.ns(r)
			cl, err := cf.client()
			if err != nil {
				return err
			}
			var objs []api.Object
			if len(args) == 1 {
				o, err := cl.Get(cmd.Context(), "PodMetrics", ns, args[0])
				if api.IsNotFound(err) {
					return fmt.Errorf("pod %s in namespace %s has no metrics yet: its node reports them every 15s, from the second sample of its running containers on (is the pod running?)", args[0], nsOrDefault(ns))
				} else if err != nil {
					return err
				}
				objs = []api.Object{o}
			} else {
				objs, _, err = cl.ListWith(cmd.Context(), "PodMetrics", ns, api.ListOptions{LabelSelector: selector})
				if err != nil {
					return err
				}
			}
			pms := []*api.PodMetrics{}
			for _, o := range objs {
				pms = append(pms, o.(*api.PodMetrics))
			}
			out := cmd.OutOrStdout()
			return cf.print(out, pms, func(bool) {
				if len(pms) == 0 {
					where := "in namespace " + ns
					if ns == "" {
						where = "in any namespace"
					}
					fmt.Fprintf(cmd.ErrOrStderr(), "No pod metrics found %s (nodes report them every 15s once a pod's containers have been sampled twice).\n", where)
					return
				}
				printTopPods(out, pms, nf.all, containers, sortBy)
			})
		},
	}
	nf.add(cmd, true)
	cmd.Flags().StringVarP(&selector, "selector", "l", "", "label selector (app=web,tier!=db)")
	cmd.Flags().StringVar(&sortBy, "sort-by", "", "sort by cpu or memory, highest first (default: by name)")
	cmd.Flags().BoolVar(&containers, "containers", false, "show each container")
	return cmd
}

func newTopNodesCmd(cf *clientFlags) *cobra.Command {
	var selector, sortBy string
	cmd := &cobra.Command{
		Use:     "nodes [NAME]",
		Aliases: []string{"node", "no"},
		Short:   "Show the cpu and memory use of nodes, against what they can give pods",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkSortBy(sortBy); err != nil {
				return err
			}
			cl, err := cf.client()
			if err != nil {
				return err
			}
			nodeObjs, _, err := cl.ListWith(cmd.Context(), "Node", "", api.ListOptions{LabelSelector: selector})
			if err != nil {
				return err
			}
			metricObjs, _, err := cl.List(cmd.Context(), "NodeMetrics", "", false)
			if err != nil {
				return err
			}
			var nodes []*api.Node
			for _, o := range nodeObjs {
				if n := o.(*api.Node); len(args) == 0 || n.Name == args[0] {
					nodes = append(nodes, n)
				}
			}
			if len(args) == 1 && len(nodes) == 0 {
				return fmt.Errorf("node %q not found (see `shoal get nodes`)", args[0])
			}
			metrics := map[string]*api.NodeMetrics{}
			shown := []*api.NodeMetrics{}
			for _, o := range metricObjs {
				metrics[o.GetObjectMeta().Name] = o.(*api.NodeMetrics)
			}
			for _, n := range nodes {
				if m := metrics[n.Name]; m != nil {
					shown = append(shown, m)
				}
			}
			out := cmd.OutOrStdout()
			return cf.print(out, shown, func(bool) { printTopNodes(out, nodes, metrics, sortBy) })
		},
	}
	cmd.Flags().StringVarP(&selector, "selector", "l", "", "label selector on the nodes (topology.kubernetes.io/zone=a)")
	cmd.Flags().StringVar(&sortBy, "sort-by", "", "sort by cpu or memory, highest first (default: by name)")
	return cmd
}

func checkSortBy(s string) error {
	switch s {
	case "", "cpu", "memory":
		return nil
	}
	return fmt.Errorf("--sort-by %q: use cpu or memory", s)
}

func nsOrDefault(ns string) string {
	if ns == "" {
		return "default"
	}
	return ns
}

// podUsage sums a pod's containers' use of resource.
func podUsage(pm *api.PodMetrics, resource string) api.Quantity {
	var sum api.Quantity
	for _, c := range pm.Containers {
		sum = sum.Add(c.Usage[resource])
	}
	return sum
}

// printTopPods writes kubectl top pod's table: NAME, CPU(cores),
// MEMORY(bytes), with NAMESPACE first for every namespace and one row per
// container (POD, NAME) with containers.
func printTopPods(w io.Writer, pms []*api.PodMetrics, allNS, containers bool, sortBy string) {
	pms = append([]*api.PodMetrics(nil), pms...)
	sort.SliceStable(pms, func(i, j int) bool {
		a, b := pms[i], pms[j]
		if sortBy != "" {
			if c := podUsage(a, sortBy).Cmp(podUsage(b, sortBy)); c != 0 {
				return c > 0
			}
		}
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.Name < b.Name
	})
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	var head []string
	if allNS {
		head = append(head, "NAMESPACE")
	}
	if containers {
		head = append(head, "POD")
	}
	fmt.Fprintln(tw, strings.Join(append(head, "NAME", "CPU(cores)", "MEMORY(bytes)"), "\t"))
	for _, pm := range pms {
		var row []string
		if allNS {
			row = append(row, pm.Namespace)
		}
		if !containers {
			row = append(row, pm.Name, formatCPU(podUsage(pm, api.ResourceCPU)), formatMemory(podUsage(pm, api.ResourceMemory)))
			fmt.Fprintln(tw, strings.Join(row, "\t"))
			continue
		}
		for _, c := range pm.Containers {
			r := append(append([]string(nil), row...), pm.Name, c.Name, formatCPU(c.Usage.Cpu()), formatMemory(c.Usage.Memory()))
			fmt.Fprintln(tw, strings.Join(r, "\t"))
		}
	}
	tw.Flush()
}

// printTopNodes writes kubectl top node's table: NAME, CPU(cores), CPU%,
// MEMORY(bytes), MEMORY%, the percentages of the Node's allocatable. A
// node without metrics shows <unknown> and sorts last.
func printTopNodes(w io.Writer, nodes []*api.Node, metrics map[string]*api.NodeMetrics, sortBy string) {
	nodes = append([]*api.Node(nil), nodes...)
	usage := func(n *api.Node) (api.Quantity, bool) {
		m := metrics[n.Name]
		if m == nil {
			return api.Quantity{}, false
		}
		return m.Usage[sortBy], true
	}
	sort.SliceStable(nodes, func(i, j int) bool {
		a, b := nodes[i], nodes[j]
		if sortBy != "" {
			ua, oka := usage(a)
			ub, okb := usage(b)
			if oka != okb {
				return oka
			}
			if c := ua.Cmp(ub); c != 0 {
				return c > 0
			}
		}
		return a.Name < b.Name
	})
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "NAME\tCPU(cores)\tCPU%\tMEMORY(bytes)\tMEMORY%")
	for _, n := range nodes {
		m := metrics[n.Name]
		if m == nil {
			fmt.Fprintf(tw, "%s\t<unknown>\t<unknown>\t<unknown>\t<unknown>\n", n.Name)
			continue
		}
		alloc := n.Status.Allocatable
		if alloc == nil {
			alloc = n.Status.Capacity
		}
		cpu, mem := m.Usage.Cpu(), m.Usage.Memory()
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", n.Name,
			formatCPU(cpu), percentOf(cpu.MilliValue(), alloc, api.ResourceCPU, true),
			formatMemory(mem), percentOf(mem.Value(), alloc, api.ResourceMemory, false))
	}
	tw.Flush()
}

// percentOf is used as a whole percentage of the allocatable amount of
// resource (in milli-units for cpu), or <unknown> when there is none.
func percentOf(used int64, alloc api.ResourceList, resource string, milli bool) string {
	q, ok := alloc[resource]
	if !ok {
		return "<unknown>"
	}
	total := q.Value()
	if milli {
		total = q.MilliValue()
	}
	if total <= 0 {
		return "<unknown>"
	}
	return fmt.Sprintf("%d%%", used*100/total)
}
