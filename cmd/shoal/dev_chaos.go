package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/node"
)

// chaosOptions are the flags of `shoal dev chaos`.
type chaosOptions struct {
	duration      time.Duration
	seed          uint64
	writeRate     int
	faultLimit    time.Duration // how long a kill or a partition lasts at most
	convergeLimit time.Duration // how long to wait for the cluster to be whole after a fault
	checkTimeout  time.Duration // porcupine's time limit
	clientHost    string
	down          bool
}

func newDevChaosCmd(dir *string) *cobra.Command {
	var o chaosOptions
	cmd := &cobra.Command{
		Use:   "chaos",
		Short: "Break the dev cluster at random under a workload and a client, and report what the client and the data saw",
		Long: `chaos deploys a workload (the Deployment chaos-web, 6 replicas with a
readiness probe, behind the Service chaos-web, port 80 to 8080) and a client
pod, chaos-client, pinned to one host (--client-host, default one chosen by
--seed), that calls the Service by name five times a second and logs one
line per request (` + "`shoal logs chaos-client`" + ` shows them). Then, for --duration,
it injects one fault at a time, chosen by --seed, never on the client's host:

  kill        a power cut of a host: every process dies at once and its link
              goes down; the host stays off until the others have recovered
              (or --fault-limit passes), then boots
  restart     the agent of a host stopped (SIGTERM) and started again
  partition   a minority of the hosts cut off from the rest until the rest
              have recovered (or --fault-limit passes), then healed
  freeze      every process of a host frozen for 1 to 6 s, then thawed

Nothing moves replicas back after a fault, so before each one the replicas
are spread over the hosts again, one at a time (a replica on the fullest
host is deleted and its replacement lands on an emptier one): every fault
hits hosts that run some of the workload.

All along, a write workload sends --write-rate writes a second, each through
a host picked at random among those that are up: blind writes and
compare-and-sets of a few ConfigMaps used as registers (with consistent
reads), and creates of new ConfigMaps.

For each fault it reports:
  recovery during   for a kill and a partition, the time from the fault's
                    start until the workload is whole on the other hosts
                    (6 replicas Running and Ready, none on the faulted
                    hosts), a write through one of them succeeds, and their
                    DNS servers (<host IP>:53) no longer answer
                    chaos-web.default.svc.cluster.local with the faulted
                    hosts' pods
  convergence after the time from the fault's end until the workload is
                    whole, a write succeeds, every node is Ready again and
                    every host's DNS answers exactly the Ready pods
  client failed     the client's failed requests, of all it made, from the
                    fault's start to its convergence, by cause (timeout,
                    dns, refused, ...), as read back from its log

At the end porcupine checks that the register history is linearizable
(writes that timed out or failed after they were sent count as of unknown
outcome), every acknowledged create is read back, and, with --down, the
cluster is removed and checked to leave no process, mount, namespace or link
behind.

It prints a table, or one JSON object with -o json (progress goes to
stderr), and exits 1 if an invariant broke: an acknowledged write lost, a
history that is not linearizable, a workload never whole again after a
fault, a kill the others did not recover from while it lasted, or leftovers
after --down. The workload and the client stay deployed afterwards (shoal dev
down removes them); a new run replaces the client, so its log is the run's.`,
		Example: `  shoal dev chaos --duration 60s
  shoal dev chaos --duration 30s --seed 7 -o json --down`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			output, _ := cmd.Flags().GetString("output")
			if output != "" && output != "json" {
				return fmt.Errorf("-o %q: shoal dev chaos prints a table, or JSON with -o json", output)
			}
			switch {
			case o.duration <= 0:
				return fmt.Errorf("--duration %s: give a positive duration, such as 60s", o.duration)
			case o.writeRate < 1 || o.writeRate > 1000:
				return fmt.Errorf("--write-rate %d: give 1 to 1000 writes a second", o.writeRate)
			case o.faultLimit < 5*time.Second:
				return fmt.Errorf("--fault-limit %s: give at least 5s, or no kill can be recovered from while it lasts", o.faultLimit)
			case o.convergeLimit < 10*time.Second:
				return fmt.Errorf("--converge-limit %s: give at least 10s", o.convergeLimit)
			case o.checkTimeout <= 0:
				return fmt.Errorf("--check-timeout %s: give a positive duration, such as 2m", o.checkTimeout)
			}
			c, err := loadDev(*dir)
			if err != nil {
				return err
			}
			if o.seed == 0 {
				o.seed = uint64(time.Now().UnixNano())
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			rep, err := c.chaos(ctx, cmd.ErrOrStderr(), o)
			stop()
			if rep != nil {
				if output == "json" {
					if perr := rep.writeJSON(cmd.OutOrStdout()); perr != nil {
						return perr
					}
				} else {
					rep.writeTable(cmd.OutOrStdout())
				}
			}
			if err != nil {
				return err
			}
			if len(rep.Broken) > 0 {
				return fmt.Errorf("%d invariant(s) broke (see the report): %s", len(rep.Broken), strings.Join(rep.Broken, "; "))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.DurationVar(&o.duration, "duration", 60*time.Second, "how long to keep injecting faults (the last one runs to its end)")
	f.Uint64Var(&o.seed, "seed", 0, "seed of the fault schedule and the client's host (default: from the clock; the report prints it so a run can be repeated)")
	f.IntVar(&o.writeRate, "write-rate", 60, "writes a second, each through a random host that is up")
	f.DurationVar(&o.faultLimit, "fault-limit", 30*time.Second, "the longest a kill or a partition lasts when the others do not recover from it")
	f.DurationVar(&o.convergeLimit, "converge-limit", 2*time.Minute, "how long the cluster may take to be whole again after a fault before it counts as broken")
	f.DurationVar(&o.checkTimeout, "check-timeout", 2*time.Minute, "how long porcupine may take to decide whether the history is linearizable (undecided counts as broken)")
	f.StringVar(&o.clientHost, "client-host", "", "the host of the client pod, never faulted (default: chosen by --seed)")
	f.BoolVar(&o.down, "down", false, "remove the dev cluster at the end (shoal dev down) and check that nothing is left behind")
	return cmd
}

// chaosRun is one run of `shoal dev chaos`.
type chaosRun struct {
	c          *devCluster
	o          chaosOptions
	log        io.Writer // progress
	rng        *rand.Rand
	hosts      *hostSet
	writes     *writeLoad
	clientHost string
	prefix     string // names this run's objects
}

// faultWindow is when a fault's client requests count: from its start to
// its convergence.
type faultWindow struct{ from, to time.Time }

// chaos runs the faults and the checks and returns the report. An error is
// a run that could not go on (a host that would not come back, say); the
// report then holds what was seen until then.
func (c *devCluster) chaos(ctx context.Context, log io.Writer, o chaosOptions) (*chaosReport, error) {
	r, err := c.newChaosRun(log, o)
	if err != nil {
		return nil, err
	}
	rep := &chaosReport{Seed: o.seed, Duration: seconds(o.duration), Hosts: r.hosts.names, ClientHost: r.clientHost, WriteRate: o.writeRate,
		Client: clientReport{Pod: chaosClient, Host: r.clientHost, Target: chaosTarget}}
	fmt.Fprintf(log, "chaos: %d hosts, seed %d; deploying %s (%d replicas), Service %s and the client %s on %s\n",
		len(c.Hosts), o.seed, chaosApp, chaosReplicas, chaosApp, chaosClient, r.clientHost)
	clientSince, err := r.deploy(ctx)
	if err != nil {
		return nil, err
	}
	if err := r.writes.setup(ctx); err != nil {
		return nil, err
	}
	if res := r.waitWhole(ctx, time.Now(), 3*time.Minute, r.settled()); !res.ok {
		return nil, fmt.Errorf("the workload never became whole before any fault (after %s, still: %s); see `shoal get pods -o wide` and the agents' logs in %s",
			res.took.Round(time.Second), res.waiting, c.Dir)
	}
	if err := r.waitClient(ctx, clientSince); err != nil {
		return nil, err
	}
	fmt.Fprintf(log, "chaos: workload whole, the client reaches %s; faults for %s, %d writes/s\n", chaosApp, o.duration, o.writeRate)

	wctx, wstop := context.WithCancel(context.Background())
	wdone := make(chan struct{})
	r.writes.start = time.Now()
	go func() { r.writes.run(wctx, o.writeRate, o.seed); close(wdone) }()
	begin := time.Now()
	var windows []faultWindow
	var runErr error
	for time.Since(begin) < o.duration && ctx.Err() == nil {
		f, w, err := r.fault(ctx, begin)
		if err != nil {
			runErr = err
			break
		}
		rep.Faults = append(rep.Faults, f)
		windows = append(windows, w)
		fmt.Fprintln(log, progressLine(f))
		if f.Convergence == nil {
			rep.StoppedEarly = fmt.Sprintf("after fault %d (%s) the cluster did not converge, so later faults would only measure a broken cluster", len(rep.Faults), f.name())
			fmt.Fprintln(log, "chaos: stopping: "+rep.StoppedEarly)
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
	end := time.Now()
	rep.Ran = seconds(end.Sub(begin))
	if ctx.Err() != nil && runErr == nil {
		fmt.Fprintln(log, "chaos: interrupted; the faults are undone, checking what was written")
	}
	wstop()
	<-wdone
	r.finish(rep, begin, end, windows)
	if runErr != nil {
		rep.Broken = append(rep.Broken, "the run stopped early: "+runErr.Error())
	}
	rep.OK = len(rep.Broken) == 0
	return rep, nil
}

// newChaosRun checks that the cluster is fit for a run and sets it up.
func (c *devCluster) newChaosRun(log io.Writer, o chaosOptions) (*chaosRun, error) {
	if len(c.Hosts) < 3 {
		return nil, fmt.Errorf("chaos needs at least 3 hosts (the client's, and a majority that outlives a fault); this dev cluster has %d: shoal dev up --nodes 3 --dir %s", len(c.Hosts), c.Dir)
	}
	if len(c.Cut) > 0 {
		return nil, fmt.Errorf("hosts %s are cut off from the rest: shoal dev heal --dir %s first", strings.Join(c.Cut, ","), c.Dir)
	}
	hs := &hostSet{ips: map[string]string{}, clients: map[string]*api.Client{}, down: map[string]bool{}}
	for _, h := range c.Hosts {
		switch {
		case h.Off:
			return nil, fmt.Errorf("host %s is powered off: shoal dev start %s --dir %s first", h.Name, h.Name, c.Dir)
		case h.PID <= 0 || syscall.Kill(h.PID, 0) != nil:
			return nil, fmt.Errorf("the agent of host %s is not running: shoal dev start %s --dir %s first", h.Name, h.Name, c.Dir)
		}
		// A run cut short while a host was frozen leaves it frozen.
		if err := c.network().Host(h.Index).Thaw(); err != nil {
			return nil, err
		}
		cl, err := c.adminClient(h)
		if err != nil {
			return nil, fmt.Errorf("host %s: %w", h.Name, err)
		}
		hs.names = append(hs.names, h.Name)
		hs.ips[h.Name], hs.clients[h.Name] = h.IP, cl
	}
	r := &chaosRun{c: c, o: o, log: log, rng: rand.New(rand.NewPCG(o.seed, o.seed^0x5eed)), hosts: hs,
		prefix: "chaos-" + strconv.FormatInt(time.Now().Unix(), 36)}
	r.clientHost = o.clientHost
	if r.clientHost == "" {
		r.clientHost = hs.names[r.rng.IntN(len(hs.names))]
	} else if !contains(hs.names, r.clientHost) {
		return nil, fmt.Errorf("--client-host %q: no such host (hosts: %s)", r.clientHost, strings.Join(hs.names, ", "))
	}
	r.writes = newWriteLoad(hs, r.prefix, 8)
	return r, nil
}

// deploy applies the workload and its Service, and replaces the client
// pod, so that its log is this run's. It returns when the client was
// created.
func (r *chaosRun) deploy(ctx context.Context) (time.Time, error) {
	cl := r.hosts.client(r.clientHost)
	req := node.ApplyRequest{}
	for _, m := range []struct{ kind, doc string }{{"Deployment", chaosDeployment}, {"Service", chaosService}} {
		obj, err := api.DecodeJSON(m.kind, []byte(m.doc))
		if err != nil {
			return time.Time{}, err
		}
		api.SetDefaults(obj)
		b, err := json.Marshal(obj)
		if err != nil {
			return time.Time{}, err
		}
		req.Items = append(req.Items, b)
	}
	var results []node.ApplyResult
	if _, err := cl.Do(ctx, http.MethodPost, "/v1/apply", req, &results); err != nil {
		return time.Time{}, fmt.Errorf("deploy the workload %s: %w", chaosApp, err)
	}
	if err := cl.Delete(ctx, "Pod", "default", chaosClient); err != nil && !api.IsNotFound(err) {
		return time.Time{}, fmt.Errorf("replace the client pod %s: %w", chaosClient, err)
	}
	for deadline := time.Now().Add(time.Minute); ; {
		_, err := cl.Get(ctx, "Pod", "default", chaosClient)
		if api.IsNotFound(err) {
			break
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("the old client pod %s is still there after a minute (%v): delete it with shoal delete pod %s", chaosClient, err, chaosClient)
		}
		time.Sleep(200 * time.Millisecond)
	}
	pod, err := chaosClientPod(r.clientHost)
	if err != nil {
		return time.Time{}, err
	}
	obj, err := api.DecodeJSON("Pod", pod)
	if err != nil {
		return time.Time{}, err
	}
	created := time.Now()
	if _, err := cl.Create(ctx, obj); err != nil {
		return time.Time{}, fmt.Errorf("create the client pod %s on %s: %w", chaosClient, r.clientHost, err)
	}
	return created, nil
}

// waitClient waits until the client has reached the Service once.
func (r *chaosRun) waitClient(ctx context.Context, since time.Time) error {
	var last string
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); {
		reqs, _, err := r.readClientLog(ctx)
		if err != nil {
			last = err.Error()
		} else {
			for _, q := range reqs {
				if q.OK && !q.Start.Before(since) {
					return nil
				}
			}
			if n := len(reqs); n > 0 {
				last = fmt.Sprintf("its last request failed: %s", reqs[n-1].Detail)
			} else {
				last = "it has made no request yet"
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	return fmt.Errorf("the client pod %s on %s did not reach %s within a minute (%s); see shoal logs %s and shoal describe pod %s",
		chaosClient, r.clientHost, chaosTarget, last, chaosClient, chaosClient)
}

// finish runs the end-of-run checks into rep: the writes, the history,
// the client's log, and --down.
func (r *chaosRun) finish(rep *chaosReport, begin, end time.Time, windows []faultWindow) {
	ctx := context.Background()
	r.writes.mu.Lock()
	st := r.writes.stats
	r.writes.mu.Unlock()
	wr := writeReport{Sent: st.Sent, Acknowledged: st.Acknowledged, Conflicts: st.Conflicts, Unknown: st.Unknown, Failed: st.Failed,
		Reads: st.Reads, ReadsFailed: st.ReadsFailed, CreatesAcknowledged: st.CreatesAcknowledged}
	if d := r.writes.stopped.Sub(r.writes.start).Seconds(); d > 0 {
		wr.RatePerS = float64(int(float64(st.Sent+st.Failed)/d*10)) / 10
	}
	lost, err := r.writes.lostCreates(ctx)
	if err != nil {
		wr.CheckError = err.Error()
		rep.Broken = append(rep.Broken, "the acknowledged writes could not be read back: "+err.Error())
	}
	wr.Lost, wr.LostNames = len(lost), lost
	if len(lost) > 0 {
		rep.Broken = append(rep.Broken, fmt.Sprintf("%d acknowledged creates are missing: %s", len(lost), strings.Join(lost, ", ")))
	}
	rep.Writes = wr

	fmt.Fprintf(r.log, "chaos: checking the history of %d operations for linearizability\n", len(r.writes.hist))
	dir := r.c.Dir
	if r.o.down {
		dir = os.TempDir()
	}
	rep.History = r.writes.checkHistory(r.o.checkTimeout, dir)
	rep.Linearizable = rep.History.Result == "linearizable"
	switch rep.History.Result {
	case "not linearizable":
		rep.Broken = append(rep.Broken, "the register history is not linearizable")
	case "undecided":
		rep.Broken = append(rep.Broken, fmt.Sprintf("porcupine could not decide within %s whether the register history is linearizable (%d of its %d operations are of unknown outcome); give it longer with --check-timeout",
			r.o.checkTimeout, rep.History.Unknown, rep.History.Operations))
	}

	reqs, bad, err := r.readClientLog(ctx)
	if err != nil {
		rep.Client.LogError = err.Error()
	} else {
		all := clientWindow(reqs, begin, end)
		rep.Client.clientCounts, rep.Client.UnreadLines = all, bad
		inFaults := 0
		for i, w := range windows {
			rep.Faults[i].Client = clientWindow(reqs, w.from, w.to)
			inFaults += rep.Faults[i].Client.Failed
		}
		// Windows do not overlap: one fault at a time.
		rep.Client.FailedOutsideFaults = max(0, all.Failed-inFaults)
	}
	for i, f := range rep.Faults {
		for _, b := range f.Broken {
			rep.Broken = append(rep.Broken, fmt.Sprintf("fault %d (%s): %s", i+1, f.name(), b))
		}
	}

	if r.o.down {
		fmt.Fprintln(r.log, "chaos: removing the dev cluster")
		rep.Down = true
		err := r.c.down()
		rep.Leftovers = append([]string{}, r.c.network().Leftovers()...)
		if err != nil && len(rep.Leftovers) == 0 {
			rep.Leftovers = append(rep.Leftovers, err.Error())
		}
		if len(rep.Leftovers) > 0 {
			rep.Broken = append(rep.Broken, "shoal dev down left things behind: "+strings.Join(rep.Leftovers, "; "))
		}
	}
}
