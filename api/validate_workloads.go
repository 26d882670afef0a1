package api

import (
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // CronJob time zones resolve the same on every node
)

func validateService(e *fieldErrors, svc *Service) {
	s := &svc.Spec
	switch s.Type {
	case ServiceTypeClusterIP:
	case "":
		e.required("spec.type", "ClusterIP")
	case ServiceTypeNodePort, ServiceTypeLoadBalancer, ServiceTypeExternalName:
		e.add("spec.type", "Unsupported value: %q: not supported yet (shoal supports only ClusterIP Services, and headless ones with clusterIP: None)", s.Type)
	default:
		e.unsupported("spec.type", string(s.Type), string(ServiceTypeClusterIP))
	}
	headless := s.ClusterIP == ClusterIPNone
	if s.ClusterIP != "" && !headless && net.ParseIP(s.ClusterIP) == nil {
		e.invalid("spec.clusterIP", s.ClusterIP, `must be empty (one is allocated), "None" (headless) or an IP address`)
	}
	if len(s.Ports) == 0 && !headless {
		e.required("spec.ports", "a Service needs at least one port, unless it is headless (clusterIP: None)")
	}
	names := map[string]bool{}
	ports := map[string]bool{}
	for i, port := range s.Ports {
		pp := idx("spec.ports", i)
		switch {
		case port.Name == "" && len(s.Ports) > 1:
			e.required(pp+".name", "every port needs a name when a Service has more than one port")
		case port.Name == "":
		case !isDNSLabel(port.Name):
			e.invalid(pp+".name", port.Name, msgDNSLabel)
		case names[port.Name]:
			e.duplicate(pp+".name", port.Name)
		}
		names[port.Name] = true
		validatePortNumber(e, pp+".port", port.Port)
		validateProtocol(e, pp+".protocol", port.Protocol)
		if !port.TargetPort.IsZero() {
			validatePortNumOrName(e, pp+".targetPort", port.TargetPort)
		}
		id := fmt.Sprintf("%d/%s", port.Port, port.Protocol)
		if ports[id] {
			e.duplicate(pp, id)
		}
		ports[id] = true
	}
	validateLabels(e, "spec.selector", s.Selector)
}

// validateEndpoints checks an Endpoints object: every subset has an
// address, addresses are IPs with valid host and node names, and ports are
// numbered 1-65535, named when a subset has more than one.
func validateEndpoints(e *fieldErrors, ep *Endpoints) {
	for i, ss := range ep.Subsets {
		sp := idx("subsets", i)
		if len(ss.Addresses) == 0 && len(ss.NotReadyAddresses) == 0 {
			e.required(sp+".addresses", "a subset needs addresses or notReadyAddresses")
		}
		for j, a := range ss.Addresses {
			validateEndpointAddress(e, idx(sp+".addresses", j), a)
		}
		for j, a := range ss.NotReadyAddresses {
			validateEndpointAddress(e, idx(sp+".notReadyAddresses", j), a)
		}
		names := map[string]bool{}
		for j, port := range ss.Ports {
			pp := idx(sp+".ports", j)
			switch {
			case port.Name == "" && len(ss.Ports) > 1:
				e.required(pp+".name", "every port needs a name when a subset has more than one port")
			case port.Name == "":
			case !isDNSLabel(port.Name):
				e.invalid(pp+".name", port.Name, msgDNSLabel)
			case names[port.Name]:
				e.duplicate(pp+".name", port.Name)
			}
			names[port.Name] = true
			validatePortNumber(e, pp+".port", port.Port)
			validateProtocol(e, pp+".protocol", port.Protocol)
		}
	}
}

func validateEndpointAddress(e *fieldErrors, p string, a EndpointAddress) {
	if net.ParseIP(a.IP) == nil {
		e.invalid(p+".ip", a.IP, "must be an IP address, such as 10.42.0.7")
	}
	if a.Hostname != "" && !isDNSLabel(a.Hostname) {
		e.invalid(p+".hostname", a.Hostname, msgDNSLabel)
	}
	if a.NodeName != nil && *a.NodeName != "" && !isDNSSubdomain(*a.NodeName) {
		e.invalid(p+".nodeName", *a.NodeName, msgDNSSubdomain)
	}
}

// validatePodTemplate checks a workload's pod template at p ("spec.template").
func validatePodTemplate(e *fieldErrors, p string, t *PodTemplateSpec, restart []RestartPolicy, hint string) {
	validateLabels(e, p+".metadata.labels", t.Labels)
	validateAnnotations(e, p+".metadata.annotations", t.Annotations)
	validatePodSpec(e, p+".spec", &t.Spec, restart, hint)
}

// validateSelectorMatches checks a workload's selector at p and that it
// selects the template's labels.
func validateSelectorMatches(e *fieldErrors, p string, sel *LabelSelector, t *PodTemplateSpec, templatePath string) {
	if len(sel.MatchLabels) == 0 && len(sel.MatchExpressions) == 0 {
		e.add(p, "Invalid value: {}: an empty selector would select every pod; set %s.matchLabels to the labels of %s.metadata.labels", p, templatePath)
		return
	}
	before := len(*e)
	validateLabelSelector(e, p, sel)
	if len(*e) > before {
		return
	}
	if !sel.Matches(t.Labels) {
		want, _ := sel.AsSelector()
		e.invalid(templatePath+".metadata.labels", SelectorFromSet(t.Labels).String(),
			fmt.Sprintf("does not match %s (%s); the template's labels must satisfy the selector", p, want.String()))
	}
}

func validateWorkloadSelector(e *fieldErrors, kind string, sel *LabelSelector, t *PodTemplateSpec) {
	if sel == nil {
		e.required("spec.selector", fmt.Sprintf("apps/v1 %ss need a selector matching spec.template.metadata.labels", kind))
		return
	}
	validateSelectorMatches(e, "spec.selector", sel, t, "spec.template")
}

var percentRe = regexp.MustCompile(`^[0-9]+%$`)

// validateIntOrPercent checks a rolling-update bound and returns whether
// it is zero.
func validateIntOrPercent(e *fieldErrors, p string, v *IntOrString, capPercent bool) (zero bool) {
	if v == nil {
		return false
	}
	if v.Type == IntOrStringInt {
		e.nonNegative(p, int64(v.IntVal))
		return v.IntVal == 0
	}
	if !percentRe.MatchString(v.StrVal) {
		e.invalid(p, v.StrVal, `must be an integer or a percentage such as "25%"`)
		return false
	}
	n, _ := strconv.Atoi(strings.TrimSuffix(v.StrVal, "%"))
	if capPercent && n > 100 {
		e.invalid(p, v.StrVal, "must not be greater than 100%")
	}
	return n == 0
}

func validateRollingBounds(e *fieldErrors, p string, maxUnavailable, maxSurge *IntOrString, capSurge bool) {
	unavailZero := validateIntOrPercent(e, p+".maxUnavailable", maxUnavailable, true)
	surgeZero := maxSurge == nil || validateIntOrPercent(e, p+".maxSurge", maxSurge, capSurge)
	if unavailZero && surgeZero {
		e.invalid(p+".maxUnavailable", *maxUnavailable, "may not be 0 when maxSurge is 0: the update could never make progress")
	}
}

var alwaysRestart = []RestartPolicy{RestartPolicyAlways}

func validateDeployment(e *fieldErrors, d *Deployment) {
	s := &d.Spec
	if s.Replicas != nil {
		e.nonNegative("spec.replicas", int64(*s.Replicas))
	}
	validateWorkloadSelector(e, "Deployment", s.Selector, &s.Template)
	validatePodTemplate(e, "spec.template", &s.Template, alwaysRestart, "")
	switch s.Strategy.Type {
	case RecreateDeploymentStrategyType:
		if s.Strategy.RollingUpdate != nil {
			e.forbidden("spec.strategy.rollingUpdate", "may not be set when strategy type is Recreate")
		}
	case RollingUpdateDeploymentStrategyType:
		if ru := s.Strategy.RollingUpdate; ru != nil {
			validateRollingBounds(e, "spec.strategy.rollingUpdate", ru.MaxUnavailable, ru.MaxSurge, false)
		}
	default:
		e.unsupported("spec.strategy.type", string(s.Strategy.Type), string(RecreateDeploymentStrategyType), string(RollingUpdateDeploymentStrategyType))
	}
	e.nonNegative("spec.minReadySeconds", int64(s.MinReadySeconds))
	if s.RevisionHistoryLimit != nil {
		e.nonNegative("spec.revisionHistoryLimit", int64(*s.RevisionHistoryLimit))
	}
	if pd := s.ProgressDeadlineSeconds; pd != nil {
		if *pd <= s.MinReadySeconds {
			e.invalid("spec.progressDeadlineSeconds", *pd, "must be greater than minReadySeconds")
		}
	}
}

func validateReplicaSet(e *fieldErrors, rs *ReplicaSet) {
	s := &rs.Spec
	if s.Replicas != nil {
		e.nonNegative("spec.replicas", int64(*s.Replicas))
	}
	e.nonNegative("spec.minReadySeconds", int64(s.MinReadySeconds))
	validateWorkloadSelector(e, "ReplicaSet", s.Selector, &s.Template)
	validatePodTemplate(e, "spec.template", &s.Template, alwaysRestart, "")
}

func validateDaemonSet(e *fieldErrors, ds *DaemonSet) {
	s := &ds.Spec
	validateWorkloadSelector(e, "DaemonSet", s.Selector, &s.Template)
	validatePodTemplate(e, "spec.template", &s.Template, alwaysRestart, "")
	switch s.UpdateStrategy.Type {
	case OnDeleteDaemonSetStrategyType:
		if s.UpdateStrategy.RollingUpdate != nil {
			e.forbidden("spec.updateStrategy.rollingUpdate", "may not be set when updateStrategy type is OnDelete")
		}
	case RollingUpdateDaemonSetStrategyType:
		if ru := s.UpdateStrategy.RollingUpdate; ru != nil {
			validateRollingBounds(e, "spec.updateStrategy.rollingUpdate", ru.MaxUnavailable, ru.MaxSurge, true)
		}
	default:
		e.unsupported("spec.updateStrategy.type", string(s.UpdateStrategy.Type), string(OnDeleteDaemonSetStrategyType), string(RollingUpdateDaemonSetStrategyType))
	}
	e.nonNegative("spec.minReadySeconds", int64(s.MinReadySeconds))
	if s.RevisionHistoryLimit != nil {
		e.nonNegative("spec.revisionHistoryLimit", int64(*s.RevisionHistoryLimit))
	}
}

const maxIndexedCompletions = 100000

var jobRestart = []RestartPolicy{RestartPolicyOnFailure, RestartPolicyNever}

// validateJobSpec checks a Job spec at p ("spec", or
// "spec.jobTemplate.spec" in a CronJob). uid is the Job's UID, which a
// generated selector names.
func validateJobSpec(e *fieldErrors, p string, s *JobSpec, uid string) {
	for _, f := range []struct {
		name string
		v    *int32
	}{{"parallelism", s.Parallelism}, {"completions", s.Completions}, {"backoffLimit", s.BackoffLimit}, {"ttlSecondsAfterFinished", s.TTLSecondsAfterFinished}} {
		if f.v != nil {
			e.nonNegative(p+"."+f.name, int64(*f.v))
		}
	}
	if s.ActiveDeadlineSeconds != nil && *s.ActiveDeadlineSeconds <= 0 {
		e.invalid(p+".activeDeadlineSeconds", *s.ActiveDeadlineSeconds, "must be greater than 0")
	}
	if m := s.CompletionMode; m != nil {
		switch *m {
		case NonIndexedCompletion:
		case IndexedCompletion:
			switch {
			case s.Completions == nil:
				e.required(p+".completions", "an Indexed Job needs completions, the number of indexes")
			case *s.Completions > maxIndexedCompletions:
				e.invalid(p+".completions", *s.Completions, fmt.Sprintf("must be less than or equal to %d when completionMode is Indexed", maxIndexedCompletions))
			}
			if s.Parallelism != nil && *s.Parallelism > maxIndexedCompletions {
				e.invalid(p+".parallelism", *s.Parallelism, fmt.Sprintf("must be less than or equal to %d when completionMode is Indexed", maxIndexedCompletions))
			}
		default:
			e.unsupported(p+".completionMode", string(*m), string(NonIndexedCompletion), string(IndexedCompletion))
		}
	}
	manual := s.ManualSelector != nil && *s.ManualSelector
	generated := s.Selector != nil && uid != "" && s.Selector.MatchLabels[JobControllerUIDLabel] == uid
	switch {
	case manual && s.Selector == nil:
		e.required(p+".selector", "manualSelector is true, so give a selector matching "+p+".template.metadata.labels")
	case !manual && s.Selector != nil && !generated:
		e.forbidden(p+".selector", "shoal generates a Job's selector; leave it out, or set manualSelector: true to use your own")
	case s.Selector != nil:
		validateSelectorMatches(e, p+".selector", s.Selector, &s.Template, p+".template")
	}
	validatePodTemplate(e, p+".template", &s.Template, jobRestart, "Jobs need restartPolicy OnFailure or Never")
}

func validateCronJob(e *fieldErrors, c *CronJob) {
	s := &c.Spec
	switch {
	case s.Schedule == "":
		e.required("spec.schedule", `a cron schedule such as "0 2 * * *" or "@daily"`)
	case strings.Contains(s.Schedule, "TZ"):
		e.invalid("spec.schedule", s.Schedule, "cannot use TZ or CRON_TZ in schedule; use the timeZone field instead")
	default:
		if _, err := ParseSchedule(s.Schedule); err != nil {
			e.invalid("spec.schedule", s.Schedule, err.Error())
		}
	}
	if tz := s.TimeZone; tz != nil {
		switch {
		case *tz == "":
			e.invalid("spec.timeZone", *tz, "must be unset (UTC) or a time zone name such as Europe/Berlin")
		case strings.EqualFold(*tz, "Local"):
			e.invalid("spec.timeZone", *tz, "must be an explicit IANA time zone such as Europe/Berlin or Etc/UTC")
		default:
			if _, err := time.LoadLocation(*tz); err != nil {
				e.invalid("spec.timeZone", *tz, "unknown time zone; use an IANA name such as Europe/Berlin or Etc/UTC")
			}
		}
	}
	switch s.ConcurrencyPolicy {
	case AllowConcurrent, ForbidConcurrent, ReplaceConcurrent:
	case "":
		e.required("spec.concurrencyPolicy", "Allow, Forbid or Replace")
	default:
		e.unsupported("spec.concurrencyPolicy", string(s.ConcurrencyPolicy), string(AllowConcurrent), string(ForbidConcurrent), string(ReplaceConcurrent))
	}
	if v := s.StartingDeadlineSeconds; v != nil {
		e.nonNegative("spec.startingDeadlineSeconds", *v)
	}
	if v := s.SuccessfulJobsHistoryLimit; v != nil {
		e.nonNegative("spec.successfulJobsHistoryLimit", int64(*v))
	}
	if v := s.FailedJobsHistoryLimit; v != nil {
		e.nonNegative("spec.failedJobsHistoryLimit", int64(*v))
	}
	validateLabels(e, "spec.jobTemplate.metadata.labels", s.JobTemplate.Labels)
	validateAnnotations(e, "spec.jobTemplate.metadata.annotations", s.JobTemplate.Annotations)
	validateJobSpec(e, "spec.jobTemplate.spec", &s.JobTemplate.Spec, "")
}

func validateHPA(e *fieldErrors, h *HorizontalPodAutoscaler) {
	s := &h.Spec
	ref := s.ScaleTargetRef
	switch ref.Kind {
	case "Deployment", "ReplicaSet":
	case "":
		e.required("spec.scaleTargetRef.kind", "Deployment or ReplicaSet")
	default:
		e.add("spec.scaleTargetRef.kind", "Unsupported value: %q: shoal scales only Deployments and ReplicaSets", ref.Kind)
	}
	if ref.Name == "" {
		e.required("spec.scaleTargetRef.name", "the name of the Deployment or ReplicaSet to scale")
	} else if !isDNSSubdomain(ref.Name) {
		e.invalid("spec.scaleTargetRef.name", ref.Name, msgDNSSubdomain)
	}
	if ref.APIVersion != "" && ref.APIVersion != "apps/v1" {
		e.unsupported("spec.scaleTargetRef.apiVersion", ref.APIVersion, "apps/v1")
	}
	if s.MinReplicas != nil && *s.MinReplicas < 1 {
		e.invalid("spec.minReplicas", *s.MinReplicas, "must be greater than or equal to 1")
	}
	switch {
	case s.MaxReplicas < 1:
		e.invalid("spec.maxReplicas", s.MaxReplicas, "must be greater than or equal to 1")
	case s.MinReplicas != nil && s.MaxReplicas < *s.MinReplicas:
		e.invalid("spec.maxReplicas", s.MaxReplicas, "must be greater than or equal to minReplicas")
	}
	for i, m := range s.Metrics {
		mp := idx("spec.metrics", i)
		switch m.Type {
		case ResourceMetricSourceType:
			if m.Resource == nil {
				e.required(mp+".resource", "a metric of type Resource needs resource.name and resource.target")
			} else {
				validateResourceMetric(e, mp+".resource", m.Resource)
			}
			for _, other := range []struct {
				name string
				set  bool
			}{{"pods", m.Pods != nil}, {"object", m.Object != nil}, {"external", m.External != nil}, {"containerResource", m.ContainerResource != nil}} {
				if other.set {
					e.forbidden(mp+"."+other.name, "must be empty when type is Resource")
				}
			}
		case PodsMetricSourceType, ObjectMetricSourceType, ExternalMetricSourceType, ContainerResourceMetricSourceType:
			e.add(mp+".type", "Unsupported value: %q: shoal supports only type Resource (cpu or memory); %s metrics are not supported yet", m.Type, m.Type)
		case "":
			e.required(mp+".type", "Resource")
		default:
			e.unsupported(mp+".type", string(m.Type), string(ResourceMetricSourceType))
		}
	}
}

func validateResourceMetric(e *fieldErrors, p string, r *ResourceMetricSource) {
	switch r.Name {
	case ResourceCPU, ResourceMemory:
	case "":
		e.required(p+".name", "cpu or memory")
	default:
		e.unsupported(p+".name", r.Name, ResourceCPU, ResourceMemory)
	}
	t := r.Target
	tp := p + ".target"
	switch t.Type {
	case UtilizationMetricType:
		switch {
		case t.AverageUtilization == nil:
			e.required(tp+".averageUtilization", "the target percentage of the pods' requests, such as 70")
		case *t.AverageUtilization <= 0:
			e.invalid(tp+".averageUtilization", *t.AverageUtilization, "must be greater than 0")
		}
		if t.AverageValue != nil {
			e.forbidden(tp+".averageValue", "may not be set when type is Utilization")
		}
	case AverageValueMetricType:
		switch {
		case t.AverageValue == nil:
			e.required(tp+".averageValue", `the target amount per pod, such as "500m" or "256Mi"`)
		case t.AverageValue.Sign() <= 0:
			e.invalid(tp+".averageValue", *t.AverageValue, "must be greater than 0")
		}
		if t.AverageUtilization != nil {
			e.forbidden(tp+".averageUtilization", "may not be set when type is AverageValue")
		}
	case "":
		e.required(tp+".type", "Utilization or AverageValue")
	default:
		e.unsupported(tp+".type", string(t.Type), string(UtilizationMetricType), string(AverageValueMetricType))
	}
	if t.Value != nil {
		e.forbidden(tp+".value", "may not be set for a Resource metric; use averageValue")
	}
}
