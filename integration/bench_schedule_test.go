package integration

// BenchmarkScaleDeployment measures scheduling through Raft: three voters
// on loopback (agents run no pods: --containerd off, so pods stay bound
// but Pending), a Deployment of replicas 0 scaled to SHOAL_BENCH_REPLICAS
// (default 10,000), timed until every pod has spec.nodeName. It runs only
// with -bench, as the other benchmarks here; see BENCHMARKS.md for the
// recorded numbers. Run with -benchtime=1x (each iteration scales one
// Deployment up, then, untimed, back to 0).
//
// The pods request nothing, so only the pods capacity bounds them: the
// agents run with --max-pods large enough for all of them on three nodes
// (110 each would hold 330).
//
// Each iteration also reads the live heap (after a GC) of the leader and a
// follower before and after the scale-up: the memory 10,000 stored pods
// cost, with the Scheduled event of each.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
)

func BenchmarkScaleDeployment(b *testing.B) {
	replicas := 10000
	if v := os.Getenv("SHOAL_BENCH_REPLICAS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			b.Fatalf("SHOAL_BENCH_REPLICAS=%q is not a positive number", v)
		}
		replicas = n
	}
	timeout := envDuration(b, "SHOAL_BENCH_SCALE_TIMEOUT", 10*time.Minute)
	maxPods := replicas/3 + 1000
	c := startCluster(b, 3, append(benchAgentFlags(b), "--max-pods", strconv.Itoa(maxPods))...)
	keepLogs(b, c)
	leader := c.leader()
	var follower *agent
	for _, a := range c.agents {
		if a != leader {
			follower = a
			break
		}
	}
	cl := benchAPIClient(leader)
	waitFor(b, time.Minute, fmt.Sprintf("3 Ready nodes that take %d pods each", maxPods), func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		objs, _, err := cl.List(ctx, "Node", "", false)
		if err != nil {
			return false, err.Error()
		}
		ok := 0
		for _, o := range objs {
			n := o.(*api.Node)
			if n.Status.Capacity["pods"].Value() == int64(maxPods) && len(n.Status.Conditions) > 0 && n.Status.Conditions[0].Status == "True" {
				ok++
			}
		}
		return ok == 3, fmt.Sprintf("%d of %d nodes", ok, len(objs))
	})

	var created, bound []time.Duration
	var heapPer10k [][2]float64
	iter := 0
	for b.Loop() {
		b.StopTimer()
		iter++
		name := fmt.Sprintf("bench-%d", iter)
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		if _, err := cl.Create(ctx, benchDeployment(name, 0)); err != nil {
			b.Fatalf("create deployment %s: %v", name, err)
		}
		w := watchBinding(ctx, b, benchAPIClient(follower), name)
		heap0 := [2]float64{liveHeapMB(b, cl), liveHeapMB(b, benchAPIClient(follower))}
		procs := agentPIDs(c, leader)
		cpu0 := cpuTimes(procs)

		profiled := profileCPU(b, cl, fmt.Sprintf("%s.leader.%d", os.Getenv("SHOAL_BENCH_CPUPROFILE"), iter))
		profiledFollower := profileCPU(b, benchAPIClient(follower), fmt.Sprintf("%s.follower.%d", os.Getenv("SHOAL_BENCH_CPUPROFILE"), iter))
		b.StartTimer()
		t0 := time.Now()
		scaleDeployment(ctx, b, cl, name, int32(replicas))
		allCreated, allBound := w.wait(ctx, b, t0, replicas)
		b.StopTimer()
		<-profiled
		<-profiledFollower

		cpu1 := cpuTimes(procs)
		created, bound = append(created, allCreated), append(bound, allBound)
		b.Logf("iteration %d: %d pods created after %.2fs, all bound after %.2fs (%.0f pods/s); CPU seconds meanwhile: leader %.1f, followers %.1f",
			iter, replicas, allCreated.Seconds(), allBound.Seconds(), float64(replicas)/allBound.Seconds(),
			cpu1["leader"]-cpu0["leader"], sumExcept(cpu1, "leader")-sumExcept(cpu0, "leader"))
		heap1 := [2]float64{liveHeapMB(b, cl), liveHeapMB(b, benchAPIClient(follower))}
		perPod := func(i int) float64 { return (heap1[i] - heap0[i]) * 10000 / float64(replicas) }
		b.Logf("iteration %d: live heap (after a GC) leader %.1f → %.1f MB, follower %.1f → %.1f MB: %.1f and %.1f MB per 10,000 pods (with their events)",
			iter, heap0[0], heap1[0], heap0[1], heap1[1], perPod(0), perPod(1))
		heapPer10k = append(heapPer10k, [2]float64{perPod(0), perPod(1)})
		// Back to 0, untimed, so that the next iteration finds room.
		scaleDeployment(ctx, b, cl, name, 0)
		w.waitGone(ctx, b, cl, name)
		cancel()
		b.StartTimer()
	}
	var sumBound, sumCreated time.Duration
	for i := range bound {
		sumBound += bound[i]
		sumCreated += created[i]
	}
	n := time.Duration(len(bound))
	b.ReportMetric(0, "ns/op")
	b.ReportMetric((sumBound / n).Seconds(), "bound-s")
	b.ReportMetric((sumCreated / n).Seconds(), "created-s")
	b.ReportMetric(float64(replicas)/(sumBound/n).Seconds(), "pods/s")
	var lh, fh float64
	for _, h := range heapPer10k {
		lh, fh = lh+h[0], fh+h[1]
	}
	b.ReportMetric(lh/float64(len(heapPer10k)), "leader-heap-MB/10k-pods")
	b.ReportMetric(fh/float64(len(heapPer10k)), "follower-heap-MB/10k-pods")
	logAgentMetrics(b, leader)
}

// profileCPU, when SHOAL_BENCH_CPUPROFILE names a file prefix (the callers
// add suffixes), saves a CPU profile of the agent behind cl
// (SHOAL_BENCH_CPUPROFILE_SECONDS, 4 by default) to path, and closes the
// channel it returns when done.
func profileCPU(b *testing.B, cl *api.Client, path string) <-chan struct{} {
	done := make(chan struct{})
	if os.Getenv("SHOAL_BENCH_CPUPROFILE") == "" {
		close(done)
		return done
	}
	secs := os.Getenv("SHOAL_BENCH_CPUPROFILE_SECONDS")
	if secs == "" {
		secs = "4"
	}
	go func() {
		defer close(done)
		saveProfile(b, cl, "profile?seconds="+secs, path)
	}()
	return done
}

// liveHeapMB is the agent's live heap after a garbage collection, in MB
// (10^6 bytes): HeapAlloc of /debug/pprof/heap?gc=1, which collects first.
func liveHeapMB(b *testing.B, cl *api.Client) float64 {
	b.Helper()
	resp, err := cl.HTTP.Get(cl.Base + "/debug/pprof/heap?debug=1&gc=1")
	if err != nil {
		b.Fatalf("heap profile: %v", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		b.Fatalf("heap profile: %s %v: %s", resp.Status, err, data)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "# HeapAlloc = "); ok {
			n, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				b.Fatalf("heap profile: HeapAlloc %q: %v", v, err)
			}
			return n / 1e6
		}
	}
	b.Fatal("heap profile: no HeapAlloc line")
	return 0
}

// saveProfile saves the agent's /debug/pprof/<what> to path; a failure is
// logged, not fatal.
func saveProfile(b *testing.B, cl *api.Client, what, path string) {
	resp, err := cl.HTTP.Get(cl.Base + "/debug/pprof/" + what)
	if err != nil {
		b.Logf("profile %s: %v", what, err)
		return
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("%s: %s", resp.Status, data)
	}
	if err == nil {
		err = os.WriteFile(path, data, 0o644)
	}
	if err != nil {
		b.Logf("profile %s: %v", what, err)
		return
	}
	b.Logf("profile %s of %s in %s", what, cl.Base, path)
}

func sumExcept(m map[string]float64, skip string) float64 {
	s := 0.0
	for k, v := range m {
		if k != skip {
			s += v
		}
	}
	return s
}

// benchDeployment is a Deployment of one container that requests nothing.
func benchDeployment(name string, replicas int32) *api.Deployment {
	labels := map[string]string{"app": name}
	return &api.Deployment{
		TypeMeta:   api.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default"},
		Spec: api.DeploymentSpec{
			Replicas: &replicas,
			Selector: &api.LabelSelector{MatchLabels: labels},
			Template: api.PodTemplateSpec{
				ObjectMeta: api.ObjectMeta{Labels: labels},
				Spec:       api.PodSpec{Containers: []api.Container{{Name: "c", Image: "shoal.test/busybox:1", Command: []string{"sleep", "3600"}}}},
			},
		},
	}
}

// scaleDeployment sets the Deployment's replicas (a compare-and-set,
// retried on conflict).
func scaleDeployment(ctx context.Context, b *testing.B, cl *api.Client, name string, replicas int32) {
	for {
		obj, err := cl.Get(ctx, "Deployment", "default", name)
		if err != nil {
			b.Fatalf("get deployment %s: %v", name, err)
		}
		d := obj.(*api.Deployment)
		d.Spec.Replicas = &replicas
		if _, err = cl.Update(ctx, d); err == nil {
			return
		}
		if !api.IsConflict(err) {
			b.Fatalf("scale deployment %s to %d: %v", name, replicas, err)
		}
	}
}

// bindWatcher follows one Deployment's pods through a watch: when each
// appeared and when each got a node.
type bindWatcher struct {
	mu      sync.Mutex
	pods    map[string]bool // name: bound
	ended   bool            // the watch stream ended
	changed chan struct{}
}

func watchBinding(ctx context.Context, b *testing.B, cl *api.Client, app string) *bindWatcher {
	ch, err := cl.WatchWith(ctx, "Pod", "default", 0, api.ListOptions{LabelSelector: "app=" + app})
	if err != nil {
		b.Fatalf("watch pods: %v", err)
	}
	w := &bindWatcher{pods: map[string]bool{}, changed: make(chan struct{}, 1)}
	go func() {
		for ev := range ch {
			var p struct {
				Metadata struct{ Name string } `json:"metadata"`
				Spec     struct {
					NodeName string `json:"nodeName"`
				} `json:"spec"`
			}
			if ev.Type == "ERROR" || json.Unmarshal(ev.Object, &p) != nil {
				continue
			}
			w.mu.Lock()
			if ev.Type == "DELETED" {
				delete(w.pods, p.Metadata.Name)
			} else {
				w.pods[p.Metadata.Name] = w.pods[p.Metadata.Name] || p.Spec.NodeName != ""
			}
			w.mu.Unlock()
			select {
			case w.changed <- struct{}{}:
			default:
			}
		}
		w.mu.Lock()
		w.ended = true
		w.mu.Unlock()
		select {
		case w.changed <- struct{}{}:
		default:
		}
	}()
	return w
}

// wait returns how long after t0 there were n pods, and all n bound.
func (w *bindWatcher) wait(ctx context.Context, b *testing.B, t0 time.Time, n int) (created, bound time.Duration) {
	for {
		w.mu.Lock()
		nb := 0
		for _, ok := range w.pods {
			if ok {
				nb++
			}
		}
		total, ended := len(w.pods), w.ended
		w.mu.Unlock()
		if ended {
			b.Fatalf("the pod watch ended after %s: %d pods, %d of them bound", time.Since(t0).Round(time.Millisecond), total, nb)
		}
		now := time.Now()
		if total >= n && created == 0 {
			created = now.Sub(t0)
		}
		if nb >= n {
			return created, now.Sub(t0)
		}
		select {
		case <-w.changed:
		case <-ctx.Done():
			b.Fatalf("after %s: %d pods, %d of them bound, want %d bound", time.Since(t0).Round(time.Millisecond), total, nb, n)
		}
	}
}

// waitGone waits until the Deployment has no pods left, asking the API:
// a watch that falls too far behind is ended by the server, and scaling
// 10,000 pods down is one command.
func (w *bindWatcher) waitGone(ctx context.Context, b *testing.B, cl *api.Client, app string) {
	for {
		objs, _, err := cl.ListWith(ctx, "Pod", "default", api.ListOptions{LabelSelector: "app=" + app})
		if err == nil && len(objs) == 0 {
			return
		}
		select {
		case <-time.After(500 * time.Millisecond):
		case <-ctx.Done():
			b.Fatalf("%d pods still there after scaling to 0 (%v)", len(objs), err)
		}
	}
}
