package devnet

import (
	"errors"
	"strings"
)

// partitionChain holds a host's partition rules, in its filter table.
const partitionChain = "SHOAL-DEV-PARTITION"

// Partition cuts group off from the other hosts, both ways: each host
// drops what comes from, and what goes to, the hosts on the other side.
// Hosts in neither list keep talking to everyone. It replaces any earlier
// partition.
func Partition(group, rest []Host) error {
	if err := Heal(append(append([]Host{}, group...), rest...)); err != nil {
		return err
	}
	cut := func(hs []Host, from []Host) error {
		for _, h := range hs {
			for _, o := range from {
				for _, rule := range [][]string{{"-s", o.IP.String(), "-j", "DROP"}, {"-d", o.IP.String(), "-j", "DROP"}} {
					a := h.Args("iptables", append([]string{"-w", "-A", partitionChain}, rule...)...)
					if err := run(a[0], a[1:]...); err != nil {
						return err
					}
				}
			}
		}
		return nil
	}
	if err := cut(group, rest); err != nil {
		return err
	}
	return cut(rest, group)
}

// Heal removes every partition rule from hosts, and makes sure each has
// the (empty) chain hooked into INPUT and OUTPUT.
func Heal(hosts []Host) error {
	var errs []error
	for _, h := range hosts {
		ipt := func(args ...string) error {
			a := h.Args("iptables", append([]string{"-w"}, args...)...)
			return run(a[0], a[1:]...)
		}
		if err := ipt("-N", partitionChain); err != nil && !strings.Contains(err.Error(), "exists") {
			errs = append(errs, err)
			continue
		}
		if err := ipt("-F", partitionChain); err != nil {
			errs = append(errs, err)
			continue
		}
		for _, hook := range []string{"INPUT", "OUTPUT"} {
			if ipt("-C", hook, "-j", partitionChain) != nil {
				if err := ipt("-I", hook, "-j", partitionChain); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	return errors.Join(errs...)
}
