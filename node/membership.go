package node

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/consensus"
	"github.com/shoal-dev/shoal/gossip"
)

// capacity reports this machine's CPU (millicores) and memory (bytes).
func capacity() (int64, int64) {
	cpu := int64(runtime.NumCPU()) * 1000
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return cpu, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kb, _ := strconv.ParseInt(fields[1], 10, 64)
			return cpu, kb * 1024
		}
	}
	return cpu, 0
}

func (a *Agent) peersPath() string { return filepath.Join(a.cfg.DataDir, "peers.json") }

// savedPeers returns the gossip addresses of the members this node last
// knew, so that a restarted node finds the cluster without --join.
func (a *Agent) savedPeers() []string {
	b, err := os.ReadFile(a.peersPath())
	if err != nil {
		return nil
	}
	var addrs []string
	if err := json.Unmarshal(b, &addrs); err != nil {
		a.log.Warn("ignoring unreadable peers file", "path", a.peersPath(), "err", err)
		return nil
	}
	return addrs
}

// persistPeers records the other live members' addresses whenever
// membership changes.
func (a *Agent) persistPeers(ctx context.Context) {
	ch, cancel := a.gossip.Subscribe()
	defer cancel()
	var last string
	for {
		select {
		case <-ctx.Done():
			return
		case <-ch:
		}
		var addrs []string
		for _, m := range a.gossip.Members() {
			if m.Meta.ID != a.id && (m.State == gossip.StateAlive || m.State == gossip.StateSuspect) {
				addrs = append(addrs, m.Addr)
			}
		}
		if len(addrs) == 0 {
			continue
		}
		sort.Strings(addrs)
		b, _ := json.Marshal(addrs)
		if string(b) == last {
			continue
		}
		if err := writeFileAtomic(a.peersPath(), b, 0o600); err != nil {
			a.log.Warn("cannot save peers", "err", err)
			continue
		}
		last = string(b)
	}
}

// peers is the voter manager's view of the cluster: gossip members joined
// with how far each live one has replicated.
func (a *Agent) peers(ctx context.Context) []consensus.Peer {
	// Only non-voters can be promoted, so only their progress is asked for.
	voters := map[string]bool{}
	if servers, err := a.raft.Servers(); err == nil {
		for _, s := range servers {
			voters[string(s.ID)] = s.Suffrage == raft.Voter
		}
	}
	members := a.gossip.Members()
	out := make([]consensus.Peer, len(members))
	var wg sync.WaitGroup
	for i, m := range members {
		out[i] = consensus.Peer{
			ID: m.Meta.ID, Name: m.Name, RaftAddr: m.Meta.RaftAddr, Zone: m.Meta.Zone(),
			State: consensus.PeerState(m.State), Since: m.Since, Applied: -1,
		}
		if m.Meta.ID == a.id {
			out[i].Applied = int64(a.store.Index())
			continue
		}
		if m.State != gossip.StateAlive || voters[m.Meta.ID] {
			continue
		}
		wg.Add(1)
		go func(p *consensus.Peer, apiAddr string) {
			defer wg.Done()
			if pr, err := a.progress(ctx, apiAddr); err == nil {
				p.Applied = int64(pr.Applied)
			}
		}(&out[i], m.Meta.APIAddr)
	}
	wg.Wait()
	return out
}

func (a *Agent) progress(ctx context.Context, apiAddr string) (api.Progress, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	var p api.Progress
	_, err := a.peerClient(apiAddr).Do(ctx, http.MethodGet, "/internal/v1/progress", nil, &p)
	return p, err
}

func (a *Agent) peerClient(apiAddr string) *api.Client {
	return &api.Client{Base: a.scheme() + "://" + apiAddr, HTTP: a.client}
}

// memberByID finds a gossip member by node ID.
func (a *Agent) memberByID(id string) (gossip.Member, bool) {
	for _, m := range a.gossip.Members() {
		if m.Meta.ID == id {
			return m, true
		}
	}
	return gossip.Member{}, false
}

// Leave departs the cluster for good: it hands leadership over, has the
// leader remove it from Raft, leaves gossip, and shuts down.
func (a *Agent) Leave(ctx context.Context) error {
	defer a.Shutdown()
	if err := a.leaveRaft(ctx); err != nil {
		return err
	}
	if err := a.gossip.Leave(5 * time.Second); err != nil {
		a.log.Warn("gossip leave", "err", err)
	}
	a.log.Info("left the cluster")
	return nil
}

func (a *Agent) leaveRaft(ctx context.Context) error {
	servers, err := a.raft.Servers()
	if err != nil {
		return err
	}
	others := 0
	for _, s := range servers {
		if string(s.ID) != a.id && s.Suffrage == raft.Voter {
			others++
		}
	}
	if others == 0 {
		a.log.Info("this is the only voter; leaving without handing over")
		return nil
	}
	for {
		if a.raft.IsLeader() {
			if err := a.raft.Raw().LeadershipTransfer().Error(); err != nil {
				a.log.Warn("leadership transfer failed; retrying", "err", err)
			}
		} else if err := a.askRemoval(ctx); err == nil {
			return nil
		} else {
			a.log.Warn("leader did not remove this node yet; retrying", "err", err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("leave: %w (the node was not removed from raft; try again)", ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (a *Agent) askRemoval(ctx context.Context) error {
	leaderAPI, ok := a.leaderAPI()
	if !ok {
		return fmt.Errorf("no leader known")
	}
	_, err := a.peerClient(leaderAPI).Do(ctx, http.MethodPost, "/internal/v1/raft/remove?id="+a.id, nil, nil)
	return err
}

// leaderAPI returns the leader's API address. It comes from gossip; a node
// that has just restarted may hear from the leader over Raft before gossip
// has found it, so then the address is derived from the leader's Raft
// address and this cluster's API port.
func (a *Agent) leaderAPI() (string, bool) {
	addr, id := a.raft.Leader()
	if id == "" {
		return "", false
	}
	if m, ok := a.memberByID(id); ok && m.Meta.APIAddr != "" {
		return m.Meta.APIAddr, true
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return "", false
	}
	return net.JoinHostPort(host, strconv.Itoa(a.cfg.APIPort)), true
}
