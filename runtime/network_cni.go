package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/invoke"
	types100 "github.com/containernetworking/cni/pkg/types/100"
)

// DefaultCNIPluginDirs is where CNIConfig.PluginDirs looks by default:
// Debian's containernetworking-plugins, then the upstream release's place.
var DefaultCNIPluginDirs = []string{"/usr/lib/cni", "/opt/cni/bin"}

// DefaultBridge is the default CNIConfig.Bridge.
const DefaultBridge = "shoal0"

const (
	cniVersion     = "1.0.0" // what Debian 12's containernetworking-plugins speak
	cniNetwork     = "shoal"
	cniLoNetwork   = "shoal-lo"
	podIfName      = "eth0"
	cniInstallHint = "install the CNI plugins (apt-get install containernetworking-plugins) or set the plugin directories"
)

// cniPlugins are the plugins every Setup runs.
var cniPlugins = []string{"bridge", "host-local", "portmap", "loopback"}

// podUIDPattern is what a pod UID must look like to name files and CNI
// containers (it is CNI's container ID pattern).
var podUIDPattern = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.\-]{0,127}$`)

// CNIConfig configures a CNI pod network.
type CNIConfig struct {
	// PluginDirs are searched for the bridge, host-local, portmap and
	// loopback plugins, in order. Default DefaultCNIPluginDirs.
	PluginDirs []string
	// StateDir is required and owned by the CNI: it holds host-local's
	// address allocations (ipam/), libcni's cache (cache/) and one record
	// per pod (pods/<uid>.json). It must survive agent restarts, and it
	// must not be shared by two CNIs at once.
	StateDir string
	// Bridge is the node's pod bridge, made by the bridge plugin on first
	// use, with the gateway address (GatewayAddr) of the pod CIDR.
	// Default DefaultBridge.
	Bridge string
	// MTU of the bridge and the pods' interfaces; 0 leaves the plugin's
	// default.
	MTU int
	// NetNSDir is where pods' network namespaces are bind-mounted.
	// Default DefaultNetNSDir.
	NetNSDir string
}

// CNI is the PodNetwork on the standard CNI plugins, run through libcni:
// bridge (the pod's veth on Bridge, the gateway on the bridge, no
// masquerading: HostNetwork does that), host-local (an address from the
// pod CIDR), portmap (hostPorts, with SNAT for hairpin traffic) and
// loopback (lo up in the pod). Every pod gets a network namespace of its own
// at NetNSDir/shoal-..., and a record in StateDir/pods that Setup, Teardown
// and List read, so a restarted agent finds every pod as it was. Port
// mappings with HostPort 0 map nothing and are left out.
//
// A CNI is safe for concurrent use: calls for one pod are serialised,
// calls for different pods run in parallel (host-local locks its own data).
type CNI struct {
	cfg   CNIConfig
	cni   *libcni.CNIConfig
	locks keyedMutex

	mu   sync.Mutex
	cidr netip.Prefix
}

var _ PodNetwork = (*CNI)(nil)

// cniRecord is what StateDir/pods/<uid>.json holds. It is written before
// the namespace is made, without IP, so that a crash midway leaves
// something that List reports and Teardown cleans up.
type cniRecord struct {
	UID       string          `json:"uid"`
	Namespace string          `json:"namespace,omitempty"`
	Name      string          `json:"name,omitempty"`
	NetNSPath string          `json:"netnsPath"`
	IP        netip.Addr      `json:"ip,omitzero"` // unset until the plugins succeed
	Gateway   netip.Addr      `json:"gateway,omitzero"`
	Ports     []PortMapping   `json:"ports,omitempty"`
	NetConf   json.RawMessage `json:"netConf"` // the conflist the plugins were given
}

// NewCNI checks cfg, fills in its defaults and makes StateDir's
// directories. It does not look for the plugins yet: Setup does, each time,
// so installing them later needs no restart.
func NewCNI(cfg CNIConfig) (*CNI, error) {
	if cfg.StateDir == "" || !filepath.IsAbs(cfg.StateDir) {
		return nil, fmt.Errorf("runtime: CNI state directory %q must be an absolute path (set StateDir)", cfg.StateDir)
	}
	if len(cfg.PluginDirs) == 0 {
		cfg.PluginDirs = slices.Clone(DefaultCNIPluginDirs)
	}
	if cfg.Bridge == "" {
		cfg.Bridge = DefaultBridge
	}
	if len(cfg.Bridge) > 15 || strings.ContainsAny(cfg.Bridge, "/ \t\n:") {
		return nil, fmt.Errorf("runtime: bridge name %q is not a valid interface name (at most 15 characters, no '/', ':' or spaces)", cfg.Bridge)
	}
	if cfg.MTU != 0 && (cfg.MTU < 576 || cfg.MTU > 65535) {
		return nil, fmt.Errorf("runtime: MTU %d is out of range (0 for the default, or 576 to 65535)", cfg.MTU)
	}
	if cfg.NetNSDir == "" {
		cfg.NetNSDir = DefaultNetNSDir
	}
	for _, d := range []string{"ipam", "cache", "pods"} {
		if err := os.MkdirAll(filepath.Join(cfg.StateDir, d), 0o700); err != nil {
			return nil, fmt.Errorf("runtime: CNI state directory: %w", err)
		}
	}
	return &CNI{
		cfg: cfg,
		cni: libcni.NewCNIConfigWithCacheDir(cfg.PluginDirs, filepath.Join(cfg.StateDir, "cache"), nil),
	}, nil
}

// SetPodCIDR sets the node's pod CIDR, from which Setup hands out
// addresses. Safe to call at any time, repeatedly and concurrently with
// Setup; pods already set up keep their addresses. Only IPv4 prefixes of
// /8 to /30 are accepted.
func (c *CNI) SetPodCIDR(cidr netip.Prefix) error {
	if err := checkPodCIDR(cidr); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cidr = cidr.Masked()
	return nil
}

func (c *CNI) podCIDR() netip.Prefix {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cidr
}

// Setup implements PodNetwork.
func (c *CNI) Setup(ctx context.Context, pod PodNetSpec) (PodNetStatus, error) {
	if !podUIDPattern.MatchString(pod.UID) {
		return PodNetStatus{}, fmt.Errorf("%s: UID %q is not usable (want letters, digits, '-', '_' or '.', at most 128)", podRef(pod), pod.UID)
	}
	unlock := c.locks.lock(pod.UID)
	defer unlock()

	rec, err := c.readRecord(pod.UID)
	if err != nil {
		return PodNetStatus{}, fmt.Errorf("%s: %w", podRef(pod), err)
	}
	if rec != nil {
		if rec.IP.IsValid() && netnsExists(rec.NetNSPath) {
			return PodNetStatus{NetNSPath: rec.NetNSPath, IP: rec.IP, Gateway: rec.Gateway}, nil
		}
		// A setup that did not finish, or a namespace that is gone (the
		// node rebooted): release what it holds and start again.
		if err := c.teardown(ctx, rec); err != nil {
			return PodNetStatus{}, fmt.Errorf("%s: clean up an earlier network: %w", podRef(pod), err)
		}
	}

	cidr := c.podCIDR()
	if !cidr.IsValid() {
		return PodNetStatus{}, fmt.Errorf("%s: %w (wait for the leader to assign one)", podRef(pod), ErrNoPodCIDR)
	}
	if err := c.findPlugins(); err != nil {
		return PodNetStatus{}, fmt.Errorf("%s: %w", podRef(pod), err)
	}
	if err := ctx.Err(); err != nil {
		return PodNetStatus{}, fmt.Errorf("%s: %w", podRef(pod), err)
	}

	rec = &cniRecord{
		UID: pod.UID, Namespace: pod.Namespace, Name: pod.Name,
		NetNSPath: filepath.Join(c.cfg.NetNSDir, netnsName(pod.UID)),
		Ports:     slices.Clone(pod.Ports),
		NetConf:   c.netConfList(cidr),
		Gateway:   GatewayAddr(cidr),
	}
	if err := c.writeRecord(rec); err != nil {
		return PodNetStatus{}, fmt.Errorf("%s: %w", podRef(pod), err)
	}
	ip, err := c.setup(ctx, rec, cidr)
	if err != nil {
		if cerr := c.teardown(context.WithoutCancel(ctx), rec); cerr != nil {
			err = fmt.Errorf("%w; cleaning up also failed (Teardown retries): %v", err, cerr)
		}
		return PodNetStatus{}, fmt.Errorf("%s: set up network: %w", podRef(pod), err)
	}
	rec.IP = ip
	if err := c.writeRecord(rec); err != nil {
		return PodNetStatus{}, fmt.Errorf("%s: %w", podRef(pod), err)
	}
	return PodNetStatus{NetNSPath: rec.NetNSPath, IP: ip, Gateway: rec.Gateway}, nil
}

// setup makes rec's namespace and runs the plugins in it; the caller cleans
// up on error.
func (c *CNI) setup(ctx context.Context, rec *cniRecord, cidr netip.Prefix) (netip.Addr, error) {
	// A file at the path without a record naming it is left over from a
	// crash; nothing owns it.
	if err := deleteNetNS(rec.NetNSPath); err != nil {
		return netip.Addr{}, err
	}
	if _, err := createNetNS(filepath.Dir(rec.NetNSPath), filepath.Base(rec.NetNSPath)); err != nil {
		return netip.Addr{}, err
	}
	list, err := libcni.ConfListFromBytes(rec.NetConf)
	if err != nil {
		return netip.Addr{}, err
	}
	res, err := c.cni.AddNetworkList(ctx, list, c.runtimeConf(rec, rec.NetNSPath))
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%w (check that bridge %s and pod CIDR %s clash with no other network on this node)", err, c.cfg.Bridge, cidr)
	}
	lo, err := libcni.ConfFromBytes(loConf)
	if err != nil {
		return netip.Addr{}, err
	}
	if _, err := c.cni.AddNetwork(ctx, lo, c.loRuntimeConf(rec, rec.NetNSPath)); err != nil {
		return netip.Addr{}, err
	}
	r, err := types100.NewResultFromResult(res)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("read the plugins' result: %w", err)
	}
	for _, ipc := range r.IPs {
		if a, ok := netip.AddrFromSlice(ipc.Address.IP.To4()); ok && ipc.Address.IP.To4() != nil && cidr.Contains(a) {
			return a, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("the plugins gave no IPv4 address in %s (result %s)", cidr, r.IPs)
}

// Teardown implements PodNetwork.
func (c *CNI) Teardown(ctx context.Context, podUID string) error {
	if !podUIDPattern.MatchString(podUID) {
		return nil // Setup never accepted it
	}
	unlock := c.locks.lock(podUID)
	defer unlock()
	rec, err := c.readRecord(podUID)
	if err != nil || rec == nil {
		return err
	}
	if err := c.teardown(ctx, rec); err != nil {
		return fmt.Errorf("pod %s: tear down network: %w", podUID, err)
	}
	return nil
}

// teardown runs the plugins' DEL with the configuration and port mappings
// the pod was set up with (so host-local releases the address and portmap
// its rules, even if the pod CIDR changed since), then deletes the
// namespace and the record. Each step tolerates what is already gone.
func (c *CNI) teardown(ctx context.Context, rec *cniRecord) error {
	if err := c.findPlugins(); err != nil {
		return err
	}
	netns := ""
	if netnsExists(rec.NetNSPath) {
		netns = rec.NetNSPath
	}
	if lo, err := libcni.ConfFromBytes(loConf); err != nil {
		return err
	} else if err := c.cni.DelNetwork(ctx, lo, c.loRuntimeConf(rec, netns)); err != nil {
		return fmt.Errorf("loopback: %w", err)
	}
	list, err := libcni.ConfListFromBytes(rec.NetConf)
	if err != nil {
		return fmt.Errorf("record %s: %w", c.recordPath(rec.UID), err)
	}
	if err := c.cni.DelNetworkList(ctx, list, c.runtimeConf(rec, netns)); err != nil {
		return err
	}
	if err := deleteNetNS(rec.NetNSPath); err != nil {
		return err
	}
	if err := os.Remove(c.recordPath(rec.UID)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// List implements PodNetwork: the pods with a record, including any whose
// Setup did not finish, so that the reconciler tears them down.
func (c *CNI) List(ctx context.Context) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(filepath.Join(c.cfg.StateDir, "pods"))
	if err != nil {
		return nil, fmt.Errorf("runtime: list pod networks: %w", err)
	}
	uids := []string{}
	for _, e := range entries {
		if uid, ok := strings.CutSuffix(e.Name(), ".json"); ok && e.Type().IsRegular() {
			uids = append(uids, uid)
		}
	}
	slices.Sort(uids)
	return uids, nil
}

// findPlugins checks that every plugin is installed, so a missing one is
// reported as such rather than as a failure halfway through.
func (c *CNI) findPlugins() error {
	for _, p := range cniPlugins {
		if _, err := invoke.FindInPath(p, c.cfg.PluginDirs); err != nil {
			return fmt.Errorf("CNI plugin %q is not in %s: %s", p, strings.Join(c.cfg.PluginDirs, ", "), cniInstallHint)
		}
	}
	return nil
}

func (c *CNI) netConfList(cidr netip.Prefix) json.RawMessage {
	bridge := map[string]any{
		"type":         "bridge",
		"bridge":       c.cfg.Bridge,
		"isGateway":    true,
		"ipMasq":       false, // HostNetwork masquerades, by cluster CIDR
		"hairpinMode":  true,
		"forceAddress": true, // a new pod CIDR replaces the bridge's old address
		"ipam": map[string]any{
			"type":    "host-local",
			"ranges":  [][]map[string]string{{{"subnet": cidr.String(), "gateway": GatewayAddr(cidr).String()}}},
			"routes":  []map[string]string{{"dst": "0.0.0.0/0"}},
			"dataDir": filepath.Join(c.cfg.StateDir, "ipam"),
		},
	}
	if c.cfg.MTU > 0 {
		bridge["mtu"] = c.cfg.MTU
	}
	b, _ := json.Marshal(map[string]any{
		"cniVersion": cniVersion,
		"name":       cniNetwork,
		"plugins": []any{bridge, map[string]any{
			"type":         "portmap",
			"capabilities": map[string]bool{"portMappings": true},
			"snat":         true,
		}},
	})
	return b
}

var loConf = []byte(`{"cniVersion":"` + cniVersion + `","name":"` + cniLoNetwork + `","type":"loopback"}`)

func (c *CNI) runtimeConf(rec *cniRecord, netns string) *libcni.RuntimeConf {
	pm := make([]map[string]any, 0, len(rec.Ports))
	for _, p := range rec.Ports {
		if p.HostPort == 0 {
			continue // a containerPort without hostPort maps nothing
		}
		proto := strings.ToLower(p.Protocol)
		if proto == "" {
			proto = "tcp"
		}
		m := map[string]any{"hostPort": p.HostPort, "containerPort": p.ContainerPort, "protocol": proto}
		if p.HostIP != "" {
			m["hostIP"] = p.HostIP
		}
		pm = append(pm, m)
	}
	return &libcni.RuntimeConf{
		ContainerID: rec.UID, NetNS: netns, IfName: podIfName,
		Args: [][2]string{
			{"IgnoreUnknown", "1"}, // plugins refuse arguments they do not know without it
			{"K8S_POD_NAMESPACE", rec.Namespace},
			{"K8S_POD_NAME", rec.Name},
			{"K8S_POD_UID", rec.UID},
		},
		CapabilityArgs: map[string]any{"portMappings": pm},
	}
}

func (c *CNI) loRuntimeConf(rec *cniRecord, netns string) *libcni.RuntimeConf {
	return &libcni.RuntimeConf{ContainerID: rec.UID, NetNS: netns, IfName: "lo"}
}

func (c *CNI) recordPath(uid string) string {
	return filepath.Join(c.cfg.StateDir, "pods", uid+".json")
}

// readRecord returns nil, nil when pod uid has no record.
func (c *CNI) readRecord(uid string) (*cniRecord, error) {
	b, err := os.ReadFile(c.recordPath(uid))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var rec cniRecord
	if err := json.Unmarshal(b, &rec); err != nil || rec.UID != uid || rec.NetNSPath == "" {
		return nil, fmt.Errorf("record %s is damaged (remove it and the pod's network namespace by hand): %v", c.recordPath(uid), err)
	}
	return &rec, nil
}

// writeRecord replaces rec's file atomically: a crash leaves the old
// version or the new one, never half of one.
func (c *CNI) writeRecord(rec *cniRecord) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	path := c.recordPath(rec.UID)
	f, err := os.CreateTemp(filepath.Dir(path), rec.UID+".json.tmp*")
	if err != nil {
		return fmt.Errorf("write network record: %w", err)
	}
	defer os.Remove(f.Name())
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("write network record %s: %w", path, err)
	}
	return nil
}

// GatewayAddr is the address of the node's bridge in podCIDR, its first
// host address: the pods' default gateway, where the node's DNS server
// can answer them.
func GatewayAddr(podCIDR netip.Prefix) netip.Addr {
	if !podCIDR.IsValid() {
		return netip.Addr{}
	}
	return podCIDR.Masked().Addr().Next()
}

// checkPodCIDR accepts IPv4 prefixes from /8 to /30.
func checkPodCIDR(cidr netip.Prefix) error {
	switch {
	case !cidr.IsValid():
		return fmt.Errorf("runtime: pod CIDR %s is not a valid prefix", cidr)
	case !cidr.Addr().Is4():
		return fmt.Errorf("runtime: pod CIDR %s is not IPv4: pod networks are IPv4-only for now (give the node an IPv4 pod CIDR)", cidr)
	case cidr.Bits() < 8 || cidr.Bits() > 30:
		return fmt.Errorf("runtime: pod CIDR %s must be between /8 and /30 (a /24 is usual)", cidr)
	}
	return nil
}

func podRef(pod PodNetSpec) string {
	if pod.Namespace == "" && pod.Name == "" {
		return "pod " + pod.UID
	}
	return "pod " + pod.Namespace + "/" + pod.Name
}

// keyedMutex is a set of mutexes by key, each existing while in use.
type keyedMutex struct {
	mu sync.Mutex
	m  map[string]*keyedEntry
}

type keyedEntry struct {
	mu   sync.Mutex
	refs int
}

// lock locks key and returns its unlock.
func (k *keyedMutex) lock(key string) (unlock func()) {
	k.mu.Lock()
	if k.m == nil {
		k.m = map[string]*keyedEntry{}
	}
	e := k.m[key]
	if e == nil {
		e = &keyedEntry{}
		k.m[key] = e
	}
	e.refs++
	k.mu.Unlock()
	e.mu.Lock()
	return func() {
		e.mu.Unlock()
		k.mu.Lock()
		if e.refs--; e.refs == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
}
