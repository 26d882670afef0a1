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
