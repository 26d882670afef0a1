package gossip

import (
	"crypto/rand"
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
