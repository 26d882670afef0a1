package gossip

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/memberlist"
)

// ZoneLabel is the node label that names a node's failure zone. Voters are
// spread over zones when nodes carry it.
const ZoneLabel = "topology.kubernetes.io/zone"

// MetaMaxSize is the most bytes an encoded Meta may take: memberlist's
// limit on node metadata.
const MetaMaxSize = memberlist.MetaMaxSize

// Meta is what a node tells others about itself. It travels in memberlist
// node metadata, encoded as JSON with short keys, and must fit MetaMaxSize.
// Meta is a value: Labels is copied on the way in and out of this package.
type Meta struct {
	ID          string            // node ID (a UUID), also the Raft server ID
	RaftAddr    string            // host:port
	APIAddr     string            // host:port
	Labels      map[string]string // includes ZoneLabel when set
	CPUMillis   int64             // CPU capacity, in millicores
	MemoryBytes int64             // memory capacity
	// Resources are extended resources the node advertises, such as
	// "nvidia.com/gpu": 4.
	Resources map[string]int64
	Version   string // shoal version
}

// Zone returns the node's ZoneLabel, or "" when unset.
func (m Meta) Zone() string { return m.Labels[ZoneLabel] }

// wireMeta is Meta on the wire. Keys are short to leave room for labels;
// unknown keys are ignored, so fields may be added later.
type wireMeta struct {
	ID          string            `json:"i"`
	RaftAddr    string            `json:"r,omitempty"`
	APIAddr     string            `json:"a,omitempty"`
	Labels      map[string]string `json:"l,omitempty"`
	CPUMillis   int64             `json:"c,omitempty"`
	MemoryBytes int64             `json:"m,omitempty"`
	Resources   map[string]int64  `json:"x,omitempty"`
	Version     string            `json:"v,omitempty"`
	// Session is random per process start. It ties a leave announcement
	// to one run of a node, so a stale one cannot mark the node's next run.
	Session string `json:"s,omitempty"`
}

func toWire(m Meta, session string) wireMeta {
	return wireMeta{ID: m.ID, RaftAddr: m.RaftAddr, APIAddr: m.APIAddr, Labels: m.Labels,
		CPUMillis: m.CPUMillis, MemoryBytes: m.MemoryBytes, Resources: m.Resources, Version: m.Version, Session: session}
}

func (w wireMeta) meta() Meta {
	return Meta{ID: w.ID, RaftAddr: w.RaftAddr, APIAddr: w.APIAddr, Labels: w.Labels,
		CPUMillis: w.CPUMillis, MemoryBytes: w.MemoryBytes, Resources: w.Resources, Version: w.Version}
}

// clone returns m with its own copy of Labels.
func (m Meta) clone() Meta {
	if m.Labels != nil {
		l := make(map[string]string, len(m.Labels))
		for k, v := range m.Labels {
			l[k] = v
		}
		m.Labels = l
	}
	if m.Resources != nil {
		r := make(map[string]int64, len(m.Resources))
		for k, v := range m.Resources {
			r[k] = v
		}
		m.Resources = r
	}
	return m
}

// encodeMeta encodes m and session and checks they fit MetaMaxSize. The
// error names the labels, largest first, since they are what an operator
// can shorten.
func encodeMeta(m Meta, session string) ([]byte, error) {
	b, err := json.Marshal(toWire(m, session))
	if err != nil {
		return nil, fmt.Errorf("gossip: encoding node metadata: %w", err)
	}
	if len(b) <= MetaMaxSize {
		return b, nil
	}
	type kv struct {
		k    string
		size int
	}
	labels := make([]kv, 0, len(m.Labels))
	for k, v := range m.Labels {
		labels = append(labels, kv{k, len(k) + len(v)})
	}
	sort.Slice(labels, func(i, j int) bool {
		if labels[i].size != labels[j].size {
			return labels[i].size > labels[j].size
		}
		return labels[i].k < labels[j].k
	})
	names := make([]string, len(labels))
	for i, l := range labels {
		names[i] = fmt.Sprintf("%q (%d bytes)", l.k, l.size)
	}
	hint := "no labels are set; shorten the addresses or version"
	if len(names) > 0 {
		hint = "remove or shorten node labels: " + strings.Join(names, ", ")
	}
	return nil, fmt.Errorf("%w: metadata of node %s encodes to %d bytes, over the %d-byte gossip limit; %s",
		ErrMetaTooLarge, m.ID, len(b), MetaMaxSize, hint)
}

// decodeMeta decodes metadata written by encodeMeta.
func decodeMeta(b []byte) (Meta, string, error) {
	if len(b) == 0 {
		return Meta{}, "", fmt.Errorf("gossip: node carries no metadata (not a shoal agent?)")
	}
	var w wireMeta
	if err := json.Unmarshal(b, &w); err != nil {
		return Meta{}, "", fmt.Errorf("gossip: unreadable node metadata (not a shoal agent?): %w", err)
	}
	if w.ID == "" {
		return Meta{}, "", fmt.Errorf("gossip: node metadata has no node ID")
	}
	return w.meta(), w.Session, nil
}
