package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/shoal-dev/shoal/api"
)

func TestParseClientLog(t *testing.T) {
	log := strings.Join([]string{
		"1796300599.448336 1796300599.452001 ok chaos-web-4bfxvbk5bs-fd7pw",
		"1796300599.652 1796300601.660 fail 143 Terminated",
		"1796300601.9 1796300601.95 fail 1 wget: bad address 'chaos-web:8080'",
		"1796300602 1796300602.1 fail 1 wget: can't connect to remote host (10.244.1.5): Connection refused",
		"1796300603.1 1796300603.2 fail 1 wget: can't connect to remote host (10.244.1.5): Host is unreachable",
		"1796300604.1 1796300604.2 fail 1 wget: server returned error: HTTP/1.0 404 Not Found",
		"1796300605.1 1796300605.2 fail 1 something else",
		"",
		"1796300606.1 17963",              // cut short
		"garbage line here",               // not a request
		"1796300607.x 1 ok",               // a bad time
		"1796300608.1 1796300608.2 maybe", // neither ok nor fail
	}, "\n")
	reqs, bad := parseClientLog(strings.NewReader(log))
	if bad != 4 {
		t.Errorf("%d unreadable lines, want 4", bad)
	}
	want := []struct {
		ok     bool
		reason string
		detail string
	}{
		{true, "", "chaos-web-4bfxvbk5bs-fd7pw"},
		{false, "timeout", "Terminated"},
		{false, "dns", "wget: bad address 'chaos-web:8080'"},
		{false, "refused", "wget: can't connect to remote host (10.244.1.5): Connection refused"},
		{false, "unreachable", "wget: can't connect to remote host (10.244.1.5): Host is unreachable"},
		{false, "http", "wget: server returned error: HTTP/1.0 404 Not Found"},
		{false, "other", "something else"},
	}
	if len(reqs) != len(want) {
		t.Fatalf("%d requests, want %d: %+v", len(reqs), len(want), reqs)
	}
	for i, w := range want {
		if reqs[i].OK != w.ok || reqs[i].Reason != w.reason || reqs[i].Detail != w.detail {
			t.Errorf("request %d: %+v, want %+v", i, reqs[i], w)
		}
	}
	if got := reqs[0].Start; !got.Equal(time.Unix(1796300599, 448336000)) {
		t.Errorf("start of the first request: %v", got)
	}
	if got := reqs[1].End.Sub(reqs[1].Start); got != 2008*time.Millisecond {
		t.Errorf("the second request took %v, want 2.008s", got)
	}
}

func TestParseEpoch(t *testing.T) {
	for s, want := range map[string]time.Time{
		"1796300599":           time.Unix(1796300599, 0),
		"1796300599.5":         time.Unix(1796300599, 500000000),
		"1796300599.000001":    time.Unix(1796300599, 1000),
		"1796300599.123456789": time.Unix(1796300599, 123456789),
		"1796300599.":          time.Unix(1796300599, 0),
	} {
		got, err := parseEpoch(s)
		if err != nil || !got.Equal(want) {
			t.Errorf("parseEpoch(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
	for _, s := range []string{"", "x", "1.2.3", "1.-5", "1.+5", "1.1234567890", "1.5e3"} {
		if _, err := parseEpoch(s); err == nil {
			t.Errorf("parseEpoch(%q) took it", s)
		}
	}
}

func TestClientWindow(t *testing.T) {
	at := func(s float64) time.Time { return time.Unix(1000, 0).Add(time.Duration(s * float64(time.Second))) }
	reqs := []clientRequest{
		{Start: at(0), OK: true},
		{Start: at(1), OK: false, Reason: "timeout"},
		{Start: at(2), OK: false, Reason: "timeout"},
		{Start: at(3), OK: false, Reason: "dns"},
		{Start: at(4), OK: true},
		{Start: at(5), OK: false, Reason: "refused"},
	}
	got := clientWindow(reqs, at(1), at(5)) // [1, 5): the request at 5 is out
	if got.Requests != 4 || got.Failed != 3 || got.Reasons["timeout"] != 2 || got.Reasons["dns"] != 1 || len(got.Reasons) != 2 {
		t.Errorf("window: %+v", got)
	}
	if got := clientWindow(reqs, at(10), at(20)); got.Requests != 0 || got.Reasons != nil {
		t.Errorf("an empty window: %+v", got)
	}
	if got := reasons(map[string]int{"dns": 1, "timeout": 3, "refused": 1}); got != " (3 timeout, 1 dns, 1 refused)" {
		t.Errorf("reasons: %q", got)
	}
}

// The register model accepts a linearizable history and rejects a stale
// read; an operation of unknown outcome may or may not have happened.
func TestChaosRegisterModel(t *testing.T) {
	op := func(in regInput, out regOutput, call, ret int64) porcupine.Operation {
		if out.Unknown {
			ret = math.MaxInt64
		}
		return porcupine.Operation{Input: in, Output: out, Call: call, Return: ret}
	}
	w := func(k, v string, call, ret int64) porcupine.Operation {
		return op(regInput{Key: k, Op: "write", Value: v}, regOutput{OK: true}, call, ret)
	}
	r := func(k, v string, call, ret int64) porcupine.Operation {
		return op(regInput{Key: k, Op: "read"}, regOutput{Value: v}, call, ret)
	}
	cas := func(k, expect, v string, ok bool, call, ret int64) porcupine.Operation {
		return op(regInput{Key: k, Op: "cas", Value: v, Expect: expect}, regOutput{OK: ok}, call, ret)
	}
	unknownW := func(k, v string, call int64) porcupine.Operation {
		return op(regInput{Key: k, Op: "write", Value: v}, regOutput{Unknown: true}, call, 0)
	}
	unknownCAS := func(k, expect, v string, call int64) porcupine.Operation {
		return op(regInput{Key: k, Op: "cas", Value: v, Expect: expect}, regOutput{Unknown: true}, call, 0)
	}
	for _, c := range []struct {
		name string
		hist []porcupine.Operation
		want string
	}{
		{"sequential", []porcupine.Operation{w("a", "1", 0, 10), r("a", "1", 20, 30), cas("a", "1", "2", true, 40, 50), r("a", "2", 60, 70)}, "linearizable"},
		{"concurrent read sees either", []porcupine.Operation{w("a", "1", 0, 10), w("a", "2", 20, 40), r("a", "1", 25, 30), r("a", "2", 35, 50)}, "linearizable"},
		{"stale read", []porcupine.Operation{w("a", "1", 0, 10), w("a", "2", 20, 30), r("a", "1", 40, 50)}, "not linearizable"},
		{"keys are apart", []porcupine.Operation{w("a", "1", 0, 10), w("b", "2", 20, 30), r("a", "1", 40, 50), r("b", "2", 40, 50)}, "linearizable"},
		{"read of a value never written", []porcupine.Operation{w("a", "1", 0, 10), r("a", "9", 20, 30)}, "not linearizable"},
		{"cas conflict on a match", []porcupine.Operation{w("a", "1", 0, 10), cas("a", "1", "2", false, 20, 30)}, "not linearizable"},
		{"cas conflict on a mismatch", []porcupine.Operation{w("a", "1", 0, 10), cas("a", "0", "2", false, 20, 30), r("a", "1", 40, 50)}, "linearizable"},
		{"cas applied on a mismatch", []porcupine.Operation{w("a", "1", 0, 10), cas("a", "0", "2", true, 20, 30)}, "not linearizable"},
		{"unknown write seen later", []porcupine.Operation{w("a", "1", 0, 10), unknownW("a", "2", 20), r("a", "2", 100, 110), r("a", "2", 120, 130)}, "linearizable"},
		{"unknown write never seen", []porcupine.Operation{w("a", "1", 0, 10), unknownW("a", "2", 20), r("a", "1", 100, 110)}, "linearizable"},
		{"unknown write then back in time", []porcupine.Operation{w("a", "1", 0, 10), unknownW("a", "2", 20), r("a", "2", 40, 50), r("a", "1", 60, 70)}, "not linearizable"},
		{"unknown cas explains a conflict", []porcupine.Operation{w("a", "1", 0, 10), unknownCAS("a", "1", "2", 20), cas("a", "1", "3", false, 40, 50)}, "linearizable"},
		{"unknown cas cannot apply on a mismatch", []porcupine.Operation{w("a", "1", 0, 10), unknownCAS("a", "0", "2", 20), r("a", "2", 40, 50)}, "not linearizable"},
	} {
		if got := checkRegisterHistory(c.hist, 10*time.Second); got.Result != c.want {
			t.Errorf("%s: %s, want %s", c.name, got.Result, c.want)
		}
	}
	hr := checkRegisterHistory([]porcupine.Operation{w("a", "1", 0, 10), unknownW("b", "2", 20)}, time.Second)
	if hr.Operations != 2 || hr.Unknown != 1 || hr.Keys != 2 {
		t.Errorf("counts: %+v", hr)
	}
}

func TestClassifyWrite(t *testing.T) {
	transport := api.NewError(api.ReasonServiceUnavailable, "cannot reach the shoal agent at https://10.78.0.2:7948: context deadline exceeded (is `shoal agent` running? set --server or SHOAL_SERVER)")
	for _, c := range []struct {
		name string
		err  error
		sent bool
		want outcome
	}{
		{"acknowledged", nil, true, applied},
		{"never sent", transport, false, notApplied},
		{"timed out after it was sent", transport, true, unknown},
		{"a plain error after it was sent", errors.New("stream reset"), true, unknown},
		{"a compare-and-set refused", api.NewError(api.ReasonConflict, "configmap x: resourceVersion 5 is not the current 7"), true, conflict},
		{"invalid", api.NewError(api.ReasonInvalid, "configmap x: data: too large"), true, notApplied},
		{"no leader: not applied", api.NewError(api.ReasonServiceUnavailable, "no raft leader: 1 of 3 voters are reachable and a majority is needed; the write was not applied, retry once the voters are back"), true, notApplied},
		{"leadership lost: may or may not", api.NewError(api.ReasonServiceUnavailable, "leadership was lost while the write was being committed; it may or may not have been applied: read the object and retry if needed"), true, unknown},
		{"a 500", api.NewError(api.ReasonInternal, "boom"), true, unknown},
	} {
		if got := classifyWrite(c.err, c.sent); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

func sampleReport() *chaosReport {
	yes, no := true, false
	nodes := seconds(2100 * time.Millisecond)
	return &chaosReport{
		Seed: 7, Duration: seconds(60 * time.Second), Ran: seconds(63400 * time.Millisecond),
		Hosts: []string{"n1", "n2", "n3"}, ClientHost: "n1", WriteRate: 60,
		Faults: []faultReport{
			{At: 0, Kind: "kill", Hosts: []string{"n2"}, Lasted: seconds(6200 * time.Millisecond), MovedBefore: 2,
				Recovery: secondsPtr(6123 * time.Millisecond), RecoveredDuringFault: &yes,
				RecoveryParts:    &phaseTimes{Workload: seconds(6123 * time.Millisecond), Writes: seconds(1500 * time.Millisecond), DNS: seconds(5 * time.Second)},
				Convergence:      secondsPtr(3456 * time.Millisecond),
				ConvergenceParts: &phaseTimes{Workload: seconds(time.Second), Writes: seconds(time.Second), DNS: seconds(3456 * time.Millisecond), Nodes: &nodes},
				Client:           clientCounts{Requests: 40, Failed: 3, Reasons: map[string]int{"timeout": 2, "refused": 1}}},
			{At: seconds(11 * time.Second), Kind: "freeze", Hosts: []string{"n3"}, Lasted: seconds(4 * time.Second),
				Convergence: secondsPtr(500 * time.Millisecond), Client: clientCounts{Requests: 22}},
			{At: seconds(20 * time.Second), Kind: "partition", Hosts: []string{"n3"}, Lasted: seconds(30 * time.Second),
				RecoveredDuringFault: &no, Notes: []string{"not recovered during the fault"},
				Waiting: "node(s) n3 not Ready", Broken: []string{"the cluster was never whole again within 2m0s after the fault"},
				Client: clientCounts{Requests: 700, Failed: 0}},
		},
		Writes: writeReport{Sent: 3800, RatePerS: 60.1, Acknowledged: 3000, Conflicts: 100, Unknown: 700, Failed: 12,
			Reads: 1100, CreatesAcknowledged: 760},
		Linearizable: true,
		History:      historyReport{Operations: 4900, Unknown: 650, Keys: 8, Result: "linearizable", CheckTook: seconds(800 * time.Millisecond)},
		Client: clientReport{Pod: chaosClient, Host: "n1", Target: chaosTarget,
			clientCounts: clientCounts{Requests: 300, Failed: 4, Reasons: map[string]int{"timeout": 3, "dns": 1}}, FailedOutsideFaults: 1},
		Broken: []string{"fault 3 (partition n3): the cluster was never whole again within 2m0s after the fault"},
	}
}

// The JSON report is one object with the fields a script reads; durations
// are seconds, and what was not measured is null.
func TestChaosReportJSON(t *testing.T) {
	var buf bytes.Buffer
	if err := sampleReport().writeJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatalf("%v\n%s", err, buf.String())
	}
	for _, k := range []string{"seed", "duration_s", "ran_s", "hosts", "client_host", "write_rate", "faults", "writes", "linearizable", "history", "client", "down", "leftovers", "broken", "ok"} {
		if _, ok := got[k]; !ok {
			t.Errorf("no %q in the report", k)
		}
	}
	if got["seed"] != 7.0 || got["duration_s"] != 60.0 || got["ran_s"] != 63.4 || got["linearizable"] != true || got["leftovers"] != nil {
		t.Errorf("top level: %v", got)
	}
	faults := got["faults"].([]any)
	kill, freeze := faults[0].(map[string]any), faults[1].(map[string]any)
	if kill["kind"] != "kill" || kill["recovery_s"] != 6.123 || kill["convergence_s"] != 3.456 || kill["recovered_during_fault"] != true || kill["replicas_moved_before"] != 2.0 {
		t.Errorf("kill: %v", kill)
	}
	if parts := kill["convergence_parts"].(map[string]any); parts["nodes_s"] != 2.1 || parts["dns_s"] != 3.456 {
		t.Errorf("kill's convergence parts: %v", parts)
	}
	if c := kill["client"].(map[string]any); c["requests"] != 40.0 || c["failed"] != 3.0 || c["failure_reasons"].(map[string]any)["timeout"] != 2.0 {
		t.Errorf("kill's client: %v", c)
	}
	if v, ok := freeze["recovery_s"]; !ok || v != nil {
		t.Errorf("a freeze's recovery_s should be null: %v", freeze)
	}
	if _, ok := freeze["recovered_during_fault"]; ok {
		t.Errorf("a freeze has no recovered_during_fault: %v", freeze)
	}
	if p := faults[2].(map[string]any); p["convergence_s"] != nil || p["recovered_during_fault"] != false {
		t.Errorf("the partition that never converged: %v", p)
	}
	wr := got["writes"].(map[string]any)
	if wr["acknowledged"] != 3000.0 || wr["lost"] != 0.0 || wr["unknown"] != 700.0 || wr["rate_per_s"] != 60.1 {
		t.Errorf("writes: %v", wr)
	}
	cl := got["client"].(map[string]any)
	if cl["requests"] != 300.0 || cl["failed"] != 4.0 || cl["failed_outside_faults"] != 1.0 || cl["host"] != "n1" {
		t.Errorf("client (its counts flat beside the rest): %v", cl)
	}
	// It reads back into the same report.
	var back chaosReport
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if *back.Faults[0].Recovery != seconds(6123*time.Millisecond) || back.Client.Requests != 300 {
		t.Errorf("read back: %+v", back)
	}

	// With --down, leftovers is a list, empty when nothing was left.
	r := sampleReport()
	r.Down, r.Leftovers, r.Faults, r.Broken = true, []string{}, nil, nil
	buf.Reset()
	if err := r.writeJSON(&buf); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"leftovers": []`, `"faults": []`, `"broken": []`, `"down": true`} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("no %s in\n%s", want, buf.String())
		}
	}
}

func TestChaosReportTable(t *testing.T) {
	r := sampleReport()
	r.Down, r.Leftovers = true, []string{"process 123 (shoal agent)"}
	var buf bytes.Buffer
	r.writeTable(&buf)
	got := lines(buf.String())
	want := []string{
		"chaos: 3 hosts (n1,n2,n3), client on n1, seed 7, 1m3s of faults, 60 writes/s asked",
		"",
		"AT FAULT LASTED RECOVERY DURING CONVERGENCE AFTER CLIENT FAILED INVARIANTS",
		"0s kill n2 6.2s 6.1s 3.5s 3 of 40 (2 timeout, 1 refused) ok",
		"11s freeze n3 4.0s 4.0s - 0.5s 0 of 22 ok",
		"20s partition n3 30.0s not recovered never 0 of 700 BROKEN",
		"fault 3 (partition n3): BROKEN: the cluster was never whole again within 2m0s after the fault",
	}
	if len(got) < len(want) || strings.Join(got[:len(want)], "\n") != strings.Join(want, "\n") {
		t.Errorf("table:\n%s\nwant it to start with:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	text := buf.String()
	for _, s := range []string{
		"fault 3 (partition n3): not recovered during the fault",
		"fault 3 (partition n3): at the limit, still: node(s) n3 not Ready",
		"writes: 3800 sent (60.1/s)",
		"acknowledged creates: 760, lost: 0",
		"history: 4900 operations on 8 registers (650 of unknown outcome, 1100 consistent reads): linearizable",
		"client (chaos-client on n1, http://chaos-web:8080/): 300 requests, 4 failed (3 timeout, 1 dns), 1 of them outside the faults",
		"down: left behind: process 123 (shoal agent)",
		"BROKEN:\n  - fault 3 (partition n3)",
		"repeat with: shoal dev chaos --duration 1m0s --seed 7",
	} {
		if !strings.Contains(text, s) {
			t.Errorf("no %q in\n%s", s, text)
		}
	}
	r.Broken, r.Leftovers = nil, nil
	buf.Reset()
	r.writeTable(&buf)
	if !strings.Contains(buf.String(), "every invariant held") || !strings.Contains(buf.String(), "down: the cluster is gone, nothing left behind") {
		t.Errorf("a good run:\n%s", buf.String())
	}
}

func TestSeconds(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                          "0",
		1234567 * time.Microsecond: "1.235",
		90 * time.Second:           "90",
	} {
		b, _ := json.Marshal(seconds(d))
		if string(b) != want {
			t.Errorf("%v: %s, want %s", d, b, want)
		}
	}
	for d, want := range map[time.Duration]string{400 * time.Millisecond: "0.4s", 6250 * time.Millisecond: "6.2s", 72 * time.Second: "1m12s"} {
		if got := seconds(d).String(); got != want {
			t.Errorf("%v: %s, want %s", d, got, want)
		}
	}
	var s seconds
	if err := json.Unmarshal([]byte("2.5"), &s); err != nil || time.Duration(s) != 2500*time.Millisecond {
		t.Errorf("2.5 read as %v, %v", time.Duration(s), err)
	}
}

// The workload, its Service and the client pod are valid objects, and the
// client is pinned to its host.
func TestChaosManifests(t *testing.T) {
	pod, err := chaosClientPod("n3")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []struct {
		kind string
		doc  []byte
	}{{"Deployment", []byte(chaosDeployment)}, {"Service", []byte(chaosService)}, {"Pod", pod}} {
		obj, err := api.DecodeJSON(m.kind, m.doc)
		if err != nil {
			t.Fatalf("%s: %v", m.kind, err)
		}
		api.SetDefaults(obj)
		if err := api.Validate(obj); err != nil {
			t.Errorf("%s: %v", m.kind, err)
		}
	}
	obj, _ := api.DecodeJSON("Pod", pod)
	p := obj.(*api.Pod)
	if p.Spec.NodeSelector["kubernetes.io/hostname"] != "n3" || p.Name != chaosClient {
		t.Errorf("client pod: %+v", p.Spec)
	}
	if script := p.Spec.Containers[0].Command[2]; !strings.Contains(script, chaosTarget) || !strings.Contains(script, "$EPOCHREALTIME") {
		t.Errorf("client script: %s", script)
	}
}

func TestCheckDevName(t *testing.T) {
	for _, ok := range []struct {
		name  string
		nodes int
	}{{"shoaldev", 3}, {"chaosdev", 50}, {"a", 1}, {"abcdefghijkl", 50}, {"abcdefghijklm", 9}} {
		if err := checkDevName(ok.name, ok.nodes); err != nil {
			t.Errorf("%q with %d nodes: %v", ok.name, ok.nodes, err)
		}
	}
	for _, bad := range []struct {
		name  string
		nodes int
	}{{"", 3}, {"abcdefghijklm", 10}, {"abcdefghijklmn", 3}, {"Dev", 3}, {"dev-1", 3}, {"1dev", 3}} {
		if err := checkDevName(bad.name, bad.nodes); err == nil {
			t.Errorf("%q with %d nodes was taken", bad.name, bad.nodes)
		}
	}
}
