package node

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/consensus"
)

// A follower sends the writes it takes to the leader in batches: what
// arrives while earlier batches are on their way goes together in one
// request, and the leader hands the whole batch to Raft at once, so that it
// shares one disk write and one AppendEntries. One write alone goes as soon
// as it arrives; nothing waits to fill a batch.
const (
	// forwardSenders is how many batches may be on their way at once.
	forwardSenders = 4
	// forwardBatchMax caps the commands in one batch.
	forwardBatchMax = 256
	// forwardTimeout bounds one batch's round trip.
	forwardTimeout = 10 * time.Second
)

// forwardedWrite is one command waiting for the leader's answer.
type forwardedWrite struct {
	ctx  context.Context
	cmd  []byte
	done chan forwardOutcome // buffered: the sender never blocks on it
}

type forwardOutcome struct {
	res *consensus.WriteResult
	err error
}

// forwarder batches a follower's writes to the leader.
type forwarder struct {
	a     *Agent
	queue chan *forwardedWrite
}

func newForwarder(a *Agent) *forwarder {
	return &forwarder{a: a, queue: make(chan *forwardedWrite, forwardBatchMax*forwardSenders)}
}

// start starts the senders; they stop with the agent.
func (f *forwarder) start() {
	for range forwardSenders {
		f.a.goLoop(f.send)
	}
}

// submit forwards cmd to the leader and waits for its result.
func (f *forwarder) submit(ctx context.Context, cmd []byte) (*consensus.WriteResult, error) {
	w := &forwardedWrite{ctx: ctx, cmd: cmd, done: make(chan forwardOutcome, 1)}
	select {
	case f.queue <- w:
	case <-ctx.Done():
		return nil, api.NewError(api.ReasonServiceUnavailable, "write abandoned before it was sent to the leader: %v", ctx.Err())
	}
	select {
	case o := <-w.done:
		return o.res, o.err
	case <-ctx.Done():
		return nil, consensus.Unconfirmed(ctx.Err())
	}
}

// send takes what is queued, up to forwardBatchMax, and sends it as one
// batch, until ctx ends.
func (f *forwarder) send(ctx context.Context) {
	for {
		var batch []*forwardedWrite
		select {
		case <-ctx.Done():
			return
		case w := <-f.queue:
			batch = append(batch, w)
		}
	fill:
		for len(batch) < forwardBatchMax {
			select {
			case w := <-f.queue:
				batch = append(batch, w)
			default:
				break fill
			}
		}
		f.sendBatch(ctx, batch)
	}
}

func (f *forwarder) sendBatch(ctx context.Context, batch []*forwardedWrite) {
	live := batch[:0]
	for _, w := range batch {
		if w.ctx.Err() == nil { // its writer gave up: do not commit it
			live = append(live, w)
		}
	}
	if len(live) == 0 {
		return
	}
	leaderAPI, ok := f.a.leaderAPI()
	if !ok {
		for _, w := range live {
			w.done <- forwardOutcome{err: errNoLeader}
		}
		return
	}
	ctx, cancel := context.WithTimeout(ctx, forwardTimeout)
	defer cancel()
	cmds := make([][]byte, len(live))
	for i, w := range live {
		cmds[i] = w.cmd
	}
	var out forwardBatchResult
	_, err := f.a.peerClient(leaderAPI).Do(ctx, http.MethodPost, "/internal/v1/propose-batch", encodeBatch(cmds), &out)
	if err == nil && len(out.Results) != len(live) {
		err = api.NewError(api.ReasonInternal, "the leader answered %d results for a batch of %d writes", len(out.Results), len(live))
	}
	if err != nil {
		var st *api.Status
		if errors.As(err, &st) && st.Code == http.StatusNotFound {
			// A leader of an earlier release, without batches.
			for _, w := range live {
				go func() {
					res, err := f.a.forward(w.ctx, leaderAPI, w.cmd)
					w.done <- forwardOutcome{res: res, err: err}
				}()
			}
			return
		}
		if errors.As(err, &st) && st.Message == errMisdirected.Message {
			err = errMisdirected
		}
		for _, w := range live {
			w.done <- forwardOutcome{err: err}
		}
		return
	}
	for i, w := range live {
		res, err := out.Results[i].decode()
		w.done <- forwardOutcome{res: res, err: err}
	}
}

// forwardResult is the wire form of a WriteResult.
type forwardResult struct {
	Index   uint64            `json:"index"`
	Objects []json.RawMessage `json:"objects,omitempty"`
	Error   *api.Status       `json:"error,omitempty"`
	// Misdirected says the node that got the command was not the leader:
	// it was not applied and may be sent again.
	Misdirected bool `json:"misdirected,omitempty"`
}

type forwardBatchResult struct {
	Results []forwardResult `json:"results"`
}

func newForwardResult(resp any) forwardResult {
	var fr forwardResult
	if res, ok := resp.(*consensus.WriteResult); ok {
		fr.Index = res.Index
		if res.Err != nil {
			fr.Error = api.AsStatus(res.Err)
		}
		for _, o := range res.Objects {
			b, _ := json.Marshal(o)
			fr.Objects = append(fr.Objects, b)
		}
	}
	return fr
}

func (fr forwardResult) decode() (*consensus.WriteResult, error) {
	if fr.Misdirected {
		return nil, errMisdirected
	}
	res := &consensus.WriteResult{Index: fr.Index}
	if fr.Error != nil {
		res.Err = fr.Error
	}
	for _, raw := range fr.Objects {
		obj, err := api.DecodeAny(raw)
		if err != nil {
			return nil, err
		}
		res.Objects = append(res.Objects, obj)
	}
	return res, nil
}

// encodeBatch frames commands as a length (uvarint) then the bytes, each.
func encodeBatch(cmds [][]byte) []byte {
	size := 0
	for _, c := range cmds {
		size += binary.MaxVarintLen64 + len(c)
	}
	out := make([]byte, 0, size)
	for _, c := range cmds {
		out = binary.AppendUvarint(out, uint64(len(c)))
		out = append(out, c...)
	}
	return out
}

// decodeBatch undoes encodeBatch.
func decodeBatch(b []byte) ([][]byte, error) {
	var cmds [][]byte
	for len(b) > 0 {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return nil, api.NewError(api.ReasonBadRequest, "write batch: command %d is cut short or its length is malformed", len(cmds)+1)
		}
		cmds = append(cmds, b[k:k+int(n)])
		b = b[k+int(n):]
	}
	if len(cmds) == 0 {
		return nil, api.NewError(api.ReasonBadRequest, "write batch: no commands")
	}
	return cmds, nil
}

// handleProposeBatch commits a batch of commands a follower forwarded, in
// one go through Raft, and answers each command's result in order.
func (a *Agent) handleProposeBatch(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(r)
	var cmds [][]byte
	if err == nil {
		cmds, err = decodeBatch(body)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	if !a.raft.IsLeader() {
		writeError(w, errMisdirected)
		return
	}
	outcomes := a.raft.ApplyAll(r.Context(), cmds)
	out := forwardBatchResult{Results: make([]forwardResult, len(outcomes))}
	for i, o := range outcomes {
		switch {
		case errors.Is(o.Err, consensus.ErrNotLeader):
			out.Results[i] = forwardResult{Misdirected: true}
		case o.Err != nil:
			out.Results[i] = forwardResult{Error: api.AsStatus(o.Err)}
		default:
			out.Results[i] = newForwardResult(o.Response)
		}
	}
	writeJSON(w, http.StatusOK, out)
}
