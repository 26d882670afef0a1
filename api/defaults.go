package api

import "strings"

// SetDefaults fills in the fields Kubernetes defaults, for the subset shoal
// supports, so that stored objects read back as they would from
// Kubernetes. It changes obj in place, sets only fields that are unset, and
// is idempotent. It never defaults a workload's selector: apps/v1 requires
// one, and Validate says so. Job templates get no restartPolicy: a Job
// needs OnFailure or Never, and Validate asks for one.
func SetDefaults(obj Object) {
	switch o := obj.(type) {
	case *Namespace:
		if o.Status.Phase == "" {
			o.Status.Phase = "Active"
		}
	case *Secret:
		if o.Type == "" {
			o.Type = SecretTypeOpaque
		}
	case *Node:
		if o.Status.Allocatable == nil && o.Status.Capacity != nil {
			o.Status.Allocatable = ResourceList{}
			for k, v := range o.Status.Capacity {
				o.Status.Allocatable[k] = v
			}
		}
	case *Pod:
		defaultPodSpec(&o.Spec, true)
		// For a pod (not a template), requests default to limits.
		for _, cs := range [][]Container{o.Spec.InitContainers, o.Spec.Containers} {
			for i := range cs {
				r := &cs[i].Resources
				for k, v := range r.Limits {
					if _, ok := r.Requests[k]; !ok {
						if r.Requests == nil {
							r.Requests = ResourceList{}
						}
						r.Requests[k] = v
					}
				}
			}
		}
	case *Service:
		defaultService(&o.Spec)
	case *Endpoints:
		for i := range o.Subsets {
			for j := range o.Subsets[i].Ports {
				if o.Subsets[i].Ports[j].Protocol == "" {
					o.Subsets[i].Ports[j].Protocol = ProtocolTCP
				}
			}
		}
	case *Deployment:
		defaultDeployment(&o.Spec)
	case *ReplicaSet:
		if o.Spec.Replicas == nil {
			o.Spec.Replicas = ptr[int32](1)
		}
		defaultPodSpec(&o.Spec.Template.Spec, true)
	case *DaemonSet:
		defaultDaemonSet(&o.Spec)
	case *Job:
		defaultJobSpec(&o.Spec)
		// A Job without labels takes its template's, as in Kubernetes.
		if len(o.Labels) == 0 && len(o.Spec.Template.Labels) > 0 {
			o.Labels = map[string]string{}
			for k, v := range o.Spec.Template.Labels {
				o.Labels[k] = v
			}
		}
	case *CronJob:
		defaultCronJob(&o.Spec)
	case *HorizontalPodAutoscaler:
		defaultHPA(&o.Spec)
	}
}

func ptr[T any](v T) *T { return &v }

func defaultDeployment(s *DeploymentSpec) {
	if s.Replicas == nil {
		s.Replicas = ptr[int32](1)
	}
	if s.Strategy.Type == "" {
		s.Strategy.Type = RollingUpdateDeploymentStrategyType
	}
	if s.Strategy.Type == RollingUpdateDeploymentStrategyType {
		if s.Strategy.RollingUpdate == nil {
			s.Strategy.RollingUpdate = &RollingUpdateDeployment{}
		}
		if s.Strategy.RollingUpdate.MaxUnavailable == nil {
			s.Strategy.RollingUpdate.MaxUnavailable = ptr(FromString("25%"))
		}
		if s.Strategy.RollingUpdate.MaxSurge == nil {
			s.Strategy.RollingUpdate.MaxSurge = ptr(FromString("25%"))
		}
	}
	if s.RevisionHistoryLimit == nil {
		s.RevisionHistoryLimit = ptr[int32](10)
	}
	if s.ProgressDeadlineSeconds == nil {
		s.ProgressDeadlineSeconds = ptr[int32](600)
	}
	defaultPodSpec(&s.Template.Spec, true)
}

func defaultDaemonSet(s *DaemonSetSpec) {
	if s.UpdateStrategy.Type == "" {
		s.UpdateStrategy.Type = RollingUpdateDaemonSetStrategyType
	}
	if s.UpdateStrategy.Type == RollingUpdateDaemonSetStrategyType {
		if s.UpdateStrategy.RollingUpdate == nil {
			s.UpdateStrategy.RollingUpdate = &RollingUpdateDaemonSet{}
		}
		if s.UpdateStrategy.RollingUpdate.MaxUnavailable == nil {
			s.UpdateStrategy.RollingUpdate.MaxUnavailable = ptr(FromInt(1))
		}
		if s.UpdateStrategy.RollingUpdate.MaxSurge == nil {
			s.UpdateStrategy.RollingUpdate.MaxSurge = ptr(FromInt(0))
		}
	}
	if s.RevisionHistoryLimit == nil {
		s.RevisionHistoryLimit = ptr[int32](10)
	}
	defaultPodSpec(&s.Template.Spec, true)
}

func defaultJobSpec(s *JobSpec) {
	// A Job that sets neither runs one pod to completion.
	if s.Completions == nil && s.Parallelism == nil {
		s.Completions = ptr[int32](1)
	}
	if s.Parallelism == nil {
		s.Parallelism = ptr[int32](1)
	}
	if s.BackoffLimit == nil {
		s.BackoffLimit = ptr[int32](6)
	}
	if s.CompletionMode == nil {
		s.CompletionMode = ptr(NonIndexedCompletion)
	}
	if s.Suspend == nil {
		s.Suspend = ptr(false)
	}
	defaultPodSpec(&s.Template.Spec, false)
}

// defaultCronJob defaults the CronJob and its pod template. Job-level
// fields of the job template (backoffLimit, ...) are defaulted when the
// CronJob creates a Job, as in Kubernetes.
func defaultCronJob(s *CronJobSpec) {
	if s.ConcurrencyPolicy == "" {
		s.ConcurrencyPolicy = AllowConcurrent
	}
	if s.Suspend == nil {
		s.Suspend = ptr(false)
	}
	if s.SuccessfulJobsHistoryLimit == nil {
		s.SuccessfulJobsHistoryLimit = ptr[int32](3)
	}
	if s.FailedJobsHistoryLimit == nil {
		s.FailedJobsHistoryLimit = ptr[int32](1)
	}
	defaultPodSpec(&s.JobTemplate.Spec.Template.Spec, false)
}

func defaultHPA(s *HorizontalPodAutoscalerSpec) {
	if s.MinReplicas == nil {
		s.MinReplicas = ptr[int32](1)
	}
	if len(s.Metrics) == 0 {
		s.Metrics = []MetricSpec{{Type: ResourceMetricSourceType, Resource: &ResourceMetricSource{
			Name: ResourceCPU, Target: MetricTarget{Type: UtilizationMetricType, AverageUtilization: ptr[int32](80)}}}}
	}
}

func defaultService(s *ServiceSpec) {
	if s.Type == "" {
		s.Type = ServiceTypeClusterIP
	}
	for i := range s.Ports {
		p := &s.Ports[i]
		if p.Protocol == "" {
			p.Protocol = ProtocolTCP
		}
		if p.TargetPort.IsZero() {
			p.TargetPort = FromInt(int(p.Port))
		}
	}
}

// defaultPodSpec defaults a pod spec; restart says whether restartPolicy
// defaults to Always (not for Job templates).
func defaultPodSpec(s *PodSpec, restart bool) {
	if restart && s.RestartPolicy == "" {
		s.RestartPolicy = RestartPolicyAlways
	}
	if s.DNSPolicy == "" {
		s.DNSPolicy = DNSClusterFirst
	}
	if s.TerminationGracePeriodSeconds == nil {
		s.TerminationGracePeriodSeconds = ptr[int64](30)
	}
	for i := range s.InitContainers {
		defaultContainer(&s.InitContainers[i])
	}
	for i := range s.Containers {
		defaultContainer(&s.Containers[i])
	}
	for i := range s.Volumes {
		v := &s.Volumes[i].VolumeSource
		if v.ConfigMap != nil && v.ConfigMap.DefaultMode == nil {
			v.ConfigMap.DefaultMode = ptr[int32](0644)
		}
		if v.Secret != nil && v.Secret.DefaultMode == nil {
			v.Secret.DefaultMode = ptr[int32](0644)
		}
		if v.HostPath != nil && v.HostPath.Type == nil {
			v.HostPath.Type = ptr(HostPathUnset)
		}
	}
	for i := range s.Tolerations {
		if s.Tolerations[i].Operator == "" {
			s.Tolerations[i].Operator = TolerationOpEqual
		}
	}
}

func defaultContainer(c *Container) {
	if c.ImagePullPolicy == "" && c.Image != "" {
		c.ImagePullPolicy = DefaultPullPolicy(c.Image)
	}
	for i := range c.Ports {
		if c.Ports[i].Protocol == "" {
			c.Ports[i].Protocol = ProtocolTCP
		}
	}
	for i := range c.Env {
		if f := c.Env[i].ValueFrom; f != nil && f.FieldRef != nil && f.FieldRef.APIVersion == "" {
			f.FieldRef.APIVersion = "v1"
		}
	}
	for _, p := range []*Probe{c.LivenessProbe, c.ReadinessProbe, c.StartupProbe} {
		if p == nil {
			continue
		}
		if p.TimeoutSeconds == 0 {
			p.TimeoutSeconds = 1
		}
		if p.PeriodSeconds == 0 {
			p.PeriodSeconds = 10
		}
		if p.SuccessThreshold == 0 {
			p.SuccessThreshold = 1
		}
		if p.FailureThreshold == 0 {
			p.FailureThreshold = 3
		}
		if h := p.HTTPGet; h != nil {
			if h.Path == "" {
				h.Path = "/"
			}
			if h.Scheme == "" {
				h.Scheme = URISchemeHTTP
			}
		}
	}
}

// DefaultPullPolicy is Kubernetes' default imagePullPolicy for image:
// Always for a ":latest" or untagged image, IfNotPresent otherwise
// (including an image pinned by digest).
func DefaultPullPolicy(image string) PullPolicy {
	ref, digest := image, false
	if i := strings.IndexByte(ref, '@'); i >= 0 {
		ref, digest = ref[:i], true
	}
	name := ref[strings.LastIndexByte(ref, '/')+1:]
	tag := ""
	if i := strings.LastIndexByte(name, ':'); i >= 0 {
		tag = name[i+1:]
	}
	if tag == "latest" || (tag == "" && !digest) {
		return PullAlways
	}
	return PullIfNotPresent
}

// GenerateJobSelector gives a Job the selector and pod labels Kubernetes
// generates from its UID, unless spec.manualSelector is true or the Job has
// no UID yet. The server calls it on create, after setting the UID.
func GenerateJobSelector(j *Job) {
	if (j.Spec.ManualSelector != nil && *j.Spec.ManualSelector) || j.UID == "" {
		return
	}
	if j.Spec.Template.Labels == nil {
		j.Spec.Template.Labels = map[string]string{}
	}
	for k, v := range map[string]string{
		JobControllerUIDLabel: j.UID, LegacyJobControllerUIDLabel: j.UID,
		JobNameLabel: j.Name, LegacyJobNameLabel: j.Name,
	} {
		j.Spec.Template.Labels[k] = v
	}
	j.Spec.Selector = &LabelSelector{MatchLabels: map[string]string{JobControllerUIDLabel: j.UID}}
}
