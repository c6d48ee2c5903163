package federation

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/mcfed/mcfed/internal/requestid"
)

// NewLogger builds the node's logger for `mcfed serve --log-format
// --log-level`: format is "text" or "json", level one of debug, info, warn,
// error. Records logged with a request's context (slog's *Context methods,
// with c.UserContext()) carry that request's id, so a handler, the gateway
// or an authenticator deep in the call chain need not pass it along.
// Durations are written in milliseconds, under their key with "_ms"
// appended (duration_ms), never as slog's bare nanoseconds.
func NewLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv, ReplaceAttr: millis}
	var h slog.Handler
	switch strings.ToLower(format) {
	case "text":
		h = slog.NewTextHandler(w, opts)
	case "json":
		h = slog.NewJSONHandler(w, opts)
	default:
		return nil, fmt.Errorf("log format %q: want text or json", format)
	}
	return slog.New(requestIDHandler{Handler: h}), nil
}

// millis writes a duration as milliseconds (to the microsecond), its key
// saying the unit.
func millis(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() != slog.KindDuration {
		return a
	}
	return slog.Float64(a.Key+"_ms", float64(a.Value.Duration().Microseconds())/1000)
}

// requestIDHandler adds the request id a context carries to each record,
// unless the logger already has one (requestLog's).
type requestIDHandler struct {
	slog.Handler
	hasID bool
}

func (h requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := requestid.From(ctx); id != "" && !h.hasID {
		r.AddAttrs(slog.String("request_id", id))
	}
	return h.Handler.Handle(ctx, r)
}

func (h requestIDHandler) WithAttrs(as []slog.Attr) slog.Handler {
	has := h.hasID
	for _, a := range as {
		has = has || a.Key == "request_id"
	}
	return requestIDHandler{h.Handler.WithAttrs(as), has}
}

func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{h.Handler.WithGroup(name), h.hasID}
}

// requestLog is the node's logger for the request c: its lines carry the
// request id whatever handler the node was given (a test's, dev's).
func (n *Node) requestLog(c *fiber.Ctx) *slog.Logger {
	if id := requestid.From(c.UserContext()); id != "" {
		return n.log.With("request_id", id)
	}
	return n.log
}
