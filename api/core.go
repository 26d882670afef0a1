package api

func init() {
	Register(Resource{Version: "v1", Kind: "Namespace", Plural: "namespaces", ShortNames: []string{"ns"}, HasStatus: true, New: func() Object { return &Namespace{} }})
	Register(Resource{Version: "v1", Kind: "ConfigMap", Plural: "configmaps", Namespaced: true, ShortNames: []string{"cm"}, New: func() Object { return &ConfigMap{} }})
	Register(Resource{Version: "v1", Kind: "Node", Plural: "nodes", ShortNames: []string{"no"}, HasStatus: true, New: func() Object { return &Node{} }})
}

// Namespace groups namespaced objects.
type Namespace struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Status     NamespaceStatus `json:"status,omitempty"`
}

// NamespaceStatus is the observed state of a Namespace.
type NamespaceStatus struct {
	Phase string `json:"phase,omitempty"`
}

// ConfigMap holds configuration data for pods.
type ConfigMap struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Immutable  *bool             `json:"immutable,omitempty"`
	Data       map[string]string `json:"data,omitempty"`
	BinaryData map[string][]byte `json:"binaryData,omitempty"`
}

// Node is a machine that runs shoal agent.
type Node struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       NodeSpec   `json:"spec,omitempty"`
	Status     NodeStatus `json:"status,omitempty"`
}

// NodeSpec is the desired state of a Node.
type NodeSpec struct {
	PodCIDR       string  `json:"podCIDR,omitempty"`
	Unschedulable bool    `json:"unschedulable,omitempty"`
	Taints        []Taint `json:"taints,omitempty"`
}

// Taint keeps pods that do not tolerate it off a node.
type Taint struct {
	Key       string      `json:"key"`
	Value     string      `json:"value,omitempty"`
	Effect    TaintEffect `json:"effect"`
	TimeAdded *Time       `json:"timeAdded,omitempty"`
}

// NodeStatus is the observed state of a Node.
type NodeStatus struct {
	// Capacity is what the node has: cpu, memory, pods, and extended
	// resources it advertises (shoal agent --resources nvidia.com/gpu=4).
	Capacity ResourceList `json:"capacity,omitempty"`
	// Allocatable is what pods may use; it defaults to Capacity.
	Allocatable ResourceList    `json:"allocatable,omitempty"`
	Addresses   []NodeAddress   `json:"addresses,omitempty"`
	Conditions  []NodeCondition `json:"conditions,omitempty"`
	NodeInfo    NodeSystemInfo  `json:"nodeInfo,omitempty"`
}

// NodeSystemInfo describes the node's software.
type NodeSystemInfo struct {
	MachineID               string `json:"machineID,omitempty"`
	KernelVersion           string `json:"kernelVersion,omitempty"`
	OSImage                 string `json:"osImage,omitempty"`
	ContainerRuntimeVersion string `json:"containerRuntimeVersion,omitempty"`
	// KubeletVersion carries the shoal agent's version.
	KubeletVersion  string `json:"kubeletVersion,omitempty"`
	OperatingSystem string `json:"operatingSystem,omitempty"`
	Architecture    string `json:"architecture,omitempty"`
}

// NodeAddress is one address of a node.
type NodeAddress struct {
	Type    string `json:"type"`
	Address string `json:"address"`
}

// NodeCondition is one observed condition of a node, such as Ready.
type NodeCondition struct {
	Type               string `json:"type"`
	Status             string `json:"status"`
	LastHeartbeatTime  *Time  `json:"lastHeartbeatTime,omitempty"`
	LastTransitionTime *Time  `json:"lastTransitionTime,omitempty"`
	Reason             string `json:"reason,omitempty"`
	Message            string `json:"message,omitempty"`
}
