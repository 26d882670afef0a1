package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strings"
	"text/tabwriter"

	"github.com/shoal-dev/shoal/api"
	"sigs.k8s.io/yaml"
)

// column is one column of a kind's table.
type column struct {
	head string
	wide bool // only with -o wide
	val  func(m map[string]any) string
}

func path(p string) func(map[string]any) string {
	return func(m map[string]any) string { return dashIfEmpty(str(m, p)) }
}

func dashIfEmpty(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}

func ratio(a, b string) func(map[string]any) string {
	return func(m map[string]any) string { return fmt.Sprintf("%d/%d", num(m, a), num(m, b)) }
}

func count(p string) func(map[string]any) string {
	return func(m map[string]any) string {
		v, _ := field(m, p).(map[string]any)
		return fmt.Sprint(len(v))
	}
}

// columns are the table columns of each kind, after NAME and before AGE,
// as kubectl shows them.
var columns = map[string][]column{
	"Pod": {
		{head: "READY", val: func(m map[string]any) string {
			cs, _ := field(m, "status.containerStatuses").([]any)
			ready := 0
			for _, c := range cs {
				if r, _ := c.(map[string]any)["ready"].(bool); r {
					ready++
				}
			}
			specs, _ := field(m, "spec.containers").([]any)
			return fmt.Sprintf("%d/%d", ready, len(specs))
		}},
		{head: "STATUS", val: podStatus},
		{head: "RESTARTS", val: func(m map[string]any) string {
			cs, _ := field(m, "status.containerStatuses").([]any)
			n := 0.0
			for _, c := range cs {
				r, _ := c.(map[string]any)["restartCount"].(float64)
				n += r
			}
			return fmt.Sprint(int(n))
		}},
		{head: "IP", wide: true, val: path("status.podIP")},
		{head: "NODE", wide: true, val: path("spec.nodeName")},
	},
	"Deployment": {
		{head: "READY", val: ratio("status.readyReplicas", "spec.replicas")},
		{head: "UP-TO-DATE", val: func(m map[string]any) string { return fmt.Sprint(num(m, "status.updatedReplicas")) }},
		{head: "AVAILABLE", val: func(m map[string]any) string { return fmt.Sprint(num(m, "status.availableReplicas")) }},
	},
	"ReplicaSet": {
		{head: "DESIRED", val: func(m map[string]any) string { return fmt.Sprint(num(m, "spec.replicas")) }},
		{head: "CURRENT", val: func(m map[string]any) string { return fmt.Sprint(num(m, "status.replicas")) }},
		{head: "READY", val: func(m map[string]any) string { return fmt.Sprint(num(m, "status.readyReplicas")) }},
	},
	"DaemonSet": {
		{head: "DESIRED", val: func(m map[string]any) string { return fmt.Sprint(num(m, "status.desiredNumberScheduled")) }},
		{head: "CURRENT", val: func(m map[string]any) string { return fmt.Sprint(num(m, "status.currentNumberScheduled")) }},
		{head: "READY", val: func(m map[string]any) string { return fmt.Sprint(num(m, "status.numberReady")) }},
		{head: "AVAILABLE", val: func(m map[string]any) string { return fmt.Sprint(num(m, "status.numberAvailable")) }},
	},
	"Service": {
		{head: "TYPE", val: path("spec.type")},
		{head: "CLUSTER-IP", val: path("spec.clusterIP")},
		{head: "PORT(S)", val: func(m map[string]any) string {
			ps, _ := field(m, "spec.ports").([]any)
			var out []string
			for _, p := range ps {
				pm, _ := p.(map[string]any)
				out = append(out, fmt.Sprintf("%s/%s", str(pm, "port"), str(pm, "protocol")))
			}
			return dashIfEmpty(strings.Join(out, ","))
		}},
		{head: "SELECTOR", wide: true, val: func(m map[string]any) string { return labelsOf(field(m, "spec.selector")) }},
	},
	"Endpoints": {{head: "ENDPOINTS", val: endpointsList}},
	"Job": {
		{head: "COMPLETIONS", val: ratio("status.succeeded", "spec.completions")},
		{head: "ACTIVE", val: func(m map[string]any) string { return fmt.Sprint(num(m, "status.active")) }},
	},
	"CronJob": {
		{head: "SCHEDULE", val: path("spec.schedule")},
		{head: "SUSPEND", val: func(m map[string]any) string { b, _ := field(m, "spec.suspend").(bool); return fmt.Sprint(b) }},
		{head: "ACTIVE", val: func(m map[string]any) string { a, _ := field(m, "status.active").([]any); return fmt.Sprint(len(a)) }},
		{head: "LAST SCHEDULE", val: func(m map[string]any) string {
			if s := str(m, "status.lastScheduleTime"); s != "" {
				return ageOf(s)
			}
			return "<none>"
		}},
	},
	"ConfigMap": {{head: "DATA", val: count("data")}},
	"Secret":    {{head: "TYPE", val: path("type")}, {head: "DATA", val: count("data")}},
	"Namespace": {{head: "STATUS", val: path("status.phase")}},
	"Node": {
		{head: "STATUS", val: func(m map[string]any) string {
			cs, _ := field(m, "status.conditions").([]any)
			for _, c := range cs {
				cm, _ := c.(map[string]any)
				if str(cm, "type") == "Ready" {
					if str(cm, "status") == "True" {
						return "Ready"
					}
					return "NotReady"
				}
			}
			return "Unknown"
		}},
		{head: "POD-CIDR", wide: true, val: path("spec.podCIDR")},
	},
	"Event": {
		{head: "TYPE", val: path("type")},
		{head: "REASON", val: path("reason")},
		{head: "OBJECT", val: func(m map[string]any) string {
			return strings.ToLower(str(m, "involvedObject.kind")) + "/" + str(m, "involvedObject.name")
		}},
		{head: "MESSAGE", val: path("message")},
	},
	"HorizontalPodAutoscaler": {
		{head: "REFERENCE", val: func(m map[string]any) string {
			return str(m, "spec.scaleTargetRef.kind") + "/" + str(m, "spec.scaleTargetRef.name")
		}},
		{head: "MINPODS", val: func(m map[string]any) string { return fmt.Sprint(num(m, "spec.minReplicas")) }},
		{head: "MAXPODS", val: func(m map[string]any) string { return fmt.Sprint(num(m, "spec.maxReplicas")) }},
		{head: "REPLICAS", val: func(m map[string]any) string { return fmt.Sprint(num(m, "status.currentReplicas")) }},
	},
}

func podStatus(m map[string]any) string {
	cs, _ := field(m, "status.containerStatuses").([]any)
	for _, c := range cs {
		cm, _ := c.(map[string]any)
		if r := str(cm, "state.waiting.reason"); r != "" {
			return r
		}
		if r := str(cm, "state.terminated.reason"); r != "" && str(m, "status.phase") != "Succeeded" {
			return r
		}
	}
	if p := str(m, "status.phase"); p != "" {
		return p
	}
	return "Pending"
}

// endpointsList is kubectl's ENDPOINTS column: the ready addresses as
// ip:port (or just ip for a subset without ports), the first three of
// them, then how many more there are.
func endpointsList(m map[string]any) string {
	const show = 3
	var list []string
	total := 0
	add := func(s string) {
		total++
		if len(list) < show {
			list = append(list, s)
		}
	}
	subsets, _ := field(m, "subsets").([]any)
	for _, s := range subsets {
		sm, _ := s.(map[string]any)
		addrs, _ := sm["addresses"].([]any)
		ports, _ := sm["ports"].([]any)
		if len(ports) == 0 {
			for _, a := range addrs {
				am, _ := a.(map[string]any)
				add(str(am, "ip"))
			}
			continue
		}
		for _, p := range ports {
			pm, _ := p.(map[string]any)
			for _, a := range addrs {
				am, _ := a.(map[string]any)
				add(net.JoinHostPort(str(am, "ip"), str(pm, "port")))
			}
		}
	}
	out := dashIfEmpty(strings.Join(list, ","))
	if total > show {
		out += fmt.Sprintf(" + %d more...", total-show)
	}
	return out
}

func labelsOf(v any) string {
	mm, _ := v.(map[string]any)
	return dashIfEmpty(joinLabels(mm))
}

// printObjects prints objects as a table or in the format asked for. A
// list in json or yaml is a kubectl-style List.
func printObjects(w io.Writer, format string, r api.Resource, objs []api.Object, allNS, header bool) error {
	switch format {
	case "json", "yaml":
		var v any = objs[0]
		if len(objs) != 1 || header {
			v = map[string]any{"apiVersion": "v1", "kind": "List", "items": objs}
		}
		if format == "json" {
			enc := json.NewEncoder(w)
			enc.SetIndent("", "    ")
			return enc.Encode(v)
		}
		b, err := yaml.Marshal(v)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	case "name":
		for _, o := range objs {
			fmt.Fprintln(w, qualifiedName(r, o.GetObjectMeta().Name))
		}
		return nil
	case "", "wide":
	default:
		return fmt.Errorf("-o %q is not a known output format (use wide, json, yaml or name)", format)
	}
	wide := format == "wide"
	var cols []column
	for _, c := range columns[r.Kind] {
		if !c.wide || wide {
			cols = append(cols, c)
		}
	}
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	if header {
		var heads []string
		if allNS && r.Namespaced {
			heads = append(heads, "NAMESPACE")
		}
		heads = append(heads, "NAME")
		for _, c := range cols {
			heads = append(heads, c.head)
		}
		heads = append(heads, "AGE")
		fmt.Fprintln(tw, strings.Join(heads, "\t"))
	}
	for _, m := range toMaps(objs) {
		var row []string
		if allNS && r.Namespaced {
			row = append(row, str(m, "metadata.namespace"))
		}
		row = append(row, str(m, "metadata.name"))
		for _, c := range cols {
			row = append(row, c.val(m))
		}
		row = append(row, ageOf(str(m, "metadata.creationTimestamp")))
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	return tw.Flush()
}
