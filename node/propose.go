package node

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/hashicorp/raft"
	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/consensus"
	"github.com/shoal-dev/shoal/gossip"
	"github.com/shoal-dev/shoal/state"
)

// noLeaderWait is how long a write waits for an election before it is
// refused as unavailable.
const noLeaderWait = 5 * time.Second

// errMisdirected tells a forwarding follower that the node it reached is no
// longer leader, so the write was not applied and may be sent again.
var errMisdirected = api.NewError(api.ReasonServiceUnavailable, "node: not leader")

// Propose commits a command and returns the FSM's result. On a follower it
// forwards the command to the leader and waits until the local replica has
// applied it, so that this node's own components see the write. Without a
// leader it fails with a retryable ServiceUnavailable error.
func (a *Agent) Propose(ctx context.Context, cmd []byte) (*consensus.WriteResult, error) {
	res, err := a.proposeCommitted(ctx, cmd)
	if err == nil {
		a.awaitApplied(ctx, res.Index)
	}
	return res, err
}

// proposeCommitted commits a command and returns as soon as it is
// committed, with the result the leader's FSM computed. It raises the read
// floor to the command's index, so that an API read through this node
// afterwards waits until the local replica has it (read-your-writes), while
// the writer does not wait for the leader to tell this node of the commit.
func (a *Agent) proposeCommitted(ctx context.Context, cmd []byte) (*consensus.WriteResult, error) {
	start := time.Now()
	defer func() { a.m.applyLatency.Observe(time.Since(start).Seconds()) }()
	deadline := time.Now().Add(noLeaderWait)
	for {
		res, err := a.proposeOnce(ctx, cmd)
		if err == nil {
			a.raiseReadFloor(res.Index)
			return res, nil
		}
		retry := errors.Is(err, consensus.ErrNotLeader) || errors.Is(err, errNoLeader) || err == errMisdirected
		if !retry {
			return nil, err
		}
		if time.Now().After(deadline) {
			return nil, a.noLeaderError()
		}
		select {
		case <-ctx.Done():
			return nil, api.NewError(api.ReasonServiceUnavailable, "write abandoned: %v", ctx.Err())
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// appliedWait bounds how long a node waits for its replica to apply a
// write it knows is committed. The leader tells a follower of a commit with
// its next AppendEntries, tens of milliseconds later at most while it is
// healthy; past the bound the reader goes on with what the replica has.
const appliedWait = 2 * time.Second

// awaitApplied waits, at most appliedWait, until the local replica has
// applied index.
func (a *Agent) awaitApplied(ctx context.Context, index uint64) {
	if index == 0 || a.store.Index() >= index {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, appliedWait)
	defer cancel()
	a.store.WaitForIndex(ctx, index)
}

// raiseReadFloor records that a write at index was acknowledged through
// this node.
func (a *Agent) raiseReadFloor(index uint64) {
	for {
		cur := a.readFloor.Load()
		if index <= cur || a.readFloor.CompareAndSwap(cur, index) {
			return
		}
	}
}

// awaitReadFloor waits until the local replica has applied every write
// acknowledged through this node.
func (a *Agent) awaitReadFloor(ctx context.Context) {
	a.awaitApplied(ctx, a.readFloor.Load())
}

var errNoLeader = errors.New("node: no leader")

func (a *Agent) noLeaderError() error {
	servers, _ := a.raft.Servers()
	voters, reachable := 0, 0
	for _, s := range servers {
		if s.Suffrage != raft.Voter {
			continue
		}
		voters++
		if m, ok := a.memberByID(string(s.ID)); ok && (m.State == gossip.StateAlive || m.State == gossip.StateSuspect) {
			reachable++
		}
	}
	return api.NewError(api.ReasonServiceUnavailable,
		"no raft leader: %d of %d voters are reachable and a majority is needed; the write was not applied, retry once the voters are back (or see `shoal operator recover` if they are lost for good)",
		reachable, voters)
}

func (a *Agent) proposeOnce(ctx context.Context, cmd []byte) (*consensus.WriteResult, error) {
	if a.raft.IsLeader() {
		resp, _, err := a.raft.Apply(ctx, cmd)
		if err != nil {
			return nil, err
		}
		res, ok := resp.(*consensus.WriteResult)
		if !ok {
			return &consensus.WriteResult{}, nil
		}
		return res, nil
	}
	if _, ok := a.leaderAPI(); !ok {
		return nil, errNoLeader
	}
	return a.fwd.submit(ctx, cmd)
}

// forward sends one command to the leader in a request of its own: the
// way to a leader that does not take batches.
func (a *Agent) forward(ctx context.Context, leaderAPI string, cmd []byte) (*consensus.WriteResult, error) {
	var fr forwardResult
	_, err := a.peerClient(leaderAPI).Do(ctx, http.MethodPost, "/internal/v1/propose", cmd, &fr)
	if err != nil {
		var st *api.Status
		if errors.As(err, &st) && st.Message == errMisdirected.Message {
			return nil, errMisdirected
		}
		return nil, err
	}
	return fr.decode()
}

// handlePropose applies a command forwarded by a follower.
func (a *Agent) handlePropose(w http.ResponseWriter, r *http.Request) {
	cmd, err := readBody(r)
	if err != nil {
		writeError(w, err)
		return
	}
	resp, _, err := a.raft.Apply(r.Context(), cmd)
	if errors.Is(err, consensus.ErrNotLeader) {
		writeError(w, errMisdirected)
		return
	}
	if err != nil {
		writeError(w, err)
		return
	}
	fr := newForwardResult(resp)
	writeJSON(w, http.StatusOK, fr)
}

// Commit commits changes as one command and waits for the local replica to
// apply it: the state.Writer of the controllers, the runtime and the agent
// itself.
func (a *Agent) Commit(ctx context.Context, changes []state.Change) error {
	_, err := a.commitChanges(ctx, changes...)
	return err
}

// commitChanges commits changes as one command at the clock's time and
// waits for the local replica to apply it (Propose). A command the state
// refused comes back as the error, with the result (for its index).
func (a *Agent) commitChanges(ctx context.Context, changes ...state.Change) (*consensus.WriteResult, error) {
	return a.commitEncoded(ctx, a.Propose, changes)
}

// commitForClient is commitChanges for a client's request: it returns once
// the command is committed, and reads through this node see it
// (proposeCommitted).
func (a *Agent) commitForClient(ctx context.Context, changes ...state.Change) (*consensus.WriteResult, error) {
	return a.commitEncoded(ctx, a.proposeCommitted, changes)
}

// commitOps is commitChanges of changes already encoded (records saved to
// disk before they could be committed).
func (a *Agent) commitOps(ctx context.Context, ops ...consensus.Op) (*consensus.WriteResult, error) {
	return a.commitWith(ctx, a.Propose, ops)
}

func (a *Agent) commitEncoded(ctx context.Context, propose func(context.Context, []byte) (*consensus.WriteResult, error), changes []state.Change) (*consensus.WriteResult, error) {
	ops, err := consensus.OpsOf(changes)
	if err != nil {
		return nil, err
	}
	return a.commitWith(ctx, propose, ops)
}

func (a *Agent) commitWith(ctx context.Context, propose func(context.Context, []byte) (*consensus.WriteResult, error), ops []consensus.Op) (*consensus.WriteResult, error) {
	cmd, err := consensus.NewWrite(a.cfg.Clock.Now(), ops...)
	if err != nil {
		return nil, err
	}
	res, err := propose(ctx, cmd)
	if err != nil {
		return nil, err
	}
	return res, res.Err
}
