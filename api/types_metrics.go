package api

import (
	"encoding/json"
	"fmt"
	"time"
)

func init() {
	// The plurals are not Kubernetes' ("pods", "nodes"): a kind is found by
	// its plural alone (`shoal get pods`), so two kinds may not share one.
	Register(Resource{Group: "metrics.k8s.io", Version: "v1beta1", Kind: "PodMetrics", Plural: "podmetrics", Namespaced: true, New: func() Object { return &PodMetrics{} }})
	Register(Resource{Group: "metrics.k8s.io", Version: "v1beta1", Kind: "NodeMetrics", Plural: "nodemetrics", New: func() Object { return &NodeMetrics{} }})
}

// PodMetrics is the resource use of one pod's running containers, named
// and namespaced as the pod, as the metrics server reports it. The node
// that runs the pod writes it every sampling period, when the numbers
// change; it carries the pod's labels and is owned by the pod (through
// ownerReferences), so it goes when the pod does.
type PodMetrics struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	// Timestamp is when the samples were taken: the end of Window.
	Timestamp Time `json:"timestamp"`
	// Window is the time the CPU rate is averaged over.
	Window     Duration           `json:"window"`
	Containers []ContainerMetrics `json:"containers"`
}

// ContainerMetrics is the resource use of one container: cpu in cores
// ("12m"), averaged over the window, and memory as the working set in
// bytes ("3Mi") at the timestamp.
type ContainerMetrics struct {
	Name  string       `json:"name"`
	Usage ResourceList `json:"usage"`
}

// NodeMetrics is the resource use of one node, named as the Node: cpu
// and memory, as ContainerMetrics measures them, summed over the pods the
// node runs. The node writes it with its PodMetrics; it is owned by the
// Node.
type NodeMetrics struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Timestamp  Time         `json:"timestamp"`
	Window     Duration     `json:"window"`
	Usage      ResourceList `json:"usage"`
}

// Duration is a time.Duration written as Go writes it ("15s", "1m30s"),
// as Kubernetes' metav1.Duration is.
type Duration struct{ time.Duration }

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.Duration.String()) }

// UnmarshalJSON implements json.Unmarshaler.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a duration must be a string such as \"15s\" or \"1m30s\"")
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q is not a duration (try \"15s\" or \"1m30s\")", s)
	}
	d.Duration = v
	return nil
}
