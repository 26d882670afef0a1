package api

import "time"

// MemberInfo is one row of `shoal members`.
type MemberInfo struct {
	Name     string            `json:"name"`
	ID       string            `json:"id"`
	Address  string            `json:"address"`
	Gossip   string            `json:"gossip"` // alive, suspect, failed, left
	Raft     string            `json:"raft"`   // leader, voter, nonvoter, or "" when not in the Raft configuration
	Zone     string            `json:"zone,omitempty"`
	Since    time.Time         `json:"since"`
	Labels   map[string]string `json:"labels,omitempty"`
	RaftAddr string            `json:"raftAddress,omitempty"`
	APIAddr  string            `json:"apiAddress,omitempty"`
}

// NodeRef names a node in status output.
type NodeRef struct {
	ID      string `json:"id,omitempty"`
	Name    string `json:"name,omitempty"`
	Address string `json:"address,omitempty"`
}

// ClusterStatus is the answer to `shoal status`.
type ClusterStatus struct {
	Leader       *NodeRef  `json:"leader"`
	Term         uint64    `json:"term"`
	CommitIndex  uint64    `json:"commitIndex"`
	AppliedIndex uint64    `json:"appliedIndex"`
	LastIndex    uint64    `json:"lastIndex"`
	Voters       []NodeRef `json:"voters"`
	Nonvoters    []NodeRef `json:"nonvoters"`
	Self         SelfInfo  `json:"self"`
}

// SelfInfo describes the node that answered.
type SelfInfo struct {
	NodeRef
	RaftState string `json:"raftState"` // Leader, Follower, Candidate, Shutdown
	Version   string `json:"version"`
}

// Progress is how far a node's replica has got; the leader reads it before
// promoting a node to voter.
type Progress struct {
	Applied uint64 `json:"applied"`
	Last    uint64 `json:"last"`
}

// IndexHeader carries the Raft index a response reflects.
const IndexHeader = "X-Shoal-Index"

// MaxBodyBytes is the largest request body the API accepts.
const MaxBodyBytes = 3 << 20
