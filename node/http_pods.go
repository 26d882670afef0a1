package node

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"
	"strings"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/gossip"
	"github.com/shoal-dev/shoal/runtime"
)

// Logs and exec of a pod's containers are served by the pod's node: the
// log files and the containers are there. Any agent accepts the request,
// finds the pod in its replica and, when the pod runs elsewhere, relays
// the request to that node over the cluster's mutual TLS, as the node
// itself (the caller's rights were checked here). A relayed request
// carries proxiedHeader and is never relayed again. Each request is served
// on its own goroutine; nothing here keeps state between requests.

// proxiedHeader marks a request one agent relayed to another; its value
// names the relaying node.
const proxiedHeader = "X-Shoal-Proxied-By"

// podSubresource returns "log" or "exec" for the paths of those pod
// subresources, and "" for every other path.
func podSubresource(path string) string {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	if len(segs) == 7 && segs[0] == "api" && segs[1] == "v1" && segs[2] == "namespaces" && segs[4] == "pods" &&
		(segs[6] == "log" || segs[6] == "exec") {
		return segs[6]
	}
	return ""
}

// podRuntime is the runtime that holds this node's pod containers:
// Config.PodRuntime when set (tests), else containerd; nil when the node
// runs none.
func (a *Agent) podRuntime() runtime.Runtime {
	if a.cfg.PodRuntime != nil {
		return a.cfg.PodRuntime
	}
	if a.rt != nil {
		return a.rt
	}
	return nil
}

// podContainer reads pod ns/name from the replica and resolves the
// container the request names, defaulting to the only one.
func (a *Agent) podContainer(ns, name, container string) (*api.Pod, string, error) {
	if err := api.ValidateNamespace(ns); err != nil {
		return nil, "", err
	}
	obj, err := a.store.Get(api.Key{Kind: "Pod", Namespace: ns, Name: name})
	if err != nil {
		return nil, "", err
	}
	pod := obj.(*api.Pod)
	var names, inits []string
	for _, c := range pod.Spec.Containers {
		names = append(names, c.Name)
	}
	for _, c := range pod.Spec.InitContainers {
		inits = append(inits, c.Name)
	}
	choices := fmt.Sprintf("choose one of: [%s]", strings.Join(names, " "))
	if len(inits) > 0 {
		choices += fmt.Sprintf(" or one of the init containers: [%s]", strings.Join(inits, " "))
	}
	if container == "" {
		if len(names) == 1 {
			return pod, names[0], nil
		}
		return nil, "", api.NewError(api.ReasonBadRequest, "container: a container name must be specified for pod %s (-c NAME), %s", name, choices)
	}
	for _, n := range append(names, inits...) {
		if n == container {
			return pod, container, nil
		}
	}
	return nil, "", api.NewError(api.ReasonBadRequest, "container: %q is not a container of pod %s: %s", container, name, choices)
}

// podNodeAddr says where pod's containers are: here (local), or on the
// node whose API listens at addr. what ("logs of", "exec in") words the
// errors.
func (a *Agent) podNodeAddr(r *http.Request, pod *api.Pod, what string) (node, addr string, local bool, err error) {
	node = pod.Spec.NodeName
	switch {
	case node == "":
		return "", "", false, api.NewError(api.ReasonBadRequest, "%s pod %s: it is not scheduled to a node yet, so no container has run (see `shoal describe pod %s`)", what, pod.Name, pod.Name)
	case node == a.cfg.Name:
		return node, "", true, nil
	case r.Header.Get(proxiedHeader) != "":
		return "", "", false, api.NewError(api.ReasonServiceUnavailable, "%s pod %s: node %s relayed the request here, but this node's replica puts the pod on %s; retry", what, pod.Name, r.Header.Get(proxiedHeader), node)
	case a.gossip == nil:
		return "", "", false, api.NewError(api.ReasonServiceUnavailable, "%s pod %s: it runs on node %s, and this agent is not in contact with the cluster; retry", what, pod.Name, node)
	}
	for _, m := range a.gossip.Members() {
		if m.Name != node {
			continue
		}
		if m.State != gossip.StateAlive {
			return "", "", false, api.NewError(api.ReasonServiceUnavailable, "%s pod %s: its node %s is %s, and the containers are there; retry once the node is back, or delete the pod to have it replaced", what, pod.Name, node, m.State)
		}
		return node, m.Meta.APIAddr, false, nil
	}
	return "", "", false, api.NewError(api.ReasonServiceUnavailable, "%s pod %s: its node %s is not a member of the cluster (see `shoal members`); delete the pod to have it replaced", what, pod.Name, node)
}

// findContainer returns the newest attempt of container name of pod on
// this node, or with previous the attempt before it.
func findContainer(ctx context.Context, rt runtime.Runtime, pod *api.Pod, name string, previous bool) (runtime.ContainerStatus, error) {
	list, err := rt.List(ctx)
	if err != nil {
		return runtime.ContainerStatus{}, err
	}
	var attempts []runtime.ContainerStatus // List sorts them by attempt
	for _, st := range list {
		if st.PodUID == pod.UID && st.Name == name {
			attempts = append(attempts, st)
		}
	}
	switch {
	case previous && len(attempts) < 2:
		return runtime.ContainerStatus{}, api.NewError(api.ReasonBadRequest, "previous terminated container %q in pod %q not found", name, pod.Name)
	case previous:
		return attempts[len(attempts)-2], nil
	case len(attempts) == 0:
		return runtime.ContainerStatus{}, api.NewError(api.ReasonBadRequest, "container %q in pod %q has not been created yet (see `shoal describe pod %s`)", name, pod.Name, pod.Name)
	}
	return attempts[len(attempts)-1], nil
}

// containerState reports the state of container id, StateUnknown when it
// is gone.
func containerState(ctx context.Context, rt runtime.Runtime, id string) runtime.ContainerState {
	list, err := rt.List(ctx)
	if err != nil {
		return runtime.StateRunning // cannot tell: keep following
	}
	for _, st := range list {
		if st.ID == id {
			return st.State
		}
	}
	return runtime.StateUnknown
}

func noRuntimeHere(what string, pod *api.Pod) error {
	return api.NewError(api.ReasonBadRequest, "%s pod %s: it is assigned to this node, which %v", what, pod.Name, strings.TrimPrefix(errNoRuntime().Error(), "this node "))
}

// handlePodLog streams a container's log as text/plain:
// GET /api/v1/namespaces/NS/pods/NAME/log?container=&follow=&previous=&tailLines=&limitBytes=
func (a *Agent) handlePodLog(w http.ResponseWriter, r *http.Request) {
	ns, name := r.PathValue("ns"), r.PathValue("name")
	q := r.URL.Query()
	opts := runtime.LogOptions{TailLines: -1, Follow: q.Get("follow") == "true"}
	if s := q.Get("tailLines"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			writeError(w, api.NewError(api.ReasonBadRequest, "tailLines: %q is not a number of lines (try tailLines=100)", s))
			return
		}
		opts.TailLines = n
	}
	if s := q.Get("limitBytes"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 {
			writeError(w, api.NewError(api.ReasonBadRequest, "limitBytes: %q is not a positive number of bytes", s))
			return
		}
		opts.LimitBytes = n
	}
	pod, container, err := a.podContainer(ns, name, q.Get("container"))
	if err != nil {
		writeError(w, err)
		return
	}
	node, addr, local, err := a.podNodeAddr(r, pod, "logs of")
	if err != nil {
		writeError(w, err)
		return
	}
	if !local {
		a.proxyToNode(w, r, node, addr)
		return
	}
	rt := a.podRuntime()
	if rt == nil {
		writeError(w, noRuntimeHere("logs of", pod))
		return
	}
	st, err := findContainer(r.Context(), rt, pod, container, q.Get("previous") == "true")
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	rc.Flush()
	ctx, cancel := a.streamContext(r)
	defer cancel()
	done := func() bool {
		s := containerState(ctx, rt, st.ID)
		return s != runtime.StateRunning && s != runtime.StateCreated
	}
	out := flushWriter{w: w, rc: rc}
	if err := runtime.ReadLog(ctx, rt.LogPath(st.ID), opts, out, done); err != nil && ctx.Err() == nil {
		a.log.Debug("log stream ended early", "pod", ns+"/"+name, "container", container, "err", err)
	}
}

// streamContext is r's context, also cancelled when the agent stops: the
// HTTP server's shutdown does not end a stream that never goes idle.
func (a *Agent) streamContext(r *http.Request) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(r.Context())
	if a.ctx == nil {
		return ctx, cancel
	}
	stop := context.AfterFunc(a.ctx, cancel)
	return ctx, func() { stop(); cancel() }
}

// flushWriter sends each write to the client at once.
type flushWriter struct {
	w  io.Writer
	rc *http.ResponseController
}

func (f flushWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if err == nil {
		err = f.rc.Flush()
	}
	return n, err
}

// proxyToNode relays a log request to the pod's node, streaming the
// answer as it comes.
func (a *Agent) proxyToNode(w http.ResponseWriter, r *http.Request, node, addr string) {
	rp := &httputil.ReverseProxy{
		Transport:     a.client.Transport,
		FlushInterval: -1,
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme = a.scheme()
			pr.Out.URL.Host = addr
			pr.Out.Host = ""
			pr.Out.Header.Set(proxiedHeader, a.cfg.Name)
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if r.Context().Err() != nil {
				return // the client went away, or this agent is stopping
			}
			writeError(w, api.NewError(api.ReasonServiceUnavailable, "cannot reach node %s at %s, where the pod runs: %v; retry", node, addr, err))
		},
	}
	ctx, cancel := a.streamContext(r)
	defer cancel()
	rp.ServeHTTP(w, r.WithContext(ctx))
}

// isExecUpgrade reports whether r asks to switch to api.ExecProtocol.
func isExecUpgrade(r *http.Request) bool {
	upgrade := false
	for _, v := range r.Header.Values("Connection") {
		for _, tok := range strings.Split(v, ",") {
			upgrade = upgrade || strings.EqualFold(strings.TrimSpace(tok), "upgrade")
		}
	}
	return upgrade && strings.EqualFold(r.Header.Get("Upgrade"), api.ExecProtocol)
}

// handlePodExec runs a command in a container and streams its stdio:
// POST /api/v1/namespaces/NS/pods/NAME/exec?container=&command=...&stdin=&tty=
// upgraded to api.ExecProtocol (see api/execstream.go).
func (a *Agent) handlePodExec(w http.ResponseWriter, r *http.Request) {
	ns, name := r.PathValue("ns"), r.PathValue("name")
	q := r.URL.Query()
	command := q["command"]
	if len(command) == 0 {
		writeError(w, api.NewError(api.ReasonBadRequest, "command: exec in pod %s needs the command to run, as ?command=ls&command=-l (shoal exec %s -- ls -l)", name, name))
		return
	}
	if !isExecUpgrade(r) {
		writeError(w, api.NewError(api.ReasonBadRequest, "exec in pod %s: the request must upgrade the connection (Connection: Upgrade, Upgrade: %s); use `shoal exec`", name, api.ExecProtocol))
		return
	}
	pod, container, err := a.podContainer(ns, name, q.Get("container"))
	if err != nil {
		writeError(w, err)
		return
	}
	node, addr, local, err := a.podNodeAddr(r, pod, "exec in")
	if err != nil {
		writeError(w, err)
		return
	}
	if !local {
		a.proxyExec(w, r, node, addr)
		return
	}
	rt := a.podRuntime()
	if rt == nil {
		writeError(w, noRuntimeHere("exec in", pod))
		return
	}
	st, err := findContainer(r.Context(), rt, pod, container, false)
	if err != nil {
		writeError(w, err)
		return
	}
	if st.State != runtime.StateRunning {
		writeError(w, api.NewError(api.ReasonBadRequest, "exec in pod %s: container %q is %s, not running; exec needs a running container", name, container, st.State))
		return
	}
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		writeError(w, api.NewError(api.ReasonBadRequest, "exec in pod %s: this connection cannot be upgraded (%v); connect over HTTP/1.1", name, err))
		return
	}
	defer conn.Close()
	conn.SetDeadline(time.Time{})
	brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: " + api.ExecProtocol + "\r\n\r\n")
	if err := brw.Flush(); err != nil {
		return
	}
	ctx, cancel := a.streamContext(r)
	defer cancel()
	a.execSession(ctx, conn, brw.Reader, rt, st.ID, runtime.ExecOptions{
		Command: command,
		TTY:     q.Get("tty") == "true",
	}, q.Get("stdin") == "true", fmt.Sprintf("container %q of pod %s/%s", container, ns, name))
}

// execSession runs one exec on an upgraded connection: frames from the
// client feed the command's stdin and terminal size; its output goes back
// as frames, then the exit code (or an error). The command is killed if
// the client goes away or the agent stops.
func (a *Agent) execSession(ctx context.Context, conn net.Conn, in *bufio.Reader, rt runtime.Runtime, id string, opts runtime.ExecOptions, stdin bool, what string) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	fw := api.NewFrameWriter(conn)
	opts.Stdout = fw.Stream(api.StreamStdout)
	opts.Stderr = fw.Stream(api.StreamStderr)
	var pr *io.PipeReader
	var pw *io.PipeWriter
	if stdin {
		pr, pw = io.Pipe()
		opts.Stdin = pr
	}
	resize := make(chan runtime.TermSize, 4)
	if opts.TTY {
		opts.Resize = resize
	}
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		defer close(resize)
		for {
			stream, p, err := api.ReadFrame(in)
			if err != nil {
				// The client hung up: nobody is left to see the output.
				cancel()
				if pw != nil {
					pw.CloseWithError(io.ErrUnexpectedEOF)
				}
				return
			}
			switch stream {
			case api.StreamStdin:
				if pw != nil {
					pw.Write(p)
				}
			case api.StreamStdinEOF:
				if pw != nil {
					pw.Close()
				}
			case api.StreamResize:
				sz, err := api.ParseTerminalSize(p)
				if err != nil || !opts.TTY {
					continue
				}
				select {
				case resize <- runtime.TermSize{Width: sz.Width, Height: sz.Height}:
				default: // the runtime is behind; a later size will follow
				}
			}
		}
	}()
	code, err := rt.Exec(ctx, id, opts)
	switch {
	case err == nil:
		fw.WriteFrame(api.StreamExit, []byte(strconv.Itoa(code)))
	case errors.Is(err, runtime.ErrNotRunning):
		fw.WriteFrame(api.StreamError, []byte("exec in "+what+": it is not running; exec needs a running container"))
	case ctx.Err() == nil:
		fw.WriteFrame(api.StreamError, []byte("exec in "+what+": "+err.Error()))
	}
	conn.Close()
	if pr != nil {
		// Ends the runtime's copy of stdin, and a frame reader blocked
		// on a command that never read its input.
		pr.Close()
	}
	<-readerDone
}

// proxyExec relays an exec to the pod's node: it makes the same upgrade
// request there, as this node, and once both sides have switched it
// copies bytes both ways until either side closes. An answer other than
// 101 is passed back to the client as it is.
func (a *Agent) proxyExec(w http.ResponseWriter, r *http.Request, node, addr string) {
	unreachable := func(err error) {
		writeError(w, api.NewError(api.ReasonServiceUnavailable, "cannot reach node %s at %s, where the pod runs: %v; retry", node, addr, err))
	}
	ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
	up, err := a.dialNode(ctx, addr)
	if err != nil {
		cancel()
		unreachable(err)
		return
	}
	defer up.Close()
	out, err := http.NewRequest(http.MethodPost, a.scheme()+"://"+addr+r.URL.RequestURI(), nil)
	if err != nil {
		cancel()
		unreachable(err)
		return
	}
	out.Header.Set("Connection", "Upgrade")
	out.Header.Set("Upgrade", api.ExecProtocol)
	out.Header.Set(proxiedHeader, a.cfg.Name)
	stop := context.AfterFunc(ctx, func() { up.Close() })
	upr := bufio.NewReader(up)
	err = out.Write(up)
	var resp *http.Response
	if err == nil {
		resp, err = http.ReadResponse(upr, out)
	}
	stopped := stop()
	cancel()
	if err != nil || !stopped {
		if err == nil {
			err = ctx.Err()
		}
		unreachable(err)
		return
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		defer resp.Body.Close()
		for k, vs := range resp.Header {
			for _, v := range vs {
				w.Header().Add(k, v)
			}
		}
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
		return
	}
	client, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		writeError(w, api.NewError(api.ReasonBadRequest, "exec: this connection cannot be upgraded (%v); connect over HTTP/1.1", err))
		return
	}
	defer client.Close()
	client.SetDeadline(time.Time{})
	brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: " + api.ExecProtocol + "\r\n\r\n")
	if err := brw.Flush(); err != nil {
		return
	}
	if a.ctx != nil {
		defer context.AfterFunc(a.ctx, func() { client.Close(); up.Close() })()
	}
	toNode := make(chan struct{})
	go func() {
		defer close(toNode)
		io.Copy(up, brw.Reader)
		up.Close()
	}()
	io.Copy(client, upr)
	client.Close()
	up.Close()
	<-toNode
}

// dialNode opens a connection to another agent's API for an upgrade:
// mutual TLS as this node (plain TCP with --insecure-dev), HTTP/1.1 only.
func (a *Agent) dialNode(ctx context.Context, addr string) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil || a.sec == nil {
		return conn, err
	}
	cfg := a.sec.client.Clone()
	cfg.NextProtos = []string{"http/1.1"}
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		conn.Close()
		return nil, err
	}
	return tc, nil
}
