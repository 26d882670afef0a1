package main

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/shoal-dev/shoal/api"
)

// victims picks the hosts of a fault among those other than the client's.
func (r *chaosRun) victims(kind string) []string {
	var others []string
	for _, h := range r.hosts.names {
		if h != r.clientHost {
			others = append(others, h)
		}
	}
	r.rng.Shuffle(len(others), func(i, j int) { others[i], others[j] = others[j], others[i] })
	n := 1
	if kind == "partition" {
		// A minority: at most (hosts-1)/2 of them.
		n = 1 + r.rng.IntN(max(1, (len(r.hosts.names)-1)/2))
	}
	return others[:n]
}

// spread moves replicas, one at a time, off the host that runs the most
// until none runs two more than another. Nothing moves replicas back after
// a fault, and a fault on a host that runs none of them tells little.
// Each move deletes a Ready replica on the fullest host; its ReplicaSet
// replaces it and the scheduler, which spreads a ReplicaSet's pods over
// the nodes, puts the new one on an emptier host. It returns how many
// replicas it moved, and an error if the workload was not whole again
// after a move.
func (r *chaosRun) spread(ctx context.Context) (int, error) {
	moved := 0
	for attempt := 0; attempt < chaosReplicas && ctx.Err() == nil; attempt++ {
		name, cl, ok := r.hosts.pick(r.rng.Uint64())
		if !ok {
			return moved, nil
		}
		lctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		objs, _, err := cl.ListWith(lctx, "Pod", "default", api.ListOptions{LabelSelector: "app=" + chaosApp, Consistent: true})
		cancel()
		if err != nil {
			fmt.Fprintf(r.log, "chaos: the replicas stay where they are: listing them through %s: %v\n", name, err)
			return moved, nil
		}
		per := map[string][]string{}
		for _, o := range objs {
			if p := o.(*api.Pod); podReady(p) {
				per[p.Spec.NodeName] = append(per[p.Spec.NodeName], p.Name)
			}
		}
		full, empty := r.hosts.names[0], r.hosts.names[0]
		for _, h := range r.hosts.names {
			if len(per[h]) > len(per[full]) {
				full = h
			}
			if len(per[h]) < len(per[empty]) {
				empty = h
			}
		}
		if len(per[full])-len(per[empty]) <= 1 {
			return moved, nil
		}
		sort.Strings(per[full])
		victim := per[full][0]
		if err := cl.Delete(ctx, "Pod", "default", victim); err != nil && !api.IsNotFound(err) {
			fmt.Fprintf(r.log, "chaos: the replicas stay where they are: deleting %s: %v\n", victim, err)
			return moved, nil
		}
		moved++
		if res := r.waitWhole(ctx, time.Now(), r.o.convergeLimit, r.settled()); !res.ok && ctx.Err() == nil {
			return moved, fmt.Errorf("the workload was not whole within %s after replica %s was moved off %s to spread the replicas (still: %s)",
				r.o.convergeLimit, victim, full, res.waiting)
		}
	}
	return moved, nil
}

// faultedCondition is "whole on the others" while hosts are under a fault:
// their pod CIDRs and current pod IPs are not to be answered.
func (r *chaosRun) faultedCondition(ctx context.Context, victims []string) condition {
	cond := condition{faulted: victims, badIPs: map[string]bool{}}
	for _, h := range r.hosts.names {
		if !contains(victims, h) {
			cond.via = append(cond.via, h)
		}
	}
	for attempt := 0; attempt < 5; attempt++ {
		_, cl, ok := r.pickVia(cond)
		if !ok {
			break
		}
		lctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		nodes, _, err1 := cl.List(lctx, "Node", "", false)
		pods, _, err2 := cl.ListWith(lctx, "Pod", "default", api.ListOptions{LabelSelector: "app=" + chaosApp})
		cancel()
		if err1 != nil || err2 != nil {
			time.Sleep(200 * time.Millisecond)
			continue
		}
		for _, o := range nodes {
			n := o.(*api.Node)
			if p, err := netip.ParsePrefix(n.Spec.PodCIDR); err == nil && contains(victims, n.Name) {
				cond.badNets = append(cond.badNets, p)
			}
		}
		for _, o := range pods {
			if p := o.(*api.Pod); contains(victims, p.Spec.NodeName) && p.Status.PodIP != "" {
				cond.badIPs[p.Status.PodIP] = true
			}
		}
		break
	}
	return cond
}

// fault injects one fault, chosen by the run's seed, measures the
// recovery while it lasts (kill, partition) and the convergence after
// it, and undoes it even when ctx ends.
func (r *chaosRun) fault(ctx context.Context, begin time.Time) (faultReport, faultWindow, error) {
	kinds := []string{"kill", "restart", "partition", "freeze"}
	kind := kinds[r.rng.IntN(len(kinds))]
	victims := r.victims(kind)
	freezeFor := time.Duration(1+r.rng.IntN(6)) * time.Second
	f := faultReport{Kind: kind, Hosts: victims}
	moved, err := r.spread(ctx)
	f.MovedBefore = moved
	if err != nil {
		return f, faultWindow{}, err
	}
	during := r.faultedCondition(ctx, victims)
	var rec waitResult
	t0 := time.Now()
	f.At = seconds(t0.Sub(begin))
	var tEnd time.Time
	switch kind {
	case "kill":
		h, _, err := r.c.host(victims[0])
		if err != nil {
			return f, faultWindow{}, err
		}
		r.hosts.setUp(h.Name, false)
		if _, err := r.c.powerCut(h); err != nil {
			return f, faultWindow{}, fmt.Errorf("power cut of %s: %w", h.Name, err)
		}
		r.hosts.forget(h.Name)
		rec = r.waitWhole(ctx, t0, r.o.faultLimit, during)
		tEnd = time.Now()
		if err := r.c.startHost(h); err != nil {
			return f, faultWindow{}, fmt.Errorf("boot %s after its power cut: %w", h.Name, err)
		}
		if err := r.c.save(); err != nil {
			return f, faultWindow{}, err
		}
		r.hosts.setUp(h.Name, true)
	case "restart":
		h, _, err := r.c.host(victims[0])
		if err != nil {
			return f, faultWindow{}, err
		}
		r.hosts.setUp(h.Name, false)
		if note := stopAgent(h.PID); note != "" {
			f.Notes = append(f.Notes, note)
		}
		h.PID = 0
		r.hosts.forget(h.Name)
		tEnd = time.Now()
		if err := r.c.startHost(h); err != nil {
			return f, faultWindow{}, fmt.Errorf("start the agent of %s again: %w", h.Name, err)
		}
		if err := r.c.save(); err != nil {
			return f, faultWindow{}, err
		}
		r.hosts.setUp(h.Name, true)
	case "partition":
		if err := r.c.partition(io.Discard, victims); err != nil {
			return f, faultWindow{}, fmt.Errorf("partition %s: %w", strings.Join(victims, ","), err)
		}
		rec = r.waitWhole(ctx, t0, r.o.faultLimit, during)
		if err := r.c.heal(io.Discard); err != nil {
			return f, faultWindow{}, fmt.Errorf("heal the partition of %s: %w (run shoal dev heal --dir %s)", strings.Join(victims, ","), err, r.c.Dir)
		}
		tEnd = time.Now()
	case "freeze":
		dh := r.c.network().Host(r.hostIndex(victims[0]))
		if err := dh.Freeze(); err != nil {
			return f, faultWindow{}, fmt.Errorf("freeze %s: %w", victims[0], err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(freezeFor):
		}
		if err := dh.Thaw(); err != nil {
			return f, faultWindow{}, fmt.Errorf("thaw %s: %w (run shoal dev pause %s 1 --dir %s to try again)", victims[0], err, victims[0], r.c.Dir)
		}
		tEnd = time.Now()
	}
	f.Lasted = seconds(tEnd.Sub(t0))
	if kind == "kill" || kind == "partition" {
		recovered := rec.ok
		f.RecoveredDuringFault = &recovered
		if rec.ok {
			f.Recovery = secondsPtr(rec.took)
			parts := rec.parts
			f.RecoveryParts = &parts
		} else {
			what := fmt.Sprintf("not recovered during the fault: the other hosts were not whole within %s (%s)", r.o.faultLimit, rec.waiting)
			if ctx.Err() != nil {
				f.Notes = append(f.Notes, "interrupted before the others recovered")
			} else if kind == "kill" {
				f.Broken = append(f.Broken, what)
			} else {
				f.Notes = append(f.Notes, what)
			}
		}
	}
	// After the interrupt the convergence is still waited for, so the
	// run leaves the cluster whole; it has its own bound.
	conv := r.waitWhole(context.WithoutCancel(ctx), tEnd, r.o.convergeLimit, r.settled())
	if conv.ok {
		f.Convergence = secondsPtr(conv.took)
		parts := conv.parts
		f.ConvergenceParts = &parts
	} else {
		f.Waiting = conv.waiting
		f.Broken = append(f.Broken, fmt.Sprintf("the cluster was never whole again within %s after the fault (still: %s)", r.o.convergeLimit, conv.waiting))
	}
	return f, faultWindow{t0, tEnd.Add(conv.took)}, nil
}

func (r *chaosRun) hostIndex(name string) int {
	h, _, _ := r.c.host(name)
	return h.Index
}

// stopAgent stops an agent gracefully, as `shoal dev stop` does, and kills
// it if it does not stop within 30 s; it says so when it had to.
func stopAgent(pid int) string {
	if pid <= 0 {
		return ""
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	for i := 0; i < 300 && syscall.Kill(pid, 0) == nil; i++ {
		time.Sleep(100 * time.Millisecond)
	}
	if syscall.Kill(pid, 0) != nil {
		return ""
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	for i := 0; i < 100 && syscall.Kill(pid, 0) == nil; i++ {
		time.Sleep(100 * time.Millisecond)
	}
	return "the agent did not stop within 30s of SIGTERM and was killed"
}

// progressLine is one fault as the run goes.
func progressLine(f faultReport) string {
	var b strings.Builder
	if f.MovedBefore > 0 {
		fmt.Fprintf(&b, "         (%d replica(s) moved first, to spread them over the hosts)\n", f.MovedBefore)
	}
	fmt.Fprintf(&b, "%7s  %-18s lasted %s", time.Duration(f.At).Round(100*time.Millisecond), f.name(), f.Lasted)
	if f.Recovery != nil {
		p := f.RecoveryParts
		fmt.Fprintf(&b, "; the others whole after %s (workload %s, writes %s, DNS %s)", f.Recovery, p.Workload, p.Writes, p.DNS)
	} else if f.RecoveredDuringFault != nil {
		b.WriteString("; the others NOT whole while it lasted")
	}
	if f.Convergence != nil {
		fmt.Fprintf(&b, "; converged %s after it ended", f.Convergence)
		if p := f.ConvergenceParts; p != nil && p.Nodes != nil {
			fmt.Fprintf(&b, " (workload %s, writes %s, DNS %s, nodes %s)", p.Workload, p.Writes, p.DNS, p.Nodes)
		}
	} else {
		b.WriteString("; NEVER converged")
	}
	for _, x := range f.Broken {
		b.WriteString("\n         BROKEN: " + x)
	}
	for _, n := range f.Notes {
		b.WriteString("\n         " + n)
	}
	return b.String()
}
