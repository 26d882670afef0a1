package dns

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/shoal-dev/shoal/api"
)

// serve starts a Server on loopback answering from idx.
func serve(t *testing.T, idx *Index) (*Server, string) {
	t.Helper()
	srv := NewServer(NewHandler(HandlerConfig{Domain: "cluster.local", Reader: idx}), nil)
	addr, err := srv.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	return srv, addr
}

func exchange(t *testing.T, net, addr string, q *mdns.Msg) *mdns.Msg {
	t.Helper()
	c := &mdns.Client{Net: net, Timeout: 2 * time.Second}
	m, _, err := c.Exchange(q, addr)
	if err != nil {
		t.Fatalf("%s query %s: %v", net, q.Question[0].Name, err)
	}
	return m
}

func TestServerUDPAndTCP(t *testing.T) {
	idx := NewIndex()
	objs := append(testState(), bigState(300)...)
	resetAll(idx, objs)
	_, addr := serve(t, idx)

	for _, network := range []string{"udp", "tcp"} {
		m := exchange(t, network, addr, query("Web.Default.svc.cluster.local.", mdns.TypeA, 0))
		if got := summary(m); got != "NOERROR aa=true tc=false ans=[Web.Default.svc.cluster.local. 5 A 10.244.1.5 Web.Default.svc.cluster.local. 5 A 10.244.2.7] ns=[] extra=[]" {
			t.Errorf("%s: %s", network, got)
		}
		m = exchange(t, network, addr, query("nope.default.svc.cluster.local.", mdns.TypeA, 1232))
		if m.Rcode != mdns.RcodeNameError || len(m.Ns) != 1 || m.IsEdns0() == nil {
			t.Errorf("%s NXDOMAIN: %v", network, m)
		}
	}

	// A large answer: truncated over UDP, whole over TCP, as a client
	// falls back.
	big := query("big.default.svc.cluster.local.", mdns.TypeA, 0)
	if m := exchange(t, "udp", addr, big); !m.Truncated || len(m.Answer) == 0 {
		t.Errorf("UDP: tc=%v with %d answers, want truncated", m.Truncated, len(m.Answer))
	}
	if m := exchange(t, "udp", addr, query("big.default.svc.cluster.local.", mdns.TypeA, 4096)); !m.Truncated || len(m.Answer) < 200 {
		t.Errorf("UDP with EDNS0 4096: tc=%v with %d answers, want over 200 of 300 (4 KiB), truncated", m.Truncated, len(m.Answer))
	}
	if m := exchange(t, "tcp", addr, big); m.Truncated || len(m.Answer) != 300 {
		t.Errorf("TCP: tc=%v with %d answers, want all 300", m.Truncated, len(m.Answer))
	}

	// A change to the index shows in the next answer.
	idx.Apply(Change{Object: endpoints("default", "web", subset(nil, []string{"10.244.1.5", "10.244.2.7"}))})
	if m := exchange(t, "udp", addr, query("web.default.svc.cluster.local.", mdns.TypeA, 0)); m.Rcode != mdns.RcodeSuccess || len(m.Answer) != 0 {
		t.Errorf("after the pods stopped being Ready: %s", summary(m))
	}
}

func TestServerStopAndShutdown(t *testing.T) {
	idx := NewIndex()
	resetAll(idx, testState())
	srv, addr := serve(t, idx)
	if again, err := srv.Listen("127.0.0.1:0"); err != nil || again != addr {
		t.Fatalf("listening again on the same address: %s, %v", again, err)
	}
	if a := srv.Addrs(); len(a) != 1 || a[0] != addr {
		t.Fatalf("Addrs() = %v", a)
	}
	// Another server cannot take the address.
	other := NewServer(NewHandler(HandlerConfig{Domain: "cluster.local", Reader: idx}), nil)
	if _, err := other.Listen(addr); err == nil || !strings.Contains(err.Error(), "--dns-addr") {
		t.Fatalf("a second server on %s: %v", addr, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Stop(ctx, "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	c := &mdns.Client{Net: "tcp", Timeout: 200 * time.Millisecond}
	if _, _, err := c.Exchange(query("web.default.svc.cluster.local.", mdns.TypeA, 0), addr); err == nil {
		t.Fatal("answered after Stop")
	}
	// Now the other server can have it.
	if _, err := other.Listen(addr); err != nil {
		t.Fatalf("the address is still held after Stop: %v", err)
	}
	if err := other.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Listen(addr); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Listen after Shutdown: %v", err)
	}
	if _, err := srv.Listen("localhost:53"); err == nil || !strings.Contains(err.Error(), "IP:port") {
		t.Fatalf("a host name: %v", err)
	}
}

func TestServerBindsAddressesNotYetPresent(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("IP_FREEBIND is Linux only")
	}
	// 198.51.100.0/24 is for documentation: no host has it. A pod bridge's
	// gateway is bound the same way before the bridge exists.
	srv := NewServer(NewHandler(HandlerConfig{Domain: "cluster.local", Reader: NewIndex()}), nil)
	defer srv.Shutdown(context.Background())
	addr, err := srv.Listen("198.51.100.7:0")
	if err != nil {
		t.Fatalf("binding an absent address: %v", err)
	}
	if !strings.HasPrefix(addr, "198.51.100.7:") {
		t.Fatalf("bound %s", addr)
	}
}

func TestServerAnswersWhileChanging(t *testing.T) {
	// Queries and index changes at once, for the race detector.
	idx := NewIndex()
	resetAll(idx, testState())
	_, addr := serve(t, idx)
	idx.Apply(Change{Object: endpoints("default", "web")})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 200 {
			ready := []string{"10.244.1.5"}
			if i%2 == 0 {
				ready = nil
			}
			idx.Apply(Change{Object: endpoints("default", "web", subset(ready, nil, epPort("http", api.ProtocolTCP, 8080)))})
		}
	}()
	for range 50 {
		m := exchange(t, "udp", addr, query("web.default.svc.cluster.local.", mdns.TypeA, 0))
		if m.Rcode != mdns.RcodeSuccess || len(m.Answer) > 1 {
			t.Fatalf("%s", summary(m))
		}
	}
	<-done
}
