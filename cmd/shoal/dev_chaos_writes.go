package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/shoal-dev/shoal/api"
)

// The write workload of `shoal dev chaos` uses a few ConfigMaps as
// registers: each key's data "v" is its value. Every write puts a value no
// one wrote before, so a value names the write that made it, and a
// compare-and-set on the resourceVersion read with a value is a
// compare-and-set on that value. It also creates new ConfigMaps, every
// acknowledged one of which must be there at the end.

// regInput is one operation on a register, as the history records it.
type regInput struct {
	Key    string
	Op     string // "read", "write" or "cas"
	Value  string // what write and cas put
	Expect string // what cas expects (the value read with the version it sent)
}

// regOutput is what the cluster answered.
type regOutput struct {
	Value   string // what read returned
	OK      bool   // cas: applied (false: a conflict)
	Unknown bool   // sent, but the outcome is not known (timed out, connection lost, 5xx)
}

// chaosRegisterModel is the sequential specification of a register. An
// operation of unknown outcome is recorded with no return (its Return is
// the end of time), so the checker may place it anywhere after its call,
// including after everything else, where it changes nothing: a write that
// may or may not have happened is then simply a write.
var chaosRegisterModel = porcupine.Model{
	Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		var keys []string
		for _, op := range h {
			k := op.Input.(regInput).Key
			if byKey[k] == nil {
				keys = append(keys, k)
			}
			byKey[k] = append(byKey[k], op)
		}
		sort.Strings(keys)
		out := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() any { return "" },
	Step: func(state, input, output any) (bool, any) {
		s, in, out := state.(string), input.(regInput), output.(regOutput)
		switch in.Op {
		case "read":
			return out.Value == s, s
		case "write":
			return true, in.Value
		case "cas":
			switch {
			case out.Unknown && s == in.Expect, out.OK && s == in.Expect:
				return true, in.Value
			case out.Unknown, !out.OK && s != in.Expect:
				return true, s
			}
		}
		return false, s
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(regInput), output.(regOutput)
		switch {
		case in.Op == "read":
			return fmt.Sprintf("read %s -> %q", in.Key, out.Value)
		case out.Unknown:
			return fmt.Sprintf("%s %s %q (if %q) -> unknown", in.Op, in.Key, in.Value, in.Expect)
		case in.Op == "cas":
			return fmt.Sprintf("cas %s %q if %q -> applied %v", in.Key, in.Value, in.Expect, out.OK)
		}
		return fmt.Sprintf("write %s %q -> ok", in.Key, in.Value)
	},
	DescribeState: func(state any) string { return fmt.Sprintf("%q", state) },
}

// outcome classifies the answer to one write.
type outcome int

const (
	applied    outcome = iota // acknowledged
	conflict                  // a compare-and-set refused: a definite answer
	notApplied                // never sent, or refused in a way that says it was not applied
	unknown                   // sent, and it may or may not have been applied
)

// classifyWrite says what a write's error means. A request that was never
// fully sent cannot have been applied; an answer in the 4xx range is a
// refusal, and so is a 503 that says the write was not applied (no leader
// was found: the agent refuses before it proposes anything). Anything
// else after the request left (a timeout, a broken connection, a leader
// lost during the commit) may or may not have taken effect. Trusting the
// agent's "not applied" is still checked: such a write is left out of the
// history, so a later read of its value would be a read of a value never
// written, which porcupine rejects.
func classifyWrite(err error, sent bool) outcome {
	if err == nil {
		return applied
	}
	if !sent {
		return notApplied
	}
	if api.ReasonOf(err) == api.ReasonConflict {
		return conflict
	}
	var st *api.Status
	if errors.As(err, &st) {
		if st.Reason != api.ReasonServiceUnavailable && st.Code >= 400 && st.Code < 500 {
			return notApplied
		}
		if st.Reason == api.ReasonServiceUnavailable && strings.Contains(st.Message, "was not applied") && !strings.Contains(st.Message, "may or may not") {
			return notApplied
		}
	}
	return unknown
}

// withSentTrace returns a context that sets *sent once the request has been
// written out in full.
func withSentTrace(ctx context.Context, sent *atomic.Bool) context.Context {
	return httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{WroteRequest: func(i httptrace.WroteRequestInfo) {
		if i.Err == nil {
			sent.Store(true)
		}
	}})
}

// writeStats counts what the write workload did.
type writeStats struct {
	Sent, Acknowledged, Conflicts, Unknown, Failed int
	Reads, ReadsFailed                             int
	CreatesAcknowledged                            int
}

// writeLoad writes to the registers and creates ConfigMaps at a steady
// rate, each operation through a host picked at random among those that
// are up, and records the history. Safe for concurrent use.
type writeLoad struct {
	hosts   *hostSet
	keys    []string
	prefix  string            // names of this run's objects start with it
	labels  map[string]string // on every ConfigMap it creates
	timeout time.Duration     // of one request
	start   time.Time         // history times are nanoseconds since it
	stopped time.Time         // when run stopped sending

	mu    sync.Mutex
	hist  []porcupine.Operation
	acked []string // acknowledged creates
	stats writeStats
	seq   atomic.Int64
}

func newWriteLoad(hosts *hostSet, prefix string, nkeys int) *writeLoad {
	w := &writeLoad{hosts: hosts, prefix: prefix, timeout: 3 * time.Second,
		labels: map[string]string{chaosRunLabel: prefix}, start: time.Now()}
	for i := range nkeys {
		w.keys = append(w.keys, fmt.Sprintf("%s-reg-%c", prefix, 'a'+i))
	}
	return w
}

// chaosRunLabel marks the ConfigMaps of one chaos run.
const chaosRunLabel = "shoal.dev/chaos-run"

func (w *writeLoad) configMap(name, value string) *api.ConfigMap {
	cm := &api.ConfigMap{TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}, Data: map[string]string{"v": value}}
	cm.Name, cm.Namespace, cm.Labels = name, "default", w.labels
	return cm
}

// setup creates the registers, empty, before the history starts.
func (w *writeLoad) setup(ctx context.Context) error {
	for _, k := range w.keys {
		var err error
		for attempt := 0; attempt < 20; attempt++ {
			_, cl, ok := w.hosts.pick(rand.Uint64())
			if !ok {
				return errors.New("no host is up to create the registers on")
			}
			cctx, cancel := context.WithTimeout(ctx, w.timeout)
			_, err = cl.Create(cctx, w.configMap(k, ""))
			cancel()
			if err == nil {
				break
			}
			time.Sleep(250 * time.Millisecond)
		}
		if err != nil {
			return fmt.Errorf("create the register ConfigMap %s: %w", k, err)
		}
	}
	return nil
}

func (w *writeLoad) now() int64 { return int64(time.Since(w.start)) }

func (w *writeLoad) record(client int, in regInput, out regOutput, call int64) {
	ret := w.now()
	if out.Unknown {
		ret = math.MaxInt64
	}
	w.mu.Lock()
	w.hist = append(w.hist, porcupine.Operation{ClientId: client, Input: in, Output: out, Call: call, Return: ret})
	w.mu.Unlock()
}

func (w *writeLoad) count(f func(s *writeStats)) {
	w.mu.Lock()
	f(&w.stats)
	w.mu.Unlock()
}

// run sends rate writes a second until ctx ends, then waits for the
// writes in flight. Each tick is one write: a blind write of a register
// (half), a consistent read then a compare-and-set on what it read (three
// in ten), or the create of a new ConfigMap (one in five).
func (w *writeLoad) run(ctx context.Context, rate int, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, seed^0x3717e5))
	const slots = 512
	free := make(chan int, slots)
	for i := range slots {
		free <- i
	}
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			w.mu.Lock()
			w.stopped = time.Now()
			w.mu.Unlock()
			wg.Wait()
			return
		case <-tick.C:
		}
		kind, key, pick := rng.IntN(10), w.keys[rng.IntN(len(w.keys))], rng.Uint64()
		var slot int
		select {
		case slot = <-free:
		default:
			w.count(func(s *writeStats) { s.Failed++ }) // every slot is waiting on a hung request
			continue
		}
		wg.Add(1)
		go func() {
			defer func() { free <- slot; wg.Done() }()
			// Writes in flight end on their own timeout, not with the
			// run: one cut short would be of unknown outcome for nothing.
			octx := context.WithoutCancel(ctx)
			switch {
			case kind < 5:
				w.put(octx, slot, pick, key, "", "")
			case kind < 8:
				// When the read fails, the write goes out blind, so
				// the write rate holds whatever the reads do.
				v, rv, _ := w.read(octx, slot, pick, key)
				w.put(octx, slot, pick>>1, key, rv, v)
			default:
				w.create(octx, pick)
			}
		}()
	}
}

// read does a consistent read of key through a random host that is up.
// A read that fails is not recorded: it constrains nothing.
func (w *writeLoad) read(ctx context.Context, client int, pick uint64, key string) (value, rv string, ok bool) {
	_, cl, up := w.hosts.pick(pick)
	if !up {
		w.count(func(s *writeStats) { s.ReadsFailed++ })
		return "", "", false
	}
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	call := w.now()
	var cm api.ConfigMap
	if _, err := cl.Do(ctx, http.MethodGet, "/api/v1/namespaces/default/configmaps/"+key+"?consistent=true", nil, &cm); err != nil {
		w.count(func(s *writeStats) { s.ReadsFailed++ })
		return "", "", false
	}
	w.record(client, regInput{Key: key, Op: "read"}, regOutput{Value: cm.Data["v"]}, call)
	w.count(func(s *writeStats) { s.Reads++ })
	return cm.Data["v"], cm.ResourceVersion, true
}

// put writes a new value to key, as a compare-and-set when rv is set.
func (w *writeLoad) put(ctx context.Context, client int, pick uint64, key, rv, expect string) {
	in := regInput{Key: key, Op: "write", Value: w.prefix + "-" + strconv.FormatInt(w.seq.Add(1), 10)}
	if rv != "" {
		in.Op, in.Expect = "cas", expect
	}
	_, cl, up := w.hosts.pick(pick)
	if !up {
		w.count(func(s *writeStats) { s.Failed++ })
		return
	}
	cm := w.configMap(key, in.Value)
	cm.ResourceVersion = rv
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	var sent atomic.Bool
	call := w.now()
	_, err := cl.Update(withSentTrace(ctx, &sent), cm)
	switch o := classifyWrite(err, sent.Load()); {
	case o == applied:
		w.record(client, in, regOutput{OK: true}, call)
		w.count(func(s *writeStats) { s.Sent++; s.Acknowledged++ })
	case o == conflict && rv != "":
		w.record(client, in, regOutput{OK: false}, call)
		w.count(func(s *writeStats) { s.Sent++; s.Conflicts++ })
	case o == notApplied:
		w.count(func(s *writeStats) { s.Failed++ })
	default: // unknown, or a conflict on a blind write, which has nothing to conflict with
		w.record(client, in, regOutput{Unknown: true}, call)
		w.count(func(s *writeStats) { s.Sent++; s.Unknown++ })
	}
}

// create makes a new ConfigMap through a random host that is up and
// remembers it if the cluster acknowledged it.
func (w *writeLoad) create(ctx context.Context, pick uint64) {
	_, cl, up := w.hosts.pick(pick)
	if !up {
		w.count(func(s *writeStats) { s.Failed++ })
		return
	}
	w.createVia(ctx, cl)
}

// createVia creates a new ConfigMap through cl and returns the error, nil
// when the cluster acknowledged it.
func (w *writeLoad) createVia(ctx context.Context, cl *api.Client) error {
	name := w.prefix + "-c" + strconv.FormatInt(w.seq.Add(1), 10)
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	var sent atomic.Bool
	_, err := cl.Create(withSentTrace(ctx, &sent), w.configMap(name, time.Now().UTC().Format(time.RFC3339Nano)))
	w.mu.Lock()
	defer w.mu.Unlock()
	switch classifyWrite(err, sent.Load()) {
	case applied:
		w.acked = append(w.acked, name)
		w.stats.Sent++
		w.stats.Acknowledged++
		w.stats.CreatesAcknowledged++
	case notApplied:
		w.stats.Failed++
	default:
		w.stats.Sent++
		w.stats.Unknown++
	}
	return err
}

// lostCreates reads this run's ConfigMaps back, consistently, through
// any host that answers, and returns the acknowledged creates that are
// missing.
func (w *writeLoad) lostCreates(ctx context.Context) ([]string, error) {
	var lastErr error
	for attempt := 0; attempt < 40; attempt++ {
		if _, cl, ok := w.hosts.pick(uint64(attempt)); ok {
			rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			objs, _, err := cl.ListWith(rctx, "ConfigMap", "default", api.ListOptions{Consistent: true, LabelSelector: chaosRunLabel + "=" + w.prefix})
			cancel()
			if err == nil {
				have := map[string]bool{}
				for _, o := range objs {
					have[o.GetObjectMeta().Name] = true
				}
				w.mu.Lock()
				defer w.mu.Unlock()
				var lost []string
				for _, name := range w.acked {
					if !have[name] {
						lost = append(lost, name)
					}
				}
				return lost, nil
			}
			lastErr = err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	return nil, fmt.Errorf("no host answered a consistent read of the ConfigMaps: %v", lastErr)
}

// checkHistory runs porcupine on the history. When it is not
// linearizable, it writes a visualisation into dir and names the file.
func (w *writeLoad) checkHistory(timeout time.Duration, dir string) historyReport {
	w.mu.Lock()
	hist := append([]porcupine.Operation(nil), w.hist...)
	w.mu.Unlock()
	hr := checkRegisterHistory(hist, timeout)
	hr.Keys = len(w.keys)
	if hr.Result == "not linearizable" && dir != "" {
		_, info := porcupine.CheckOperationsVerbose(chaosRegisterModel, hist, timeout)
		path := filepath.Join(dir, "chaos-history-"+w.prefix+".html")
		if err := os.MkdirAll(dir, 0o755); err == nil {
			if err := porcupine.VisualizePath(chaosRegisterModel, info, path); err == nil {
				hr.Visualization = path
			}
		}
	}
	return hr
}

// checkRegisterHistory asks porcupine whether hist is linearizable.
func checkRegisterHistory(hist []porcupine.Operation, timeout time.Duration) historyReport {
	hr := historyReport{Operations: len(hist)}
	keys := map[string]bool{}
	for _, op := range hist {
		keys[op.Input.(regInput).Key] = true
		if op.Output.(regOutput).Unknown {
			hr.Unknown++
		}
	}
	hr.Keys = len(keys)
	began := time.Now()
	res := porcupine.CheckOperationsTimeout(chaosRegisterModel, hist, timeout)
	hr.CheckTook = seconds(time.Since(began))
	switch res {
	case porcupine.Ok:
		hr.Result = "linearizable"
	case porcupine.Illegal:
		hr.Result = "not linearizable"
	default:
		hr.Result = "undecided"
	}
	return hr
}
