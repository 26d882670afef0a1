package api

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// PodLogOptions say which container's log Logs reads, and how much.
type PodLogOptions struct {
	Container string // required when the pod has several containers
	Follow    bool   // keep streaming until the container exits
	Previous  bool   // the container's previous attempt (after a restart)
	// TailLines is how many lines from the end to start with; nil means
	// the whole log.
	TailLines *int64
	// LimitBytes stops the log after that many bytes; 0 means no limit.
	LimitBytes int64
}

// PodExecOptions is one command for Exec to run in a pod's container.
type PodExecOptions struct {
	Container string   // required when the pod has several containers
	Command   []string // required
	// Stdin, if not nil, is copied to the command until it ends. Exec
	// does not wait for it to end, so a Read may be left pending.
	Stdin  io.Reader
	Stdout io.Writer // nil discards
	Stderr io.Writer // nil discards; with TTY, output all comes on Stdout
	TTY    bool
	// Resize, with TTY, sends the local terminal's size: send the
	// current size first, then each change.
	Resize <-chan TerminalSize
}

// PodPath returns the API path of pod name in ns, plus sub ("log",
// "exec") when not empty.
func PodPath(ns, name, sub string) string {
	if ns == "" {
		ns = "default"
	}
	p := "/api/v1/namespaces/" + url.PathEscape(ns) + "/pods/" + url.PathEscape(name)
	if sub != "" {
		p += "/" + sub
	}
	return p
}

// Logs copies the log of a container of pod name in ns to w: all of it,
// or as opts say; with Follow, until the container exits or ctx ends.
// The agent the client talks to fetches the log from the pod's node.
func (c *Client) Logs(ctx context.Context, ns, name string, opts PodLogOptions, w io.Writer) error {
	q := url.Values{}
	if opts.Container != "" {
		q.Set("container", opts.Container)
	}
	if opts.Follow {
		q.Set("follow", "true")
	}
	if opts.Previous {
		q.Set("previous", "true")
	}
	if opts.TailLines != nil {
		q.Set("tailLines", strconv.FormatInt(*opts.TailLines, 10))
	}
	if opts.LimitBytes > 0 {
		q.Set("limitBytes", strconv.FormatInt(opts.LimitBytes, 10))
	}
	u := c.Base + PodPath(ns, name, "log")
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	hc := *c.HTTP
	hc.Timeout = 0 // a followed log lasts as long as the container
	resp, err := hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return NewError(ReasonServiceUnavailable, "cannot reach the shoal agent at %s: %v (is `shoal agent` running? set --server or SHOAL_SERVER)", c.Base, unwrapURLError(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return readStatus(resp)
	}
	if _, err := io.Copy(w, resp.Body); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("log of pod %s: the stream broke: %w", name, err)
	}
	return nil
}

// Exec runs opts.Command in a container of pod name in ns, wherever the
// pod runs, and returns the command's exit code. It opens its own
// connection to the agent (the client's TLS settings, HTTP/1.1), upgrades
// it to ExecProtocol and streams until the command exits. An error means
// the command did not run to its end: the pod or container is missing or
// not running, the command could not start, the connection broke, or ctx
// ended (which kills the command).
func (c *Client) Exec(ctx context.Context, ns, name string, opts PodExecOptions) (int, error) {
	if len(opts.Command) == 0 {
		return -1, NewError(ReasonBadRequest, "exec in pod %s: no command given (shoal exec POD -- COMMAND [ARGS...])", name)
	}
	q := url.Values{"command": opts.Command}
	if opts.Container != "" {
		q.Set("container", opts.Container)
	}
	if opts.Stdin != nil {
		q.Set("stdin", "true")
	}
	if opts.TTY {
		q.Set("tty", "true")
	}
	base, err := url.Parse(c.Base)
	if err != nil {
		return -1, fmt.Errorf("server %q is not a URL: %w", c.Base, err)
	}
	conn, err := c.dialUpgrade(ctx, base)
	if err != nil {
		return -1, NewError(ReasonServiceUnavailable, "cannot reach the shoal agent at %s: %v (is `shoal agent` running? set --server or SHOAL_SERVER)", c.Base, err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	req, err := http.NewRequest(http.MethodPost, c.Base+PodPath(ns, name, "exec")+"?"+q.Encode(), nil)
	if err != nil {
		return -1, err
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", ExecProtocol)
	br := bufio.NewReader(conn)
	if err := req.Write(conn); err != nil {
		return -1, c.execConnError(ctx, name, err)
	}
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		return -1, c.execConnError(ctx, name, err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		defer resp.Body.Close()
		if resp.StatusCode/100 == 2 {
			return -1, fmt.Errorf("exec in pod %s: the agent at %s answered %s instead of switching to %s (is it older than this client?)", name, c.Base, resp.Status, ExecProtocol)
		}
		return -1, readStatus(resp)
	}
	if !strings.EqualFold(resp.Header.Get("Upgrade"), ExecProtocol) {
		return -1, fmt.Errorf("exec in pod %s: the agent switched to %q, not %s", name, resp.Header.Get("Upgrade"), ExecProtocol)
	}

	fw := NewFrameWriter(conn)
	finished := make(chan struct{})
	defer close(finished)
	if opts.Stdin != nil {
		go func() {
			buf := make([]byte, 32<<10)
			for {
				n, err := opts.Stdin.Read(buf)
				if n > 0 && fw.WriteFrame(StreamStdin, buf[:n]) != nil {
					return
				}
				if err != nil {
					fw.WriteFrame(StreamStdinEOF, nil)
					return
				}
			}
		}()
	}
	if opts.TTY && opts.Resize != nil {
		go func() {
			for {
				select {
				case sz, ok := <-opts.Resize:
					if !ok || fw.WriteFrame(StreamResize, []byte(sz.String())) != nil {
						return
					}
				case <-finished:
					return
				}
			}
		}()
	}
	stdout, stderr := opts.Stdout, opts.Stderr
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	for {
		stream, p, err := ReadFrame(br)
		if err != nil {
			if ctx.Err() != nil {
				return -1, ctx.Err()
			}
			return -1, fmt.Errorf("exec in pod %s: the connection ended before the command's exit code arrived: %w", name, err)
		}
		switch stream {
		case StreamStdout:
			if _, err := stdout.Write(p); err != nil {
				return -1, fmt.Errorf("exec in pod %s: write the command's output: %w", name, err)
			}
		case StreamStderr:
			if _, err := stderr.Write(p); err != nil {
				return -1, fmt.Errorf("exec in pod %s: write the command's error output: %w", name, err)
			}
		case StreamExit:
			code, err := strconv.Atoi(string(p))
			if err != nil {
				return -1, fmt.Errorf("exec in pod %s: the agent sent exit code %q, not a number", name, p)
			}
			return code, nil
		case StreamError:
			return -1, errors.New(string(p))
		}
	}
}

// dialUpgrade opens a connection to the agent at base for an upgrade:
// TLS with the client's own settings for https, restricted to HTTP/1.1
// (an upgrade cannot ride on HTTP/2).
func (c *Client) dialUpgrade(ctx context.Context, base *url.URL) (net.Conn, error) {
	host := base.Host
	if base.Port() == "" {
		port := "80"
		if base.Scheme == "https" {
			port = "443"
		}
		host = net.JoinHostPort(base.Hostname(), port)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return nil, err
	}
	if base.Scheme != "https" {
		return conn, nil
	}
	var cfg *tls.Config
	var t *http.Transport
	if c.HTTP != nil {
		t, _ = c.HTTP.Transport.(*http.Transport)
	}
	if t != nil && t.TLSClientConfig != nil {
		cfg = t.TLSClientConfig.Clone()
	} else {
		cfg = &tls.Config{}
	}
	cfg.NextProtos = []string{"http/1.1"}
	if cfg.ServerName == "" {
		cfg.ServerName = base.Hostname()
	}
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		conn.Close()
		return nil, err
	}
	return tc, nil
}

func (c *Client) execConnError(ctx context.Context, name string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return NewError(ReasonServiceUnavailable, "exec in pod %s: the connection to %s broke: %v", name, c.Base, err)
}
