package federation

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/mcfed/mcfed/idgw"
	"github.com/mcfed/mcfed/internal/requestid"
)

// headerRequestID carries a request's id in and out: a proxy in front may
// set it, and every answer echoes it, so an operator can find the log line
// of a request an SP complains about.
const headerRequestID = requestid.Header

// observe is the first handler of a listener's app: it gives the request an
// id (kept in the request's context for handlers' logs), counts the answer
// by route template and status, and logs one line when it is done. The line
// holds the method, route template, status, duration, request id and the
// SP's correlation_id; never the raw path, query, body or headers, where
// MSISDNs, codes, tokens and credentials travel.
func (n *Node) observe(listener string) fiber.Handler {
	ids := newRequestIDs()
	// Only the public listener sees correlation_id; the admin listener
	// streams its bodies, which must not be read here. The gateway's
	// endpoints report their OAuth outcome themselves (metrics.ObserveOAuth).
	public := listener == "public"
	return func(c *fiber.Ctx) error {
		start := time.Now()
		self := c.Route()
		id := saneID(c.Get(headerRequestID), 64)
		if id == "" {
			id = ids.next()
		} else {
			id = strings.Clone(id) // the header's bytes are reused after the request
		}
		c.Set(headerRequestID, id)
		c.SetUserContext(requestid.With(c.UserContext(), id))

		// Errors are answered here rather than after this handler, so
		// that the status counted and logged is the one sent.
		if err := c.Next(); err != nil {
			if err := c.App().ErrorHandler(c, err); err != nil {
				_ = c.SendStatus(fiber.StatusInternalServerError)
			}
		}
		elapsed := time.Since(start)
		status := c.Response().StatusCode()
		route := routeLabel(c, self)
		statusText := strconv.Itoa(status)
		method := methodLabel(c.Method())
		n.metrics.httpRequests.WithLabelValues(listener, method, route, statusText).Inc()
		n.metrics.httpDuration.WithLabelValues(listener, route).Observe(elapsed.Seconds())

		level := slog.LevelInfo
		switch {
		case route == "/healthz" || route == "/readyz":
			// Probes every few seconds would drown the rest, and a 503
			// from /readyz is its answer (a node catching up), not a fault.
			level = slog.LevelDebug
		case status >= 500:
			level = slog.LevelWarn
		case public && status < 400 && idgw.AnsweredError(c) == "":
			// A public request that succeeded: seven a login, which the
			// metrics count; their lines cost a node about what the ES256
			// ID token's signature does (3.8% of its CPU under logins).
			// What failed (an error status, or an OAuth error redirected
			// to the SP) stays at info, with the request id an SP's
			// complaint names, and so does the admin listener's every
			// request.
			level = slog.LevelDebug
		}
		// Background, not the request's context: the id is added here, and
		// the handler NewLogger builds would add it a second time.
		if ctx := context.Background(); n.log.Enabled(ctx, level) {
			attrs := []slog.Attr{
				slog.String("listener", listener), slog.String("method", method), slog.String("route", route),
				slog.Int("status", status), slog.Duration("duration", elapsed), slog.String("request_id", id),
			}
			if public {
				if corr := correlationID(c); corr != "" {
					attrs = append(attrs, slog.String("correlation_id", corr))
				}
			}
			n.log.LogAttrs(ctx, level, "request", attrs...)
		}
		return nil
	}
}

// routeLabel is the template of the route that answered (never the raw
// path, which may hold a token), or "unmatched" when only this middleware
// or the app's catch-all took the request. A request a group's middleware
// refused (a missing credential on /v1/...) never reached its route: it is
// labelled with the template of the route it was for, not the group's
// prefix, so that refusals count and log where the accepted calls do.
func routeLabel(c *fiber.Ctx, self *fiber.Route) string {
	r, path := c.Route(), c.Path()
	switch {
	case r == self:
		return "unmatched"
	case matchTemplate(r.Path, path):
		return r.Path // the route's own handler answered
	}
	// A middleware mounted on a prefix answered.
	if t := routeFor(c.App(), c.Method(), path); t != "" {
		return t
	}
	if r.Path == "/" {
		return "unmatched" // the app's catch-all
	}
	return r.Path // a handler mounted on a prefix (pprof)
}

// routeFor is the template of app's first route for method that path
// matches ("" when none does). It runs only for requests a middleware
// answered, the refused ones.
func routeFor(app *fiber.App, method, path string) string {
	for _, routes := range app.Stack() {
		for _, r := range routes {
			if r.Method == method && matchTemplate(r.Path, path) {
				return r.Path
			}
		}
	}
	return ""
}

// matchTemplate reports whether path fits the route template tmpl as the
// admin and public apps write them: literal segments (case-insensitive, as
// fiber routes by default), ":param" and ":param?" for one segment, and a
// trailing "*" or "+" for the rest.
//
// It runs at every request, so it cuts the segments as it goes rather
// than splitting both into slices.
func matchTemplate(tmpl, path string) bool {
	tmpl, path = strings.Trim(tmpl, "/"), strings.Trim(path, "/")
	pathDone := false // every segment of path is matched
	for {
		t, tRest, tMore := strings.Cut(tmpl, "/")
		if t == "*" || t == "+" {
			if t == "*" {
				return true
			}
			p, _, _ := strings.Cut(path, "/")
			return !pathDone && p != ""
		}
		optional := strings.HasPrefix(t, ":") && strings.HasSuffix(t, "?")
		if pathDone {
			return optional && !tMore
		}
		p, pRest, pMore := strings.Cut(path, "/")
		switch {
		case strings.HasPrefix(t, ":"):
			if p == "" && !optional {
				return false
			}
		case !strings.EqualFold(t, p):
			return false
		}
		if !tMore {
			return !pMore
		}
		tmpl, path, pathDone = tRest, pRest, !pMore
	}
}

// methodLabel returns the method as a constant string: c.Method() aliases
// the request's buffer, which the next request overwrites, and a label
// value is kept for the life of the process.
func methodLabel(m string) string {
	for _, known := range []string{fiber.MethodGet, fiber.MethodPost, fiber.MethodPut, fiber.MethodDelete,
		fiber.MethodHead, fiber.MethodPatch, fiber.MethodOptions, fiber.MethodConnect, fiber.MethodTrace} {
		if m == known {
			return known
		}
	}
	return "other"
}

// requestIDs makes ids unique to this process: a random prefix drawn at
// start and a counter, cheaper than random bytes per request.
type requestIDs struct {
	prefix string
	n      atomic.Uint64
}

func newRequestIDs() *requestIDs {
	b := make([]byte, 6)
	rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return &requestIDs{prefix: hex.EncodeToString(b) + "-"}
}

func (g *requestIDs) next() string { return g.prefix + strconv.FormatUint(g.n.Add(1), 36) }

// saneID returns v when it is a safe value to echo and log (1 to max
// letters, digits and ._:-), "" otherwise: an id is kept across hops only if
// it cannot forge a log line or carry data.
func saneID[T string | []byte](v T, max int) T {
	var zero T
	if len(v) == 0 || len(v) > max {
		return zero
	}
	for i := 0; i < len(v); i++ {
		switch b := v[i]; {
		case b >= 'a' && b <= 'z', b >= 'A' && b <= 'Z', b >= '0' && b <= '9', b == '-', b == '_', b == '.', b == ':':
		default:
			return zero
		}
	}
	return v
}

// correlationID is the correlation_id an SP's SDK sent (discovery, authorize
// and token carry it, in the query or a form body), when it is sane.
func correlationID(c *fiber.Ctx) string {
	rq := c.Request()
	v := rq.URI().QueryArgs().Peek("correlation_id")
	if len(v) == 0 && bytes.HasPrefix(rq.Header.ContentType(), []byte(fiber.MIMEApplicationForm)) {
		v = rq.PostArgs().Peek("correlation_id")
	}
	return string(saneID(v, 128))
}

// observeAuthenticators wraps each registered authenticator so that its
// starts and checks are counted by authenticator name and result. The names
// come from federation's own registrations, so the label stays bounded.
func observeAuthenticators(regs []idgw.Registration, m *metrics) []idgw.Registration {
	out := make([]idgw.Registration, len(regs))
	for i, r := range regs {
		out[i] = r
		if r.Impl == nil {
			continue // NewRouter reports it
		}
		name := r.Info.Name
		out[i].Impl = observedAuthenticator{impl: r.Impl, name: name, m: m}
		// Series exist from the start, so a rate over them is defined
		// before the first login.
		for _, res := range []string{"started", "unavailable", "error"} {
			m.authStarts.WithLabelValues(name, res)
		}
		for _, o := range []string{"pending", "succeeded", "failed", "error"} {
			m.authChecks.WithLabelValues(name, o)
		}
	}
	return out
}

// observedAuthenticator counts what an authenticator does; it changes none
// of it.
type observedAuthenticator struct {
	impl idgw.Authenticator
	name string
	m    *metrics
}

var (
	_ idgw.Authenticator = observedAuthenticator{}
	_ idgw.Wrapper       = observedAuthenticator{}
)

// Unwrap lets the gateway find what the authenticator also is (a Decoy, a
// Watcher, a PageServer): a decoy's starts and a watcher's looks are not
// counted.
func (a observedAuthenticator) Unwrap() idgw.Authenticator { return a.impl }

func (a observedAuthenticator) Start(ctx context.Context, ch idgw.Challenge) (idgw.Started, error) {
	start := time.Now()
	st, err := a.impl.Start(ctx, ch)
	if err == nil && (st.Deliver != nil || st.Abandon != nil) {
		// A staged start (idgw.Challenge.Staged) ends when the gateway
		// has its records written: with the delivery, or abandoned.
		deliver, abandon := st.Deliver, st.Abandon
		st.Deliver = func(ctx context.Context) error {
			var err error
			if deliver != nil {
				err = deliver(ctx)
			}
			a.started(start, err)
			return err
		}
		st.Abandon = func(ctx context.Context) {
			if abandon != nil {
				abandon(ctx)
			}
			a.started(start, errors.New("abandoned"))
		}
		return st, nil
	}
	a.started(start, err)
	return st, err
}

// started counts a start that began at start and ended with err.
func (a observedAuthenticator) started(start time.Time, err error) {
	a.m.authStartDuration.WithLabelValues(a.name).Observe(time.Since(start).Seconds())
	result := "started"
	switch {
	case errors.Is(err, idgw.ErrUnavailable):
		result = "unavailable"
	case err != nil:
		result = "error"
	}
	a.m.authStarts.WithLabelValues(a.name, result).Inc()
}

func (a observedAuthenticator) Check(ctx context.Context, state []byte, answer url.Values) (idgw.Outcome, error) {
	out, err := a.impl.Check(ctx, state, answer)
	outcome := "error"
	if err == nil {
		switch out.Status {
		case idgw.Pending:
			outcome = "pending"
		case idgw.Succeeded:
			outcome = "succeeded"
		case idgw.Failed:
			outcome = "failed"
		}
	}
	a.m.authChecks.WithLabelValues(a.name, outcome).Inc()
	return out, err
}
