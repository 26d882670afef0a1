package devnet

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// Leftovers lists what of the network exists on this machine, one line per
// thing: live processes (in a host's cgroup, or naming the hosts' Dir on
// their command line, so one that left its cgroup is found too), mounts
// under Dir, network namespaces, links, cgroups in any hierarchy, and
// rules in this namespace's firewall that name the hosts' subnet. After
// Destroy it is empty.
func (n *Network) Leftovers() []string {
	var left []string
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		pid, err := strconv.Atoi(filepath.Base(p))
		if err != nil || pid == os.Getpid() {
			continue
		}
		if stat, err := os.ReadFile(p + "/stat"); err != nil || zombie(stat) {
			continue
		}
		cg, _ := os.ReadFile(p + "/cgroup")
		cmd, _ := os.ReadFile(p + "/cmdline")
		inCgroup := false
		for _, line := range strings.Split(string(cg), "\n") {
			if rest, ok := strings.CutPrefix(line, "0::"); ok && strings.HasPrefix(rest, "/"+n.Name+"/") {
				inCgroup = true
			}
		}
		if inCgroup || (n.Dir != "" && strings.Contains(string(cmd), n.Dir)) {
			left = append(left, fmt.Sprintf("process %d (%s)", pid, strings.TrimSpace(strings.ReplaceAll(string(cmd), "\x00", " "))))
		}
	}
	if n.Dir != "" {
		for _, m := range MountsUnder(n.Dir) {
			left = append(left, "mount "+m)
		}
	}
	for _, list := range [][]string{{"ip", "netns", "list"}, {"ip", "-o", "link", "show"}} {
		out, _ := exec.Command(list[0], list[1:]...).Output()
		for _, line := range strings.Split(string(out), "\n") {
			if strings.Contains(line, n.Name) {
				left = append(left, strings.Join(strings.Fields(line), " "))
			}
		}
	}
	for _, m := range cgroupMounts() {
		if _, err := os.Stat(filepath.Join(m, n.Name)); err == nil {
			left = append(left, "cgroup "+filepath.Join(m, n.Name))
		}
	}
	if n.Subnet.IsValid() {
		prefix := strings.TrimSuffix(n.Subnet.Masked().Addr().String(), "0")
		out, _ := exec.Command("iptables-save").Output()
		for _, line := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(line, "-A ") && strings.Contains(line, prefix) {
				left = append(left, "iptables rule "+line)
			}
		}
	}
	return left
}

// zombie reports whether a /proc/<pid>/stat line is a zombie's: gone, but
// not yet reaped by its parent.
func zombie(stat []byte) bool {
	s := string(stat)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] == 'Z'
	}
	return false
}
