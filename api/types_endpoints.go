package api

func init() {
	Register(Resource{Version: "v1", Kind: "Endpoints", Plural: "endpoints", Namespaced: true, ShortNames: []string{"ep"}, New: func() Object { return &Endpoints{} }})
}

// Endpoints lists the addresses behind a Service: one object per Service,
// of the same name and namespace. For a Service with a selector the
// leader's endpoints controller writes it; for one without, the user may.
//
// The set of endpoints is the union of every subset's addresses times that
// subset's ports. Addresses that offer the same ports share a subset.
type Endpoints struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Subsets    []EndpointSubset `json:"subsets,omitempty"`
}

// EndpointSubset is a group of addresses that offer the same ports. Ready
// addresses are in Addresses; those not ready yet (or failing their
// readiness probe) are in NotReadyAddresses.
type EndpointSubset struct {
	Addresses         []EndpointAddress `json:"addresses,omitempty"`
	NotReadyAddresses []EndpointAddress `json:"notReadyAddresses,omitempty"`
	Ports             []EndpointPort    `json:"ports,omitempty"`
}

// EndpointAddress is one endpoint: an IP, usually a pod's.
type EndpointAddress struct {
	IP string `json:"ip"`
	// Hostname is the pod's spec.hostname when the pod's spec.subdomain
	// names the Service, so DNS can answer hostname.service.ns.svc.
	Hostname  string           `json:"hostname,omitempty"`
	NodeName  *string          `json:"nodeName,omitempty"`
	TargetRef *ObjectReference `json:"targetRef,omitempty"`
}

// EndpointPort is one port the addresses of a subset offer. Name is the
// Service port's name; Port is the number on the pod.
type EndpointPort struct {
	Name     string   `json:"name,omitempty"`
	Port     int32    `json:"port"`
	Protocol Protocol `json:"protocol,omitempty"`
}
