package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/devnet"
	"github.com/shoal-dev/shoal/integration/testimage"
	"github.com/shoal-dev/shoal/node"
)

// devCluster is what `shoal dev up` made, saved in <dir>/dev.json so later
// commands (kill, partition, down) find it.
type devCluster struct {
	Dir    string       `json:"dir"`
	Name   string       `json:"name"`
	Subnet netip.Prefix `json:"subnet"`
	Hosts  []devHost    `json:"hosts"`
	// Cut is the hosts of the current partition, if any; a host that
	// boots rejoins it, since the fault is the network's, not the host's.
	Cut []string `json:"cut,omitempty"`
}

type devHost struct {
	Name  string   `json:"name"`
	Index int      `json:"index"`
	IP    string   `json:"ip"`
	Args  []string `json:"args"` // the agent's command line
	PID   int      `json:"pid"`  // 0 when stopped
	Off   bool     `json:"off"`  // powered off: start boots it first
}

const devStateFile = "dev.json"

func (c *devCluster) network() *devnet.Network {
	return &devnet.Network{Name: c.Name, Subnet: c.Subnet, Dir: filepath.Join(c.Dir, "hosts")}
}

// dataDir is where host h's agent keeps its data: on the host's disk.
func (c *devCluster) dataDir(h devHost) string {
	return filepath.Join(c.network().Host(h.Index).Root, "var", "lib", "shoal")
}

// adminConf is the admin credential, copied out of the first host.
func (c *devCluster) adminConf() string { return filepath.Join(c.Dir, "admin.conf") }

func (c *devCluster) save() error {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(c.Dir, devStateFile), b, 0o600)
}

func loadDev(dir string) (*devCluster, error) {
	b, err := os.ReadFile(filepath.Join(dir, devStateFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("no dev cluster in %s: start one with `shoal dev up` (or pass --dir)", dir)
	}
	if err != nil {
		return nil, err
	}
	var c devCluster
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, devStateFile), err)
	}
	return &c, nil
}

func (c *devCluster) host(name string) (*devHost, devnet.Host, error) {
	for i := range c.Hosts {
		if c.Hosts[i].Name == name {
			return &c.Hosts[i], c.network().Host(c.Hosts[i].Index), nil
		}
	}
	var names []string
	for _, h := range c.Hosts {
		names = append(names, h.Name)
	}
	return nil, devnet.Host{}, fmt.Errorf("no host %q in the dev cluster (hosts: %s)", name, strings.Join(names, ", "))
}

// adminClient talks to host h's API with the cluster's admin credential.
func (c *devCluster) adminClient(h devHost) (*api.Client, error) {
	cc, err := node.LoadClientConfig(c.adminConf())
	if err != nil {
		return nil, err
	}
	return cc.Client("https://" + h.IP + ":" + strconv.Itoa(node.DefaultAPIPort))
}

func newDevCmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run a cluster of hosts on this machine, and break it on purpose (needs root)",
		Long: `shoal dev makes hosts out of network namespaces on a bridge, each running
its own containerd and shoal agent, joined into one cluster; then it lets
you break them: kill a host as a power cut does, restart an agent, cut
hosts off from each other, freeze one. Everything lives under --dir and
goes away with ` + "`shoal dev down`" + `.`,
	}
	cmd.PersistentFlags().StringVar(&dir, "dir", "/var/lib/shoal-dev", "where the cluster's data, logs and state live")
	withCluster := func(f func(cmd *cobra.Command, c *devCluster, args []string) error) func(*cobra.Command, []string) error {
		return func(cmd *cobra.Command, args []string) error {
			c, err := loadDev(dir)
			if err != nil {
				return err
			}
			return f(cmd, c, args)
		}
	}
	cmd.AddCommand(newDevUpCmd(&dir), newDevDownCmd(&dir),
		&cobra.Command{Use: "kill NODE", Short: "Cut a host's power: every process of it (agent, containerd, containers) dies at once and its link goes down", Args: cobra.ExactArgs(1),
			RunE: withCluster(func(cmd *cobra.Command, c *devCluster, args []string) error { return c.kill(cmd, args[0]) })},
		&cobra.Command{Use: "stop NODE", Short: "Stop a host's agent gracefully (its pods keep running)", Args: cobra.ExactArgs(1),
			RunE: withCluster(func(cmd *cobra.Command, c *devCluster, args []string) error { return c.stop(cmd, args[0]) })},
		&cobra.Command{Use: "start NODE", Short: "Start a host's agent again; a host whose power was cut boots first", Args: cobra.ExactArgs(1),
			RunE: withCluster(func(cmd *cobra.Command, c *devCluster, args []string) error { return c.start(cmd, args[0]) })},
		&cobra.Command{Use: "partition NODE[,NODE...]", Short: "Cut the named hosts off from the others, both ways", Args: cobra.ExactArgs(1),
			RunE: withCluster(func(cmd *cobra.Command, c *devCluster, args []string) error {
				return c.partition(cmd.OutOrStdout(), strings.Split(args[0], ","))
			})},
		&cobra.Command{Use: "heal", Short: "Remove every partition", Args: cobra.NoArgs,
			RunE: withCluster(func(cmd *cobra.Command, c *devCluster, args []string) error { return c.heal(cmd.OutOrStdout()) })},
		&cobra.Command{Use: "pause NODE SECONDS", Short: "Freeze every process of a host (its cgroup, as SIGSTOP would), then thaw them", Args: cobra.ExactArgs(2),
			RunE: withCluster(func(cmd *cobra.Command, c *devCluster, args []string) error { return c.pause(cmd, args[0], args[1]) })},
		newDevChaosCmd(&dir),
	)
	return cmd
}

func newDevUpCmd(dir *string) *cobra.Command {
	var nodes, zones int
	var subnet, name string
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Create hosts, start an agent and containerd on each, join them, import the test image",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if nodes < 1 || nodes > 50 {
				return fmt.Errorf("--nodes %d: use 1 to 50", nodes)
			}
			if zones < 1 {
				zones = 1
			}
			prefix, err := netip.ParsePrefix(subnet)
			if err != nil {
				return fmt.Errorf("--subnet %q: %w", subnet, err)
			}
			if err := checkDevName(name, nodes); err != nil {
				return err
			}
			if err := devPrerequisites(); err != nil {
				return err
			}
			abs, err := filepath.Abs(*dir)
			if err != nil {
				return err
			}
			c := &devCluster{Dir: abs, Name: name, Subnet: prefix}
			if old, err := loadDev(abs); err == nil {
				fmt.Fprintln(cmd.OutOrStdout(), "removing the previous dev cluster first")
				old.down()
			}
			c.down() // whatever a crashed run left, under the same names
			if err := os.MkdirAll(abs, 0o700); err != nil {
				return err
			}
			return c.up(cmd, nodes, zones)
		},
	}
	cmd.Flags().IntVar(&nodes, "nodes", 3, "how many hosts")
	cmd.Flags().IntVar(&zones, "zones", 1, "spread the hosts over this many zones (topology.kubernetes.io/zone)")
	cmd.Flags().StringVar(&subnet, "subnet", defaultDevSubnet, "the hosts' network (an IPv4 /24)")
	cmd.Flags().StringVar(&name, "name", defaultDevName, "prefix of the cluster's links, namespaces and cgroups (saved in dev.json); two dev clusters need different names, dirs and subnets")
	return cmd
}

// The names a dev cluster gets when `shoal dev up` is given none.
const (
	defaultDevName   = "shoaldev"
	defaultDevSubnet = "10.77.0.0/24"
)

// checkDevName says whether name can prefix the links of a cluster of
// nodes hosts: lowercase letters and digits, and short enough for the
// longest link name (a host's veth, <name>v<index>) to fit in 15
// characters.
func checkDevName(name string, nodes int) error {
	longest := max(len(name)+2, len(name)+1+len(strconv.Itoa(nodes)))
	if name == "" || longest > 15 {
		return fmt.Errorf("--name %q: give 1 to %d characters (link names have at most 15)", name, 15-max(2, 1+len(strconv.Itoa(nodes))))
	}
	for i, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9') || i == 0 && r >= '0' && r <= '9' {
			return fmt.Errorf("--name %q: use lowercase letters and digits, starting with a letter", name)
		}
	}
	return nil
}

// devPrerequisites says what the machine lacks, with the command to fix it.
func devPrerequisites() error {
	if err := devnet.Check(); err != nil {
		return err
	}
	for _, bin := range []string{"containerd", "runc"} {
		if _, err := exec.LookPath(bin); err != nil {
			return fmt.Errorf("%s is missing: apt-get install -y containerd runc containernetworking-plugins busybox-static", bin)
		}
	}
	if _, err := os.Stat("/usr/lib/cni/bridge"); err != nil {
		return errors.New("the CNI plugins are missing: apt-get install -y containernetworking-plugins")
	}
	return nil
}

func (c *devCluster) up(cmd *cobra.Command, nodes, zones int) error {
	out := cmd.OutOrStdout()
	net := c.network()
	if err := net.Create(); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	start := time.Now()
	for i := 1; i <= nodes; i++ {
		h, err := net.AddHost(i)
		if err != nil {
			return err
		}
		name := fmt.Sprintf("n%d", i)
		dh := devHost{Name: name, Index: i, IP: h.IP.String()}
		dh.Args = []string{self, "agent", "--name", name, "--data-dir", c.dataDir(dh), "--bind", h.IP.String(),
			"--containerd", "supervise", "--run-dir", filepath.Join(h.RunDir(), "shoal"),
			"--netns-dir", filepath.Join(h.RunDir(), "netns"), "--cgroup-parent", h.PodCgroupParent(),
			"--labels", fmt.Sprintf("%s=zone-%d", node.ZoneLabel, (i-1)%zones+1)}
		if i > 1 {
			dh.Args = append(dh.Args, "--join", c.Hosts[0].IP, "--token-file", filepath.Join(c.dataDir(c.Hosts[0]), "token"))
		}
		c.Hosts = append(c.Hosts, dh)
		if err := c.startHost(&c.Hosts[i-1]); err != nil {
			return err
		}
		if i == 1 {
			b, err := os.ReadFile(filepath.Join(c.dataDir(dh), "admin.conf"))
			if err != nil {
				return err
			}
			if err := os.WriteFile(c.adminConf(), b, 0o600); err != nil {
				return err
			}
		}
		if err := c.save(); err != nil {
			return err
		}
		fmt.Fprintf(out, "host %s at %s: agent running\n", name, h.IP)
	}
	cl, err := c.adminClient(c.Hosts[0])
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), 2*time.Minute)
	defer cancel()
	if err := waitNodesReady(ctx, cl, nodes); err != nil {
		return err
	}
	if err := importTestImage(ctx, cl, out); err != nil {
		return err
	}
	fmt.Fprintf(out, `
dev cluster up: %d hosts in %s

  export SHOAL_SERVER=https://%s:%d SHOAL_CONFIG=%s
  shoal get nodes
  shoal dev kill n2          # a power cut; shoal dev start n2 brings it back
  shoal dev partition n1     # cut n1 off; shoal dev heal
  shoal dev down             # remove everything

`, nodes, time.Since(start).Round(100*time.Millisecond), c.Hosts[0].IP, node.DefaultAPIPort, c.adminConf())
	return nil
}

// startHost starts a host's agent as one of the host's processes, detached,
// logging to <dir>/<name>.log, and waits for its API. A host whose power
// was cut boots first.
func (c *devCluster) startHost(h *devHost) error {
	dh := c.network().Host(h.Index)
	if h.Off {
		var err error
		if dh, err = c.network().Boot(h.Index); err != nil {
			return err
		}
		h.Off = false
		if err := c.applyCut(); err != nil {
			return err
		}
	}
	logf, err := os.OpenFile(filepath.Join(c.Dir, h.Name+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	p := dh.Command(h.Args[0], h.Args[1:]...)
	p.Stdout, p.Stderr = logf, logf
	p.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := dh.Start(p); err != nil {
		return err
	}
	h.PID = p.Process.Pid
	go p.Wait()
	probe := &http.Client{Timeout: time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := probe.Get("https://" + h.IP + ":" + strconv.Itoa(node.DefaultAPIPort) + "/healthz")
		if err == nil {
			resp.Body.Close()
			if _, err := os.Stat(filepath.Join(c.dataDir(c.Hosts[0]), "admin.conf")); err == nil {
				return nil
			}
		}
		if syscall.Kill(h.PID, 0) != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("host %s: the agent did not come up; see %s", h.Name, filepath.Join(c.Dir, h.Name+".log"))
}

func waitNodesReady(ctx context.Context, cl *api.Client, n int) error {
	for {
		objs, _, err := cl.List(ctx, "Node", "", false)
		ready := 0
		for _, o := range objs {
			nd := o.(*api.Node)
			for _, cond := range nd.Status.Conditions {
				if cond.Type == "Ready" && cond.Status == "True" && nd.Spec.PodCIDR != "" {
					ready++
				}
			}
		}
		if err == nil && ready == n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("only %d of %d nodes became Ready with a pod CIDR: %v", ready, n, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// powerCut cuts host h's power: every process of it dies at once and its
// link goes down. It says how many processes died.
func (c *devCluster) powerCut(h *devHost) (int, error) {
	dh := c.network().Host(h.Index)
	pids, _ := dh.Procs()
	if err := dh.PowerCut(); err != nil {
		return 0, err
	}
	h.PID, h.Off = 0, true
	return len(pids), c.save()
}

func (c *devCluster) kill(cmd *cobra.Command, name string) error {
	h, _, err := c.host(name)
	if err != nil {
		return err
	}
	n, err := c.powerCut(h)
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "host %s: power cut: %d processes killed at once (agent, containerd, shims, containers), link down\n", name, n)
	return nil
}

func (c *devCluster) stop(cmd *cobra.Command, name string) error {
	h, _, err := c.host(name)
	if err != nil {
		return err
	}
	if h.PID > 0 {
		syscall.Kill(h.PID, syscall.SIGTERM)
		for i := 0; i < 300 && syscall.Kill(h.PID, 0) == nil; i++ {
			time.Sleep(100 * time.Millisecond)
		}
	}
	h.PID = 0
	fmt.Fprintf(cmd.OutOrStdout(), "host %s: agent stopped\n", name)
	return c.save()
}

func (c *devCluster) start(cmd *cobra.Command, name string) error {
	h, _, err := c.host(name)
	if err != nil {
		return err
	}
	if !h.Off && h.PID > 0 && syscall.Kill(h.PID, 0) == nil {
		return fmt.Errorf("host %s: the agent is running already", name)
	}
	if err := c.startHost(h); err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "host %s: agent started\n", name)
	return c.save()
}

func (c *devCluster) partition(out io.Writer, names []string) error {
	in := map[string]bool{}
	var group, rest []devnet.Host
	for _, n := range names {
		_, h, err := c.host(n)
		if err != nil {
			return err
		}
		in[n] = true
		group = append(group, h)
	}
	for _, h := range c.Hosts {
		if !in[h.Name] {
			rest = append(rest, c.network().Host(h.Index))
		}
	}
	if err := devnet.Partition(group, rest); err != nil {
		return err
	}
	c.Cut = names
	fmt.Fprintf(out, "hosts %s cut off from the rest\n", strings.Join(names, ","))
	return c.save()
}

// applyCut puts the saved partition back, after a host booted with a
// fresh firewall.
func (c *devCluster) applyCut() error {
	if len(c.Cut) == 0 {
		return nil
	}
	return c.partition(io.Discard, c.Cut)
}

func (c *devCluster) allHosts() []devnet.Host {
	var hs []devnet.Host
	for _, h := range c.Hosts {
		hs = append(hs, c.network().Host(h.Index))
	}
	return hs
}

func (c *devCluster) heal(out io.Writer) error {
	if err := devnet.Heal(c.allHosts()); err != nil {
		return err
	}
	c.Cut = nil
	fmt.Fprintln(out, "partitions healed")
	return c.save()
}

func (c *devCluster) pause(cmd *cobra.Command, name, seconds string) error {
	h, _, err := c.host(name)
	if err != nil {
		return err
	}
	d, err := strconv.ParseFloat(seconds, 64)
	if err != nil || d <= 0 {
		return fmt.Errorf("SECONDS %q: give a positive number", seconds)
	}
	dh := c.network().Host(h.Index)
	if err := dh.Freeze(); err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "host %s: every process frozen for %ss\n", name, seconds)
	time.Sleep(time.Duration(d * float64(time.Second)))
	if err := dh.Thaw(); err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "host %s: thawed\n", name)
	return nil
}

func newDevDownCmd(dir *string) *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Remove the dev cluster: processes, namespaces, links, rules, mounts and data",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := loadDev(*dir)
			if err != nil {
				abs, _ := filepath.Abs(*dir)
				c = &devCluster{Dir: abs, Name: name, Subnet: netip.MustParsePrefix(defaultDevSubnet)}
			}
			if err := c.down(); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "dev cluster removed")
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", defaultDevName, "the cluster's name (as given to shoal dev up --name), used only when <dir>/dev.json is gone")
	return cmd
}

// down removes everything up made: every process of every host
// (containers included), their mounts, namespaces, links and cgroups, and
// the directory. It is safe to run on a half-made or already removed
// cluster, and it fails, naming them, if anything is left.
func (c *devCluster) down() error {
	net := c.network()
	err := net.Destroy()
	if c.Dir != "" && c.Dir != "/" {
		if rerr := os.RemoveAll(c.Dir); rerr != nil {
			err = errors.Join(err, rerr)
		}
	}
	if left := net.Leftovers(); len(left) > 0 {
		err = errors.Join(err, fmt.Errorf("left behind: %s", strings.Join(left, "; ")))
	}
	return err
}

// importTestImage builds the test image (shoal.test/busybox:1) from the
// machine's static busybox and imports it on every node.
func importTestImage(ctx context.Context, cl *api.Client, out io.Writer) error {
	busybox, err := testimage.BusyboxPath()
	if err != nil {
		return fmt.Errorf("the test image needs busybox-static (apt-get install -y busybox-static): %w", err)
	}
	r, w := io.Pipe()
	go func() { w.CloseWithError(testimage.Build(w, busybox)) }()
	return importImage(ctx, cl, r, true, out)
}
