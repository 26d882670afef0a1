package api

func init() {
	Register(Resource{Group: "autoscaling", Version: "v2", Kind: "HorizontalPodAutoscaler", Plural: "horizontalpodautoscalers", Namespaced: true, ShortNames: []string{"hpa"}, HasStatus: true, New: func() Object { return &HorizontalPodAutoscaler{} }})
}

// HorizontalPodAutoscaler scales a Deployment or ReplicaSet between
// minReplicas and maxReplicas to hold its pods' cpu or memory use at a
// target. Only metrics of type Resource are supported.
type HorizontalPodAutoscaler struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       HorizontalPodAutoscalerSpec   `json:"spec,omitempty"`
	Status     HorizontalPodAutoscalerStatus `json:"status,omitempty"`
}

// HorizontalPodAutoscalerSpec is the desired state of an autoscaler.
type HorizontalPodAutoscalerSpec struct {
	ScaleTargetRef CrossVersionObjectReference `json:"scaleTargetRef"`
	MinReplicas    *int32                      `json:"minReplicas,omitempty"`
	MaxReplicas    int32                       `json:"maxReplicas"`
	Metrics        []MetricSpec                `json:"metrics,omitempty"`
}

// CrossVersionObjectReference names the object to scale.
type CrossVersionObjectReference struct {
	Kind       string `json:"kind"`
	Name       string `json:"name"`
	APIVersion string `json:"apiVersion,omitempty"`
}

// MetricSourceType is the kind of a metric. shoal supports Resource.
type MetricSourceType string

const (
	ResourceMetricSourceType          MetricSourceType = "Resource"
	PodsMetricSourceType              MetricSourceType = "Pods"
	ObjectMetricSourceType            MetricSourceType = "Object"
	ExternalMetricSourceType          MetricSourceType = "External"
	ContainerResourceMetricSourceType MetricSourceType = "ContainerResource"
)

// MetricSpec is one metric to scale on. The sources other than Resource
// are here only so that Validate can reject them with a clear message.
type MetricSpec struct {
	Type              MetricSourceType               `json:"type"`
	Object            *ObjectMetricSource            `json:"object,omitempty"`
	Pods              *PodsMetricSource              `json:"pods,omitempty"`
	Resource          *ResourceMetricSource          `json:"resource,omitempty"`
	ContainerResource *ContainerResourceMetricSource `json:"containerResource,omitempty"`
	External          *ExternalMetricSource          `json:"external,omitempty"`
}

// ResourceMetricSource targets the pods' average cpu or memory use.
type ResourceMetricSource struct {
	Name   string       `json:"name"`
	Target MetricTarget `json:"target"`
}

// MetricTargetType is Utilization, Value or AverageValue.
type MetricTargetType string

const (
	UtilizationMetricType  MetricTargetType = "Utilization"
	ValueMetricType        MetricTargetType = "Value"
	AverageValueMetricType MetricTargetType = "AverageValue"
)

// MetricTarget is the value to hold a metric at. Utilization is a
// percentage of the pods' requests.
type MetricTarget struct {
	Type               MetricTargetType `json:"type"`
	Value              *Quantity        `json:"value,omitempty"`
	AverageValue       *Quantity        `json:"averageValue,omitempty"`
	AverageUtilization *int32           `json:"averageUtilization,omitempty"`
}

// PodsMetricSource is not supported (custom per-pod metrics).
type PodsMetricSource struct {
	Metric MetricIdentifier `json:"metric"`
	Target MetricTarget     `json:"target"`
}

// ObjectMetricSource is not supported.
type ObjectMetricSource struct {
	DescribedObject CrossVersionObjectReference `json:"describedObject"`
	Target          MetricTarget                `json:"target"`
	Metric          MetricIdentifier            `json:"metric"`
}

// ExternalMetricSource is not supported.
type ExternalMetricSource struct {
	Metric MetricIdentifier `json:"metric"`
	Target MetricTarget     `json:"target"`
}

// ContainerResourceMetricSource is not supported.
type ContainerResourceMetricSource struct {
	Name      string       `json:"name"`
	Target    MetricTarget `json:"target"`
	Container string       `json:"container"`
}

// MetricIdentifier names a custom metric.
type MetricIdentifier struct {
	Name     string         `json:"name"`
	Selector *LabelSelector `json:"selector,omitempty"`
}

// HorizontalPodAutoscalerStatus is the observed state of an autoscaler.
type HorizontalPodAutoscalerStatus struct {
	ObservedGeneration *int64                             `json:"observedGeneration,omitempty"`
	LastScaleTime      *Time                              `json:"lastScaleTime,omitempty"`
	CurrentReplicas    int32                              `json:"currentReplicas,omitempty"`
	DesiredReplicas    int32                              `json:"desiredReplicas"`
	CurrentMetrics     []MetricStatus                     `json:"currentMetrics,omitempty"`
	Conditions         []HorizontalPodAutoscalerCondition `json:"conditions,omitempty"`
}

// MetricStatus is the last observed value of one metric.
type MetricStatus struct {
	Type     MetricSourceType      `json:"type"`
	Resource *ResourceMetricStatus `json:"resource,omitempty"`
}

// ResourceMetricStatus is the observed cpu or memory use.
type ResourceMetricStatus struct {
	Name    string            `json:"name"`
	Current MetricValueStatus `json:"current"`
}

// MetricValueStatus is an observed value.
type MetricValueStatus struct {
	Value              *Quantity `json:"value,omitempty"`
	AverageValue       *Quantity `json:"averageValue,omitempty"`
	AverageUtilization *int32    `json:"averageUtilization,omitempty"`
}

// HorizontalPodAutoscalerCondition is one observed condition of an
// autoscaler (AbleToScale, ScalingActive, ScalingLimited).
type HorizontalPodAutoscalerCondition struct {
	Type               string          `json:"type"`
	Status             ConditionStatus `json:"status"`
	LastTransitionTime *Time           `json:"lastTransitionTime,omitempty"`
	Reason             string          `json:"reason,omitempty"`
	Message            string          `json:"message,omitempty"`
}
