package api

import (
	"fmt"
	"strconv"
)

// validateLabelSelector checks a selector's syntax, as Kubernetes does.
func validateLabelSelector(e *fieldErrors, p string, ls *LabelSelector) {
	if ls == nil {
		return
	}
	validateLabels(e, p+".matchLabels", ls.MatchLabels)
	for i, r := range ls.MatchExpressions {
		rp := idx(p+".matchExpressions", i)
		if r.Key == "" {
			e.required(rp+".key", "")
		} else {
			validateQualifiedName(e, rp+".key", r.Key)
		}
		switch r.Operator {
		case LabelSelectorOpIn, LabelSelectorOpNotIn:
			if len(r.Values) == 0 {
				e.required(rp+".values", "must be specified when operator is In or NotIn")
			}
		case LabelSelectorOpExists, LabelSelectorOpDoesNotExist:
			if len(r.Values) > 0 {
				e.forbidden(rp+".values", "may not be specified when operator is Exists or DoesNotExist")
			}
		default:
			e.unsupported(rp+".operator", string(r.Operator), "In", "NotIn", "Exists", "DoesNotExist")
		}
		for j, v := range r.Values {
			if msg := labelValueError(v); msg != "" {
				e.invalid(idx(rp+".values", j), v, msg)
			}
		}
	}
}

var nodeSelectorOps = []string{"In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"}

func validateNodeSelectorTerm(e *fieldErrors, p string, t NodeSelectorTerm) {
	for i, r := range t.MatchExpressions {
		rp := idx(p+".matchExpressions", i)
		validateQualifiedName(e, rp+".key", r.Key)
		switch r.Operator {
		case NodeSelectorOpIn, NodeSelectorOpNotIn:
			if len(r.Values) == 0 {
				e.required(rp+".values", "must be specified when operator is In or NotIn")
			}
		case NodeSelectorOpExists, NodeSelectorOpDoesNotExist:
			if len(r.Values) > 0 {
				e.forbidden(rp+".values", "may not be specified when operator is Exists or DoesNotExist")
			}
		case NodeSelectorOpGt, NodeSelectorOpLt:
			if len(r.Values) != 1 {
				e.required(rp+".values", "must be a single integer when operator is Gt or Lt")
			} else if _, err := strconv.ParseInt(r.Values[0], 10, 64); err != nil {
				e.invalid(idx(rp+".values", 0), r.Values[0], "must be an integer when operator is Gt or Lt")
			}
		default:
			e.unsupported(rp+".operator", string(r.Operator), nodeSelectorOps...)
		}
		for j, v := range r.Values {
			if msg := labelValueError(v); msg != "" {
				e.invalid(idx(rp+".values", j), v, msg)
			}
		}
	}
	for i, r := range t.MatchFields {
		rp := idx(p+".matchFields", i)
		if r.Key != "metadata.name" {
			e.unsupported(rp+".key", r.Key, "metadata.name")
		}
		if r.Operator != NodeSelectorOpIn && r.Operator != NodeSelectorOpNotIn {
			e.unsupported(rp+".operator", string(r.Operator), "In", "NotIn")
		}
		if len(r.Values) != 1 {
			e.required(rp+".values", "must have exactly one node name")
		}
	}
}

func validateWeight(e *fieldErrors, p string, w int32) {
	if w < 1 || w > 100 {
		e.invalid(p, w, "must be in the range 1-100")
	}
}

func validatePodAffinityTerm(e *fieldErrors, p string, t PodAffinityTerm) {
	validateLabelSelector(e, p+".labelSelector", t.LabelSelector)
	for i, ns := range t.Namespaces {
		if !isDNSLabel(ns) {
			e.invalid(idx(p+".namespaces", i), ns, msgDNSLabel)
		}
	}
	if t.TopologyKey == "" {
		e.required(p+".topologyKey", "a node label key such as kubernetes.io/hostname or topology.kubernetes.io/zone")
	} else {
		validateQualifiedName(e, p+".topologyKey", t.TopologyKey)
	}
}

func validatePodAffinityTerms(e *fieldErrors, p string, req []PodAffinityTerm, pref []WeightedPodAffinityTerm) {
	for i, t := range req {
		validatePodAffinityTerm(e, idx(p+".requiredDuringSchedulingIgnoredDuringExecution", i), t)
	}
	for i, t := range pref {
		tp := idx(p+".preferredDuringSchedulingIgnoredDuringExecution", i)
		validateWeight(e, tp+".weight", t.Weight)
		validatePodAffinityTerm(e, tp+".podAffinityTerm", t.PodAffinityTerm)
	}
}

func validateAffinity(e *fieldErrors, p string, a *Affinity) {
	if na := a.NodeAffinity; na != nil {
		np := p + ".nodeAffinity"
		if r := na.RequiredDuringSchedulingIgnoredDuringExecution; r != nil {
			rp := np + ".requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms"
			if len(r.NodeSelectorTerms) == 0 {
				e.required(rp, "must have at least one node selector term")
			}
			for i, t := range r.NodeSelectorTerms {
				validateNodeSelectorTerm(e, idx(rp, i), t)
			}
		}
		for i, t := range na.PreferredDuringSchedulingIgnoredDuringExecution {
			tp := idx(np+".preferredDuringSchedulingIgnoredDuringExecution", i)
			validateWeight(e, tp+".weight", t.Weight)
			validateNodeSelectorTerm(e, tp+".preference", t.Preference)
		}
	}
	if pa := a.PodAffinity; pa != nil {
		validatePodAffinityTerms(e, p+".podAffinity", pa.RequiredDuringSchedulingIgnoredDuringExecution, pa.PreferredDuringSchedulingIgnoredDuringExecution)
	}
	if pa := a.PodAntiAffinity; pa != nil {
		validatePodAffinityTerms(e, p+".podAntiAffinity", pa.RequiredDuringSchedulingIgnoredDuringExecution, pa.PreferredDuringSchedulingIgnoredDuringExecution)
	}
}

func validateTolerations(e *fieldErrors, p string, ts []Toleration) {
	for i, t := range ts {
		tp := idx(p, i)
		if t.Key != "" {
			validateQualifiedName(e, tp+".key", t.Key)
		} else if t.Operator != TolerationOpExists {
			e.invalid(tp+".operator", string(t.Operator), "must be Exists when key is empty (an empty key with Exists tolerates every taint)")
		}
		if t.TolerationSeconds != nil && t.Effect != TaintEffectNoExecute {
			e.invalid(tp+".effect", string(t.Effect), "must be NoExecute when tolerationSeconds is set")
		}
		switch t.Operator {
		case "", TolerationOpEqual:
			if msg := labelValueError(t.Value); msg != "" {
				e.invalid(tp+".value", t.Value, msg)
			}
		case TolerationOpExists:
			if t.Value != "" {
				e.invalid(tp+".value", t.Value, "must be empty when operator is Exists")
			}
		default:
			e.unsupported(tp+".operator", string(t.Operator), "Equal", "Exists")
		}
		if t.Effect != "" && !contains(taintEffects, string(t.Effect)) {
			e.unsupported(tp+".effect", string(t.Effect), taintEffects...)
		}
	}
}

func validateSpreadConstraints(e *fieldErrors, p string, cs []TopologySpreadConstraint) {
	seen := map[string]bool{}
	for i, c := range cs {
		cp := idx(p, i)
		if c.MaxSkew <= 0 {
			e.invalid(cp+".maxSkew", c.MaxSkew, "must be greater than zero")
		}
		if c.TopologyKey == "" {
			e.required(cp+".topologyKey", "a node label key such as topology.kubernetes.io/zone")
		} else {
			validateQualifiedName(e, cp+".topologyKey", c.TopologyKey)
		}
		switch c.WhenUnsatisfiable {
		case DoNotSchedule, ScheduleAnyway:
		case "":
			e.required(cp+".whenUnsatisfiable", "DoNotSchedule or ScheduleAnyway")
		default:
			e.unsupported(cp+".whenUnsatisfiable", string(c.WhenUnsatisfiable), string(DoNotSchedule), string(ScheduleAnyway))
		}
		id := fmt.Sprintf("{%s, %s}", c.TopologyKey, c.WhenUnsatisfiable)
		if seen[id] {
			e.duplicate(cp, id)
		}
		seen[id] = true
		validateLabelSelector(e, cp+".labelSelector", c.LabelSelector)
	}
}
