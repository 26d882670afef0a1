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
	total := grow(c.total, len(feasible))
	raw := grow(c.raw, len(feasible))
	c.total, c.raw = total, raw
	clear(total)

	// Preferred node affinity: sum of matching weights, scaled to the max.
	// The sum depends on the node alone, so it is kept for the next pod
	// with the same preferences.
	if info.prefNode != nil {
		for i, n := range feasible {
			w := info.prefNode[n.idx]
			if w < 0 {
				w = 0
				for _, t := range p.Spec.Affinity.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
					if termMatchesNode(t.Preference, n) {
						w += t.Weight
					}
				}
				info.prefNode[n.idx] = w
			}
			raw[i] = int64(w)
		}
		addScaled(total, raw, weightNodeAffinity, false)
	}

	// PreferNoSchedule taints: fewer untolerated is better. With no such
	// taint anywhere every node scores the same, which changes nothing.
	if c.soft {
		for i, n := range feasible {
			raw[i] = 0
			if !n.soft {
				continue
			}
			for _, t := range n.node.Spec.Taints {
				if t.Effect == api.TaintEffectPreferNoSchedule && !tolerates(p, t) {
					raw[i]++
				}
			}
		}
		addScaled(total, raw, weightTaints, true)
	}

	// Preferred pod affinity and anti-affinity: weight per matching pod in
	// the node's domain, scaled between min and max.
	if len(info.prefAff) > 0 {
		for i, n := range feasible {
			raw[i] = 0
			for _, w := range info.prefAff {
				if d := w.t.topo.nodeDom[n.idx]; d >= 0 {
					raw[i] += w.weight * int64(w.t.counts[d])
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
				if d := sc.s.topo.nodeDom[n.idx]; d >= 0 {
					raw[i] += int64(sc.s.counts[d])
				} else {
					raw[i] += int64(c.bound) + 1 // a node outside every domain scores lowest
				}
			}
		}
		addMinMaxReverse(total, raw, weightSpread)
	}

	// Default spread of one owner's replicas over nodes and zones, unless the
	// pod states its own spread constraints.
	if info.owner != "" && len(p.Spec.TopologySpreadConstraints) == 0 {
		if oc := c.owners[info.owner]; oc != nil {
			zone := c.topology(LabelZone).nodeDom
			var maxNode, maxZone int64
			zones := false
			for i, n := range feasible {
				raw[i] = int64(oc.on(n.idx))
				maxNode = max(maxNode, raw[i])
				if d := zone[n.idx]; d >= 0 {
					zones = true
					maxZone = max(maxZone, int64(oc.zone[d]))
				}
			}
			for i, n := range feasible {
				s := int64(100)
				if maxNode > 0 {
					s = 100 * (maxNode - raw[i]) / maxNode
				}
				if d := zone[n.idx]; zones && d >= 0 {
					zs := int64(100)
					if maxZone > 0 {
						zs = 100 * (maxZone - int64(oc.zone[d])) / maxZone
					}
					s = (s + 2*zs) / 3
				}
				total[i] += weightDefaultSpread * s
			}
		}
	}

	// Least allocated cpu and memory, counting this pod.
	cpu := nonZero(info.cpu, defaultCPUMillis)
	mem := nonZero(info.mem, defaultMemoryBytes)
	for i, n := range feasible {
		s := (leastAllocated(n.nzCPU+cpu, n.alloc[resCPU]) + leastAllocated(n.nzMem+mem, n.alloc[resMem])) / 2
		total[i] += weightLeastAllocated * s
	}

	best := 0
	bestHash := nodeHash(info.seed, feasible[0].name)
	for i := 1; i < len(feasible); i++ {
		if total[i] < total[best] {
			continue
		}
		h := nodeHash(info.seed, feasible[i].name)
		if total[i] > total[best] || h > bestHash {
			best, bestHash = i, h
		}
	}
	return feasible[best]
}

// grow returns s with length n, reusing its array when it is big enough.
func grow(s []int64, n int) []int64 {
	if cap(s) < n {
		return make([]int64, n, 2*n)
	}
	return s[:n]
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
