package gossip

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestParseMemberlistLine(t *testing.T) {
	for _, tc := range []struct {
		in    string
		level slog.Level
		msg   string
	}{
		{"[DEBUG] memberlist: Initiating push/pull sync with: 1.2.3.4:7946", slog.LevelDebug, "Initiating push/pull sync with: 1.2.3.4:7946"},
		{"[INFO] memberlist: Marking n3 as failed", slog.LevelInfo, "Marking n3 as failed"},
		{"[WARN] memberlist: Refuting a dead message (from: n2)", slog.LevelWarn, "Refuting a dead message (from: n2)"},
		{"[ERR] memberlist: Failed push/pull merge: x", slog.LevelWarn, "Failed push/pull merge: x"},
		{"[ERR] Failed to shutdown transport: x\n", slog.LevelWarn, "Failed to shutdown transport: x"},
		{"no tag at all", slog.LevelDebug, "no tag at all"},
	} {
		level, msg := parseMemberlistLine(tc.in)
		if level != tc.level || msg != tc.msg {
			t.Errorf("parse(%q) = %v %q, want %v %q", tc.in, level, msg, tc.level, tc.msg)
		}
	}
}

func TestMemberlistLoggerRoutesToSlog(t *testing.T) {
	var buf bytes.Buffer
	l := newMemberlistLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})))
	l.Printf("[DEBUG] memberlist: hidden")
	l.Printf("[WARN] memberlist: shown %d", 1)
	l.Printf("[ERR] memberlist: also shown")
	out := buf.String()
	if strings.Contains(out, "hidden") {
		t.Errorf("debug line logged at info: %s", out)
	}
	for _, want := range []string{`level=WARN msg="shown 1" component=memberlist`, `level=WARN msg="also shown"`} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %s in:\n%s", want, out)
		}
	}
}
