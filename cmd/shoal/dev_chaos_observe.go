package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/shoal-dev/shoal/api"
)

// What `shoal dev chaos` deploys: a web Deployment of chaosReplicas with a
// readiness probe, a Service in front of it, and a client pod, pinned to
// one host, that calls the Service by name several times a second and
// logs one line per request.
const (
	chaosApp      = "chaos-web"
	chaosClient   = "chaos-client"
	chaosReplicas = 6
	chaosDNSName  = chaosApp + ".default.svc.cluster.local."
	chaosTarget   = "http://chaos-web:8080/"
)

const chaosDeployment = `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"chaos-web","namespace":"default"},
"spec":{"replicas":6,"selector":{"matchLabels":{"app":"chaos-web"}},"template":{"metadata":{"labels":{"app":"chaos-web"}},
"spec":{"terminationGracePeriodSeconds":1,"containers":[{"name":"web","image":"shoal.test/busybox:1",
"command":["sh","-c","mkdir -p /www; hostname > /www/index.html; echo ok > /www/ok; exec httpd -f -p 8080 -h /www"],
"ports":[{"name":"http","containerPort":8080}],
"readinessProbe":{"httpGet":{"path":"/ok","port":8080},"periodSeconds":1,"failureThreshold":1}}]}}}}`

const chaosService = `{"apiVersion":"v1","kind":"Service","metadata":{"name":"chaos-web","namespace":"default"},
"spec":{"selector":{"app":"chaos-web"},"ports":[{"name":"http","port":80,"targetPort":8080}]}}`

// chaosClientScript is the client's loop. Each request is one line:
// its start and end (seconds since the epoch, to the microsecond), then
// "ok" and the pod that answered, or "fail", wget's exit status (143: it
// timed out) and its message. A Service name resolves to its Ready pods'
// own addresses (there is no virtual IP), so the client calls the pods'
// port, 8080, not the Service's 80.
const chaosClientScript = `while :; do
  s=$EPOCHREALTIME
  if out=$(timeout 2 wget -q -O- ` + chaosTarget + ` 2>&1); then
    echo "$s $EPOCHREALTIME ok $out"
  else
    rc=$?
    echo "$s $EPOCHREALTIME fail $rc $(echo "$out" | tr '\n' ' ')"
  fi
  usleep 200000
done`

// chaosClientPod is the client pod, pinned to host.
func chaosClientPod(host string) ([]byte, error) {
	pod := map[string]any{
		"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"name": chaosClient, "namespace": "default", "labels": map[string]string{"app": chaosClient}},
		"spec": map[string]any{
			"terminationGracePeriodSeconds": 1,
			"nodeSelector":                  map[string]string{"kubernetes.io/hostname": host},
			"containers": []any{map[string]any{"name": "client", "image": "shoal.test/busybox:1",
				"command": []string{"sh", "-c", chaosClientScript}}},
		},
	}
	return json.Marshal(pod)
}

// hostSet is which hosts of the dev cluster are up (powered on, agent
// running), with an API client for each. The write workload and the
// checks read it while faults change it. Safe for concurrent use.
type hostSet struct {
	mu      sync.Mutex
	names   []string // in order
	ips     map[string]string
	clients map[string]*api.Client
	down    map[string]bool
}

// pick returns a host that is up, chosen by r among them.
func (s *hostSet) pick(r uint64, except ...string) (string, *api.Client, bool) {
	up := s.up(except...)
	if len(up) == 0 {
		return "", nil, false
	}
	name := up[r%uint64(len(up))]
	return name, s.client(name), true
}

// up lists the hosts that are up, less except.
func (s *hostSet) up(except ...string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, n := range s.names {
		if !s.down[n] && !contains(except, n) {
			out = append(out, n)
		}
	}
	return out
}

func (s *hostSet) setUp(name string, up bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down[name] = !up
}

func (s *hostSet) client(name string) *api.Client {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.clients[name]
}

func (s *hostSet) ip(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ips[name]
}

// forget drops the pooled connections to a host that lost power or its
// agent: they lead nowhere now.
func (s *hostSet) forget(name string) {
	if t, ok := s.client(name).HTTP.Transport.(*http.Transport); ok {
		t.CloseIdleConnections()
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// condition is what "whole" means while a fault lasts or after it.
type condition struct {
	via []string // the hosts whose API to read and whose DNS to ask
	// faulted are the hosts under the fault: their pods do not count,
	// and no DNS answer may name one of their pods (badIPs, or an
	// address in one of their pod CIDRs, badNets).
	faulted []string
	badNets []netip.Prefix
	badIPs  map[string]bool
	// exact: every DNS server answers with exactly the Ready pods.
	exact bool
	// nodes: every host's Node is Ready, as a user sees it in shoal get
	// nodes (a NotReady node gets no new pods).
	nodes bool
}

// settled is "whole" once faults are over: on every host, with every
// node Ready and every DNS server answering exactly the Ready pods.
func (r *chaosRun) settled() condition {
	return condition{via: r.hosts.names, exact: true, nodes: true}
}

// phaseTimes says, for each part of "whole", from when on it held (since
// the start of the wait) until all of them did.
type phaseTimes struct {
	Workload seconds  `json:"workload_s"`
	Writes   seconds  `json:"writes_s"`
	DNS      seconds  `json:"dns_s"`
	Nodes    *seconds `json:"nodes_s,omitempty"` // after a fault: every node Ready
}

// waitResult is the outcome of waiting for a condition.
type waitResult struct {
	ok      bool
	took    time.Duration
	parts   phaseTimes
	waiting string // what still did not hold when the wait ended
}

// waitWhole polls until cond holds as a whole (the workload whole, a
// write acknowledged, DNS right, and with cond.nodes every node Ready),
// or limit passes, or ctx ends. It times
// from start; each part's time is when it began to hold for good.
func (r *chaosRun) waitWhole(ctx context.Context, start time.Time, limit time.Duration, cond condition) waitResult {
	deadline := start.Add(limit)
	var since [4]time.Time // workload, writes, DNS, nodes
	var res waitResult
	for {
		pollStart := time.Now()
		pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		okP, okN := false, true
		var whyP, whyN string
		var wg sync.WaitGroup
		wg.Add(2)
		go func() {
			defer wg.Done()
			okP, whyP = r.probeWrite(pctx, cond)
		}()
		go func() {
			defer wg.Done()
			if cond.nodes {
				okN, whyN = r.checkNodes(pctx, cond)
			}
		}()
		okW, ready, whyW := r.checkWorkload(pctx, cond)
		okD, whyD := r.checkDNS(pctx, cond, ready)
		wg.Wait()
		cancel()
		now := time.Now()
		for i, ok := range []bool{okW, okP, okD, okN} {
			switch {
			case !ok:
				since[i] = time.Time{}
			case since[i].IsZero():
				since[i] = now
			}
		}
		if okW && okP && okD && okN {
			res.ok, res.took, res.waiting = true, now.Sub(start), ""
			res.parts = phaseTimes{Workload: seconds(since[0].Sub(start)), Writes: seconds(since[1].Sub(start)), DNS: seconds(since[2].Sub(start))}
			if cond.nodes {
				res.parts.Nodes = secondsPtr(since[3].Sub(start))
			}
			return res
		}
		var why []string
		for _, w := range []string{whyW, whyP, whyD, whyN} {
			if w != "" {
				why = append(why, w)
			}
		}
		res.waiting = strings.Join(why, "; ")
		if now.After(deadline) || ctx.Err() != nil {
			res.took = now.Sub(start)
			return res
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Until(pollStart.Add(250 * time.Millisecond))):
		}
	}
}

// checkWorkload reads the pods through the leader (by way of a host in
// cond.via) and says whether chaosReplicas of them are Running and Ready
// off the faulted hosts; it returns their IPs.
func (r *chaosRun) checkWorkload(ctx context.Context, cond condition) (bool, map[string]bool, string) {
	name, cl, ok := r.pickVia(cond)
	if !ok {
		return false, nil, "no host to read the pods through"
	}
	objs, _, err := cl.ListWith(ctx, "Pod", "default", api.ListOptions{LabelSelector: "app=" + chaosApp, Consistent: true})
	if err != nil {
		return false, nil, fmt.Sprintf("pods, through %s: %v", name, err)
	}
	ready := map[string]bool{}
	for _, o := range objs {
		p := o.(*api.Pod)
		if !contains(cond.faulted, p.Spec.NodeName) && podReady(p) && p.Status.PodIP != "" {
			ready[p.Status.PodIP] = true
		}
	}
	if len(ready) != chaosReplicas {
		where := ""
		if len(cond.faulted) > 0 {
			where = " off " + strings.Join(cond.faulted, ",")
		}
		return false, ready, fmt.Sprintf("%d of %d replicas Running and Ready%s", len(ready), chaosReplicas, where)
	}
	return true, ready, ""
}

// checkNodes says whether every host's Node is Ready, read through the
// leader.
func (r *chaosRun) checkNodes(ctx context.Context, cond condition) (bool, string) {
	name, cl, ok := r.pickVia(cond)
	if !ok {
		return false, "no host to read the nodes through"
	}
	objs, _, err := cl.List(ctx, "Node", "", true)
	if err != nil {
		return false, fmt.Sprintf("nodes, through %s: %v", name, err)
	}
	ready := map[string]bool{}
	for _, o := range objs {
		n := o.(*api.Node)
		for _, c := range n.Status.Conditions {
			if c.Type == "Ready" && c.Status == "True" {
				ready[n.Name] = true
			}
		}
	}
	var notReady []string
	for _, h := range cond.via {
		if !ready[h] {
			notReady = append(notReady, h)
		}
	}
	if len(notReady) > 0 {
		return false, "node(s) " + strings.Join(notReady, ",") + " not Ready"
	}
	return true, ""
}

func podReady(p *api.Pod) bool {
	if p.Status.Phase != api.PodRunning || p.DeletionTimestamp != nil {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == api.PodReady && c.Status == api.ConditionTrue {
			return true
		}
	}
	return false
}

// checkDNS asks every host in cond.via that is up for the Service's
// name. Each must answer, name no pod of a faulted host and, with
// cond.exact, name exactly the Ready pods.
func (r *chaosRun) checkDNS(ctx context.Context, cond condition, ready map[string]bool) (bool, string) {
	var want []string
	for ip := range ready {
		want = append(want, ip)
	}
	sort.Strings(want)
	for _, h := range r.hosts.up() {
		if !contains(cond.via, h) {
			continue
		}
		ips, err := lookupA(ctx, net.JoinHostPort(r.hosts.ip(h), "53"), chaosDNSName)
		if err != nil {
			return false, fmt.Sprintf("DNS on %s: %v", h, err)
		}
		if len(ips) == 0 {
			return false, fmt.Sprintf("DNS on %s: no address for %s", h, chaosApp)
		}
		for _, ip := range ips {
			if cond.badIPs[ip] || inAny(ip, cond.badNets) {
				return false, fmt.Sprintf("DNS on %s still answers %s, a pod of %s", h, ip, strings.Join(cond.faulted, ","))
			}
		}
		if cond.exact && strings.Join(ips, ",") != strings.Join(want, ",") {
			return false, fmt.Sprintf("DNS on %s answers %v, the Ready pods are %v", h, ips, want)
		}
	}
	return true, ""
}

func inAny(ip string, nets []netip.Prefix) bool {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	for _, n := range nets {
		if n.Contains(a) {
			return true
		}
	}
	return false
}

// lookupA asks the DNS server at addr for name's A records and returns
// the addresses, sorted.
func lookupA(ctx context.Context, addr, name string) ([]string, error) {
	q := new(mdns.Msg)
	q.SetQuestion(name, mdns.TypeA)
	c := &mdns.Client{Timeout: time.Second}
	m, _, err := c.ExchangeContext(ctx, q, addr)
	if err != nil {
		return nil, err
	}
	if m.Rcode != mdns.RcodeSuccess {
		return nil, fmt.Errorf("%s for %s", mdns.RcodeToString[m.Rcode], name)
	}
	var ips []string
	for _, rr := range m.Answer {
		if a, ok := rr.(*mdns.A); ok {
			ips = append(ips, a.A.String())
		}
	}
	sort.Strings(ips)
	return ips, nil
}

// probeWrite creates a ConfigMap through a random host in cond.via; the
// create joins those whose survival is checked at the end.
func (r *chaosRun) probeWrite(ctx context.Context, cond condition) (bool, string) {
	name, cl, ok := r.pickVia(cond)
	if !ok {
		return false, "no host to write through"
	}
	if err := r.writes.createVia(ctx, cl); err != nil {
		return false, fmt.Sprintf("write through %s: %v", name, err)
	}
	return true, ""
}

// pickVia picks a host of cond.via that is up.
func (r *chaosRun) pickVia(cond condition) (string, *api.Client, bool) {
	var up []string
	for _, h := range r.hosts.up() {
		if contains(cond.via, h) {
			up = append(up, h)
		}
	}
	if len(up) == 0 {
		return "", nil, false
	}
	h := up[rand.IntN(len(up))]
	return h, r.hosts.client(h), true
}

// clientRequest is one line of the client's log: one call of the Service.
type clientRequest struct {
	Start, End time.Time
	OK         bool
	Reason     string // of a failure: timeout, dns, refused, unreachable, http, other
	Detail     string // the pod that answered, or wget's message
}

// parseClientLog reads the client's log. It returns the requests in order
// and how many lines it could not read (a line cut short when the
// container stopped, say).
func parseClientLog(r io.Reader) (reqs []clientRequest, bad int) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if len(f) < 3 {
			bad++
			continue
		}
		start, err1 := parseEpoch(f[0])
		end, err2 := parseEpoch(f[1])
		if err1 != nil || err2 != nil || (f[2] != "ok" && f[2] != "fail") {
			bad++
			continue
		}
		req := clientRequest{Start: start, End: end, OK: f[2] == "ok", Detail: strings.Join(f[3:], " ")}
		if !req.OK {
			rc := ""
			if len(f) > 3 {
				rc, req.Detail = f[3], strings.Join(f[4:], " ")
			}
			req.Reason = failureReason(rc, req.Detail)
		}
		reqs = append(reqs, req)
	}
	return reqs, bad
}

// parseEpoch reads seconds since the epoch with up to nine decimals, as
// busybox's $EPOCHREALTIME gives them.
func parseEpoch(s string) (time.Time, error) {
	sec, frac, _ := strings.Cut(s, ".")
	n, err := strconv.ParseInt(sec, 10, 64)
	if err != nil || len(frac) > 9 || strings.HasPrefix(frac, "-") || strings.HasPrefix(frac, "+") {
		return time.Time{}, fmt.Errorf("%q is not seconds since the epoch", s)
	}
	var ns int64
	if frac != "" {
		f, err := strconv.ParseInt(frac, 10, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("%q is not seconds since the epoch", s)
		}
		ns = f
		for i := len(frac); i < 9; i++ {
			ns *= 10
		}
	}
	return time.Unix(n, ns), nil
}

// failureReason sorts a failed request by what the user saw.
func failureReason(rc, msg string) string {
	m := strings.ToLower(msg)
	switch {
	case rc == "143" || rc == "124" || strings.Contains(m, "timed out"):
		return "timeout"
	case strings.Contains(m, "bad address"):
		return "dns"
	case strings.Contains(m, "refused"):
		return "refused"
	case strings.Contains(m, "unreachable") || strings.Contains(m, "no route"):
		return "unreachable"
	case strings.Contains(m, "server returned error"):
		return "http"
	}
	return "other"
}

// clientWindow counts the requests that started in [from, to).
func clientWindow(reqs []clientRequest, from, to time.Time) clientCounts {
	var w clientCounts
	for _, q := range reqs {
		if q.Start.Before(from) || !q.Start.Before(to) {
			continue
		}
		w.Requests++
		if !q.OK {
			w.Failed++
			if w.Reasons == nil {
				w.Reasons = map[string]int{}
			}
			w.Reasons[q.Reason]++
		}
	}
	return w
}

// readClientLog fetches the client pod's log through the API of the
// client's own host.
func (r *chaosRun) readClientLog(ctx context.Context) ([]clientRequest, int, error) {
	var buf bytes.Buffer
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := r.hosts.client(r.clientHost).Logs(ctx, "default", chaosClient, api.PodLogOptions{Container: "client"}, &buf); err != nil {
		return nil, 0, fmt.Errorf("read the log of pod %s on %s: %w", chaosClient, r.clientHost, err)
	}
	reqs, bad := parseClientLog(&buf)
	return reqs, bad, nil
}
