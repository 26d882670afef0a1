package gossip

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"time"
)

// RetryJoin backoff: the first wait, its cap, and the jitter taken off.
const (
	retryMin    = time.Second
	retryMax    = 30 * time.Second
	retryJitter = 0.2 // each wait is d minus up to 20% of d
)

// Join makes one attempt to join the cluster through each address, in
// turn, and returns how many it reached. An address is "host" or
// "host:port"; without a port it means DefaultPort. It succeeds if any
// address was reached; otherwise the error names each address and why,
// wrapping ErrJoin, ErrNameConflict (another node holds this name) or
// ErrWrongKey (the join token is probably wrong). Join is safe to call
// concurrently (calls are serialized) and again after success.
func (g *Gossip) Join(addrs []string) (int, error) {
	if len(addrs) == 0 {
		return 0, ErrNoAddrs
	}
	if g.isShutdown() {
		return 0, ErrShutdown
	}
	g.joinMu.Lock()
	defer g.joinMu.Unlock()

	var errs []error
	joined := 0
	for _, a := range addrs {
		addr, err := normalizeAddr(a)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		g.delegate.beginJoin()
		n, err := g.ml.Join([]string{addr})
		refusal := g.delegate.endJoin()
		if err == nil && n > 0 {
			joined += n
			continue
		}
		errs = append(errs, g.joinError(addr, err, refusal))
	}
	if joined > 0 {
		for _, err := range errs {
			g.logger.Warn("gossip: could not join one of the addresses", "err", err)
		}
		g.logger.Info("gossip: joined", "reached", joined, "members", g.NumAlive())
		return joined, nil
	}
	if len(errs) == 1 {
		return 0, errs[0]
	}
	return 0, &multiJoinError{errs: errs}
}

// joinError turns memberlist's flattened error for one address into one
// that says what to do. refusal is the merge refusal recorded during the
// attempt, if any.
func (g *Gossip) joinError(addr string, err error, refusal error) error {
	if err == nil {
		return &joinError{addr: addr, sentinel: ErrJoin, detail: "no node answered"}
	}
	msg := err.Error()
	g.logger.Debug("gossip: join attempt failed", "addr", addr, "err", msg)
	if refusal != nil && strings.Contains(msg, refusal.Error()) {
		return refusal
	}
	low := strings.ToLower(msg)
	has := func(subs ...string) bool {
		for _, s := range subs {
			if strings.Contains(low, s) {
				return true
			}
		}
		return false
	}
	encrypted := !g.cfg.Insecure
	switch {
	case has("connection refused"):
		return &joinError{addr: addr, sentinel: ErrJoin,
			detail: "connection refused: nothing listens there (is the agent running, and is that its gossip port?)"}
	case has("no such host", "failed to resolve"):
		return &joinError{addr: addr, sentinel: ErrJoin, detail: "cannot resolve the address: " + lastLine(msg)}
	case has("i/o timeout", "deadline exceeded"):
		return &joinError{addr: addr, sentinel: ErrJoin,
			detail: "no answer in time (a firewall, a wrong address, or the agent is overloaded)"}
	// memberlist's messages below are from this node's side: about the
	// answer it got (the remote answers a bad join with an error message).
	case has("no installed keys could decrypt"):
		return &joinError{addr: addr, sentinel: ErrWrongKey,
			detail: "its answer could not be decrypted: the join token is probably wrong (this node's gossip key does not match the cluster's)"}
	case has("remote state is encrypted and encryption is not configured"):
		return &joinError{addr: addr, sentinel: ErrWrongKey,
			detail: "the cluster encrypts gossip but this node has no key: the join token is probably missing or wrong"}
	case has("encryption is configured but remote state is not encrypted"):
		return &joinError{addr: addr, sentinel: ErrWrongKey,
			detail: "the cluster does not encrypt gossip but this node has a key: the join token is probably wrong, or the cluster runs insecure"}
	case has("eof", "connection reset", "broken pipe"):
		// The remote accepted the connection and hung up without an
		// answer: it could not decrypt (or verify) what we sent.
		return &joinError{addr: addr, sentinel: ErrWrongKey,
			detail: "the node hung up without answering: the join token is probably wrong" + keyHint(encrypted)}
	default:
		return &joinError{addr: addr, sentinel: ErrJoin, detail: lastLine(msg)}
	}
}

func keyHint(encrypted bool) string {
	if encrypted {
		return " (this node's gossip key does not match the cluster's)"
	}
	return " (this node runs without a key; the cluster may require one)"
}

// lastLine strips memberlist's multierror decoration ("1 error occurred:
// * failed to join x: ...") down to the innermost message.
func lastLine(msg string) string {
	msg = strings.TrimSpace(msg)
	if i := strings.LastIndex(msg, "\n"); i >= 0 {
		msg = strings.TrimSpace(msg[i+1:])
	}
	msg = strings.TrimPrefix(msg, "* ")
	if strings.HasPrefix(msg, "failed to join ") {
		if i := strings.Index(msg, ": "); i >= 0 {
			msg = msg[i+2:]
		}
	}
	return msg
}

// RetryJoin calls Join until it succeeds, ctx is done or g is shut down.
// Waits start at 1s and double up to 30s, with jitter, timed by
// Config.Clock. Each failed attempt is logged once. It returns nil on
// success, or the context's error joined with the last join error.
func (g *Gossip) RetryJoin(ctx context.Context, addrs []string) error {
	if len(addrs) == 0 {
		return ErrNoAddrs
	}
	wait := retryMin
	for attempt := 1; ; attempt++ {
		_, err := g.Join(addrs)
		if err == nil {
			return nil
		}
		if errors.Is(err, ErrShutdown) {
			return err
		}
		d := jitter(wait)
		g.logger.Warn("gossip: join failed, will retry", "attempt", attempt, "retry_in", d.Round(time.Millisecond), "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("gossip: gave up joining %s after %d attempt(s): %w (last error: %w)",
				strings.Join(addrs, ", "), attempt, ctx.Err(), err)
		case <-g.done:
			return ErrShutdown
		case <-g.clock.After(d):
		}
		wait = min(wait*2, retryMax)
	}
}

func jitter(d time.Duration) time.Duration {
	return d - time.Duration(rand.Float64()*retryJitter*float64(d))
}

// normalizeAddr returns addr as host:port, adding DefaultPort.
func normalizeAddr(addr string) (string, error) {
	a := strings.TrimSpace(addr)
	if a == "" {
		return "", &joinError{addr: addr, sentinel: ErrJoin, detail: "empty address"}
	}
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		// No port: "host", "1.2.3.4", "::1" or "[::1]".
		host = a
		bracketed := strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]")
		if bracketed {
			host = host[1 : len(host)-1]
		}
		if strings.ContainsAny(host, "[]") || (strings.Contains(host, ":") || bracketed) && net.ParseIP(host) == nil {
			return "", &joinError{addr: addr, sentinel: ErrJoin, detail: "not a host, host:port or [IPv6]:port"}
		}
		return net.JoinHostPort(host, strconv.Itoa(DefaultPort)), nil
	}
	if host == "" {
		return "", &joinError{addr: addr, sentinel: ErrJoin, detail: "no host before the port"}
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return "", &joinError{addr: addr, sentinel: ErrJoin, detail: fmt.Sprintf("port %q is not a number from 1 to 65535", port)}
	}
	return net.JoinHostPort(host, port), nil
}

// joinError is a failed join of one address.
type joinError struct {
	addr     string
	detail   string
	sentinel error
}

func (e *joinError) Error() string {
	return fmt.Sprintf("gossip: cannot join %s: %s", e.addr, e.detail)
}

func (e *joinError) Unwrap() error { return e.sentinel }

// multiJoinError is a join that failed at every one of several addresses.
type multiJoinError struct{ errs []error }

func (e *multiJoinError) Error() string {
	parts := make([]string, len(e.errs))
	for i, err := range e.errs {
		parts[i] = strings.TrimPrefix(err.Error(), "gossip: ")
	}
	return "gossip: join failed at every address: " + strings.Join(parts, "; ")
}

func (e *multiJoinError) Unwrap() []error {
	return append(append([]error(nil), e.errs...), ErrJoin)
}
