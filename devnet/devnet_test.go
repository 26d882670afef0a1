package devnet

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
)

func TestHostsPartitionAndHeal(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to make network namespaces")
	}
	if err := Check(); err != nil {
		t.Fatal(err) // root, but the tools are missing: CI installs them
	}
	n := &Network{Name: fmt.Sprintf("sdt%04x", rand.IntN(0xffff)), Subnet: netip.MustParsePrefix(fmt.Sprintf("10.98.%d.0/24", rand.IntN(250)))}
	t.Cleanup(func() {
		if err := n.Destroy(); err != nil {
			t.Error(err)
		}
	})
	if err := n.Create(); err != nil {
		t.Fatal(err)
	}
	var hosts []Host
	for i := 1; i <= 3; i++ {
		h, err := n.AddHost(i)
		if err != nil {
			t.Fatal(err)
		}
		hosts = append(hosts, h)
	}
	if _, err := n.AddHost(1); err != nil {
		t.Fatalf("adding a host again: %v", err)
	}
	reach := func(from, to Host) bool {
		return from.Command("busybox", "ping", "-c1", "-W1", to.IP.String()).Run() == nil
	}
	if !reach(hosts[0], hosts[1]) || !reach(hosts[2], hosts[0]) {
		t.Fatal("hosts cannot reach each other")
	}
	if err := Partition(hosts[:1], hosts[1:]); err != nil {
		t.Fatal(err)
	}
	if reach(hosts[0], hosts[1]) || reach(hosts[2], hosts[0]) {
		t.Fatal("the partition lets traffic through")
	}
	if !reach(hosts[1], hosts[2]) {
		t.Fatal("the majority side cannot talk")
	}
	if err := Heal(hosts); err != nil {
		t.Fatal(err)
	}
	if !reach(hosts[0], hosts[1]) {
		t.Fatal("healing left the hosts apart")
	}
	if err := n.Destroy(); err != nil {
		t.Fatal(err)
	}
	out, _ := exec.Command("ip", "netns", "list").Output()
	if strings.Contains(string(out), n.Name) {
		t.Fatalf("namespaces left after Destroy:\n%s", out)
	}
}
