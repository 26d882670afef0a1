package node

import (
	"context"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/hashicorp/raft"
	"github.com/shoal-dev/shoal/api"
)

func (a *Agent) handleReady(w http.ResponseWriter, r *http.Request) {
	if _, id := a.raft.Leader(); id == "" {
		writeError(w, api.NewError(api.ReasonServiceUnavailable, "not ready: no raft leader is known"))
		return
	}
	io.WriteString(w, "ok\n")
}

// Status builds what `shoal status` shows.
func (a *Agent) Status() api.ClusterStatus {
	r := a.raft.Raw()
	st := api.ClusterStatus{
		Term:         r.CurrentTerm(),
		CommitIndex:  r.CommitIndex(),
		AppliedIndex: a.store.Index(),
		LastIndex:    r.LastIndex(),
		Voters:       []api.NodeRef{},
		Nonvoters:    []api.NodeRef{},
		Self: api.SelfInfo{
			NodeRef:   api.NodeRef{ID: a.id, Name: a.cfg.Name, Address: a.cfg.AdvertiseAddr},
			RaftState: r.State().String(),
			Version:   a.cfg.Version,
		},
	}
	names := map[string]string{}
	for _, m := range a.gossip.Members() {
		names[m.Meta.ID] = m.Name
	}
	if addr, id := a.raft.Leader(); id != "" {
		st.Leader = &api.NodeRef{ID: id, Name: names[id], Address: addr}
	}
	servers, _ := a.raft.Servers()
	for _, s := range servers {
		ref := api.NodeRef{ID: string(s.ID), Name: names[string(s.ID)], Address: string(s.Address)}
		if s.Suffrage == raft.Voter {
			st.Voters = append(st.Voters, ref)
		} else {
			st.Nonvoters = append(st.Nonvoters, ref)
		}
	}
	return st
}

func (a *Agent) handleStatus(w http.ResponseWriter, r *http.Request) {
	setIndex(w, a.store.Index())
	writeJSON(w, http.StatusOK, a.Status())
}

// Members joins gossip's member list with each member's Raft role.
func (a *Agent) Members() []api.MemberInfo {
	roles := map[string]string{}
	servers, _ := a.raft.Servers()
	for _, s := range servers {
		roles[string(s.ID)] = "nonvoter"
		if s.Suffrage == raft.Voter {
			roles[string(s.ID)] = "voter"
		}
	}
	if _, id := a.raft.Leader(); id != "" {
		roles[id] = "leader"
	}
	out := []api.MemberInfo{}
	for _, m := range a.gossip.Members() {
		host, _, _ := net.SplitHostPort(m.Addr)
		out = append(out, api.MemberInfo{
			Name: m.Name, ID: m.Meta.ID, Address: host, Gossip: string(m.State), Raft: roles[m.Meta.ID],
			Zone: m.Meta.Zone(), Since: m.Since, Labels: m.Meta.Labels, RaftAddr: m.Meta.RaftAddr, APIAddr: m.Meta.APIAddr,
		})
	}
	return out
}

func (a *Agent) handleMembers(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, a.Members())
}

// handleLeave makes this agent leave the cluster; the answer comes once
// Raft has let it go, and the process stops afterwards.
func (a *Agent) handleLeave(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	if err := a.leaveRaft(ctx); err != nil {
		writeError(w, api.NewError(api.ReasonServiceUnavailable, "leave: %v", err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "left", "node": a.cfg.Name})
	go func() {
		if err := a.gossip.Leave(5 * time.Second); err != nil {
			a.log.Warn("gossip leave", "err", err)
		}
		a.log.Info("left the cluster")
		select {
		case <-a.leaveC:
		default:
			close(a.leaveC)
		}
	}()
}

func (a *Agent) handleProgress(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, api.Progress{Applied: a.store.Index(), Last: a.raft.Raw().LastIndex()})
}

// handleRaftRemove removes a leaving node from the Raft configuration.
func (a *Agent) handleRaftRemove(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("id")
	if !a.raft.IsLeader() {
		writeError(w, errMisdirected)
		return
	}
	if id == a.id {
		writeError(w, api.NewError(api.ReasonBadRequest, "the leader cannot remove itself; it hands leadership over first"))
		return
	}
	if err := a.raft.Raw().RemoveServer(raft.ServerID(id), 0, 10*time.Second).Error(); err != nil {
		writeError(w, api.NewError(api.ReasonServiceUnavailable, "remove %s from raft: %v", id, err))
		return
	}
	a.log.Info("raft membership changed", "change", "remove", "id", id, "reason", "node is leaving")
	writeJSON(w, http.StatusOK, map[string]string{"removed": id})
}
