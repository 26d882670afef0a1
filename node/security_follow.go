package node

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/state"
)

func (a *Agent) gossipKeysPath() string { return filepath.Join(a.tlsDir(), "gossip.keys") }

// loadGossipKeys reads the key ring saved at the last change, so a
// restarted node can talk gossip before its replica has caught up.
func (a *Agent) loadGossipKeys() ([][]byte, error) {
	b, err := os.ReadFile(a.gossipKeysPath())
	if err != nil {
		return nil, err
	}
	var keys [][]byte
	return keys, json.Unmarshal(b, &keys)
}

func (a *Agent) saveGossipKeys(keys [][]byte) error {
	b, _ := json.Marshal(keys)
	return writeFileAtomic(a.gossipKeysPath(), b, 0o600)
}

// follow calls f now and again after every change to objects of kind
// (state.Follow on the replica).
func (a *Agent) follow(ctx context.Context, kind string, f func()) {
	state.Follow(ctx, a.store, kind, f)
}

// gossipKeysSnapshot returns the key ring in use.
func (a *Agent) gossipKeysSnapshot() [][]byte {
	a.keysMu.Lock()
	defer a.keysMu.Unlock()
	return a.gossipKeys
}

// followClusterKeys installs the gossip key ring whenever it changes.
func (a *Agent) followClusterKeys(ctx context.Context) {
	a.follow(ctx, "ClusterKeys", func() {
		keys, err := a.currentGossipKeys()
		if err != nil || reflect.DeepEqual(keys, a.gossipKeysSnapshot()) {
			return
		}
		if err := a.gossip.SetKeys(keys); err != nil {
			a.log.Error("cannot install the new gossip keys", "err", err)
			return
		}
		a.keysMu.Lock()
		a.gossipKeys = keys
		a.keysMu.Unlock()
		if err := a.saveGossipKeys(keys); err != nil {
			a.log.Warn("cannot save the gossip keys", "err", err)
		}
		a.log.Info("gossip key ring updated", "keys", len(keys))
	})
}

// followJoinToken keeps <data-dir>/token equal to the cluster's current
// join token, so that any node can hand it out after a rotation.
func (a *Agent) followJoinToken(ctx context.Context) {
	a.follow(ctx, "JoinToken", func() {
		text, err := a.clusterToken()
		if err != nil || text == a.Token() {
			return
		}
		if err := a.saveToken(text); err != nil {
			a.log.Warn("cannot save the join token", "err", err)
		}
	})
}

// clusterToken opens the current cluster join token from the replica.
func (a *Agent) clusterToken() (string, error) {
	obj, err := a.store.Get(api.Key{Kind: "JoinToken", Name: "cluster"})
	if err != nil {
		return "", err
	}
	b, err := a.sec.sealer.Open(obj.(*api.JoinToken).Spec.Sealed, []byte("jointoken/cluster"))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}
