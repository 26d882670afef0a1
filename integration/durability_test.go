package integration

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Writers keep writing through every node while leaders are killed with
// kill -9 twice over. Every write that was acknowledged is on every node at
// the end.
func TestNoAcknowledgedWriteLostUnderLeaderKills(t *testing.T) {
	c := startCluster(t, 3)
	ctx, stop := context.WithCancel(context.Background())
	var mu sync.Mutex
	var acked []string
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				a := c.agents[(w+i)%len(c.agents)] // may be down: the write then fails
				name := fmt.Sprintf("w%d-%d", w, i)
				wctx, cancel := context.WithTimeout(ctx, 3*time.Second)
				_, err := a.client().Create(wctx, configMap(name))
				cancel()
				if err == nil {
					mu.Lock()
					acked = append(acked, name)
					mu.Unlock()
				}
			}
		}()
	}
	for range 2 {
		time.Sleep(500 * time.Millisecond) // let writes flow before the fault
		l := c.leader()
		l.kill9()
		c.leader() // a new one
		l.start()
		c.waitVoters(3)
	}
	stop()
	wg.Wait()
	if len(acked) == 0 {
		t.Fatal("no write was acknowledged")
	}
	for _, a := range c.agents {
		waitFor(t, 20*time.Second, a.name+" to hold all "+fmt.Sprint(len(acked))+" acknowledged writes", func() (bool, string) {
			objs, _, err := a.client().List(context.Background(), "ConfigMap", "default", false)
			if err != nil {
				return false, err.Error()
			}
			have := map[string]bool{}
			for _, o := range objs {
				have[o.GetObjectMeta().Name] = true
			}
			for _, n := range acked {
				if !have[n] {
					return false, "missing " + n
				}
			}
			return true, ""
		})
	}
	t.Logf("%d acknowledged writes survived two leader kills", len(acked))
}

// SIGTERM stops an agent cleanly without leaving the cluster; it comes
// back as the same voter.
func TestSIGTERMIsAGracefulStop(t *testing.T) {
	c := startCluster(t, 3)
	a := c.agents[2]
	a.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- a.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("agent exited with %v after SIGTERM\n%s", err, a.tail())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("agent did not exit within 15s of SIGTERM")
	}
	a.cmd = nil
	st, err := status(c.agents[0])
	if err != nil || len(st.Voters) != 3 {
		t.Fatalf("after SIGTERM of one voter: %v voters, err %v (a stop must not change membership)", st, err)
	}
	a.start()
	c.waitVoters(3)
}

func TestCLI(t *testing.T) {
	c := startCluster(t, 1)
	run := func(args ...string) (string, error) {
		out, err := exec.Command(shoalBin, append(args, "--server", c.agents[0].url(), "--config", c.agents[0].adminConf)...).CombinedOutput()
		return string(out), err
	}
	out, err := run("members")
	if err != nil || !strings.Contains(out, "NAME") || !strings.Contains(out, "n1") || !strings.Contains(out, "leader") {
		t.Fatalf("shoal members: %v\n%s", err, out)
	}
	out, err = run("status", "-o", "json")
	if err != nil || !strings.Contains(out, `"commitIndex"`) {
		t.Fatalf("shoal status -o json: %v\n%s", err, out)
	}
	out, err = run("status", "-o", "yaml")
	if err != nil || !strings.Contains(out, "commitIndex:") {
		t.Fatalf("shoal status -o yaml: %v\n%s", err, out)
	}
	if out, err = run("members", "-o", "xml"); err == nil || !strings.Contains(out, "xml") {
		t.Fatalf("bad -o accepted: %s", out)
	}
	b, err := exec.Command(shoalBin, "members", "--server", "https://127.0.0.1:1", "--config", c.agents[0].adminConf).CombinedOutput()
	if err == nil || !strings.Contains(string(b), "cannot reach") {
		t.Fatalf("unreachable server: %v\n%s", err, b)
	}
	out2, err := exec.Command(shoalBin, "version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out2), "shoal ") {
		t.Fatalf("shoal version: %v %s", err, out2)
	}
}
