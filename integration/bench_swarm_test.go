package integration

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/devnet"
	"github.com/shoal-dev/shoal/integration/testimage"
)

// Docker Swarm as the baseline for BenchmarkHostFailover: the same three
// namespace hosts, one dockerd (with the containerd it manages) per host in
// the host's cgroup, its containers under the host's PodCgroupParent, so a
// power cut kills the daemon and every container of the host at once. It
// needs root and Debian's docker.io (Docker 20.10); without dockerd it
// skips. No registry is used: the image is a busybox rootfs imported on
// each host, the CLI never resolves images and the daemons never pull.

const (
	swarmImage    = "shoal.test/swarmbox:1"
	swarmService  = "web"
	swarmReplicas = 6
)

// swarmHost is one test host running a dockerd that is a swarm node.
type swarmHost struct {
	host
	b       testing.TB
	dockerd string
	docker  string // the CLI of the same Docker release
	env     []string
	// dir is the host's volatile Docker state (exec-root, API socket,
	// pidfile): a short path under /run, as unix socket paths must stay
	// under 108 bytes. A power cut empties it, as it empties the host's
	// RunDir.
	dir     string
	name    string // hostname of the host, the swarm node's name
	bip     string // the default bridge's address, different on each host
	logPath string
	exited  chan struct{}
}

func (s *swarmHost) sock() string { return "unix://" + filepath.Join(s.dir, "d.sock") }

// start starts the host's dockerd, as the host's init would, and waits
// until it serves its API. Its data root is on the host's disk, so it
// survives a power cut; it runs in a UTS namespace of its own so that each
// node has its own hostname.
func (s *swarmHost) start() {
	s.b.Helper()
	dataRoot := filepath.Join(s.Root, "var", "lib", "docker")
	conf := filepath.Join(s.Root, "etc", "docker", "daemon.json")
	if err := os.MkdirAll(filepath.Dir(conf), 0o755); err != nil {
		s.b.Fatal(err)
	}
	// The engine's key of its own (not /etc/docker/key.json), and no
	// machine-wide daemon.json.
	cfg, _ := json.Marshal(map[string]any{"deprecated-key-path": filepath.Join(filepath.Dir(conf), "key.json")})
	if err := os.WriteFile(conf, cfg, 0o644); err != nil {
		s.b.Fatal(err)
	}
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		s.b.Fatal(err)
	}
	args := []string{
		"--config-file", conf,
		"--data-root", dataRoot,
		"--exec-root", filepath.Join(s.dir, "e"),
		"--pidfile", filepath.Join(s.dir, "d.pid"),
		"-H", s.sock(),
		"--cgroup-parent", s.PodCgroupParent(),
		"--bip", s.bip,
		"--iptables=true",
	}
	script := `echo "$0" > /proc/sys/kernel/hostname && exec "$@"`
	cmd := s.Command("unshare", append([]string{"--uts", "sh", "-c", script, s.name, s.dockerd}, args...)...)
	cmd.Env = s.env
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		s.b.Fatal(err)
	}
	fmt.Fprintf(logf, "=== %s: start dockerd %s\n", time.Now().Format(time.RFC3339Nano), strings.Join(args, " "))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := s.Start(cmd); err != nil {
		logf.Close()
		s.b.Fatal(err)
	}
	logf.Close()
	exited := make(chan struct{})
	s.exited = exited
	go func() { cmd.Wait(); close(exited) }()
	waitFor(s.b, 90*time.Second, s.name+"'s dockerd serves its API", func() (bool, string) {
		select {
		case <-exited:
			s.b.Fatalf("%s's dockerd exited:\n%s", s.name, tailFile(s.logPath))
		default:
		}
		out, err := s.cli("version", "--format", "{{.Server.Version}}")
		return err == nil, out
	})
}

// powerCut cuts the host's power: dockerd, containerd, the shims and the
// containers die at once, the link goes down, and the volatile state is
// lost.
func (s *swarmHost) powerCut() {
	s.b.Helper()
	if err := s.PowerCut(); err != nil {
		s.b.Fatal(err)
	}
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		s.b.Fatalf("%s's dockerd outlived the power cut", s.name)
	}
	if err := swarmDropDir(s.dir); err != nil {
		s.b.Fatal(err)
	}
}

// boot brings the host back after a power cut and starts its dockerd.
func (s *swarmHost) boot() {
	s.b.Helper()
	h, err := s.network.Boot(s.Index)
	if err != nil {
		s.b.Fatal(err)
	}
	s.Host = h
	s.start()
}

// cli runs the docker CLI against the host's dockerd.
func (s *swarmHost) cli(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.docker, append([]string{"-H", s.sock()}, args...)...)
	cmd.Env = s.env
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func (s *swarmHost) mustCLI(args ...string) string {
	s.b.Helper()
	out, err := s.cli(args...)
	if err != nil {
		s.b.Fatalf("docker %s on %s: %v\n%s", strings.Join(args, " "), s.name, err, out)
	}
	return out
}

// swarmTasks lists the service's tasks that should run, from a manager:
// how many there are, and how many of them run, per node.
func (s *swarmHost) swarmTasks() (per map[string]int, running, desired int, err error) {
	out, err := s.cli("service", "ps", swarmService, "--filter", "desired-state=running",
		"--format", "{{.Name}}\t{{.Node}}\t{{.CurrentState}}")
	if err != nil {
		return nil, 0, 0, fmt.Errorf("%v: %s", err, out)
	}
	per = map[string]int{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 3 {
			continue
		}
		desired++
		if strings.HasPrefix(f[2], "Running") {
			per[f[1]]++
			running++
		}
	}
	return per, running, desired, nil
}

// swarmNodes lists the swarm's nodes, from a manager: hostname to
// "status availability manager-status".
func (s *swarmHost) swarmNodes() (map[string]string, error) {
	out, err := s.cli("node", "ls", "--format", "{{.Hostname}}\t{{.Status}}\t{{.Availability}}\t{{.ManagerStatus}}")
	if err != nil {
		return nil, fmt.Errorf("%v: %s", err, out)
	}
	nodes := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Split(line, "\t"); len(f) == 4 {
			nodes[f[0]] = strings.Join(f[1:], " ")
		}
	}
	return nodes, nil
}

// waitSwarmReady waits until every host is a Ready swarm node, a
// reachable manager or the leader.
func waitSwarmReady(b testing.TB, via *swarmHost, hosts []*swarmHost) {
	b.Helper()
	waitFor(b, 3*time.Minute, "every swarm node Ready", func() (bool, string) {
		nodes, err := via.swarmNodes()
		if err != nil {
			return false, err.Error()
		}
		for _, h := range hosts {
			st := nodes[h.name]
			if !strings.HasPrefix(st, "Ready Active") || !(strings.HasSuffix(st, "Leader") || strings.HasSuffix(st, "Reachable")) {
				return false, fmt.Sprint(nodes)
			}
		}
		return true, ""
	})
}

func swarmLeader(nodes map[string]string) string {
	for n, st := range nodes {
		if strings.HasSuffix(st, "Leader") {
			return n
		}
	}
	return "none"
}

func describeSwarmSpread(per map[string]int) string {
	var parts []string
	for n, c := range per {
		parts = append(parts, fmt.Sprintf("%s=%d", n, c))
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

// swarmDropDir unmounts everything under dir and empties it.
func swarmDropDir(dir string) error {
	for _, m := range devnet.MountsUnder(dir) {
		if err := syscall.Unmount(m, syscall.MNT_DETACH); err != nil && err != syscall.EINVAL && err != syscall.ENOENT {
			return fmt.Errorf("unmount %s: %w", m, err)
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	return os.MkdirAll(dir, 0o700)
}

// swarmProcsNaming lists the live processes whose command line names s.
func swarmProcsNaming(s string) []string {
	var left []string
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		if pid, _ := strconv.Atoi(filepath.Base(p)); pid == os.Getpid() {
			continue
		}
		stat, err := os.ReadFile(p + "/stat")
		if err != nil {
			continue
		}
		if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) && stat[i+2] == 'Z' {
			continue
		}
		cmd, _ := os.ReadFile(p + "/cmdline")
		if strings.Contains(string(cmd), s) {
			left = append(left, filepath.Base(p)+" "+strings.TrimSpace(strings.ReplaceAll(string(cmd), "\x00", " ")))
		}
	}
	return left
}

// swarmRootfs is a root filesystem tarball for `docker import`: the static
// busybox at /bin/busybox, /bin/sh and a few applets linked to it.
func swarmRootfs(busybox string) ([]byte, error) {
	bb, err := os.ReadFile(busybox)
	if err != nil {
		return nil, err
	}
	epoch := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	hdrs := []*tar.Header{
		{Typeflag: tar.TypeDir, Name: "bin/", Mode: 0o755},
		{Typeflag: tar.TypeReg, Name: "bin/busybox", Mode: 0o755, Size: int64(len(bb))},
	}
	for _, a := range []string{"sh", "sleep", "httpd", "ls", "cat", "ps", "wget"} {
		hdrs = append(hdrs, &tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/" + a, Linkname: "busybox", Mode: 0o777})
	}
	passwd := []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")
	group := []byte("root:x:0:\nnobody:x:65534:\n")
	hdrs = append(hdrs,
		&tar.Header{Typeflag: tar.TypeDir, Name: "etc/", Mode: 0o755},
		&tar.Header{Typeflag: tar.TypeReg, Name: "etc/group", Mode: 0o644, Size: int64(len(group))},
		&tar.Header{Typeflag: tar.TypeReg, Name: "etc/passwd", Mode: 0o644, Size: int64(len(passwd))},
		&tar.Header{Typeflag: tar.TypeDir, Name: "tmp/", Mode: 0o1777},
	)
	data := map[string][]byte{"bin/busybox": bb, "etc/passwd": passwd, "etc/group": group}
	for _, h := range hdrs {
		h.ModTime, h.Format = epoch, tar.FormatPAX
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if d := data[h.Name]; d != nil {
			if _, err := tw.Write(d); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// swarmDockerCLI finds the docker CLI of the same release as dockerd (the
// one in docker.io's bin next to its sbin), or any on PATH.
func swarmDockerCLI(dockerd string) (string, error) {
	p := filepath.Join(filepath.Dir(filepath.Dir(dockerd)), "bin", "docker")
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	return exec.LookPath("docker")
}

func loadAvg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	return strings.TrimSpace(string(b))
}

// BenchmarkSwarmHostFailover is BenchmarkHostFailover for Docker Swarm: 3
// hosts, all managers (losing one keeps the quorum), a service of 6
// replicas, Swarm's defaults for everything that decides the failover
// (dispatcher heartbeat, raft ticks, restart policy). Each iteration cuts
// the power of a host other than host 1 that runs replicas and measures,
// through host 1, the time until all 6 tasks that should run are Running
// on the other hosts. The host then boots, its dockerd rejoins with the
// state on its disk, and the service is rebalanced (not timed). Run with
// -benchtime=10x (a run takes about 30 s).
func BenchmarkSwarmHostFailover(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root to run dockerd and make network namespaces")
	}
	dockerd, err := exec.LookPath("dockerd")
	if err != nil {
		b.Skip("needs dockerd, the Docker Swarm baseline (apt-get install -y docker.io)")
	}
	docker, err := swarmDockerCLI(dockerd)
	if err != nil {
		b.Skip("needs the docker CLI (apt-get install -y docker.io)")
	}
	if err := devnet.Check(); err != nil {
		b.Fatal(err)
	}
	busybox, err := testimage.BusyboxPath()
	if err != nil {
		b.Fatal(err)
	}
	rootfs, err := swarmRootfs(busybox)
	if err != nil {
		b.Fatal(err)
	}
	loadBefore := loadAvg()
	// dockerd makes /run/docker/plugins whatever its exec-root; it goes
	// with the benchmark if it was not there before (and is still empty).
	_, err = os.Stat("/run/docker")
	hadRunDocker := err == nil

	// The hosts' volatile dirs; registered before the hosts, so that this
	// runs after their Destroy, when every process of them is dead.
	run, err := os.MkdirTemp("/run", "sw")
	if err != nil {
		b.Fatal(err)
	}
	var n *testNet
	b.Cleanup(func() {
		if left := swarmProcsNaming(run); len(left) > 0 {
			b.Errorf("left running after the tear-down:\n%s", strings.Join(left, "\n"))
		}
		if n != nil {
			if left := n.Leftovers(); len(left) > 0 {
				b.Errorf("left behind after the tear-down:\n%s", strings.Join(left, "\n"))
			}
		}
		if !hadRunDocker {
			os.Remove("/run/docker/plugins")
			os.Remove("/run/docker")
		}
		for _, m := range devnet.MountsUnder(run) {
			syscall.Unmount(m, syscall.MNT_DETACH)
		}
		if err := os.RemoveAll(run); err != nil {
			b.Errorf("removing %s: %v", run, err)
		}
	})

	n = newTestNet(b)
	cliConf := filepath.Join(n.Dir, "docker-cli")
	image := filepath.Join(n.Dir, "swarmbox.tar")
	if err := os.WriteFile(image, rootfs, 0o644); err != nil {
		b.Fatal(err)
	}
	env := append(os.Environ(),
		"DOCKER_CONFIG="+cliConf,
		// Swarm's executor pulls a task's image before each start, even
		// when it is there; there is no registry here to ask.
		"DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1")
	var hosts []*swarmHost
	for i := 1; i <= 3; i++ {
		h := n.addHost()
		s := &swarmHost{host: h, b: b, dockerd: dockerd, docker: docker, env: env,
			dir:     filepath.Join(run, strconv.Itoa(i)),
			name:    fmt.Sprintf("%s-h%d", n.Name, i),
			bip:     fmt.Sprintf("172.31.%d.1/24", i),
			logPath: filepath.Join(n.Dir, fmt.Sprintf("dockerd-h%d.log", i)),
		}
		s.start()
		s.mustCLI("import", "--change", `CMD ["/bin/busybox", "sleep", "1000000"]`, image, swarmImage)
		hosts = append(hosts, s)
	}
	h1 := hosts[0]
	version := h1.mustCLI("version", "--format", "client {{.Client.Version}}, server {{.Server.Version}}")

	h1.mustCLI("swarm", "init", "--advertise-addr", h1.ip)
	token := h1.mustCLI("swarm", "join-token", "-q", "manager")
	for _, s := range hosts[1:] {
		s.mustCLI("swarm", "join", "--token", token, "--advertise-addr", s.ip, h1.ip+":2377")
	}
	waitSwarmReady(b, h1, hosts)
	settings := h1.mustCLI("info", "--format",
		"{{.Swarm.Managers}} managers, {{.Swarm.Nodes}} nodes; raft {{json .Swarm.Cluster.Spec.Raft}}; dispatcher {{json .Swarm.Cluster.Spec.Dispatcher}}; orchestration {{json .Swarm.Cluster.Spec.Orchestration}}")

	// Stopping a replica (busybox as PID 1 ignores SIGTERM) and a rolling
	// update only matter to the untimed rebalance: the grace period is
	// short and the update replaces every replica at once.
	h1.mustCLI("service", "create", "--detach", "--no-resolve-image", "--name", swarmService,
		"--replicas", strconv.Itoa(swarmReplicas), "--stop-grace-period", "1s", "--update-parallelism", "0",
		swarmImage, "/bin/busybox", "sleep", "1000000")
	restart := h1.mustCLI("service", "inspect", "--format", "{{json .Spec.TaskTemplate.RestartPolicy}}", swarmService)

	byName := map[string]*swarmHost{}
	for _, s := range hosts {
		byName[s.name] = s
	}
	// victim waits for the 6 replicas and returns the host other than host
	// 1 that runs the most of them; when neither does, it rebalances.
	victim := func() (*swarmHost, map[string]int) {
		for attempt := 0; ; attempt++ {
			var per map[string]int
			waitFor(b, 3*time.Minute, "6 tasks Running", func() (bool, string) {
				p, running, desired, err := h1.swarmTasks()
				if err != nil {
					return false, err.Error()
				}
				per = p
				return running == swarmReplicas && desired == swarmReplicas, describeSwarmSpread(p)
			})
			best := hosts[1]
			if per[hosts[2].name] > per[best.name] {
				best = hosts[2]
			}
			if per[best.name] > 0 || attempt == 3 {
				return best, per
			}
			swarmRebalance(b, h1)
		}
	}

	var ready, down []time.Duration
	var runs []string
	for b.Loop() {
		b.StopTimer()
		v, per := victim()
		nodes, _ := h1.swarmNodes()
		leader := swarmLeader(nodes)
		b.StartTimer()
		t0 := time.Now()
		v.powerCut()
		var tDown, tReady time.Duration
		var last string
		deadline := t0.Add(5 * time.Minute)
		for tReady == 0 && time.Now().Before(deadline) {
			if tDown == 0 {
				if st, err := h1.cli("node", "inspect", "--format", "{{.Status.State}}", v.name); err == nil && st == "down" {
					tDown = time.Since(t0)
				}
			}
			p, running, desired, err := h1.swarmTasks()
			if err == nil && running == swarmReplicas && desired == swarmReplicas && p[v.name] == 0 {
				tReady = time.Since(t0)
				break
			}
			if err != nil {
				last = err.Error()
			} else {
				last = fmt.Sprintf("%d of %d running: %s", running, desired, describeSwarmSpread(p))
			}
			time.Sleep(200 * time.Millisecond)
		}
		b.StopTimer()
		if tReady == 0 {
			b.Fatalf("not recovered within 5 minutes of cutting %s's power; last seen: %s", v.name, last)
		}
		ready, down = append(ready, tReady), append(down, tDown)
		runs = append(runs, fmt.Sprintf("%d: cut %s (%s, leader %s): down %v, ready %v",
			len(ready), v.name, describeSwarmSpread(per), leader, tDown.Round(time.Millisecond), tReady.Round(time.Millisecond)))

		v.boot()
		waitSwarmReady(b, h1, hosts)
		swarmRebalance(b, h1)
		b.StartTimer()
	}
	b.ReportMetric(percentileMS(ready, 0.5), "ready-p50-ms")
	b.ReportMetric(percentileMS(ready, 0.99), "ready-p99-ms")
	b.ReportMetric(percentileMS(down, 0.5), "down-p50-ms")
	b.ReportMetric(percentileMS(down, 0.99), "down-p99-ms")
	// Few lines: the testing package keeps only 10 of a benchmark's log.
	b.Logf("docker %s; swarm %s; restart policy %s", version, settings, restart)
	b.Logf("runs: %s", strings.Join(runs, "; "))
	b.Logf("host power cut -> all %d Running elsewhere: %v", swarmReplicas, ready)
	b.Logf("host power cut -> node Down: %v", down)
	b.Logf("load (1, 5, 15 min) before %s, after %s", loadBefore, loadAvg())
}

// swarmRebalance replaces every replica, so that the scheduler spreads
// them over the nodes again, and waits for the update to complete.
func swarmRebalance(b testing.TB, via *swarmHost) {
	b.Helper()
	via.mustCLI("service", "update", "--detach", "--force", "--no-resolve-image", swarmService)
	waitFor(b, 3*time.Minute, "the rebalancing update", func() (bool, string) {
		st, err := via.cli("service", "inspect", "--format", "{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}", swarmService)
		return err == nil && st == "completed", st
	})
}
