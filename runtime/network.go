package runtime

import (
	"context"
	"errors"
	"net/netip"
)

// ErrNoPodCIDR: the node has no pod CIDR yet (the leader hands one out
// when the node first appears), so no pod network can be set up.
var ErrNoPodCIDR = errors.New("runtime: this node has no pod CIDR yet")

// PortMapping forwards a port on the node to a port of the pod (hostPort).
type PortMapping struct {
	HostPort      int32
	ContainerPort int32
	Protocol      string // "tcp" or "udp" (lower case, as CNI's portmap wants)
	HostIP        string // empty means every address of the node
}

// PodNetSpec is what a PodNetwork needs to give one pod its network.
type PodNetSpec struct {
	UID       string // required; the key of everything below
	Namespace string
	Name      string
	Ports     []PortMapping
}

// PodNetStatus is a pod's network as set up.
type PodNetStatus struct {
	// NetNSPath is the pod's network namespace, a bind mount that every
	// container of the pod joins (there is no pause container).
	NetNSPath string
	IP        netip.Addr
	// Gateway is the pod's default gateway: the node's address on the pod
	// bridge, where pods reach the node's DNS.
	Gateway netip.Addr
}

// PodNetwork gives pods their network namespace and IP on this node. All
// methods are safe for concurrent use and idempotent, and take everything
// from the node (files, namespaces, CNI state), never from memory, so a
// restarted agent finds every pod's network as it was.
type PodNetwork interface {
	// Setup makes pod's network exist: its namespace, interfaces, IP and
	// port mappings. When it exists already it returns the same status
	// again without touching it. Errors wrap ErrNoPodCIDR when the node has
	// no pod CIDR yet.
	Setup(ctx context.Context, pod PodNetSpec) (PodNetStatus, error)
	// Teardown releases the pod's IP and port mappings and deletes its
	// namespace. A pod with no network is a no-op.
	Teardown(ctx context.Context, podUID string) error
	// List returns the UIDs of every pod that has a network on this node,
	// sorted, so the reconciler can tear down what no pod owns.
	List(ctx context.Context) ([]string, error)
}
