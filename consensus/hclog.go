package consensus

import (
	"context"
	"io"
	"log"
	"log/slog"
	"strings"

	"github.com/hashicorp/go-hclog"
)

// slogHCLog adapts a *slog.Logger to the hclog.Logger that hashicorp/raft
// wants, so raft's messages share the agent's format and level.
type slogHCLog struct {
	l    *slog.Logger
	name string
	args []any
}

// NewHCLogger wraps l for libraries that log through hclog.
func NewHCLogger(l *slog.Logger, name string) hclog.Logger {
	return &slogHCLog{l: l.With("component", name), name: name}
}

func toSlog(level hclog.Level) slog.Level {
	switch level {
	case hclog.Trace:
		return slog.LevelDebug - 4
	case hclog.Debug:
		return slog.LevelDebug
	case hclog.Info:
		return slog.LevelInfo
	case hclog.Warn:
		return slog.LevelWarn
	default:
		return slog.LevelError
	}
}

func (h *slogHCLog) Log(level hclog.Level, msg string, args ...any) {
	h.l.Log(context.Background(), toSlog(level), msg, args...)
}
func (h *slogHCLog) Trace(msg string, args ...any) { h.Log(hclog.Trace, msg, args...) }
func (h *slogHCLog) Debug(msg string, args ...any) { h.Log(hclog.Debug, msg, args...) }
func (h *slogHCLog) Info(msg string, args ...any)  { h.Log(hclog.Info, msg, args...) }
func (h *slogHCLog) Warn(msg string, args ...any)  { h.Log(hclog.Warn, msg, args...) }
func (h *slogHCLog) Error(msg string, args ...any) { h.Log(hclog.Error, msg, args...) }
func (h *slogHCLog) enabled(level hclog.Level) bool {
	return h.l.Enabled(context.Background(), toSlog(level))
}
func (h *slogHCLog) IsTrace() bool         { return h.enabled(hclog.Trace) }
func (h *slogHCLog) IsDebug() bool         { return h.enabled(hclog.Debug) }
func (h *slogHCLog) IsInfo() bool          { return h.enabled(hclog.Info) }
func (h *slogHCLog) IsWarn() bool          { return h.enabled(hclog.Warn) }
func (h *slogHCLog) IsError() bool         { return h.enabled(hclog.Error) }
func (h *slogHCLog) ImpliedArgs() []any    { return h.args }
func (h *slogHCLog) Name() string          { return h.name }
func (h *slogHCLog) SetLevel(hclog.Level)  {}
func (h *slogHCLog) GetLevel() hclog.Level { return hclog.Info }
func (h *slogHCLog) ResetNamed(n string) hclog.Logger {
	return &slogHCLog{l: h.l, name: n, args: h.args}
}
func (h *slogHCLog) With(args ...any) hclog.Logger {
	return &slogHCLog{l: h.l.With(args...), name: h.name, args: append(append([]any{}, h.args...), args...)}
}
func (h *slogHCLog) Named(n string) hclog.Logger {
	if h.name != "" {
		n = h.name + "." + n
	}
	return &slogHCLog{l: h.l.With("component", n), name: n, args: h.args}
}
func (h *slogHCLog) StandardLogger(*hclog.StandardLoggerOptions) *log.Logger {
	return log.New(h.StandardWriter(nil), "", 0)
}
func (h *slogHCLog) StandardWriter(*hclog.StandardLoggerOptions) io.Writer {
	return writerFunc(func(p []byte) (int, error) {
		h.l.Info(strings.TrimSpace(string(p)))
		return len(p), nil
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
