package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/api"
)

const chaosWorkload = `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"chaos-web","namespace":"default"},
"spec":{"replicas":6,"selector":{"matchLabels":{"app":"chaos-web"}},"template":{"metadata":{"labels":{"app":"chaos-web"}},
"spec":{"terminationGracePeriodSeconds":1,"containers":[{"name":"web","image":"shoal.test/busybox:1",
"command":["sh","-c","echo ok > /tmp/ok; exec httpd -f -p 8080 -h /tmp"],
"readinessProbe":{"httpGet":{"path":"/ok","port":8080},"periodSeconds":1}}]}}}}`

// chaosResult is one injected fault and what followed.
type chaosResult struct {
	at        time.Duration
	fault     string
	recovered time.Duration // from the fault's end until the workload was whole and writes worked again
	broken    string        // an invariant that did not hold, if any
}

func newDevChaosCmd(dir *string) *cobra.Command {
	var duration time.Duration
	var seed uint64
	cmd := &cobra.Command{
		Use:   "chaos",
		Short: "Inject random faults into the dev cluster under a running workload and check that nothing is lost",
		Long: `chaos deploys a workload (a Deployment of 6), then for --duration injects
one fault at a time, chosen by --seed: a host killed and restarted, an agent
stopped and started, a minority cut off and healed, a host frozen. After
each it measures the time until the workload is whole again (6 replicas
Running and Ready) and writes succeed, and it checks that every write the
cluster acknowledged is still there. It prints a report and exits 1 if an
invariant broke.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := loadDev(*dir)
			if err != nil {
				return err
			}
			if seed == 0 {
				seed = uint64(time.Now().UnixNano())
			}
			return c.chaos(cmd.Context(), cmd.OutOrStdout(), duration, seed)
		},
	}
	cmd.Flags().DurationVar(&duration, "duration", 60*time.Second, "how long to keep injecting faults")
	cmd.Flags().Uint64Var(&seed, "seed", 0, "seed of the fault schedule (default: from the clock; printed so a run can be repeated)")
	return cmd
}

func (c *devCluster) chaos(ctx context.Context, out io.Writer, duration time.Duration, seed uint64) error {
	rng := rand.New(rand.NewPCG(seed, seed^0x5eed))
	fmt.Fprintf(out, "chaos: %d hosts, %s, seed %d\n", len(c.Hosts), duration, seed)
	anyClient := func() *api.Client {
		for _, i := range rng.Perm(len(c.Hosts)) {
			if c.Hosts[i].PID > 0 {
				if cl, err := c.adminClient(c.Hosts[i]); err == nil {
					return cl
				}
			}
		}
		return nil
	}
	cl := anyClient()
	if cl == nil {
		return fmt.Errorf("no host of the dev cluster is running: `shoal dev start NODE` or `shoal dev up`")
	}
	obj, err := api.DecodeJSON("Deployment", []byte(chaosWorkload))
	if err != nil {
		return err
	}
	if _, err := cl.Create(ctx, obj); err != nil && !api.IsConflict(err) {
		return fmt.Errorf("deploy the chaos workload: %w", err)
	}
	var acked []string
	write := func(tag string) error {
		cl := anyClient()
		if cl == nil {
			return fmt.Errorf("no host is running")
		}
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		name := "chaos-" + tag
		cm := &api.ConfigMap{TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}, Data: map[string]string{"at": time.Now().UTC().Format(time.RFC3339Nano)}}
		cm.Name, cm.Namespace = name, "default"
		if _, err := cl.Create(wctx, cm); err != nil && !api.IsConflict(err) {
			return err
		}
		acked = append(acked, name)
		return nil
	}
	whole := func() (bool, string) {
		cl := anyClient()
		if cl == nil {
			return false, "no host is running"
		}
		rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		objs, _, err := cl.ListWith(rctx, "Pod", "default", api.ListOptions{LabelSelector: "app=chaos-web"})
		if err != nil {
			return false, err.Error()
		}
		ready := 0
		for _, o := range objs {
			p := o.(*api.Pod)
			for _, cond := range p.Status.Conditions {
				if p.Status.Phase == api.PodRunning && cond.Type == api.PodReady && cond.Status == api.ConditionTrue {
					ready++
				}
			}
		}
		return ready == 6, fmt.Sprintf("%d of 6 replicas ready", ready)
	}
	recover := func(start time.Time, limit time.Duration, tag string) (time.Duration, string) {
		deadline := start.Add(limit)
		for n := 0; time.Now().Before(deadline); n++ {
			ok, seen := whole()
			if ok && write(tag+"-after-"+strconv.Itoa(n)) == nil {
				return time.Since(start), ""
			}
			_ = seen
			time.Sleep(250 * time.Millisecond)
		}
		_, seen := whole()
		return time.Since(start), "not whole after " + limit.String() + ": " + seen
	}

	if d, broken := recover(time.Now(), 2*time.Minute, "start"); broken != "" {
		return fmt.Errorf("the workload never became whole before any fault (%s): %s", d.Round(time.Millisecond), broken)
	}
	begin := time.Now()
	var results []chaosResult
	for i := 0; time.Since(begin) < duration; i++ {
		h := &c.Hosts[rng.IntN(len(c.Hosts))]
		var fault string
		start := time.Now()
		switch rng.IntN(4) {
		case 0:
			fault = "kill " + h.Name
			if _, err := c.powerCut(h); err != nil {
				return err
			}
			time.Sleep(time.Duration(2+rng.IntN(8)) * time.Second)
			if err := c.startHost(h); err != nil {
				return err
			}
		case 1:
			fault = "restart agent " + h.Name
			syscall.Kill(h.PID, syscall.SIGTERM)
			for j := 0; j < 300 && syscall.Kill(h.PID, 0) == nil; j++ {
				time.Sleep(100 * time.Millisecond)
			}
			if err := c.startHost(h); err != nil {
				return err
			}
		case 2:
			fault = "partition " + h.Name
			if err := c.partition(io.Discard, []string{h.Name}); err != nil {
				return err
			}
			time.Sleep(time.Duration(3+rng.IntN(10)) * time.Second)
			if err := c.heal(io.Discard); err != nil {
				return err
			}
		case 3:
			d := 1 + rng.IntN(6)
			fault = fmt.Sprintf("pause %s %ds", h.Name, d)
			dh := c.network().Host(h.Index)
			if err := dh.Freeze(); err != nil {
				return err
			}
			time.Sleep(time.Duration(d) * time.Second)
			if err := dh.Thaw(); err != nil {
				return err
			}
		}
		c.save()
		took, broken := recover(time.Now(), 2*time.Minute, strconv.Itoa(i))
		results = append(results, chaosResult{at: start.Sub(begin), fault: fault, recovered: took, broken: broken})
		fmt.Fprintf(out, "%6s  %-28s recovered %s after it ended %s\n", start.Sub(begin).Round(time.Second), fault, took.Round(time.Millisecond), broken)
	}

	// Nothing acknowledged may be missing.
	// A consistent read, through the leader: a node that was just cut off
	// may not have caught up yet, and that is not a loss.
	var lost []string
	var have map[string]bool
	for attempt := 0; have == nil && attempt < 20; attempt++ {
		if cl := anyClient(); cl != nil {
			rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			objs, _, err := cl.ListWith(rctx, "ConfigMap", "default", api.ListOptions{Consistent: true})
			cancel()
			if err == nil {
				have = map[string]bool{}
				for _, o := range objs {
					have[o.GetObjectMeta().Name] = true
				}
				break
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	if have == nil {
		return fmt.Errorf("could not read the acknowledged writes back: no leader answered")
	}
	for _, name := range acked {
		if !have[name] {
			lost = append(lost, name)
		}
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "\nFAULT\tAT\tRECOVERED AFTER\tINVARIANT\n")
	failed := len(lost) > 0
	for _, r := range results {
		inv := "ok"
		if r.broken != "" {
			inv, failed = r.broken, true
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.fault, r.at.Round(time.Second), r.recovered.Round(time.Millisecond), inv)
	}
	tw.Flush()
	fmt.Fprintf(out, "\n%d faults; %d acknowledged writes, %d lost", len(results), len(acked), len(lost))
	if len(lost) > 0 {
		fmt.Fprintf(out, ": %s", strings.Join(lost, ", "))
	}
	fmt.Fprintf(out, "\nrepeat with: shoal dev chaos --duration %s --seed %d\n", duration, seed)
	if failed {
		return fmt.Errorf("an invariant broke")
	}
	return nil
}
