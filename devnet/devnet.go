// Package devnet makes machines out of network namespaces: a bridge in the
// caller's namespace and, for each host, a network namespace joined to the
// bridge by a veth pair, with its own address and a fixed MAC. `shoal dev`
// and the multi-host integration tests run one agent (and its containerd)
// in each host, so pod bridges, routes and iptables rules stay inside the
// host and vanish with it.
//
// A host is a machine. Its processes (started with Host.Start) live in one
// cgroup v2 subtree, its containers too when its agent is given
// Host.PodCgroupParent; its disk is Host.Root; its RAM is Host.RunDir and
// every mount under Root. The faults are the ones machines have: PowerCut
// kills every process at once (cgroup.kill), takes the link down and loses
// the RAM; Boot brings up a fresh network stack on the same disk; Freeze
// and Thaw stop and resume every process (cgroup.freeze). Faults between
// hosts (partitions) are iptables rules inside the hosts, so they need no
// bridge netfilter; a boot clears them, as it clears the host's firewall.
// Destroy removes everything, and Leftovers says what, if anything, is
// still there.
//
// Everything here shells out to iproute2, iptables and nsenter, needs root,
// and is idempotent: creating what exists and removing what is gone are not
// errors, so a crashed run can always be cleaned up by running Destroy.
// Processes are entered into a host with nsenter --net, not `ip netns
// exec`, which would remount /sys and hide the cgroup mounts from runc.
package devnet

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// Network is a set of hosts on one bridge. Name prefixes every link,
// namespace and cgroup it makes, so two Networks with different names never
// collide.
type Network struct {
	Name   string       // short: link names have at most 15 characters
	Subnet netip.Prefix // an IPv4 /24; hosts get .1, .2, ...; the bridge .254
	// Dir holds the hosts' disks: host i's files live under Dir/h<i>
	// (Host.Root). A power cut loses every mount under it and the host's
	// RunDir, as a machine loses its RAM. Empty: the hosts have no disk of
	// their own, and a power cut only kills processes and cuts the link.
	Dir string
}

// Host is one host of a Network.
type Host struct {
	Index int
	NetNS string // the namespace's name, under /var/run/netns
	Veth  string // the host's end of the pair in the caller's namespace
	IP    netip.Addr
	// Root is the host's disk (Network.Dir/h<i>), or "" without one.
	Root string

	network string
}

// RunDir is the host's volatile directory, its /run: a power cut empties
// it. Give it to the host's agent as --run-dir. "" when the host has no
// Root.
func (h Host) RunDir() string {
	if h.Root == "" {
		return ""
	}
	return filepath.Join(h.Root, "run")
}

// Bridge is the bridge's link name.
func (n *Network) Bridge() string { return n.Name + "br" }

// BridgeIP is the caller's address on the bridge.
func (n *Network) BridgeIP() netip.Addr { return n.addr(254) }

func (n *Network) addr(i int) netip.Addr {
	b := n.Subnet.Masked().Addr().As4()
	b[3] = byte(i)
	return netip.AddrFrom4(b)
}

// Host describes host i (1-based) without creating it.
func (n *Network) Host(i int) Host {
	h := Host{Index: i, NetNS: fmt.Sprintf("%s-h%d", n.Name, i), Veth: fmt.Sprintf("%sv%d", n.Name, i), IP: n.addr(i), network: n.Name}
	if n.Dir != "" {
		h.Root = filepath.Join(n.Dir, fmt.Sprintf("h%d", i))
	}
	return h
}

func run(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Check says what this machine lacks to make hosts.
func Check() error {
	if os.Geteuid() != 0 {
		return errors.New("making hosts needs root (network namespaces, bridges, iptables)")
	}
	for _, tool := range []string{"ip", "iptables", "nsenter"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s is missing: apt-get install -y iproute2 iptables util-linux", tool)
		}
	}
	// Hosts keep their processes in cgroup v2, for power cuts and freezes.
	_, err := cgroup2Mount()
	return err
}

// Create makes the bridge, with the caller's address on it.
func (n *Network) Create() error {
	if !n.Subnet.Addr().Is4() || n.Subnet.Bits() != 24 {
		return fmt.Errorf("devnet %s: subnet %s must be an IPv4 /24", n.Name, n.Subnet)
	}
	if len(n.Bridge()) > 15 {
		return fmt.Errorf("devnet %s: name too long for a link name; use at most 13 characters", n.Name)
	}
	if err := run("ip", "link", "add", n.Bridge(), "type", "bridge"); err != nil && !strings.Contains(err.Error(), "File exists") {
		return err
	}
	if err := run("ip", "addr", "replace", n.BridgeIP().String()+"/24", "dev", n.Bridge()); err != nil {
		return err
	}
	return run("ip", "link", "set", n.Bridge(), "up")
}

// AddHost makes host i: its namespace, veth pair, address, cgroup and
// disk. Adding a host that exists is not an error.
func (n *Network) AddHost(i int) (Host, error) {
	h := n.Host(i)
	if err := run("ip", "netns", "add", h.NetNS); err != nil && !strings.Contains(err.Error(), "File exists") {
		return h, err
	}
	// The host's MAC address is fixed, as a machine's is, so the others'
	// ARP caches stay right across its reboots.
	if err := run("ip", "link", "add", h.Veth, "type", "veth", "peer", "name", "eth0", "address", h.mac(), "netns", h.NetNS); err != nil && !strings.Contains(err.Error(), "File exists") {
		return h, err
	}
	steps := [][]string{
		{"ip", "link", "set", h.Veth, "master", n.Bridge(), "up"},
		h.Args("ip", "addr", "replace", h.IP.String()+"/24", "dev", "eth0"),
		h.Args("ip", "link", "set", "eth0", "up"),
		h.Args("ip", "link", "set", "lo", "up"),
	}
	for _, s := range steps {
		if err := run(s[0], s[1:]...); err != nil {
			return h, err
		}
	}
	if _, err := h.ensureCgroup(); err != nil {
		return h, err
	}
	if h.Root != "" {
		if err := os.MkdirAll(h.RunDir(), 0o755); err != nil {
			return h, fmt.Errorf("devnet: host %s: %w", h.NetNS, err)
		}
	}
	return h, nil
}

// mac is the host's MAC address: locally administered, from the network's
// name and the host's index.
func (h Host) mac() string {
	sum := sha256.Sum256([]byte(h.network))
	return fmt.Sprintf("02:%02x:%02x:%02x:%02x:%02x", sum[0], sum[1], sum[2], byte(h.Index>>8), byte(h.Index))
}

// Args is the command line that runs name with args inside the host.
func (h Host) Args(name string, args ...string) []string {
	return append([]string{"nsenter", "--net=/var/run/netns/" + h.NetNS, name}, args...)
}

// Command runs name with args inside the host's network namespace. Run
// it with Start to make it one of the host's processes, which a power cut
// kills; short commands (ip, iptables) may simply Run.
func (h Host) Command(name string, args ...string) *exec.Cmd {
	a := h.Args(name, args...)
	return exec.Command(a[0], a[1:]...)
}

// RemoveHost powers host i off and removes all of it: processes, mounts,
// namespace, link, cgroups and disk.
func (n *Network) RemoveHost(i int) error {
	h := n.Host(i)
	err := h.teardown()
	if h.Root != "" {
		err = errors.Join(err, os.RemoveAll(h.Root))
	}
	return err
}

// linkGone reports whether `ip link del` failed because the link is
// already gone: not there ("Cannot find device"), or going away while the
// command ran (ENODEV, "No such device": a veth whose peer's namespace was
// just deleted).
func linkGone(err error) bool {
	return strings.Contains(err.Error(), "Cannot find device") || strings.Contains(err.Error(), "No such device")
}

// Destroy removes every host of the network and the bridge, whatever state
// they are in (running, frozen, powered off, half made), and the hosts'
// disks under Dir. It leaves no process, mount, namespace, link or cgroup
// behind.
func (n *Network) Destroy() error {
	seen := map[int]bool{}
	out, _ := exec.Command("ip", "netns", "list").Output()
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && strings.HasPrefix(f[0], n.Name+"-h") {
			if i, err := strconv.Atoi(strings.TrimPrefix(f[0], n.Name+"-h")); err == nil {
				seen[i] = true
			}
		}
	}
	if root, err := cgroup2Mount(); err == nil {
		dirs, _ := filepath.Glob(filepath.Join(root, n.Name, "h*"))
		for _, d := range dirs {
			if i, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(d), "h")); err == nil {
				seen[i] = true
			}
		}
	}
	if n.Dir != "" {
		dirs, _ := filepath.Glob(filepath.Join(n.Dir, "h*"))
		for _, d := range dirs {
			if i, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(d), "h")); err == nil {
				seen[i] = true
			}
		}
	}
	var errs []error
	for i := range seen {
		if err := n.RemoveHost(i); err != nil {
			errs = append(errs, err)
		}
	}
	if err := run("ip", "link", "del", n.Bridge()); err != nil && !linkGone(err) {
		errs = append(errs, err)
	}
	if err := removeCgroups("/" + n.Name); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
