package integration

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/devnet"
)

// The history is of ConfigMaps used as registers: each key's "v" is its
// value. Every write puts a value no one wrote before, so a value names the
// write (and the version) that made it, and a compare-and-set on the
// version read with a value is a compare-and-set on that value.
type regInput struct {
	key    string
	op     string // "read", "write" or "cas"
	value  string // what write and cas put
	expect string // what cas expects (the value read with the version it sent)
}

type regOutput struct {
	value   string // what read returned
	ok      bool   // cas: applied (false: conflict)
	unknown bool   // the outcome is not known (timed out, connection lost)
}

// registerModel is the sequential specification of one register.
// Operations of unknown outcome may or may not have taken effect.
var registerModel = porcupine.NondeterministicModel{
	Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		var keys []string
		for _, op := range h {
			k := op.Input.(regInput).key
			if byKey[k] == nil {
				keys = append(keys, k)
			}
			byKey[k] = append(byKey[k], op)
		}
		sort.Strings(keys)
		var out [][]porcupine.Operation
		for _, k := range keys {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() []any { return []any{""} },
	Step: func(state, input, output any) []any {
		s, in, out := state.(string), input.(regInput), output.(regOutput)
		switch in.op {
		case "read":
			if out.value == s {
				return []any{s}
			}
			return nil
		case "write":
			if out.unknown {
				return []any{s, in.value}
			}
			return []any{in.value}
		case "cas":
			switch {
			case out.unknown && s == in.expect:
				return []any{s, in.value}
			case out.unknown:
				return []any{s}
			case out.ok && s == in.expect:
				return []any{in.value}
			case !out.ok && s != in.expect:
				return []any{s}
			}
			return nil
		}
		return nil
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(regInput), output.(regOutput)
		return fmt.Sprintf("%s %s %q/%q -> %+v", in.op, in.key, in.value, in.expect, out)
	},
}

// The checker catches a stale read: a read that returns the old value
// after a write of a new one has completed.
func TestLinearizabilityCheckerCatchesStaleRead(t *testing.T) {
	model := registerModel.ToModel()
	w := func(c int, v string, call, ret int64) porcupine.Operation {
		return porcupine.Operation{ClientId: c, Input: regInput{key: "k", op: "write", value: v}, Output: regOutput{}, Call: call, Return: ret}
	}
	r := func(c int, v string, call, ret int64) porcupine.Operation {
		return porcupine.Operation{ClientId: c, Input: regInput{key: "k", op: "read"}, Output: regOutput{value: v}, Call: call, Return: ret}
	}
	good := []porcupine.Operation{w(0, "a", 0, 10), w(1, "b", 20, 30), r(2, "b", 40, 50), r(0, "a", 5, 25)}
	if res := porcupine.CheckOperationsTimeout(model, good, 10*time.Second); res != porcupine.Ok {
		t.Fatalf("a linearizable history was judged %s", res)
	}
	stale := []porcupine.Operation{w(0, "a", 0, 10), w(1, "b", 20, 30), r(2, "a", 40, 50)}
	if res := porcupine.CheckOperationsTimeout(model, stale, 10*time.Second); res != porcupine.Illegal {
		t.Fatalf("a stale read was judged %s, want Illegal", res)
	}
	// A write whose outcome is unknown may explain a read of its value...
	unknownW := porcupine.Operation{ClientId: 1, Input: regInput{key: "k", op: "write", value: "c"}, Output: regOutput{unknown: true}, Call: 20, Return: math.MaxInt64}
	if res := porcupine.CheckOperationsTimeout(model, []porcupine.Operation{w(0, "a", 0, 10), unknownW, r(2, "c", 40, 50), r(2, "c", 60, 70)}, 10*time.Second); res != porcupine.Ok {
		t.Fatalf("a read of an unknown write's value was judged %s", res)
	}
	// ...but not a read that goes back to the old value after it.
	if res := porcupine.CheckOperationsTimeout(model, []porcupine.Operation{w(0, "a", 0, 10), unknownW, r(2, "c", 40, 50), r(2, "a", 60, 70)}, 10*time.Second); res != porcupine.Illegal {
		t.Fatalf("a read going back in time was judged %s, want Illegal", res)
	}
}

// regClient runs operations against the cluster and records them.
type regClient struct {
	id     int
	agents []*agent
	rng    *rand.Rand
	start  time.Time
	mu     *sync.Mutex
	hist   *[]porcupine.Operation
	seq    int
}

func (c *regClient) now() int64 { return int64(time.Since(c.start)) }

func (c *regClient) record(in regInput, out regOutput, call int64) {
	ret := c.now()
	if out.unknown {
		ret = math.MaxInt64
	}
	c.mu.Lock()
	*c.hist = append(*c.hist, porcupine.Operation{ClientId: c.id, Input: in, Output: out, Call: call, Return: ret})
	c.mu.Unlock()
}

// pick chooses a node at random, up or not: a request to a node that is
// down fails, and is recorded as such.
func (c *regClient) pick() *agent { return c.agents[c.rng.IntN(len(c.agents))] }

// read does a consistent read through a random node; reads that fail are
// not recorded (they constrain nothing).
func (c *regClient) read(ctx context.Context, key string) (value, rv string, ok bool) {
	call := c.now()
	var cm api.ConfigMap
	_, err := c.pick().client().Do(ctx, http.MethodGet, "/api/v1/namespaces/default/configmaps/"+key+"?consistent=true", nil, &cm)
	if err != nil {
		return "", "", false
	}
	c.record(regInput{key: key, op: "read"}, regOutput{value: cm.Data["v"]}, call)
	return cm.Data["v"], cm.ResourceVersion, true
}

// put writes key = value, a compare-and-set when rv is set.
func (c *regClient) put(ctx context.Context, key, value, rv, expect string) {
	c.seq++
	in := regInput{key: key, op: "write", value: value}
	if rv != "" {
		in.op, in.expect = "cas", expect
	}
	cm := &api.ConfigMap{TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}, Data: map[string]string{"v": value}}
	cm.Name, cm.Namespace, cm.ResourceVersion = key, "default", rv
	call := c.now()
	_, err := c.pick().client().Update(ctx, cm)
	out := regOutput{ok: err == nil}
	switch {
	case err == nil:
	case rv != "" && api.IsConflict(err):
	default:
		// 503s, timeouts and broken connections: the write may or may
		// not have happened.
		out.unknown = true
	}
	c.record(in, out, call)
}

func (c *regClient) run(ctx context.Context, keys []string) {
	for ctx.Err() == nil {
		key := keys[c.rng.IntN(len(keys))]
		opCtx, cancel := context.WithTimeout(ctx, 3*time.Second)
		switch c.rng.IntN(3) {
		case 0:
			c.read(opCtx, key)
		case 1:
			c.put(opCtx, key, fmt.Sprintf("c%d-%d", c.id, c.seq), "", "")
		case 2:
			if v, rv, ok := c.read(opCtx, key); ok {
				c.put(opCtx, key, fmt.Sprintf("c%d-%d", c.id, c.seq), rv, v)
			}
		}
		cancel()
	}
}

// Concurrent clients read, write and compare-and-set ConfigMaps through
// different nodes while leaders are killed and nodes cut off; the history
// must be linearizable.
func TestLinearizableUnderFaults(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to make network namespaces")
	}
	if err := devnet.Check(); err != nil {
		t.Fatal(err)
	}
	net := newTestNet(t)
	dir := t.TempDir()
	var agents []*agent
	var hosts []devnet.Host
	for i := 1; i <= 3; i++ {
		h := net.addHost()
		hosts = append(hosts, h.Host)
		name := fmt.Sprintf("n%d", i)
		var extra []string
		if i > 1 {
			extra = []string{"--join", agents[0].ip, "--token-file", filepath.Join(agents[0].dataDir, "token")}
		}
		a := newAgent(t, name, h.ip, filepath.Join(dir, name), extra...)
		a.netns, a.host = h.netns, h.Host
		a.start()
		agents = append(agents, a)
	}
	c := &cluster{t: t, dir: dir, agents: agents}
	c.waitVoters(3)
	keys := []string{"lin-a", "lin-b", "lin-c"}
	ctx := context.Background()
	for _, k := range keys {
		cm := &api.ConfigMap{TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}, Data: map[string]string{"v": ""}}
		cm.Name, cm.Namespace = k, "default"
		if _, err := agents[0].client().Create(ctx, cm); err != nil {
			t.Fatal(err)
		}
	}

	var mu sync.Mutex
	var hist []porcupine.Operation
	start := time.Now()
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for i := range 4 {
		cl := &regClient{id: i, agents: agents, rng: rand.New(rand.NewPCG(uint64(i), 7)), start: start, mu: &mu, hist: &hist}
		wg.Add(1)
		go func() { defer wg.Done(); cl.run(runCtx, keys) }()
	}

	// Faults, one after another: kill the leader and bring it back; cut a
	// node off and heal.
	rng := rand.New(rand.NewPCG(42, 42))
	var faults []string
	for round := range 6 {
		time.Sleep(2 * time.Second)
		if round%2 == 0 {
			l := c.leader()
			l.kill9()
			faults = append(faults, "kill -9 leader "+l.name)
			time.Sleep(3 * time.Second)
			l.start()
		} else {
			victim := rng.IntN(3)
			var rest []devnet.Host
			for i, h := range hosts {
				if i != victim {
					rest = append(rest, h)
				}
			}
			if err := devnet.Partition(hosts[victim:victim+1], rest); err != nil {
				t.Fatal(err)
			}
			faults = append(faults, "partition "+agents[victim].name)
			time.Sleep(4 * time.Second)
			if err := devnet.Heal(hosts); err != nil {
				t.Fatal(err)
			}
		}
	}
	time.Sleep(2 * time.Second)
	stop()
	wg.Wait()

	var done, unknown int
	for _, op := range hist {
		if op.Output.(regOutput).unknown {
			unknown++
		} else {
			done++
		}
	}
	res, info := porcupine.CheckOperationsVerbose(registerModel.ToModel(), hist, 2*time.Minute)
	t.Logf("faults: %s; %d operations (%d of unknown outcome): %s", strings.Join(faults, ", "), len(hist), unknown, res)
	if done < 50 {
		t.Fatalf("only %d operations completed; the cluster was unavailable most of the time", done)
	}
	if res == porcupine.Illegal {
		path := filepath.Join(t.TempDir(), "history.html")
		if err := porcupine.VisualizePath(registerModel.ToModel(), info, path); err == nil {
			t.Logf("visualisation: %s", path)
		}
		t.Fatal("the history is not linearizable")
	}
	if res != porcupine.Ok {
		t.Fatalf("the checker could not decide within its time limit (%s)", res)
	}
}
