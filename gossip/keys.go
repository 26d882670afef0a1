package gossip

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
)

// GenerateKey returns a new random gossip encryption key of KeySize bytes.
// The join token handed to new nodes carries it.
func GenerateKey() ([]byte, error) {
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("gossip: generating key: %w", err)
	}
	return k, nil
}

// newSession returns a random tag for this run of the node.
func newSession() (string, error) {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("gossip: generating session: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// SetKeys replaces the encryption key ring: every key in keys is accepted
// for incoming messages, keys[0] encrypts outgoing ones, and keys not in the
// list are dropped. Rotating is SetKeys([new, old]) on every node, then
// later SetKeys([new]). It is idempotent.
func (g *Gossip) SetKeys(keys [][]byte) error {
	kr := g.keyring
	if kr == nil {
		return fmt.Errorf("gossip: this node runs without encryption; keys cannot be set")
	}
	if len(keys) == 0 {
		return ErrNoKey
	}
	for _, k := range keys {
		if len(k) != KeySize {
			return ErrBadKey
		}
		if err := kr.AddKey(k); err != nil {
			return fmt.Errorf("gossip: add key: %w", err)
		}
	}
	if err := kr.UseKey(keys[0]); err != nil {
		return fmt.Errorf("gossip: use key: %w", err)
	}
	for _, old := range kr.GetKeys() {
		keep := false
		for _, k := range keys {
			if string(k) == string(old) {
				keep = true
			}
		}
		if !keep {
			if err := kr.RemoveKey(old); err != nil {
				return fmt.Errorf("gossip: remove key: %w", err)
			}
		}
	}
	return nil
}
