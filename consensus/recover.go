package consensus

import (
	"fmt"
	"log/slog"

	"github.com/hashicorp/raft"
)

// Recover rewrites the Raft state in c.Dir so that this node (c.ID) is the
// only voter, for use after a majority of voters is lost for good. It must
// run while the agent is stopped. Nothing committed on this node is dropped.
// When c.AdvertiseAddr is empty the node keeps the address it has in the
// last configuration. Once the agent starts again it elects itself, and
// other nodes can join it.
func Recover(c RaftConfig) error {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	stores, err := openStores(&c)
	if err != nil {
		return err
	}
	defer stores.close()
	has, err := raft.HasExistingState(stores.logs, stores.stable, stores.snaps)
	if err != nil {
		return err
	}
	if !has {
		return fmt.Errorf("consensus: %s holds no raft state; run recover on the data dir of a node that was part of the cluster", c.Dir)
	}
	if c.AdvertiseAddr == "" {
		_, t := raft.NewInmemTransport("")
		old, err := raft.GetConfiguration(c.raftConfig(), NewFSM(NewStore(), c.Logger), stores.logs, stores.stable, stores.snaps, t)
		if err != nil {
			return fmt.Errorf("consensus: read the last configuration: %w", err)
		}
		for _, s := range old.Servers {
			if string(s.ID) == c.ID {
				c.AdvertiseAddr = string(s.Address)
			}
		}
		if c.AdvertiseAddr == "" {
			return fmt.Errorf("consensus: node %s is not in its own last configuration; it never joined, so there is nothing to recover from here", c.ID)
		}
	}
	_, trans := raft.NewInmemTransport(raft.ServerAddress(c.AdvertiseAddr))
	cfg := raft.Configuration{Servers: []raft.Server{{
		Suffrage: raft.Voter, ID: raft.ServerID(c.ID), Address: raft.ServerAddress(c.AdvertiseAddr),
	}}}
	fsm := NewFSM(NewStore(), c.Logger)
	if err := raft.RecoverCluster(c.raftConfig(), fsm, stores.logs, stores.stable, stores.snaps, trans, cfg); err != nil {
		return fmt.Errorf("consensus: recover: %w", err)
	}
	return nil
}
