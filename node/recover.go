package node

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/shoal-dev/shoal/consensus"
)

// Recover makes the stopped node whose data dir is dataDir the only voter
// of a new configuration, after a majority of voters was lost for good.
func Recover(ctx context.Context, dataDir string) error {
	b, err := os.ReadFile(filepath.Join(dataDir, "node-id"))
	if err != nil {
		return fmt.Errorf("recover: %s is not a shoal data dir (%w)", dataDir, err)
	}
	id, err := loadOrCreateID(dataDir)
	if err != nil || len(b) == 0 {
		return fmt.Errorf("recover: read node ID: %v", err)
	}
	return consensus.Recover(consensus.RaftConfig{
		ID:     id,
		Dir:    filepath.Join(dataDir, "raft"),
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
}
