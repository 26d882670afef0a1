package runtime

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shoal-dev/shoal/api"
)

// ProbeTarget is what a probe checks: one running container.
type ProbeTarget struct {
	// PodIP is where HTTP and TCP probes connect.
	PodIP string
	// Ports are the container's ports; they resolve named probe ports
	// (port: "http").
	Ports []api.ContainerPort
	// Exec runs cmd in the container and returns its exit code and its
	// combined output. It must return once ctx is done. A nil Exec makes
	// every exec probe fail.
	Exec func(ctx context.Context, cmd []string) (exitCode int, output string, err error)
}

// Probe defaults, as in Kubernetes. api.SetDefaults writes the same values
// into the spec; they are repeated here so that a probe that skipped
// defaulting still behaves.
const (
	defaultProbeTimeout     = time.Second
	defaultProbePeriod      = 10 * time.Second
	defaultSuccessThreshold = 1
	defaultFailureThreshold = 3
)

const (
	// probeUserAgent is the User-Agent of HTTP probes, unless the probe
	// sets its own.
	probeUserAgent = "shoal-probe/1.0"
	// maxProbeBody is how much of an HTTP probe's response body is read
	// before the connection is closed.
	maxProbeBody = 10 << 10
	// maxProbeMessage caps the command output kept in a probe's message.
	maxProbeMessage = 1 << 10
)

// probeTransport is shared by every HTTP probe. It keeps no idle
// connections, so each probe opens its own, as a fresh client would; it
// ignores proxy settings, since pod IPs are reached directly; and, as in
// Kubernetes, HTTPS probes do not verify the certificate.
var probeTransport = &http.Transport{
	Proxy:             nil,
	DialContext:       (&net.Dialer{}).DialContext,
	TLSClientConfig:   &tls.Config{InsecureSkipVerify: true},
	DisableKeepAlives: true,
}

// probeClient does not follow redirects: a 3xx answer is itself a success,
// and a probe never wanders to another host.
var probeClient = &http.Client{
	Transport: probeTransport,
	CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	},
}

// probeTimeout is how long one run of p may take.
func probeTimeout(p *api.Probe) time.Duration {
	if p.TimeoutSeconds <= 0 {
		return defaultProbeTimeout
	}
	return time.Duration(p.TimeoutSeconds) * time.Second
}

// runProbe runs p once against t and reports whether it passed. message
// says why it failed, in words for an event or a container status; on
// success it is empty, or an exec probe's output. The run is bounded by
// p's timeoutSeconds (1 s when unset) and by ctx. runProbe is safe for
// concurrent use.
func runProbe(ctx context.Context, p *api.Probe, t ProbeTarget) (ok bool, message string) {
	if p == nil {
		return false, "no probe to run"
	}
	budget := probeTimeout(p)
	if dl, ok := ctx.Deadline(); ok {
		budget = min(budget, time.Until(dl))
	}
	ctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	switch {
	case p.Exec != nil:
		return execProbe(ctx, budget, p.Exec, t)
	case p.HTTPGet != nil:
		return httpProbe(ctx, budget, p.HTTPGet, t)
	case p.TCPSocket != nil:
		return tcpProbe(ctx, budget, p.TCPSocket, t)
	}
	return false, "the probe has no handler: set one of exec, httpGet or tcpSocket"
}

// execProbe runs the command through t.Exec; exit code 0 passes.
func execProbe(ctx context.Context, budget time.Duration, a *api.ExecAction, t ProbeTarget) (bool, string) {
	if len(a.Command) == 0 {
		return false, "exec probe has no command to run"
	}
	cmd := strings.Join(a.Command, " ")
	if t.Exec == nil {
		return false, fmt.Sprintf("cannot run %q: this container does not support exec", cmd)
	}
	code, out, err := t.Exec(ctx, slices.Clone(a.Command))
	out = clip(strings.TrimSpace(out), maxProbeMessage)
	if (err != nil || code != 0) && ctx.Err() != nil {
		return false, fmt.Sprintf("command %q %s", cmd, ctxFailure(ctx, budget))
	}
	if err != nil {
		return false, fmt.Sprintf("command %q could not run: %v", cmd, err)
	}
	if code != 0 {
		msg := fmt.Sprintf("command %q exited with code %d", cmd, code)
		if out != "" {
			msg += ": " + out
		}
		return false, msg
	}
	return true, out
}

// httpProbe sends one GET; a status from 200 to 399 passes.
func httpProbe(ctx context.Context, budget time.Duration, a *api.HTTPGetAction, t ProbeTarget) (bool, string) {
	port, err := resolveProbePort(a.Port, t.Ports)
	if err != nil {
		return false, "HTTP probe: " + err.Error()
	}
	if t.PodIP == "" {
		return false, "HTTP probe: the pod has no IP yet"
	}
	u := probeURL(a.Scheme, t.PodIP, port, a.Path)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return false, fmt.Sprintf("HTTP probe: cannot build a request for %s: %v", u, err)
	}
	req.Header.Set("User-Agent", probeUserAgent)
	req.Header.Set("Accept", "*/*")
	for _, h := range a.HTTPHeaders {
		if strings.EqualFold(h.Name, "Host") {
			req.Host = h.Value
			continue
		}
		req.Header.Set(h.Name, h.Value)
	}
	resp, err := probeClient.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return false, fmt.Sprintf("HTTP probe: GET %s %s", u, ctxFailure(ctx, budget))
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return false, fmt.Sprintf("HTTP probe: GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	_, _ = io.CopyN(io.Discard, resp.Body, maxProbeBody)
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return false, fmt.Sprintf("HTTP probe failed with statuscode: %d", resp.StatusCode)
	}
	return true, ""
}

// probeURL is scheme://ip:port/path, where path may carry a query.
func probeURL(scheme api.URIScheme, ip string, port int, path string) *url.URL {
	if path == "" {
		path = "/"
	}
	u, err := url.Parse(path)
	if err != nil {
		u = &url.URL{Path: path}
	}
	u.Scheme = "http"
	if strings.EqualFold(string(scheme), string(api.URISchemeHTTPS)) {
		u.Scheme = "https"
	}
	u.Host = net.JoinHostPort(ip, strconv.Itoa(port))
	return u
}

// tcpProbe passes when a TCP connection opens.
func tcpProbe(ctx context.Context, budget time.Duration, a *api.TCPSocketAction, t ProbeTarget) (bool, string) {
	port, err := resolveProbePort(a.Port, t.Ports)
	if err != nil {
		return false, "TCP probe: " + err.Error()
	}
	if t.PodIP == "" {
		return false, "TCP probe: the pod has no IP yet"
	}
	addr := net.JoinHostPort(t.PodIP, strconv.Itoa(port))
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		if ctx.Err() != nil {
			return false, fmt.Sprintf("dial tcp %s: %s", addr, ctxFailure(ctx, budget))
		}
		return false, err.Error()
	}
	_ = conn.Close()
	return true, ""
}

// resolveProbePort turns a probe's port, a number or the name of one of
// the container's ports, into a TCP port number.
func resolveProbePort(port api.IntOrString, ports []api.ContainerPort) (int, error) {
	n := int(port.IntVal)
	if port.Type == api.IntOrStringString {
		var names []string
		found := false
		for _, cp := range ports {
			if cp.Name == "" {
				continue
			}
			if cp.Name == port.StrVal {
				if cp.Protocol != "" && cp.Protocol != api.ProtocolTCP {
					return 0, fmt.Errorf("port %q is %s; probes need a TCP port", port.StrVal, cp.Protocol)
				}
				n, found = int(cp.ContainerPort), true
				break
			}
			names = append(names, cp.Name)
		}
		if !found {
			if len(names) == 0 {
				return 0, fmt.Errorf("port %q is not a port of the container, which names none (name it under ports or use its number)", port.StrVal)
			}
			return 0, fmt.Errorf("port %q is not a port of the container (its named ports: %s)", port.StrVal, strings.Join(names, ", "))
		}
	}
	if n < 1 || n > 65535 {
		return 0, fmt.Errorf("port %s is out of range (1-65535)", port)
	}
	return n, nil
}

// ctxFailure says why ctx ended: the probe ran out of its budget, or it
// was stopped.
func ctxFailure(ctx context.Context, budget time.Duration) string {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return "timed out after " + budget.Round(time.Millisecond).String()
	}
	return "was cancelled"
}

// clip shortens s to at most n bytes, marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}
