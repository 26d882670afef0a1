package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// seconds is a duration that JSON carries as seconds, to the millisecond.
type seconds time.Duration

// MarshalJSON writes the duration as a number of seconds.
func (s seconds) MarshalJSON() ([]byte, error) {
	return []byte(strconv.FormatFloat(math.Round(time.Duration(s).Seconds()*1000)/1000, 'f', -1, 64)), nil
}

// UnmarshalJSON reads a number of seconds.
func (s *seconds) UnmarshalJSON(b []byte) error {
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("a duration in seconds: %w", err)
	}
	*s = seconds(time.Duration(math.Round(f * float64(time.Second))))
	return nil
}

// String rounds to what a person reads: 0.4s, 6.2s, 1m12s.
func (s seconds) String() string {
	d := time.Duration(s)
	if d < time.Minute {
		return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + "s"
	}
	return d.Round(time.Second).String()
}

func secondsPtr(d time.Duration) *seconds { s := seconds(d); return &s }

// chaosReport is what `shoal dev chaos` prints: a table, or with -o json
// this object.
type chaosReport struct {
	Seed       uint64        `json:"seed"`
	Duration   seconds       `json:"duration_s"` // as asked (--duration)
	Ran        seconds       `json:"ran_s"`      // from the first fault's start to the last one's convergence
	Hosts      []string      `json:"hosts"`
	ClientHost string        `json:"client_host"`
	WriteRate  int           `json:"write_rate"` // writes a second asked for (--write-rate)
	Faults     []faultReport `json:"faults"`
	Writes     writeReport   `json:"writes"`
	// Linearizable: porcupine found the register history linearizable.
	Linearizable bool          `json:"linearizable"`
	History      historyReport `json:"history"`
	Client       clientReport  `json:"client"`
	// Down: --down removed the cluster; Leftovers is what it left behind
	// (null without --down).
	Down      bool     `json:"down"`
	Leftovers []string `json:"leftovers"`
	// StoppedEarly says why the faults stopped before --duration.
	StoppedEarly string `json:"stopped_early,omitempty"`
	// Broken lists every invariant that did not hold; OK is its being
	// empty.
	Broken []string `json:"broken"`
	OK     bool     `json:"ok"`
}

// faultReport is one fault and what followed.
type faultReport struct {
	At     seconds  `json:"at_s"` // since the first fault began
	Kind   string   `json:"kind"` // kill, restart, partition, freeze
	Hosts  []string `json:"hosts"`
	Lasted seconds  `json:"lasted_s"` // until the power, the agent or the network came back, or the thaw
	// MovedBefore is how many replicas were moved, before the fault, to
	// spread them evenly over the hosts again.
	MovedBefore int `json:"replicas_moved_before"`
	// Recovery is, for a kill and a partition, the time from the fault's
	// start until the workload was whole on the other hosts, writes
	// succeeded and DNS no longer named the faulted hosts' pods; null
	// when not measured (restart, freeze) or not seen within the limit.
	Recovery             *seconds    `json:"recovery_s"`
	RecoveredDuringFault *bool       `json:"recovered_during_fault,omitempty"`
	RecoveryParts        *phaseTimes `json:"recovery_parts,omitempty"`
	// Convergence is the time from the fault's end until the workload
	// was whole, writes succeeded, every node was Ready and every host's
	// DNS answered exactly the Ready pods; null when not seen within the
	// limit.
	Convergence      *seconds    `json:"convergence_s"`
	ConvergenceParts *phaseTimes `json:"convergence_parts,omitempty"`
	// Client counts the client's requests from the fault's start to its
	// convergence.
	Client clientCounts `json:"client"`
	// Waiting is what still did not hold when a limit passed.
	Waiting string   `json:"waiting_on,omitempty"`
	Broken  []string `json:"broken,omitempty"`
	Notes   []string `json:"notes,omitempty"`
}

// name is the fault as the table shows it: "kill n2", "freeze n3 4.0s".
func (f faultReport) name() string {
	s := f.Kind + " " + strings.Join(f.Hosts, ",")
	if f.Kind == "freeze" {
		s += " " + f.Lasted.String()
	}
	return s
}

// writeReport is what the write workload did and what survived.
type writeReport struct {
	Sent         int     `json:"sent"`
	RatePerS     float64 `json:"rate_per_s"` // writes sent a second, over the run
	Acknowledged int     `json:"acknowledged"`
	Conflicts    int     `json:"cas_conflicts"`
	Unknown      int     `json:"unknown"` // sent, outcome not known (timed out, connection lost, 5xx)
	Failed       int     `json:"failed"`  // not sent (no host up, connection refused), or refused: a 4xx, or a 503 that says it was not applied
	Reads        int     `json:"reads"`
	ReadsFailed  int     `json:"reads_failed"`
	// CreatesAcknowledged are the ConfigMaps created and acknowledged;
	// Lost those of them missing at the end.
	CreatesAcknowledged int      `json:"creates_acknowledged"`
	Lost                int      `json:"lost"`
	LostNames           []string `json:"lost_names,omitempty"`
	CheckError          string   `json:"check_error,omitempty"`
}

// historyReport is porcupine's verdict on the register history.
type historyReport struct {
	Operations    int     `json:"operations"`
	Unknown       int     `json:"unknown"`
	Keys          int     `json:"keys"`
	Result        string  `json:"result"` // linearizable, not linearizable, undecided
	CheckTook     seconds `json:"check_s"`
	Visualization string  `json:"visualization,omitempty"`
}

// clientCounts is the client's requests in a window.
type clientCounts struct {
	Requests int            `json:"requests"`
	Failed   int            `json:"failed"`
	Reasons  map[string]int `json:"failure_reasons,omitempty"`
}

// clientReport is the client's requests over the whole run.
type clientReport struct {
	Pod    string `json:"pod"`
	Host   string `json:"host"`
	Target string `json:"target"`
	clientCounts
	FailedOutsideFaults int    `json:"failed_outside_faults"`
	UnreadLines         int    `json:"unread_lines,omitempty"`
	LogError            string `json:"log_error,omitempty"`
}

// writeJSON prints the report as one indented JSON object.
func (r *chaosReport) writeJSON(w io.Writer) error {
	if r.Faults == nil {
		r.Faults = []faultReport{}
	}
	if r.Broken == nil {
		r.Broken = []string{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// writeTable prints the report for a person.
func (r *chaosReport) writeTable(w io.Writer) {
	fmt.Fprintf(w, "chaos: %d hosts (%s), client on %s, seed %d, %s of faults, %d writes/s asked\n\n",
		len(r.Hosts), strings.Join(r.Hosts, ","), r.ClientHost, r.Seed, r.Ran, r.WriteRate)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "AT\tFAULT\tLASTED\tRECOVERY DURING\tCONVERGENCE AFTER\tCLIENT FAILED\tINVARIANTS")
	for _, f := range r.Faults {
		rec := "-"
		switch {
		case f.Recovery != nil:
			rec = f.Recovery.String()
		case f.RecoveredDuringFault != nil:
			rec = "not recovered"
		}
		conv := "never"
		if f.Convergence != nil {
			conv = f.Convergence.String()
		}
		inv := "ok"
		if len(f.Broken) > 0 {
			inv = "BROKEN"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", time.Duration(f.At).Round(time.Second), f.name(), f.Lasted, rec, conv,
			fmt.Sprintf("%d of %d%s", f.Client.Failed, f.Client.Requests, reasons(f.Client.Reasons)), inv)
	}
	tw.Flush()
	for i, f := range r.Faults {
		for _, b := range f.Broken {
			fmt.Fprintf(w, "  fault %d (%s): BROKEN: %s\n", i+1, f.name(), b)
		}
		for _, n := range f.Notes {
			fmt.Fprintf(w, "  fault %d (%s): %s\n", i+1, f.name(), n)
		}
		if f.Waiting != "" {
			fmt.Fprintf(w, "  fault %d (%s): at the limit, still: %s\n", i+1, f.name(), f.Waiting)
		}
	}
	if r.StoppedEarly != "" {
		fmt.Fprintf(w, "  stopped early: %s\n", r.StoppedEarly)
	}
	fmt.Fprintln(w)

	wr := r.Writes
	fmt.Fprintf(w, "writes: %d sent (%.1f/s), each through a random host that was up: %d acknowledged, %d compare-and-set conflicts, %d of unknown outcome; %d more not sent or refused as not applied\n",
		wr.Sent, wr.RatePerS, wr.Acknowledged, wr.Conflicts, wr.Unknown, wr.Failed)
	fmt.Fprintf(w, "acknowledged creates: %d, lost: %d", wr.CreatesAcknowledged, wr.Lost)
	if len(wr.LostNames) > 0 {
		fmt.Fprintf(w, " (%s)", strings.Join(wr.LostNames, ", "))
	}
	if wr.CheckError != "" {
		fmt.Fprintf(w, "; not checked: %s", wr.CheckError)
	}
	fmt.Fprintln(w)
	h := r.History
	fmt.Fprintf(w, "history: %d operations on %d registers (%d of unknown outcome, %d consistent reads): %s (checked in %s)\n",
		h.Operations, h.Keys, h.Unknown, wr.Reads, h.Result, h.CheckTook)
	if h.Visualization != "" {
		fmt.Fprintf(w, "  see %s\n", h.Visualization)
	}
	c := r.Client
	if c.LogError != "" {
		fmt.Fprintf(w, "client: %s\n", c.LogError)
	} else {
		fmt.Fprintf(w, "client (%s on %s, %s): %d requests, %d failed%s, %d of them outside the faults\n",
			c.Pod, c.Host, c.Target, c.Requests, c.Failed, reasons(c.Reasons), c.FailedOutsideFaults)
	}
	if r.Down {
		if len(r.Leftovers) == 0 {
			fmt.Fprintln(w, "down: the cluster is gone, nothing left behind")
		} else {
			fmt.Fprintf(w, "down: left behind: %s\n", strings.Join(r.Leftovers, "; "))
		}
	}
	if len(r.Broken) == 0 {
		fmt.Fprintln(w, "\nevery invariant held")
	} else {
		fmt.Fprintf(w, "\nBROKEN:\n")
		for _, b := range r.Broken {
			fmt.Fprintf(w, "  - %s\n", b)
		}
	}
	fmt.Fprintf(w, "repeat with: shoal dev chaos --duration %s --seed %d\n", time.Duration(r.Duration), r.Seed)
}

// reasons renders failure reasons as " (3 timeout, 1 dns)".
func reasons(m map[string]int) string {
	if len(m) == 0 {
		return ""
	}
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if m[keys[i]] != m[keys[j]] {
			return m[keys[i]] > m[keys[j]]
		}
		return keys[i] < keys[j]
	})
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%d %s", m[k], k))
	}
	return " (" + strings.Join(parts, ", ") + ")"
}
