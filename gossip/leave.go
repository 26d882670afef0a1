package gossip

import (
	"encoding/json"

	"github.com/hashicorp/memberlist"
)

// memberlist v0.5.4 tells the event delegate that a node is gone without
// saying whether it left or failed (Node.State is not filled in). So, as
// Serf does, a leaving node first announces it: a leave message gossiped
// through memberlist's user broadcasts, re-broadcast once by each node
// that learns it. Nodes that miss it learn it in the next push/pull, whose
// user state carries the members a node knows as left.

// Message and state tags: the first byte of a user message or of the
// push/pull user state. Unknown tags are ignored, for mixed versions.
const (
	tagLeave     byte = 'L' // user message: one leaveIntent
	tagLeftState byte = 'S' // push/pull state: []leaveIntent
)

// leaveIntent names a member (one run of it) that left or is leaving.
type leaveIntent struct {
	Name    string `json:"n"`
	ID      string `json:"i"`
	Session string `json:"s,omitempty"`
}

func encodeTagged(tag byte, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil { // cannot happen for these types
		return nil
	}
	return append([]byte{tag}, b...)
}

// leaveBroadcast is a queued leave message.
type leaveBroadcast struct {
	name   string
	msg    []byte
	notify chan struct{} // closed when sent out; nil for re-broadcasts
}

var _ memberlist.NamedBroadcast = (*leaveBroadcast)(nil)

func (b *leaveBroadcast) Name() string    { return "leave/" + b.name }
func (b *leaveBroadcast) Message() []byte { return b.msg }
func (b *leaveBroadcast) Invalidates(o memberlist.Broadcast) bool {
	ob, ok := o.(*leaveBroadcast)
	return ok && ob.name == b.name
}
func (b *leaveBroadcast) Finished() {
	if b.notify != nil {
		close(b.notify)
	}
}

// NotifyMsg implements memberlist.Delegate: a leave message. It must not
// block (it runs in memberlist's packet loop); buf is only valid during the
// call.
func (d *delegate) NotifyMsg(buf []byte) {
	if len(buf) == 0 || buf[0] != tagLeave {
		return
	}
	var li leaveIntent
	if err := json.Unmarshal(buf[1:], &li); err != nil {
		d.g.logger.Debug("gossip: ignoring unreadable leave message", "err", err)
		return
	}
	if li.Name == d.g.name {
		return
	}
	if d.g.table.markLeft(li, true) {
		d.g.logger.Debug("gossip: member announced it is leaving", "member", li.Name, "id", li.ID)
		d.g.bcast.QueueBroadcast(&leaveBroadcast{name: li.Name, msg: append([]byte(nil), buf...)})
	}
}

// GetBroadcasts implements memberlist.Delegate.
func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte {
	return d.g.bcast.GetBroadcasts(overhead, limit)
}

// LocalState implements memberlist.Delegate: the members known as left.
func (d *delegate) LocalState(join bool) []byte {
	left := d.g.table.left()
	if len(left) == 0 {
		return nil
	}
	return encodeTagged(tagLeftState, left)
}

// MergeRemoteState implements memberlist.Delegate. memberlist merges the
// node states first, so a member the peer knows as left is already failed
// here if it was news; markLeft turns it into left.
func (d *delegate) MergeRemoteState(buf []byte, join bool) {
	if len(buf) == 0 || buf[0] != tagLeftState {
		return
	}
	var left []leaveIntent
	if err := json.Unmarshal(buf[1:], &left); err != nil {
		d.g.logger.Debug("gossip: ignoring unreadable push/pull state", "err", err)
		return
	}
	for _, li := range left {
		if li.Name != d.g.name {
			d.g.table.markLeft(li, false)
		}
	}
}
