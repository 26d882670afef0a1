package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/shoal-dev/shoal/api"
)

func topPod(ns, name string, usage ...string) *api.PodMetrics {
	pm := &api.PodMetrics{TypeMeta: api.TypeMeta{APIVersion: "metrics.k8s.io/v1beta1", Kind: "PodMetrics"}}
	pm.Name, pm.Namespace = name, ns
	for i := 0; i+2 < len(usage); i += 3 {
		pm.Containers = append(pm.Containers, api.ContainerMetrics{Name: usage[i], Usage: api.ResourceList{
			"cpu": api.MustParseQuantity(usage[i+1]), "memory": api.MustParseQuantity(usage[i+2])}})
	}
	return pm
}

// lines splits a table into its rows with the padding collapsed.
func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		out = append(out, strings.Join(strings.Fields(l), " "))
	}
	return out
}

func wantTable(t *testing.T, got string, want ...string) {
	t.Helper()
	g := lines(got)
	if strings.Join(g, "\n") != strings.Join(want, "\n") {
		t.Errorf("table:\n%s\nwant:\n%s", strings.Join(g, "\n"), strings.Join(want, "\n"))
	}
}

func TestTopPodsTable(t *testing.T) {
	pms := []*api.PodMetrics{
		topPod("default", "web-2", "app", "12m", "3Mi"),
		topPod("default", "web-1", "app", "250m", "3145728", "side", "1500u", "1536Ki"),
		topPod("kube", "dns", "dns", "0", "512Ki"),
	}
	var b bytes.Buffer
	printTopPods(&b, pms, false, false, "")
	wantTable(t, b.String(),
		"NAME CPU(cores) MEMORY(bytes)",
		"web-1 252m 4Mi", // 1500u rounds up to 2m; 3Mi + 1.5Mi rounds down to 4Mi
		"web-2 12m 3Mi",
		"dns 0m 0Mi")

	b.Reset()
	printTopPods(&b, pms, true, false, "cpu")
	wantTable(t, b.String(),
		"NAMESPACE NAME CPU(cores) MEMORY(bytes)",
		"default web-1 252m 4Mi",
		"default web-2 12m 3Mi",
		"kube dns 0m 0Mi")

	b.Reset()
	printTopPods(&b, pms[1:2], false, true, "")
	wantTable(t, b.String(),
		"POD NAME CPU(cores) MEMORY(bytes)",
		"web-1 app 250m 3Mi",
		"web-1 side 2m 1Mi")
}

func TestTopNodesTable(t *testing.T) {
	node := func(name, cpu, mem string) *api.Node {
		n := &api.Node{ObjectMeta: api.ObjectMeta{Name: name}}
		n.Status.Capacity = api.ResourceList{"cpu": api.MustParseQuantity(cpu), "memory": api.MustParseQuantity(mem)}
		return n
	}
	usage := func(name, cpu, mem string) *api.NodeMetrics {
		return &api.NodeMetrics{ObjectMeta: api.ObjectMeta{Name: name},
			Usage: api.ResourceList{"cpu": api.MustParseQuantity(cpu), "memory": api.MustParseQuantity(mem)}}
	}
	nodes := []*api.Node{node("n2", "2", "4Gi"), node("n1", "4", "8Gi"), node("n3", "1", "1Gi")}
	metrics := map[string]*api.NodeMetrics{"n1": usage("n1", "500m", "1Gi"), "n2": usage("n2", "1500m", "1Gi")}
	var b bytes.Buffer
	printTopNodes(&b, nodes, metrics, "")
	wantTable(t, b.String(),
		"NAME CPU(cores) CPU% MEMORY(bytes) MEMORY%",
		"n1 500m 12% 1024Mi 12%",
		"n2 1500m 75% 1024Mi 25%",
		"n3 <unknown> <unknown> <unknown> <unknown>")

	b.Reset()
	printTopNodes(&b, nodes, metrics, "cpu")
	wantTable(t, b.String(),
		"NAME CPU(cores) CPU% MEMORY(bytes) MEMORY%",
		"n2 1500m 75% 1024Mi 25%",
		"n1 500m 12% 1024Mi 12%",
		"n3 <unknown> <unknown> <unknown> <unknown>")
}

func TestGetPodMetricsColumns(t *testing.T) {
	r, _ := api.ResourceForKind("PodMetrics")
	var b bytes.Buffer
	if err := printObjects(&b, "", r, []api.Object{topPod("default", "web-1", "app", "250m", "3Mi", "side", "2m", "1Mi")}, false, true); err != nil {
		t.Fatal(err)
	}
	wantTable(t, b.String(), "NAME CPU(cores) MEMORY(bytes) AGE", "web-1 252m 4Mi <unknown>")
	if err := checkSortBy("disk"); err == nil || !strings.Contains(err.Error(), "use cpu or memory") {
		t.Errorf("--sort-by disk: %v", err)
	}
}
