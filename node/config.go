package node

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/shoal-dev/shoal/clock"
	"github.com/shoal-dev/shoal/placement"
	"github.com/shoal-dev/shoal/runtime"
)

// DefaultRunDir is where an agent keeps what a reboot must clear.
const DefaultRunDir = "/run/shoal"

// Default ports.
const (
	DefaultGossipPort = 7946
	DefaultRaftPort   = 7947
	DefaultAPIPort    = 7948
)

// DefaultNodeGrace is how long a node may be unreachable before it is
// NotReady when --node-grace is not given. It is chosen so that a node
// frozen for 2 s keeps its pods: gossip declares no failure before 2.5 s
// of silence, and a woken node's refutation arrives within about 0.2 s.
const DefaultNodeGrace = 2500 * time.Millisecond

// MinNodeGrace is the shortest --node-grace allowed: below it, the probe
// timeout (NodeGrace/10) is too short for a busy machine to answer in.
const MinNodeGrace = time.Second

// ZoneLabel is the node label that names its zone.
const ZoneLabel = "topology.kubernetes.io/zone"

// DefaultMaxPods is the pods capacity of a node without --max-pods.
const DefaultMaxPods = placement.DefaultMaxPods

// advertisedResources are the resources gossip announces for this node:
// the extended ones and, when MaxPods changes it, the pods capacity, as
// the resource "pods", which the leader's node controller makes the
// Node's pods capacity.
func (c *Config) advertisedResources() map[string]int64 {
	if c.MaxPods <= 0 || c.MaxPods == DefaultMaxPods {
		return c.Resources
	}
	out := make(map[string]int64, len(c.Resources)+1)
	for k, v := range c.Resources {
		out[k] = v
	}
	out["pods"] = int64(c.MaxPods)
	return out
}

// Config is everything an agent needs to start.
type Config struct {
	Name          string
	DataDir       string
	BindAddr      string // IP to listen on
	AdvertiseAddr string // IP others reach this node at; defaults to BindAddr
	Join          []string
	Token         string // join token text; empty = read <data-dir>/token or create one
	GossipPort    int
	RaftPort      int
	APIPort       int
	Labels        map[string]string
	// Resources are extended resources this node advertises
	// (--resources nvidia.com/gpu=4).
	Resources map[string]int64
	// MaxPods is how many pods this node takes (--max-pods); 0 means
	// DefaultMaxPods.
	MaxPods int
	// Containerd is off (no pods here), supervise (run the node's own
	// containerd under the data dir) or auto (supervise when root with
	// containerd installed). ContainerdSocket uses an existing daemon instead.
	Containerd       string
	ContainerdSocket string
	// RunDir holds what must not outlive a reboot (--run-dir; default
	// DefaultRunDir): the supervised containerd's state. Keep it on a tmpfs
	// such as /run, so a machine that lost power starts clean.
	RunDir string
	// NetNSDir is where pods' network namespaces are bind-mounted
	// (--netns-dir; default /var/run/netns, where `ip netns` looks).
	NetNSDir string
	// CgroupParent is the cgroup the node's containers are made under
	// (--cgroup-parent); "" leaves it to containerd (/shoal/<id>).
	CgroupParent string
	// RegistryMirrors maps a registry host as references name it
	// ("docker.io", "10.0.0.5:5000") to mirror URLs that image pulls try
	// first, in order (--registry-mirror HOST=URL).
	RegistryMirrors map[string][]string
	// InsecureRegistries are registry hosts (host or host:port) pulled
	// from over plain HTTP (--insecure-registry).
	InsecureRegistries []string
	// ClusterCIDR holds every pod IP; each node gets a /24 of it. Give
	// every node the same value. Default 10.244.0.0/16.
	ClusterCIDR netip.Prefix
	// NodeGrace is how long a node may be unreachable before it is
	// NotReady and its pods are replaced (--node-grace). Gossip's failure
	// detector is timed from it (gossip.DetectorFor), so a node that is
	// silent for less, frozen or starved of CPU, is never NotReady, and a
	// dead one is NotReady within about NodeGrace + 3 probe intervals of
	// NodeGrace/5. Default DefaultNodeGrace; at least MinNodeGrace.
	NodeGrace time.Duration
	// ClusterDomain is the DNS domain of services and pods.
	ClusterDomain string
	// DNSAddr is where the node answers DNS (--dns-addr): IP, IP:port,
	// :port, or DNSOff; default the advertise address, port 53. Nodes that
	// run pods also answer on their pod bridge's gateway, port 53.
	DNSAddr string
	// DNSUpstreams are the resolvers for names outside the cluster domain
	// (--dns-upstream), IP or IP:port; none takes the host's
	// /etc/resolv.conf, and DNSOff alone turns forwarding off.
	DNSUpstreams []string
	// DNSTTL is the TTL of the cluster's DNS answers. Default 5 s.
	DNSTTL time.Duration
	// PodRuntime and PodNetwork, when set, run this node's pods instead of
	// containerd and CNI (tests use fakes).
	PodRuntime runtime.Runtime
	PodNetwork runtime.PodNetwork
	// InsecureDev turns off TLS, authentication and sealing.
	InsecureDev bool
	// CertLifetime is the lifetime of the certificates this node signs.
	CertLifetime time.Duration

	DeadVoterTimeout time.Duration
	// Stabilization is how long a new member must be alive before it may
	// become a voter.
	Stabilization time.Duration

	// Tuning, mostly for tests: zero values take the defaults.
	// GossipProbeInterval replaces the probe interval derived from
	// NodeGrace; gossip then declares a failure after 5 of its intervals,
	// and the leader waits out the rest of NodeGrace, if any, before the
	// node is NotReady.
	RaftHeartbeat, RaftElection time.Duration
	GossipProbeInterval         time.Duration
	VoterInterval               time.Duration

	Logger  *slog.Logger
	Clock   clock.Clock
	Version string
}

func (c *Config) setDefaults() error {
	if c.Name == "" {
		h, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("--name is required: the hostname is unknown (%v)", err)
		}
		c.Name = h
	}
	if c.DataDir == "" {
		return fmt.Errorf("--data-dir is required (for example /var/lib/shoal)")
	}
	if c.BindAddr == "" {
		c.BindAddr = "0.0.0.0"
	}
	if ip := net.ParseIP(c.BindAddr); ip == nil {
		return fmt.Errorf("--bind %q is not an IP address", c.BindAddr)
	}
	if c.AdvertiseAddr == "" {
		c.AdvertiseAddr = c.BindAddr
		if ip := net.ParseIP(c.BindAddr); ip.IsUnspecified() {
			adv, err := defaultAdvertise()
			if err != nil {
				return err
			}
			c.AdvertiseAddr = adv
		}
	}
	if ip := net.ParseIP(c.AdvertiseAddr); ip == nil || ip.IsUnspecified() {
		return fmt.Errorf("--advertise %q must be an IP address other nodes can reach", c.AdvertiseAddr)
	}
	for _, p := range []struct {
		name string
		v    *int
		def  int
	}{{"--gossip-port", &c.GossipPort, DefaultGossipPort}, {"--raft-port", &c.RaftPort, DefaultRaftPort}, {"--api-port", &c.APIPort, DefaultAPIPort}} {
		if *p.v == 0 {
			*p.v = p.def
		}
		if *p.v < 1 || *p.v > 65535 {
			return fmt.Errorf("%s %d is not a port (1-65535)", p.name, *p.v)
		}
	}
	if c.DeadVoterTimeout == 0 {
		c.DeadVoterTimeout = 10 * time.Second
	}
	if c.Stabilization == 0 {
		c.Stabilization = 5 * time.Second
	}
	if c.Containerd == "" {
		c.Containerd = ContainerdOff
	}
	if c.RunDir == "" {
		c.RunDir = DefaultRunDir
	}
	if c.NetNSDir == "" {
		c.NetNSDir = runtime.DefaultNetNSDir
	}
	for flag, dir := range map[string]string{"--run-dir": c.RunDir, "--netns-dir": c.NetNSDir} {
		if !filepath.IsAbs(dir) {
			return fmt.Errorf("%s %q: give an absolute path", flag, dir)
		}
	}
	if c.CgroupParent != "" && !strings.HasPrefix(c.CgroupParent, "/") {
		return fmt.Errorf("--cgroup-parent %q: give a path from the cgroup root, such as /shoal", c.CgroupParent)
	}
	switch c.Containerd {
	case ContainerdOff, ContainerdSupervise, ContainerdAuto:
	default:
		return fmt.Errorf("--containerd %q: use auto, supervise or off", c.Containerd)
	}
	if err := c.registry().Validate(); err != nil {
		return err
	}
	if !c.ClusterCIDR.IsValid() {
		c.ClusterCIDR = placement.DefaultClusterCIDR
	}
	if err := placement.CheckClusterCIDR(c.ClusterCIDR); err != nil {
		return err
	}
	if c.NodeGrace == 0 {
		c.NodeGrace = DefaultNodeGrace
	}
	if c.NodeGrace < MinNodeGrace {
		return fmt.Errorf("--node-grace %s is too short to tell a slow node from a dead one: give at least %s (the default is %s)", c.NodeGrace, MinNodeGrace, DefaultNodeGrace)
	}
	if c.ClusterDomain == "" {
		c.ClusterDomain = "cluster.local"
	}
	if err := c.dnsDefaults(); err != nil {
		return err
	}
	if c.CertLifetime == 0 {
		c.CertLifetime = DefaultCertLifetime
	}
	if c.VoterInterval == 0 {
		c.VoterInterval = time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Clock == nil {
		c.Clock = clock.Real{}
	}
	if c.Version == "" {
		c.Version = "dev"
	}
	return nil
}

// registry is where this node's image pulls go.
func (c *Config) registry() runtime.RegistryConfig {
	return runtime.RegistryConfig{Mirrors: c.RegistryMirrors, Insecure: c.InsecureRegistries}
}

// ParseRegistryMirrors reads --registry-mirror values, HOST=URL each, into
// the form of Config.RegistryMirrors; a host's mirrors keep their order.
// No values give nil.
func ParseRegistryMirrors(values []string) (map[string][]string, error) {
	var out map[string][]string
	for _, v := range values {
		host, url, err := runtime.ParseRegistryMirror(v)
		if err != nil {
			return nil, fmt.Errorf("--registry-mirror: %w", err)
		}
		if out == nil {
			out = map[string][]string{}
		}
		out[host] = append(out[host], url)
	}
	return out, nil
}

// defaultAdvertise picks the first private, non-loopback IPv4 address.
func defaultAdvertise() (string, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return "", err
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() && n.IP.IsPrivate() {
			return n.IP.String(), nil
		}
	}
	return "", fmt.Errorf("no private IPv4 address found to advertise; set --advertise or --bind")
}

func (c *Config) gossipAddr() string {
	return net.JoinHostPort(c.AdvertiseAddr, strconv.Itoa(c.GossipPort))
}
func (c *Config) raftAddr() string {
	return net.JoinHostPort(c.AdvertiseAddr, strconv.Itoa(c.RaftPort))
}
func (c *Config) apiAddr() string  { return net.JoinHostPort(c.AdvertiseAddr, strconv.Itoa(c.APIPort)) }
func (c *Config) raftBind() string { return net.JoinHostPort(c.BindAddr, strconv.Itoa(c.RaftPort)) }
func (c *Config) apiBind() string  { return net.JoinHostPort(c.BindAddr, strconv.Itoa(c.APIPort)) }
