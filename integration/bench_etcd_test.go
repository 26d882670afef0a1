package integration

// The etcd baseline for BenchmarkWriteThroughput: the same load against a
// three-member etcd cluster on loopback through etcd's HTTP/JSON gateway.
// It needs Debian's etcd-server (etcd 3.4, /usr/bin/etcd); without it the
// benchmark is skipped.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

const etcdBin = "/usr/bin/etcd"

// BenchmarkEtcdWriteThroughput sends what BenchmarkWriteThroughput sends
// (each value is the same ConfigMap JSON, under a Kubernetes-style key) to
// the leader of a three-member etcd 3.4 cluster with default fsync, as
// POST /v3/kv/put. Run with -benchtime=1x.
func BenchmarkEtcdWriteThroughput(b *testing.B) {
	skipWithoutEtcd(b)
	for _, clients := range []int{1, 64} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			members := startEtcdCluster(b, 3)
			leader := etcdLeader(b, members)
			url := "http://" + leader.ip + ":2379/v3/kv/put"
			var run atomic.Int64
			warmup, dur := benchWarmup(b), benchDuration(b)
			var total loadResult
			for b.Loop() {
				r := run.Add(1)
				total.add(runLoad(b, loadSpec{
					name: b.Name(), clients: clients, warmup: warmup, dur: dur, procs: etcdPIDs(members, leader),
					write: func(ctx context.Context, hc *http.Client, w, seq int) error {
						name := fmt.Sprintf("bench-r%d-c%d-%d", r, w, seq)
						body := etcdPutJSON("/registry/configmaps/default/"+name, configMapJSON(name))
						return postJSON(ctx, hc, url, body, http.StatusOK)
					},
				}))
			}
			reportLoad(b, total)
		})
	}
}

// skipWithoutEtcd skips the benchmark if etcd is not installed.
func skipWithoutEtcd(b *testing.B) {
	b.Helper()
	if _, err := os.Stat(etcdBin); err != nil {
		b.Skipf("%s not found: install etcd 3.4 with `apt-get install -y etcd-server` to run the etcd baseline", etcdBin)
	}
}

// etcdPIDs names the members' processes for CPU accounting.
func etcdPIDs(members []*etcdMember, leader *etcdMember) map[string]int {
	out := map[string]int{}
	for _, m := range members {
		if m == leader {
			out["leader"] = m.cmd.Process.Pid
		} else {
			out["follower-"+m.name] = m.cmd.Process.Pid
		}
	}
	return out
}

func etcdPutJSON(key string, value []byte) []byte {
	b, _ := json.Marshal(map[string]string{
		"key":   base64.StdEncoding.EncodeToString([]byte(key)),
		"value": base64.StdEncoding.EncodeToString(value),
	})
	return b
}

// etcdMember is one etcd process: clients on ip:2379, peers on ip:2380.
type etcdMember struct {
	name, ip, logPath string
	cmd               *exec.Cmd
}

// startEtcdCluster runs n etcd members, each on its own loopback address
// with its data dir under b.TempDir(), and waits until all are healthy.
func startEtcdCluster(b *testing.B, n int) []*etcdMember {
	b.Helper()
	dir := b.TempDir()
	members := make([]*etcdMember, n)
	var initial []string
	for i := range members {
		m := &etcdMember{name: fmt.Sprintf("e%d", i+1), ip: freeEtcdIP(b)}
		m.logPath = filepath.Join(dir, m.name+".log")
		members[i] = m
		initial = append(initial, fmt.Sprintf("%s=http://%s:2380", m.name, m.ip))
	}
	token := fmt.Sprintf("bench-%d", rand.Int64())
	for _, m := range members {
		logf, err := os.Create(m.logPath)
		if err != nil {
			b.Fatal(err)
		}
		m.cmd = exec.Command(etcdBin,
			"--name", m.name,
			"--data-dir", filepath.Join(dir, m.name),
			"--listen-client-urls", "http://"+m.ip+":2379",
			"--advertise-client-urls", "http://"+m.ip+":2379",
			"--listen-peer-urls", "http://"+m.ip+":2380",
			"--initial-advertise-peer-urls", "http://"+m.ip+":2380",
			"--initial-cluster", strings.Join(initial, ","),
			"--initial-cluster-state", "new",
			"--initial-cluster-token", token,
			"--logger", "zap", "--log-outputs", "stderr",
		)
		m.cmd.Stdout, m.cmd.Stderr = logf, logf
		m.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := m.cmd.Start(); err != nil {
			b.Fatal(err)
		}
		logf.Close()
		b.Cleanup(func() {
			syscall.Kill(-m.cmd.Process.Pid, syscall.SIGKILL)
			m.cmd.Wait()
		})
	}
	for _, m := range members {
		waitFor(b, 30*time.Second, "etcd "+m.name+" healthy", func() (bool, string) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			var h struct {
				Health string `json:"health"`
			}
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+m.ip+":2379/health", nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return false, err.Error()
			}
			defer resp.Body.Close()
			json.NewDecoder(resp.Body).Decode(&h)
			return h.Health == "true", "health=" + h.Health + "; log: " + tailFile(m.logPath)
		})
	}
	return members
}

// etcdLeader finds the member that leads, by asking each for its status.
func etcdLeader(b *testing.B, members []*etcdMember) *etcdMember {
	b.Helper()
	var found *etcdMember
	waitFor(b, 30*time.Second, "an etcd leader", func() (bool, string) {
		for _, m := range members {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+m.ip+":2379/v3/maintenance/status", strings.NewReader("{}"))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				cancel()
				continue
			}
			var st struct {
				Header struct {
					MemberID string `json:"member_id"`
				} `json:"header"`
				Leader string `json:"leader"`
			}
			json.NewDecoder(resp.Body).Decode(&st)
			resp.Body.Close()
			cancel()
			if st.Leader != "" && st.Leader == st.Header.MemberID {
				found = m
				return true, ""
			}
		}
		return false, "no member reports itself leader"
	})
	return found
}

// freeEtcdIP picks a loopback address whose etcd ports are free.
func freeEtcdIP(b *testing.B) string {
	b.Helper()
	for range 100 {
		ip := fmt.Sprintf("127.%d.%d.%d", 10+rand.IntN(200), rand.IntN(256), 1+rand.IntN(250))
		ok := true
		for _, p := range []string{"2379", "2380"} {
			l, err := net.Listen("tcp", net.JoinHostPort(ip, p))
			if err != nil {
				ok = false
				break
			}
			l.Close()
		}
		if ok {
			return ip
		}
	}
	b.Fatal("no free loopback address found for etcd")
	return ""
}

func tailFile(path string) string {
	data, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) > 5 {
		lines = lines[len(lines)-5:]
	}
	return strings.Join(lines, "\n")
}
