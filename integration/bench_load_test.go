package integration

// Shared pieces of the benchmarks: a closed-loop load generator with one
// keep-alive HTTP client per worker, percentiles, and the object bodies.
// Benchmarks report numbers through b.ReportMetric and never assert timings.

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// benchPayloadBytes is the size of each ConfigMap's data value.
const benchPayloadBytes = 256

var benchPayload = strings.Repeat("0123456789abcdef", benchPayloadBytes/16)

// benchDuration is how long one measured load window lasts:
// SHOAL_BENCH_DURATION (a Go duration), 10s by default.
func benchDuration(b *testing.B) time.Duration {
	return envDuration(b, "SHOAL_BENCH_DURATION", 10*time.Second)
}

// benchWarmup is the unmeasured load before each window:
// SHOAL_BENCH_WARMUP, 2s by default.
func benchWarmup(b *testing.B) time.Duration {
	return envDuration(b, "SHOAL_BENCH_WARMUP", 2*time.Second)
}

func envDuration(b *testing.B, name string, def time.Duration) time.Duration {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		b.Fatalf("%s=%q is not a positive Go duration (such as 10s)", name, v)
	}
	return d
}

// configMapJSON is the body of a ConfigMap create: about 370 bytes, of
// which benchPayloadBytes are data.
func configMapJSON(name string) []byte {
	return fmt.Appendf(nil, `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":%q,"namespace":"default"},"data":{"value":%q}}`, name, benchPayload)
}

// newBenchHTTPClient is one worker's keep-alive client. Its transport keeps
// up to conns idle connections per host, so connections are reused instead
// of being closed after each request.
func newBenchHTTPClient(conns int, tlsConf *tls.Config) *http.Client {
	if tlsConf != nil {
		tlsConf = tlsConf.Clone()
	}
	return &http.Client{Transport: &http.Transport{
		TLSClientConfig:     tlsConf,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     0,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}}
}

// postJSON sends body and drains the answer; a status other than want is
// an error.
func postJSON(ctx context.Context, hc *http.Client, url string, body []byte, want int) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(msg)))
	}
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}

// loadResult is what one or more measured windows produced.
type loadResult struct {
	ok, errs int
	lat      []time.Duration // of successful writes in the window
	window   time.Duration   // total measured time
	firstErr error
}

func (r *loadResult) add(o loadResult) {
	r.ok += o.ok
	r.errs += o.errs
	r.lat = append(r.lat, o.lat...)
	r.window += o.window
	if r.firstErr == nil {
		r.firstErr = o.firstErr
	}
}

// apiTarget is how to reach one agent's API: the base URL and the TLS
// settings of the harness's own client for it (nil for plain HTTP), so the
// benchmarks follow whatever the harness uses.
type apiTarget struct {
	base string
	tls  *tls.Config
}

func targetOf(a *agent) apiTarget {
	cl := a.client()
	t := apiTarget{base: cl.Base}
	if cl.HTTP != nil {
		if tr, ok := cl.HTTP.Transport.(*http.Transport); ok && tr.TLSClientConfig != nil {
			t.tls = tr.TLSClientConfig
		}
	}
	return t
}

// writeFunc performs write number seq of worker w with that worker's client.
type writeFunc func(ctx context.Context, hc *http.Client, w, seq int) error

// runLoad runs clients closed-loop workers, each with its own keep-alive
// client: warmup unmeasured, then dur measured. Writes that complete inside
// the measured window count; their latencies are kept.
func runLoad(clients int, tlsConf *tls.Config, warmup, dur time.Duration, write writeFunc) loadResult {
	start := time.Now()
	from, until := start.Add(warmup), start.Add(warmup+dur)
	type workerResult struct {
		ok, errs int
		lat      []time.Duration
		firstErr error
	}
	results := make([]workerResult, clients)
	var wg sync.WaitGroup
	for w := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hc := newBenchHTTPClient(clients, tlsConf)
			defer hc.CloseIdleConnections()
			res := &results[w]
			res.lat = make([]time.Duration, 0, 4096)
			for seq := 0; ; seq++ {
				t0 := time.Now()
				if !t0.Before(until) {
					return
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				err := write(ctx, hc, w, seq)
				cancel()
				t1 := time.Now()
				if t1.Before(from) || t1.After(until) {
					if err != nil {
						time.Sleep(10 * time.Millisecond)
					}
					continue
				}
				if err != nil {
					res.errs++
					if res.firstErr == nil {
						res.firstErr = err
					}
					time.Sleep(10 * time.Millisecond)
					continue
				}
				res.ok++
				res.lat = append(res.lat, t1.Sub(t0))
			}
		}()
	}
	wg.Wait()
	out := loadResult{window: dur}
	for _, r := range results {
		out.add(loadResult{ok: r.ok, errs: r.errs, lat: r.lat, firstErr: r.firstErr})
	}
	return out
}

// reportLoad reports writes/s, latency percentiles and errors.
func reportLoad(b *testing.B, r loadResult) {
	b.Helper()
	if r.firstErr != nil {
		b.Logf("%d writes failed; the first: %v", r.errs, r.firstErr)
	}
	b.ReportMetric(0, "ns/op") // an op is a whole load window; meaningless
	if r.window > 0 {
		b.ReportMetric(float64(r.ok)/r.window.Seconds(), "writes/s")
	}
	b.ReportMetric(ms(percentile(r.lat, 0.50)), "p50-ms")
	b.ReportMetric(ms(percentile(r.lat, 0.99)), "p99-ms")
	b.ReportMetric(float64(r.errs), "errors")
	b.Logf("%d writes in %s: %.0f writes/s, p50 %.2f ms, p99 %.2f ms, max %.2f ms, %d errors",
		r.ok, r.window, float64(r.ok)/r.window.Seconds(), ms(percentile(r.lat, 0.5)),
		ms(percentile(r.lat, 0.99)), ms(percentile(r.lat, 1)), r.errs)
}

// percentile is the nearest-rank percentile p (0..1] of ds; 0 if empty.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(p*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
