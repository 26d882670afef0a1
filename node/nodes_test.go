package node

import (
	"fmt"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
)

// Every member gets a Node object with its labels, capacity and extended
// resources; a member that leaves loses it.
func TestNodeObjects(t *testing.T) {
	c := newTestCluster(t)
	c.start("n1", "", func(cfg *Config) {
		cfg.Resources = map[string]int64{"nvidia.com/gpu": 4}
		cfg.Labels = map[string]string{ZoneLabel: "z1"}
	})
	c.start("n2", "n1")
	c.start("n3", "n1")
	c.waitRoles("n1", "n2", "n3")
	cl := c.client("n2")
	waitUntil(t, 15*time.Second, "three Ready nodes", func() (bool, string) {
		objs, _, err := cl.List(ctxT(t), "Node", "", true)
		if err != nil || len(objs) != 3 {
			return false, fmt.Sprintf("%d nodes, %v", len(objs), err)
		}
		for _, o := range objs {
			n := o.(*api.Node)
			if len(n.Status.Conditions) == 0 || n.Status.Conditions[0].Status != "True" {
				return false, n.Name + " not Ready"
			}
		}
		return true, ""
	})
	obj, err := cl.Get(ctxT(t), "Node", "", "n1")
	if err != nil {
		t.Fatal(err)
	}
	n1 := obj.(*api.Node)
	gpu := n1.Status.Allocatable["nvidia.com/gpu"]
	if gpu.Value() != 4 || n1.Labels[ZoneLabel] != "z1" || n1.Status.Capacity.Cpu().MilliValue() == 0 {
		t.Fatalf("n1: labels %v capacity %v", n1.Labels, n1.Status.Capacity)
	}
	if err := c.agents["n3"].Leave(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	delete(c.agents, "n3")
	waitUntil(t, 15*time.Second, "n3's Node to go", func() (bool, string) {
		_, err := cl.Get(ctxT(t), "Node", "", "n3")
		return api.IsNotFound(err), fmt.Sprint(err)
	})
}
