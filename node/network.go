package node

import (
	"context"
	"net/netip"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/runtime"
)

// podNetwork is this node's part of the cluster network: the CNI that
// gives pods addresses from the node's pod CIDR, and the host's routes to
// the other nodes' pod CIDRs (host-gw) with masquerading of traffic that
// leaves the cluster CIDR.
type podNetwork struct {
	cni  *runtime.CNI
	mu   sync.Mutex // serialises syncs
	host *runtime.HostNetwork
}

func (a *Agent) newPodNetwork() (*podNetwork, error) {
	cni, err := runtime.NewCNI(runtime.CNIConfig{StateDir: filepath.Join(a.cfg.DataDir, "cni"), NetNSDir: a.cfg.NetNSDir})
	if err != nil {
		return nil, err
	}
	return &podNetwork{cni: cni, host: &runtime.HostNetwork{ClusterCIDR: a.cfg.ClusterCIDR}}, nil
}

// ownNode returns this node's Node object from the replica.
func (a *Agent) ownNode() *api.Node {
	o, err := a.store.Get(api.Key{Kind: "Node", Name: a.cfg.Name})
	if err != nil {
		return nil
	}
	return o.(*api.Node)
}

// podCIDR is this node's pod CIDR, once the leader has handed one out.
func (a *Agent) podCIDR() netip.Prefix {
	if n := a.ownNode(); n != nil {
		if p, err := netip.ParsePrefix(n.Spec.PodCIDR); err == nil {
			return p
		}
	}
	return netip.Prefix{}
}

// followNetwork keeps the pod network in line with the Node objects: this
// node's pod CIDR in the CNI and the masquerade rule, a route to every
// other node's pod CIDR through its address. It re-checks every minute,
// so rules or routes removed by hand come back.
func (a *Agent) followNetwork(ctx context.Context, pn *podNetwork, changed func()) {
	sync := func() {
		pn.mu.Lock()
		defer pn.mu.Unlock()
		if cidr := a.podCIDR(); cidr.IsValid() && cidr != pn.host.PodCIDR {
			if err := pn.cni.SetPodCIDR(cidr); err != nil {
				a.log.Error("this node's pod CIDR is unusable", "podCIDR", cidr, "err", err)
				return
			}
			pn.host.PodCIDR = cidr
			a.log.Info("pod CIDR assigned", "podCIDR", cidr)
			changed()
		}
		if err := pn.host.Ensure(); err != nil {
			a.log.Warn("setting up forwarding and masquerading for pods; will retry", "err", err)
		}
		if err := pn.host.SyncRoutes(a.podRoutes()); err != nil {
			a.log.Warn("routes to other nodes' pods", "err", err)
		}
	}
	go func() {
		t := a.cfg.Clock.NewTicker(time.Minute)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C():
				sync()
			}
		}
	}()
	a.follow(ctx, "Node", sync)
}

// podRoutes are the routes to the other nodes' pod CIDRs.
func (a *Agent) podRoutes() []runtime.Route {
	objs, _ := a.store.List("Node", "")
	var out []runtime.Route
	for _, o := range objs {
		n := o.(*api.Node)
		if n.Name == a.cfg.Name {
			continue
		}
		cidr, err := netip.ParsePrefix(n.Spec.PodCIDR)
		if err != nil {
			continue
		}
		for _, addr := range n.Status.Addresses {
			if ip, err := netip.ParseAddr(addr.Address); err == nil && addr.Type == "InternalIP" && !ip.IsLoopback() {
				out = append(out, runtime.Route{CIDR: cidr, Via: ip})
				break
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CIDR.String() < out[j].CIDR.String() })
	return out
}
