package gossip

import (
	"fmt"
	"sync"

	"github.com/hashicorp/memberlist"
)

// delegate implements memberlist's Delegate (node metadata here; leave
// announcements in leave.go), MergeDelegate and AliveDelegate (identity checks).
// memberlist calls these from its own goroutines, some with its node lock
// held; they only touch the table and d.mu.
type delegate struct {
	g *Gossip

	mu       sync.Mutex
	metaBuf  []byte // encoded local Meta, always within MetaMaxSize
	joining  bool   // a Join is in progress: record merge refusals for it
	mergeErr error  // last refusal recorded while joining
}

// NodeMeta implements memberlist.Delegate.
func (d *delegate) NodeMeta(limit int) []byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.metaBuf) > limit { // cannot happen: encodeMeta checks MetaMaxSize
		return nil
	}
	return append([]byte(nil), d.metaBuf...)
}

func (d *delegate) setMeta(b []byte) {
	d.mu.Lock()
	d.metaBuf = b
	d.mu.Unlock()
}

// NotifyMerge implements memberlist.MergeDelegate. It runs on both sides
// of a join's push/pull, with the other side's nodes. It refuses the merge
// when a live remote node has our name but another ID, or has the name of
// a node we know as live under another ID.
func (d *delegate) NotifyMerge(peers []*memberlist.Node) error {
	g := d.g
	for _, p := range peers {
		if p.State != memberlist.StateAlive && p.State != memberlist.StateSuspect {
			continue
		}
		meta, _, err := decodeMeta(p.Meta)
		if err != nil {
			continue // NotifyAlive refuses it on its own
		}
		var cerr error
		switch {
		case p.Name == g.name && meta.ID != g.id:
			cerr = &conflictError{Name: p.Name, OtherID: meta.ID, OtherAddr: p.Address()}
		default:
			if known, ok := g.table.conflict(p.Name, meta.ID); ok {
				cerr = &conflictError{Name: p.Name, OtherID: known.Meta.ID, OtherAddr: known.Addr,
					NewID: meta.ID, NewAddr: p.Address()}
			}
		}
		if cerr != nil {
			g.logger.Warn("gossip: refusing to merge with cluster", "err", cerr)
			d.mu.Lock()
			if d.joining {
				d.mergeErr = cerr
			}
			d.mu.Unlock()
			return cerr
		}
	}
	return nil
}

// NotifyAlive implements memberlist.AliveDelegate. It refuses an alive
// message that is not from a shoal agent, or that claims the name of a
// node we know as alive or suspect under another ID. A name whose holder
// failed or left may be taken by a new ID: a replaced machine may reuse it.
func (d *delegate) NotifyAlive(peer *memberlist.Node) error {
	meta, _, err := decodeMeta(peer.Meta)
	if err != nil {
		return fmt.Errorf("gossip: node %q at %s: %w", peer.Name, peer.Address(), err)
	}
	if known, ok := d.g.table.conflict(peer.Name, meta.ID); ok {
		return &conflictError{Name: peer.Name, OtherID: known.Meta.ID, OtherAddr: known.Addr,
			NewID: meta.ID, NewAddr: peer.Address()}
	}
	return nil
}

// beginJoin and endJoin bracket a Join so refusals are reported to it.
func (d *delegate) beginJoin() {
	d.mu.Lock()
	d.joining, d.mergeErr = true, nil
	d.mu.Unlock()
}

func (d *delegate) endJoin() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	err := d.mergeErr
	d.joining, d.mergeErr = false, nil
	return err
}

// conflictError is a node name claimed by two node IDs.
type conflictError struct {
	Name      string
	OtherID   string // the ID already using the name
	OtherAddr string
	NewID     string // the ID claiming it; "" when that is this node
	NewAddr   string
}

func (e *conflictError) Error() string {
	if e.NewID == "" {
		return fmt.Sprintf("gossip: node name %q is already used by node %s at %s; "+
			"start this node with a different --name, or with that node's data dir to be the same node",
			e.Name, e.OtherID, e.OtherAddr)
	}
	return fmt.Sprintf("gossip: node name %q is claimed by node %s at %s, but live node %s at %s already uses it; "+
		"start the newcomer with a different --name, or with the data dir of node %s to be the same node",
		e.Name, e.NewID, e.NewAddr, e.OtherID, e.OtherAddr, e.OtherID)
}

func (e *conflictError) Unwrap() error { return ErrNameConflict }
