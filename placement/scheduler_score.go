package placement

import "github.com/shoal-dev/shoal/api"

// pick scores the feasible nodes and returns the best. Each score is
// normalised to 0..100 over the feasible nodes and weighted, as in
// kube-scheduler; ties go to the highest tieHash.
func (c *cluster) pick(info *podInfo, feasible []*nodeState) *nodeState {
	if len(feasible) == 1 {
		return feasible[0]
	}
	p := info.pod
	total := make([]int64, len(feasible))
	raw := make([]int64, len(feasible))

	// Preferred node affinity: sum of matching weights, scaled to the max.
	if a := p.Spec.Affinity; a != nil && a.NodeAffinity != nil && len(a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution) > 0 {
		for i, n := range feasible {
			raw[i] = 0
			for _, t := range a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
				if termMatchesNode(t.Preference, n) {
					raw[i] += int64(t.Weight)
				}
			}
		}
		addScaled(total, raw, weightNodeAffinity, false)
	}

	// PreferNoSchedule taints: fewer untolerated is better.
	for i, n := range feasible {
		raw[i] = 0
		for _, t := range n.node.Spec.Taints {
			if t.Effect == api.TaintEffectPreferNoSchedule && !tolerates(p, t) {
				raw[i]++
			}
		}
	}
	addScaled(total, raw, weightTaints, true)

	// Preferred pod affinity and anti-affinity: weight per matching pod in
	// the node's domain, scaled between min and max.
	if len(info.prefAff) > 0 {
		for i, n := range feasible {
			raw[i] = 0
			for _, tc := range info.prefAff {
				if v, ok := n.labels[tc.key]; ok {
					raw[i] += tc.weight * int64(tc.counts[v])
				}
			}
		}
		addMinMax(total, raw, weightPodAffinity)
	}

	// Topology spread, ScheduleAnyway: fewer matching pods in the domain is
	// better.
	if len(info.soft) > 0 {
		for i, n := range feasible {
			raw[i] = 0
			for _, sc := range info.soft {
				if v, ok := n.labels[sc.c.TopologyKey]; ok {
					raw[i] += int64(sc.counts[v])
				} else {
					raw[i] += int64(len(c.pods)) + 1 // a node outside every domain scores lowest
				}
			}
		}
		addMinMaxReverse(total, raw, weightSpread)
	}

	// Default spread of one owner's replicas over nodes and zones, unless the
	// pod states its own spread constraints.
	if uid := controllerUID(p); uid != "" && len(p.Spec.TopologySpreadConstraints) == 0 {
		if oc := c.owners[uid]; oc != nil {
			var maxNode, maxZone int
			zones := false
			for _, n := range feasible {
				maxNode = max(maxNode, oc.node[n.name])
				if z, ok := n.labels[LabelZone]; ok {
					zones = true
					maxZone = max(maxZone, oc.zone[z])
				}
			}
			for i, n := range feasible {
				s := int64(100)
				if maxNode > 0 {
					s = int64(100 * (maxNode - oc.node[n.name]) / maxNode)
				}
				if z, ok := n.labels[LabelZone]; zones && ok {
					zs := int64(100)
					if maxZone > 0 {
						zs = int64(100 * (maxZone - oc.zone[z]) / maxZone)
					}
					s = (s + 2*zs) / 3
				}
				total[i] += weightDefaultSpread * s
			}
		}
	}

	// Least allocated cpu and memory, counting this pod.
	cpu := nonZero(info.req[api.ResourceCPU], defaultCPUMillis)
	mem := nonZero(info.req[api.ResourceMemory], defaultMemoryBytes)
	for i, n := range feasible {
		s := (leastAllocated(n.nzCPU+cpu, n.alloc[api.ResourceCPU]) + leastAllocated(n.nzMem+mem, n.alloc[api.ResourceMemory])) / 2
		total[i] += weightLeastAllocated * s
	}

	best := 0
	bestHash := tieHash(p, feasible[0].name)
	for i := 1; i < len(feasible); i++ {
		if total[i] < total[best] {
			continue
		}
		h := tieHash(p, feasible[i].name)
		if total[i] > total[best] || h > bestHash {
			best, bestHash = i, h
		}
	}
	return feasible[best]
}

func leastAllocated(requested, capacity int64) int64 {
	if capacity <= 0 || requested > capacity {
		return 0
	}
	return (capacity - requested) * 100 / capacity
}

// addScaled adds weight * raw scaled to 0..100 by the max (reversed: the
// lowest raw scores 100).
func addScaled(total, raw []int64, weight int64, reverse bool) {
	var hi int64
	for _, v := range raw {
		hi = max(hi, v)
	}
	for i, v := range raw {
		s := int64(0)
		if hi > 0 {
			s = v * 100 / hi
		}
		if reverse {
			s = 100 - s
		}
		total[i] += weight * s
	}
}

func addMinMax(total, raw []int64, weight int64) {
	lo, hi := raw[0], raw[0]
	for _, v := range raw {
		lo, hi = min(lo, v), max(hi, v)
	}
	if hi == lo {
		return
	}
	for i, v := range raw {
		total[i] += weight * (v - lo) * 100 / (hi - lo)
	}
}

func addMinMaxReverse(total, raw []int64, weight int64) {
	lo, hi := raw[0], raw[0]
	for _, v := range raw {
		lo, hi = min(lo, v), max(hi, v)
	}
	for i, v := range raw {
		s := int64(100)
		if hi > lo {
			s = (hi - v) * 100 / (hi - lo)
		}
		total[i] += weight * s
	}
}
