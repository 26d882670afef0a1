package dns

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// BenchmarkDNSPerf serves benchIndex on loopback and runs dnsperf against
// it once, with the arguments in SHOAL_DNSPERF (such as "-l 10 -q 200";
// "-l 10" when unset). Run it with -benchtime=1x; it needs Debian's
// dnsperf. BENCHMARKS.md has the numbers.
// SHOAL_DNSPERF_BALLAST_MB keeps that much pointer-rich heap alive, as an
// agent's replica does, so garbage collection costs what it costs there;
// SHOAL_DNSPERF_HOG=1 keeps both Ps busy for 300 ms every 2 s, as a
// leader's controllers do, to show what that does to the tail.
func BenchmarkDNSPerf(b *testing.B) {
	if _, err := exec.LookPath("dnsperf"); err != nil {
		b.Skip("dnsperf not found: install it with `apt-get install -y dnsperf` to run this benchmark")
	}
	args := os.Getenv("SHOAL_DNSPERF")
	if args == "" {
		args = "-l 10"
	}
	var ballast [][]*[64]byte
	if mb := os.Getenv("SHOAL_DNSPERF_BALLAST_MB"); mb != "" {
		var n int
		fmt.Sscan(mb, &n)
		for range n {
			chunk := make([]*[64]byte, 1<<14)
			for i := range chunk {
				chunk[i] = new([64]byte)
			}
			ballast = append(ballast, chunk)
		}
	}
	if os.Getenv("SHOAL_DNSPERF_HOG") != "" {
		// Two goroutines that keep both Ps busy for 300 ms every 2 s, as
		// a leader's controller passes over many pods do.
		stop := make(chan struct{})
		defer close(stop)
		for range 2 {
			go func() {
				for {
					select {
					case <-stop:
						return
					case <-time.After(2 * time.Second):
					}
					for end := time.Now().Add(300 * time.Millisecond); time.Now().Before(end); {
						_ = make([]byte, 64)
					}
				}
			}()
		}
	}
	srv := NewServer(NewHandler(HandlerConfig{Domain: "cluster.local", Reader: benchIndex()}), nil)
	ip := fmt.Sprintf("127.0.%d.%d", rand.IntN(250), 1+rand.IntN(250))
	addr, err := srv.Listen(ip + ":5300")
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	var q strings.Builder
	for i := range 1000 {
		fmt.Fprintf(&q, "svc-%d.ns-%d.svc.cluster.local A\n", i, i/10)
	}
	file := filepath.Join(b.TempDir(), "queries")
	os.WriteFile(file, []byte(q.String()), 0o644)
	cmd := exec.Command("dnsperf", append([]string{"-s", ip, "-p", "5300", "-d", file}, strings.Fields(args)...)...)
	out, err := cmd.CombinedOutput()
	var lat []float64
	var summary strings.Builder
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "> ") {
			f := strings.Fields(line)
			var v float64
			fmt.Sscan(f[len(f)-1], &v)
			lat = append(lat, v)
			continue
		}
		summary.WriteString(line + "\n")
	}
	if len(lat) > 0 {
		sort.Float64s(lat)
		fmt.Fprintf(&summary, "p50 %.3f ms p99 %.3f ms p99.9 %.3f ms of %d\n", lat[len(lat)/2]*1000, lat[len(lat)*99/100]*1000, lat[len(lat)*999/1000]*1000, len(lat))
	}
	b.Logf("%s\n%s", addr, summary.String())
	if err != nil {
		b.Fatal(err)
	}
	_ = ballast
}
