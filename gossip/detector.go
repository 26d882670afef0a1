package gossip

import (
	"time"

	"github.com/hashicorp/memberlist"
)

// Detector is the timing of memberlist's failure detector (SWIM with
// Lifeguard's suspicion). Every ProbeInterval a node pings one member, in
// a shuffled round robin; a member that acknowledges neither the ping
// within ProbeTimeout, nor indirect pings through other members and a TCP
// ping before the interval ends, is suspected. The suspicion is gossiped
// (every GossipInterval) and becomes a failure after SuspicionMult probe
// intervals, unless the member refutes it first: a live member that
// hears it is suspected broadcasts that it is alive.
//
// memberlist stretches the suspicion by log10 of the cluster size above
// 10 nodes, and, from 4 nodes on, starts it at 6 times that and shortens
// it as other members confirm it, so it reaches its minimum once two
// more members have failed to reach the suspect. Neither ever makes a
// failure come sooner.
type Detector struct {
	ProbeInterval  time.Duration
	ProbeTimeout   time.Duration
	GossipInterval time.Duration
	SuspicionMult  int
}

// Derived failure-detector constants; see DetectorFor.
const (
	// DetectorSuspicionMult is memberlist's LAN default: the suspicion
	// lasts 4 probe intervals.
	DetectorSuspicionMult = 4
	// DetectorGossipInterval is how often suspicions and refutations are
	// gossiped. It bounds how late a refutation can arrive, so it is
	// shorter than memberlist's LAN default (200 ms).
	DetectorGossipInterval = 100 * time.Millisecond
)

// DetectorFor returns the timing that declares a member failed once it
// has been silent for failAfter, and no sooner: ProbeInterval is
// failAfter/(DetectorSuspicionMult+1), ProbeTimeout half of it.
//
// The shortest path to a failure is a probe sent just as the member fell
// silent: it is suspected one probe interval later, and failed
// SuspicionMult intervals after that, so (SuspicionMult+1) × ProbeInterval
// = failAfter after it fell silent. Usually the first probe of the member
// comes a little later: in a 3-node cluster the failure is declared
// between failAfter and failAfter + 3 probe intervals, half the time
// within failAfter + 0.6 intervals. A member that is only slow (frozen,
// or starved of CPU) for less than failAfter refutes the suspicion when
// it runs again, and is never declared failed if its refutation (at most
// a GossipInterval after it wakes, plus delivery) arrives before failAfter.
func DetectorFor(failAfter time.Duration) Detector {
	p := failAfter / (DetectorSuspicionMult + 1)
	return Detector{
		ProbeInterval:  p,
		ProbeTimeout:   p / 2,
		GossipInterval: DetectorGossipInterval,
		SuspicionMult:  DetectorSuspicionMult,
	}
}

// FailAfter is the shortest silence after which d declares a member
// failed, in clusters of up to 10 nodes: (SuspicionMult+1) × ProbeInterval.
func (d Detector) FailAfter() time.Duration {
	return time.Duration(d.SuspicionMult+1) * d.ProbeInterval
}

// detector is the failure-detector timing cfg asks for: derived from
// FailAfter, or memberlist's LAN defaults, with the fields cfg sets on
// top. With FailAfter, a ProbeTimeout that is not set is half the probe
// interval in use.
func (cfg *Config) detector() Detector {
	lan := memberlist.DefaultLANConfig()
	d := Detector{ProbeInterval: lan.ProbeInterval, ProbeTimeout: lan.ProbeTimeout, GossipInterval: lan.GossipInterval, SuspicionMult: lan.SuspicionMult}
	if cfg.FailAfter > 0 {
		d = DetectorFor(cfg.FailAfter)
	}
	if cfg.SuspicionMult > 0 {
		d.SuspicionMult = cfg.SuspicionMult
		if cfg.FailAfter > 0 && cfg.ProbeInterval == 0 {
			d.ProbeInterval = cfg.FailAfter / time.Duration(d.SuspicionMult+1)
			d.ProbeTimeout = d.ProbeInterval / 2
		}
	}
	if cfg.ProbeInterval > 0 {
		d.ProbeInterval = cfg.ProbeInterval
		if cfg.FailAfter > 0 {
			d.ProbeTimeout = d.ProbeInterval / 2
		}
	}
	if cfg.ProbeTimeout > 0 {
		d.ProbeTimeout = cfg.ProbeTimeout
	}
	if cfg.GossipInterval > 0 {
		d.GossipInterval = cfg.GossipInterval
	}
	return d
}

// apply sets d on memberlist's configuration.
func (d Detector) apply(mc *memberlist.Config) {
	mc.ProbeInterval = d.ProbeInterval
	mc.ProbeTimeout = d.ProbeTimeout
	mc.GossipInterval = d.GossipInterval
	mc.SuspicionMult = d.SuspicionMult
}

// Detector returns the failure-detector timing this node runs with.
func (g *Gossip) Detector() Detector { return g.cfg.detector() }
