package gossip

import (
	"bytes"
	"context"
	"log"
	"log/slog"
	"strings"
)

// slogWriter turns memberlist's log lines ("[DEBUG] memberlist: ...") into
// slog records. memberlist's [ERR] lines are about peers and the network
// (a peer went away mid-stream, a push/pull was refused), not about this
// process, so they are logged at warn; this package logs its own failures
// that need attention itself.
type slogWriter struct {
	logger *slog.Logger
}

// newMemberlistLogger returns a *log.Logger for memberlist.Config.Logger
// that writes to l.
func newMemberlistLogger(l *slog.Logger) *log.Logger {
	return log.New(slogWriter{logger: l.With("component", "memberlist")}, "", 0)
}

// Write logs one or more lines. log.Logger calls Write once per message.
func (w slogWriter) Write(p []byte) (int, error) {
	for _, line := range bytes.Split(bytes.TrimRight(p, "\n"), []byte("\n")) {
		level, msg := parseMemberlistLine(string(line))
		if msg == "" {
			continue
		}
		w.logger.Log(context.Background(), level, msg)
	}
	return len(p), nil
}

// parseMemberlistLine maps a memberlist log line to a level and a message
// without the level tag and the "memberlist: " prefix.
func parseMemberlistLine(line string) (slog.Level, string) {
	line = strings.TrimSpace(line)
	level := slog.LevelDebug
	for _, p := range []struct {
		tag   string
		level slog.Level
	}{
		{"[DEBUG]", slog.LevelDebug},
		{"[INFO]", slog.LevelInfo},
		{"[WARN]", slog.LevelWarn},
		{"[ERR]", slog.LevelWarn},
		{"[ERROR]", slog.LevelWarn},
	} {
		if rest, ok := strings.CutPrefix(line, p.tag); ok {
			level, line = p.level, strings.TrimSpace(rest)
			break
		}
	}
	line = strings.TrimPrefix(line, "memberlist: ")
	return level, line
}
