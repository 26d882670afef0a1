package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/shoal-dev/shoal/node"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"sigs.k8s.io/yaml"
)

type agentFlags struct {
	cfg              node.Config
	tokenFile        string
	labels           string
	resources        string
	configFile       string
	logLevel         string
	logFormat        string
	deadVoterTimeout time.Duration
	clusterCIDR      string
	registryMirrors  []string
}

func newAgentCmd() *cobra.Command {
	f := &agentFlags{}
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run a shoal node",
		Long: `Run a shoal node. The first node (no --join, empty --data-dir) starts a new
cluster and writes its join token to <data-dir>/token. Every other node names
any member with --join and passes that token with --token or --token-file.`,
		Example: `  shoal agent --name n1 --data-dir /var/lib/shoal --bind 10.0.0.1
  shoal agent --name n2 --data-dir /var/lib/shoal --bind 10.0.0.2 --join 10.0.0.1 --token-file ./token`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.configFile != "" {
				if err := applyConfigFile(cmd.Flags(), f.configFile); err != nil {
					return err
				}
			}
			return f.run()
		},
	}
	fl := cmd.Flags()
	host, _ := os.Hostname()
	fl.StringVar(&f.cfg.Name, "name", host, "node name, unique in the cluster")
	fl.StringVar(&f.cfg.DataDir, "data-dir", "/var/lib/shoal", "where the node keeps its state")
	fl.StringVar(&f.cfg.BindAddr, "bind", "0.0.0.0", "IP address to listen on")
	fl.StringVar(&f.cfg.AdvertiseAddr, "advertise", "", "IP address other nodes reach this one at (default: --bind, or the first private address)")
	fl.StringArrayVar(&f.cfg.Join, "join", nil, "address of any member to join through (repeatable; retried until it works)")
	fl.StringVar(&f.cfg.Token, "token", "", "the cluster's join token")
	fl.StringVar(&f.tokenFile, "token-file", "", "file holding the cluster's join token")
	fl.IntVar(&f.cfg.GossipPort, "gossip-port", node.DefaultGossipPort, "gossip port (TCP and UDP)")
	fl.IntVar(&f.cfg.RaftPort, "raft-port", node.DefaultRaftPort, "Raft port")
	fl.IntVar(&f.cfg.APIPort, "api-port", node.DefaultAPIPort, "HTTP API port")
	fl.StringVar(&f.labels, "labels", "", "node labels, k=v,... ("+node.ZoneLabel+" sets the zone)")
	fl.StringVar(&f.resources, "resources", "", "extended resources this node offers, name=count,... (nvidia.com/gpu=4)")
	fl.IntVar(&f.cfg.MaxPods, "max-pods", node.DefaultMaxPods, "how many pods this node takes")
	fl.DurationVar(&f.deadVoterTimeout, "dead-voter-timeout", 10*time.Second, "how long a voter may be failed before a healthy node replaces it")
	fl.StringVar(&f.configFile, "config", "", "YAML file of flag values (keys are flag names); flags on the command line win")
	fl.StringVar(&f.cfg.Containerd, "containerd", node.ContainerdAuto, "auto (run the node's own containerd when root with containerd installed), supervise, or off")
	fl.StringVar(&f.cfg.ContainerdSocket, "containerd-socket", "", "use an existing containerd at this socket instead of the node's own")
	fl.StringVar(&f.cfg.RunDir, "run-dir", node.DefaultRunDir, "where the node keeps what a reboot must clear (its containerd's state); keep it on a tmpfs")
	fl.StringVar(&f.cfg.NetNSDir, "netns-dir", "/var/run/netns", "where pods' network namespaces are mounted")
	fl.StringVar(&f.cfg.CgroupParent, "cgroup-parent", "", "cgroup to make the containers' cgroups under (default: containerd's, /shoal)")
	fl.StringArrayVar(&f.registryMirrors, "registry-mirror", nil, "HOST=URL: pull images of registry HOST from mirror URL first, such as docker.io=https://mirror.example:5000 (repeatable; tried in order, then HOST itself)")
	fl.StringArrayVar(&f.cfg.InsecureRegistries, "insecure-registry", nil, "registry host or host:port to pull from over plain HTTP (repeatable)")
	fl.StringVar(&f.clusterCIDR, "cluster-cidr", "10.244.0.0/16", "pod addresses of the whole cluster; every node gets a /24 of it (give every node the same value)")
	fl.DurationVar(&f.cfg.NodeGrace, "node-grace", node.DefaultNodeGrace, "how long a node may be unreachable before it is NotReady and its pods are replaced elsewhere; gossip probes every grace/5, so a node frozen or overloaded for less keeps its pods (at least 1s; give every node the same value, as the shortest wins)")
	fl.StringVar(&f.cfg.ClusterDomain, "cluster-domain", "cluster.local", "DNS domain of services and pods")
	fl.StringVar(&f.cfg.DNSAddr, "dns-addr", "", "where this node answers DNS: IP, IP:port, :port, or off (default: the advertise address, port 53); nodes that run pods also answer on their pod bridge's gateway, port 53")
	fl.StringArrayVar(&f.cfg.DNSUpstreams, "dns-upstream", nil, "resolver for names outside the cluster domain, IP or IP:port (repeatable; default: the nameservers in /etc/resolv.conf; off refuses such names)")
	fl.DurationVar(&f.cfg.DNSTTL, "dns-ttl", 5*time.Second, "TTL of the cluster's DNS answers")
	fl.BoolVar(&f.cfg.InsecureDev, "insecure-dev", false, "turn off TLS, authentication and secret encryption (local experiments only)")
	fl.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fl.StringVar(&f.logFormat, "log-format", "text", "text or json")
	return cmd
}

// applyConfigFile sets every flag named in a YAML file that was not given
// on the command line.
func applyConfigFile(fs *pflag.FlagSet, path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("--config: %w", err)
	}
	var m map[string]any
	if err := yaml.UnmarshalStrict(b, &m); err != nil {
		return fmt.Errorf("--config %s: %w", path, err)
	}
	for k, v := range m {
		fl := fs.Lookup(k)
		if fl == nil || k == "config" {
			return fmt.Errorf("--config %s: unknown key %q (keys are agent flag names, such as data-dir or join)", path, k)
		}
		if fl.Changed {
			continue
		}
		vals := []any{v}
		if list, ok := v.([]any); ok {
			vals = list
		}
		for _, one := range vals {
			if err := fs.Set(k, fmt.Sprint(one)); err != nil {
				return fmt.Errorf("--config %s: %s: %w", path, k, err)
			}
		}
	}
	return nil
}

func parseLabels(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		if kv = strings.TrimSpace(kv); kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--labels: %q is not key=value", kv)
		}
		out[k] = v
	}
	return out, nil
}

func newLogger(level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: use debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: use text or json", format)
}

func (f *agentFlags) run() error {
	log, err := newLogger(f.logLevel, f.logFormat)
	if err != nil {
		return err
	}
	if f.cfg.Labels, err = parseLabels(f.labels); err != nil {
		return err
	}
	if f.cfg.Resources, err = parseResources(f.resources); err != nil {
		return err
	}
	if f.cfg.MaxPods < 1 {
		return fmt.Errorf("--max-pods %d: a node must take at least 1 pod", f.cfg.MaxPods)
	}
	if f.cfg.RegistryMirrors, err = node.ParseRegistryMirrors(f.registryMirrors); err != nil {
		return err
	}
	if f.tokenFile != "" {
		b, err := os.ReadFile(f.tokenFile)
		if err != nil {
			return fmt.Errorf("--token-file: %w", err)
		}
		f.cfg.Token = strings.TrimSpace(string(b))
	}
	if f.cfg.ClusterCIDR, err = netip.ParsePrefix(f.clusterCIDR); err != nil {
		return fmt.Errorf("--cluster-cidr %q: not a CIDR such as 10.244.0.0/16", f.clusterCIDR)
	}
	f.cfg.DeadVoterTimeout = f.deadVoterTimeout
	f.cfg.Logger = log
	f.cfg.Version = version
	a, err := node.New(f.cfg)
	if err != nil {
		return err
	}
	if err := a.Start(); err != nil {
		return err
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	select {
	case s := <-sig:
		log.Info("signal received; stopping (membership is unchanged; use `shoal node leave` to depart)", "signal", s.String())
	case <-a.LeaveRequested():
	}
	return a.Shutdown()
}

func newOperatorCmd() *cobra.Command {
	op := &cobra.Command{Use: "operator", Short: "Repair a cluster"}
	var dataDir string
	recover := &cobra.Command{
		Use:   "recover",
		Short: "After losing a majority of voters for good, make this stopped node the only voter",
		Long: `Run on the surviving node with the newest log, while its agent is stopped.
It rewrites the node's Raft configuration so that it is the only voter and
keeps everything committed. Start the agent again afterwards; other nodes can
then join it (with an empty data dir, or their old one).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), time.Minute)
			defer cancel()
			if err := node.Recover(ctx, dataDir); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "recovered %s: this node is now the only voter; start its agent again\n", dataDir)
			return nil
		},
	}
	recover.Flags().StringVar(&dataDir, "data-dir", "/var/lib/shoal", "the stopped node's data dir")
	op.AddCommand(recover)
	return op
}

// parseResources reads --resources: extended resource names (with a domain
// prefix, as Kubernetes requires) and whole counts.
func parseResources(s string) (map[string]int64, error) {
	out := map[string]int64{}
	for _, kv := range strings.Split(s, ",") {
		if kv = strings.TrimSpace(kv); kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		n, err := strconv.ParseInt(v, 10, 64)
		if !ok || !strings.Contains(k, "/") || err != nil || n < 0 {
			return nil, fmt.Errorf("--resources: %q must be domain/name=count, such as nvidia.com/gpu=4", kv)
		}
		out[k] = n
	}
	return out, nil
}
