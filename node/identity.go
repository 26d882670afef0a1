package node

import (
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/uuid"
)

// tokenPrefix marks version 1 of the join token: the gossip key, base64url.
const tokenPrefix = "SHL1-"

// Token is the join token: what a node needs to be let into the cluster.
type Token struct {
	GossipKey []byte
}

func (t Token) String() string {
	return tokenPrefix + base64.RawURLEncoding.EncodeToString(t.GossipKey)
}

// ParseToken reads a join token.
func ParseToken(s string) (Token, error) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, tokenPrefix) {
		return Token{}, errors.New("the join token is malformed: it should start with " + tokenPrefix + " (copy it from <data-dir>/token on the first node)")
	}
	key, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(s, tokenPrefix))
	if err != nil || len(key) != 32 {
		return Token{}, errors.New("the join token is malformed or truncated (copy all of <data-dir>/token from the first node)")
	}
	return Token{GossipKey: key}, nil
}

// loadOrCreateID returns the node ID persisted in dir, creating one on first start.
func loadOrCreateID(dir string) (string, error) {
	p := filepath.Join(dir, "node-id")
	b, err := os.ReadFile(p)
	if err == nil {
		id := strings.TrimSpace(string(b))
		if _, err := uuid.Parse(id); err != nil {
			return "", fmt.Errorf("%s is corrupt (%q is not a UUID): restore it or start with an empty data dir", p, id)
		}
		return id, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	id := uuid.NewString()
	return id, writeFileAtomic(p, []byte(id+"\n"), 0o600)
}

// writeFileAtomic writes data to p through a synced temporary file.
func writeFileAtomic(p string, data []byte, mode os.FileMode) error {
	tmp := p + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, p)
}
