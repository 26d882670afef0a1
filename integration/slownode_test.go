package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	goruntime "runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
)

// A slow node is not a dead node. These tests make nodes slow in the ways
// a machine is slow (every process of an agent frozen, the leader frozen,
// the CPU saturated) for less than the node grace, and check that no Node
// ever leaves Ready (which would replace its pods) and no acknowledged
// write is lost. The agents run on loopback without containerd, so no
// root is needed.

// slowFreezeFor is how long a frozen agent stays stopped: less than the
// default --node-grace (2.5 s), by more than a refutation takes.
const slowFreezeFor = 2 * time.Second

// slowWatchAfter is how long the Nodes are watched after the slowness ends.
const slowWatchAfter = 5 * time.Second

// TestSlowNodeFrozenFollower stops every process of a follower's agent
// (SIGSTOP to its process group) for 2 s: it stays Ready throughout, and
// serves writes once it runs again.
func TestSlowNodeFrozenFollower(t *testing.T) {
	c := startCluster(t, 3)
	leader := c.leader()
	var target *agent
	for _, a := range c.agents {
		if a != leader {
			target = a
			break
		}
	}
	slowFreezeCheck(t, c, target)
}

// TestSlowNodeFrozenLeader is TestSlowNodeFrozenFollower for the Raft
// leader: the others may elect a new leader, which must not take the old
// one for dead.
func TestSlowNodeFrozenLeader(t *testing.T) {
	c := startCluster(t, 3)
	slowFreezeCheck(t, c, c.leader())
}

// slowFreezeCheck freezes target for slowFreezeFor while another agent
// watches the Nodes and a writer commits through it.
func slowFreezeCheck(t *testing.T, c *cluster, target *agent) {
	var observer *agent
	for _, a := range c.agents {
		if a != target {
			observer = a
			break
		}
	}
	w := slowWatchNodes(t, observer, len(c.agents))
	wr := slowStartWriter(t, observer)
	wr.waitAcked(t, 5)

	slowFreeze(t, target, slowFreezeFor)
	waitFor(t, 30*time.Second, "a write through "+target.name+" after it ran again", func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := target.client().Create(ctx, configMap("after-thaw-"+target.name))
		return err == nil || api.IsConflict(err), fmt.Sprint(err)
	})
	time.Sleep(slowWatchAfter) // the observation window
	acked := wr.stop()
	w.check(t, c)
	slowCheckWrites(t, c, append(acked, "after-thaw-"+target.name))
}

// TestSlowNodeBusyCPU saturates the machine's CPUs with twice as many busy
// processes as there are cores, for 10 s: every agent is starved, and
// still every Node stays Ready and every acknowledged write stays.
func TestSlowNodeBusyCPU(t *testing.T) {
	c := startCluster(t, 3)
	w := slowWatchNodes(t, c.agents[0], len(c.agents))
	wr := slowStartWriter(t, c.agents[1])
	wr.waitAcked(t, 5)

	var busy []*exec.Cmd
	stopBusy := func() {
		for _, b := range busy {
			syscall.Kill(-b.Process.Pid, syscall.SIGKILL)
			b.Wait()
		}
		busy = nil
	}
	t.Cleanup(stopBusy)
	for range goruntime.NumCPU() * 2 {
		b := exec.Command("sh", "-c", "while :; do :; done")
		b.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := b.Start(); err != nil {
			t.Fatalf("start a busy loop: %v", err)
		}
		busy = append(busy, b)
	}
	time.Sleep(10 * time.Second) // the saturation itself
	stopBusy()
	wr.waitAcked(t, len(wr.snapshot())+5) // writes go through again
	time.Sleep(slowWatchAfter)            // the observation window
	acked := wr.stop()
	w.check(t, c)
	slowCheckWrites(t, c, acked)
}

// slowFreeze stops every process of a's agent for d, then lets them run.
// A test that fails meanwhile still resumes them, so they can be killed.
func slowFreeze(t *testing.T, a *agent, d time.Duration) {
	t.Helper()
	pgid := a.cmd.Process.Pid // the agent leads its process group (Setpgid)
	t.Cleanup(func() { syscall.Kill(-pgid, syscall.SIGCONT) })
	if err := syscall.Kill(-pgid, syscall.SIGSTOP); err != nil {
		t.Fatalf("freeze %s: %v", a.name, err)
	}
	time.Sleep(d) // the freeze itself
	if err := syscall.Kill(-pgid, syscall.SIGCONT); err != nil {
		t.Fatalf("resume %s: %v", a.name, err)
	}
}

// slowNodeWatch records every committed version of every Node, as an
// agent's watch stream delivers them, so a Ready condition that left True
// for a moment is seen even if it came back at once.
type slowNodeWatch struct {
	mu       sync.Mutex
	baseline map[string]time.Time // each Node's first Ready=True transition time seen
	bad      []string             // what should not have happened
	events   int
	cancel   context.CancelFunc
	done     chan struct{}
}

// slowWatchNodes watches the Nodes through observer until the test ends,
// and returns once n Nodes are Ready.
func slowWatchNodes(t *testing.T, observer *agent, n int) *slowNodeWatch {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := &slowNodeWatch{baseline: map[string]time.Time{}, cancel: cancel, done: make(chan struct{})}
	go w.run(ctx, observer)
	t.Cleanup(w.stop)
	waitFor(t, 60*time.Second, fmt.Sprintf("%d Ready Nodes", n), func() (bool, string) {
		w.mu.Lock()
		defer w.mu.Unlock()
		if len(w.bad) > 0 {
			return false, strings.Join(w.bad, "; ")
		}
		return len(w.baseline) == n, fmt.Sprintf("%d Ready Nodes seen", len(w.baseline))
	})
	return w
}

// run follows the watch stream, reconnecting from the last index seen
// when it breaks (an agent that answers slowly may drop it).
func (w *slowNodeWatch) run(ctx context.Context, observer *agent) {
	defer close(w.done)
	var from uint64
	for ctx.Err() == nil {
		ch, err := observer.client().Watch(ctx, "Node", "", from)
		if err != nil {
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
			continue
		}
		for ev := range ch {
			if ev.Index > from {
				from = ev.Index
			}
			w.observe(ev)
		}
	}
}

func (w *slowNodeWatch) observe(ev api.WatchEvent) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.events++
	switch ev.Type {
	case "ERROR":
		return // the stream ends; run reconnects
	case "DELETED":
		w.bad = append(w.bad, fmt.Sprintf("a Node was deleted at index %d", ev.Index))
		return
	}
	var n api.Node
	if err := json.Unmarshal(ev.Object, &n); err != nil {
		w.bad = append(w.bad, fmt.Sprintf("unreadable Node at index %d: %v", ev.Index, err))
		return
	}
	var ready *api.NodeCondition
	for i, c := range n.Status.Conditions {
		if c.Type == "Ready" {
			ready = &n.Status.Conditions[i]
		}
	}
	if ready == nil {
		w.bad = append(w.bad, fmt.Sprintf("Node %s at index %d has no Ready condition", n.Name, ev.Index))
		return
	}
	var since time.Time
	if ready.LastTransitionTime != nil {
		since = ready.LastTransitionTime.Time
	}
	base, seen := w.baseline[n.Name]
	switch {
	case ready.Status != "True":
		w.bad = append(w.bad, fmt.Sprintf("Node %s Ready=%s (%s: %s) at index %d", n.Name, ready.Status, ready.Reason, ready.Message, ev.Index))
	case !seen:
		w.baseline[n.Name] = since
	case !since.Equal(base):
		w.bad = append(w.bad, fmt.Sprintf("Node %s Ready again since %s at index %d (Ready since %s before): it left Ready in between",
			n.Name, since.Format(time.Stamp), ev.Index, base.Format(time.Stamp)))
	}
}

func (w *slowNodeWatch) stop() {
	w.cancel()
	<-w.done
}

// check stops the watch and fails the test if any Node left Ready; it
// also reads every Node from every agent, in case the watch missed it.
func (w *slowNodeWatch) check(t *testing.T, c *cluster) {
	t.Helper()
	w.stop()
	w.mu.Lock()
	defer w.mu.Unlock()
	failed := t.Failed()
	for _, b := range w.bad {
		t.Error(b)
	}
	for _, a := range c.agents {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		objs, _, err := a.client().List(ctx, "Node", "", false)
		cancel()
		if err != nil {
			t.Errorf("list Nodes through %s: %v", a.name, err)
			continue
		}
		if len(objs) != len(w.baseline) {
			t.Errorf("%s lists %d Nodes, want %d", a.name, len(objs), len(w.baseline))
		}
		for _, o := range objs {
			n := o.(*api.Node)
			for _, cond := range n.Status.Conditions {
				if cond.Type != "Ready" {
					continue
				}
				var since time.Time
				if cond.LastTransitionTime != nil {
					since = cond.LastTransitionTime.Time
				}
				if cond.Status != "True" || !since.Equal(w.baseline[n.Name]) {
					t.Errorf("%s: Node %s Ready=%s since %s, want True since %s", a.name, n.Name, cond.Status,
						since.Format(time.Stamp), w.baseline[n.Name].Format(time.Stamp))
				}
			}
		}
	}
	if !failed && !t.Failed() {
		t.Logf("watched %d Node events; every Node stayed Ready", w.events)
	}
}

// slowWriter creates ConfigMaps through one agent, one after another,
// and records the ones it was told were committed.
type slowWriter struct {
	mu     sync.Mutex
	acked  []string
	failed int
	stopC  chan struct{}
	done   chan struct{}
}

func slowStartWriter(t *testing.T, through *agent) *slowWriter {
	w := &slowWriter{stopC: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for i := 0; ; i++ {
			select {
			case <-w.stopC:
				return
			case <-time.After(20 * time.Millisecond):
			}
			name := fmt.Sprintf("slow-%s-%d", through.name, i)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			_, err := through.client().Create(ctx, configMap(name))
			cancel()
			w.mu.Lock()
			if err == nil {
				w.acked = append(w.acked, name)
			} else {
				w.failed++ // allowed: not acknowledged, so not promised
			}
			w.mu.Unlock()
		}
	}()
	t.Cleanup(func() { w.stop() })
	return w
}

func (w *slowWriter) snapshot() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.acked...)
}

// waitAcked waits until n writes have been acknowledged in all.
func (w *slowWriter) waitAcked(t *testing.T, n int) {
	t.Helper()
	waitFor(t, 30*time.Second, fmt.Sprintf("%d acknowledged writes", n), func() (bool, string) {
		w.mu.Lock()
		defer w.mu.Unlock()
		return len(w.acked) >= n, fmt.Sprintf("%d acknowledged, %d failed", len(w.acked), w.failed)
	})
}

// stop ends the writer and returns the acknowledged names; it may be
// called more than once.
func (w *slowWriter) stop() []string {
	select {
	case <-w.stopC:
	default:
		close(w.stopC)
	}
	<-w.done
	return w.snapshot()
}

// slowCheckWrites waits until every agent's replica holds every
// acknowledged write.
func slowCheckWrites(t *testing.T, c *cluster, acked []string) {
	t.Helper()
	for _, a := range c.agents {
		waitFor(t, 30*time.Second, a.name+" to hold every acknowledged write", func() (bool, string) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			objs, _, err := a.client().List(ctx, "ConfigMap", "default", false)
			if err != nil {
				return false, err.Error()
			}
			have := map[string]bool{}
			for _, o := range objs {
				have[o.GetObjectMeta().Name] = true
			}
			var missing []string
			for _, n := range acked {
				if !have[n] {
					missing = append(missing, n)
				}
			}
			return len(missing) == 0, fmt.Sprintf("%d of %d missing, such as %v", len(missing), len(acked), missing[:min(len(missing), 5)])
		})
	}
	t.Logf("%d acknowledged writes held by all %d agents", len(acked), len(c.agents))
}
