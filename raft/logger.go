package raft

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"strings"

	"github.com/hashicorp/go-hclog"
)

// slogAdapter is hashicorp/raft's logger (an hclog.Logger) writing into the
// node's slog logger, so that a node's log has one schema (time, level,
// msg and the node's attributes) whatever part of it wrote a line. Raft's
// names ("raft", "raft.fsm") go in the "logger" attribute.
//
// Raft logs some of its normal work as warnings: an election at every
// bootstrap or failover, votes refused because a leader already exists, a
// new follower's log being caught up. Those are INFO here (levels), so that
// a WARN in a node's log is worth a look.
type slogAdapter struct {
	log  *slog.Logger // with the implied arguments and the name
	base *slog.Logger // without them, for ResetNamed
	name string
	args []any
}

// newSlogAdapter adapts l for raft, named name.
func newSlogAdapter(l *slog.Logger, name string) hclog.Logger {
	return &slogAdapter{log: l.With("logger", name), base: l, name: name}
}

var _ hclog.Logger = (*slogAdapter)(nil)

// demoted are raft's warnings that describe its normal work, and the level
// they are logged at instead.
var demoted = map[string]slog.Level{
	"heartbeat timeout reached, starting election":                      slog.LevelInfo,
	"Election timeout reached, restarting election":                     slog.LevelInfo,
	"new leader elected, stepping down":                                 slog.LevelInfo,
	"rejecting vote request since we have a leader":                     slog.LevelInfo,
	"rejecting pre-vote request since we have a leader":                 slog.LevelInfo,
	"appendEntries rejected, sending older logs":                        slog.LevelInfo,
	"duplicate requestVote from":                                        slog.LevelDebug,
	"pre-vote is disabled because it is not supported by the Transport": slog.LevelDebug,
}

func level(l hclog.Level, msg string) slog.Level {
	switch l {
	case hclog.Trace:
		return slog.LevelDebug - 4
	case hclog.Debug:
		return slog.LevelDebug
	case hclog.Info, hclog.NoLevel, hclog.DefaultLevel:
		return slog.LevelInfo
	case hclog.Warn:
		if d, ok := demoted[msg]; ok {
			return d
		}
		return slog.LevelWarn
	}
	return slog.LevelError
}

func (a *slogAdapter) Log(l hclog.Level, msg string, args ...any) {
	lv := level(l, msg)
	ctx := context.Background()
	if !a.log.Enabled(ctx, lv) {
		return
	}
	a.log.Log(ctx, lv, msg, attrs(args)...)
}

// attrs turns hclog's key/value pairs into slog's: values that print
// themselves (raft's *Raft, addresses) as their text, which is what hclog
// wrote for them; a key without a value keeps hclog's placeholder; a key
// the node's lines already carry gets a "raft_" prefix, so that no line
// holds a key twice.
//
// Raft's "node" (the server, as "Node at <addr> [<state>]") is the one
// raft logs today.
func attrs(args []any) []any {
	if len(args)%2 == 1 {
		args = append(args, "MISSING")
	}
	out := make([]any, 0, len(args))
	for i := 0; i < len(args); i += 2 {
		key, ok := args[i].(string)
		if !ok {
			key = fmt.Sprint(args[i])
		}
		switch key {
		case slog.TimeKey, slog.LevelKey, slog.MessageKey, "node", "logger":
			key = "raft_" + key
		}
		v := args[i+1]
		switch x := v.(type) {
		case error:
			v = x.Error()
		case hclog.Format:
			v = fmt.Sprintf(x[0].(string), x[1:]...)
		case fmt.Stringer:
			v = x.String()
		}
		out = append(out, slog.Any(key, v))
	}
	return out
}

func (a *slogAdapter) Trace(msg string, args ...any) { a.Log(hclog.Trace, msg, args...) }
func (a *slogAdapter) Debug(msg string, args ...any) { a.Log(hclog.Debug, msg, args...) }
func (a *slogAdapter) Info(msg string, args ...any)  { a.Log(hclog.Info, msg, args...) }
func (a *slogAdapter) Warn(msg string, args ...any)  { a.Log(hclog.Warn, msg, args...) }
func (a *slogAdapter) Error(msg string, args ...any) { a.Log(hclog.Error, msg, args...) }

func (a *slogAdapter) enabled(l slog.Level) bool { return a.log.Enabled(context.Background(), l) }

func (a *slogAdapter) IsTrace() bool { return a.enabled(slog.LevelDebug - 4) }
func (a *slogAdapter) IsDebug() bool { return a.enabled(slog.LevelDebug) }
func (a *slogAdapter) IsInfo() bool  { return a.enabled(slog.LevelInfo) }
func (a *slogAdapter) IsWarn() bool  { return a.enabled(slog.LevelWarn) }
func (a *slogAdapter) IsError() bool { return a.enabled(slog.LevelError) }

func (a *slogAdapter) ImpliedArgs() []any { return a.args }

func (a *slogAdapter) With(args ...any) hclog.Logger {
	return &slogAdapter{log: a.log.With(attrs(args)...), base: a.base, name: a.name, args: append(a.args[:len(a.args):len(a.args)], args...)}
}

func (a *slogAdapter) Name() string { return a.name }

func (a *slogAdapter) Named(name string) hclog.Logger {
	if a.name != "" {
		name = a.name + "." + name
	}
	return a.ResetNamed(name)
}

func (a *slogAdapter) ResetNamed(name string) hclog.Logger {
	return &slogAdapter{log: a.base.With("logger", name).With(attrs(a.args)...), base: a.base, name: name, args: a.args}
}

// SetLevel does nothing: the node's logger decides what is logged.
func (a *slogAdapter) SetLevel(hclog.Level) {}

func (a *slogAdapter) GetLevel() hclog.Level {
	for _, l := range []hclog.Level{hclog.Trace, hclog.Debug, hclog.Info, hclog.Warn} {
		if a.enabled(level(l, "")) {
			return l
		}
	}
	return hclog.Error
}

// StandardLogger and StandardWriter serve libraries that want a *log.Logger
// (raft's transport, for one): each line is logged at INFO, or at the level
// its "[LEVEL]" prefix names when opts ask for inference, as hclog does.
func (a *slogAdapter) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(a.StandardWriter(opts), "", 0)
}

func (a *slogAdapter) StandardWriter(opts *hclog.StandardLoggerOptions) io.Writer {
	infer := opts != nil && opts.InferLevels
	return writerFunc(func(p []byte) (int, error) {
		msg := strings.TrimSpace(string(p))
		l := hclog.Info
		if infer {
			for prefix, pl := range map[string]hclog.Level{"[TRACE]": hclog.Trace, "[DEBUG]": hclog.Debug, "[INFO]": hclog.Info,
				"[WARN]": hclog.Warn, "[ERR]": hclog.Error, "[ERROR]": hclog.Error} {
				if rest, ok := strings.CutPrefix(msg, prefix); ok {
					l, msg = pl, strings.TrimSpace(rest)
					break
				}
			}
		}
		a.Log(l, msg)
		return len(p), nil
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
