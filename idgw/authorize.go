package idgw

import (
	"bytes"
	"context"
	"errors"
	"html/template"
	"net/url"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
)

// Lifetimes of the authorization server's node-local state.
const (
	sessionTTL = 10 * time.Minute // a person has this long to answer
	codeTTL    = time.Minute      // RFC 6749 §4.1.2 recommends at most 10
)

// authSession is one authorization in progress: the validated request, the
// authenticators routing chose (in order) and the current one's state.
type authSession struct {
	// mu serialises the browser's page and the SDK's re-polls on one
	// session.
	mu         sync.Mutex
	req        *AuthRequest
	msisdn     uint64
	candidates []registeredAuthenticator
	current    int
	state      []byte
	// pollKey finds the session again when an SDK re-polls the same
	// authorize URL (headless mode).
	pollKey string
}

// grant is what an authorization code stands for, redeemed once at the
// token endpoint.
type grant struct {
	req      *AuthRequest
	msisdn   uint64
	acr      int
	amr      []string
	authTime time.Time
}

// pollKeyOf identifies a request across the SDK's identical re-polls.
func pollKeyOf(r *AuthRequest) string {
	return tokenKey(r.ClientID + "\x00" + r.RedirectURI + "\x00" + r.State + "\x00" + r.Nonce)
}

// handleAuthorize is the authorization endpoint (GET, or POST with a form).
func (g *Gateway) handleAuthorize(c *fiber.Ctx) error {
	args := argsValues(c.Context().QueryArgs())
	if c.Method() == fiber.MethodPost {
		for k, vs := range argsValues(c.Context().PostArgs()) {
			args[k] = append(args[k], vs...)
		}
	}
	req, oerr := g.parseAuthRequest(args, g.now())
	if oerr != nil {
		return writeAuthError(c, oerr)
	}
	// The Java SDK in headless mode re-GETs the same URL until it is sent
	// to redirect_uri: continue the session that URL started.
	if id, ok := g.polls.get(pollKeyOf(req)); ok {
		return g.check(c, id, nil)
	}
	if req.Prompt.Has(PromptNone) {
		// No single sign-on session is kept yet, so the person would have
		// to interact.
		return writeAuthError(c, req.Fail(ErrLoginRequired("the subscriber must authenticate")))
	}
	switch req.LoginHintKind {
	case HintMSISDN, HintEncrMSISDN, HintTel:
	default:
		return writeAuthError(c, req.Fail(ErrInvalidRequest("a login_hint with the subscriber's number (MSISDN, ENCR_MSISDN or tel) is required")))
	}
	sub, err := g.cfg.Subscribers.Subscriber(c.UserContext(), req.MSISDN)
	switch {
	case errors.Is(err, ErrUnknownSubscriber):
		return writeAuthError(c, req.Fail(ErrAccessDenied("not a subscriber of this operator")))
	case err != nil:
		return writeAuthError(c, req.Fail(ErrServerError(err)))
	case !sub.Active:
		return writeAuthError(c, req.Fail(ErrAccessDenied("the subscriber's account does not allow logins")))
	}
	cands := g.cfg.Router.Candidates(req.ACR, sub.Enrolments)
	if len(cands) == 0 {
		return writeAuthError(c, req.Fail(ErrAccessDenied("no authenticator of the subscriber meets the requested level of assurance")))
	}
	id := newSecret()
	s := &authSession{req: req, msisdn: req.MSISDN, candidates: cands, current: -1, pollKey: pollKeyOf(req)}
	s.mu.Lock()
	defer s.mu.Unlock()
	g.sessions.put(tokenKey(id), s, sessionTTL)
	g.polls.put(s.pollKey, id, sessionTTL)
	return g.startNext(c, id, s)
}

// startNext starts the next candidate authenticator, falling back past
// those that cannot serve now. The caller holds s.mu.
func (g *Gateway) startNext(c *fiber.Ctx, id string, s *authSession) error {
	for s.current+1 < len(s.candidates) {
		s.current++
		a := s.candidates[s.current]
		st, err := a.impl.Start(c.UserContext(), Challenge{
			MSISDN: s.msisdn, SPName: s.req.Client.Name, BindingMessage: s.req.BindingMessage,
			Context: s.req.Context, ReturnURL: g.continueURL(id),
		})
		if err != nil {
			continue // unavailable or failed to start: the next one
		}
		s.state = st.State
		if st.RedirectURL != "" {
			c.Set(fiber.HeaderCacheControl, "no-store")
			return c.Redirect(st.RedirectURL, fiber.StatusFound)
		}
		return g.waitingPage(c, id)
	}
	g.endSession(id, s)
	return writeAuthError(c, s.req.Fail(ErrTemporarilyUnavailable(errors.New("no authenticator could start"))))
}

// handleContinue is where an authenticator's page sends the browser back,
// and what the waiting page polls.
func (g *Gateway) handleContinue(c *fiber.Ctx) error {
	answer := argsValues(c.Context().PostArgs())
	return g.check(c, c.Query("session"), answer)
}

// check asks the current authenticator how the challenge stands and ends
// the authorization when it is decided: a code on success, the next
// authenticator or an error on failure.
func (g *Gateway) check(c *fiber.Ctx, id string, answer url.Values) error {
	s, ok := g.sessions.get(tokenKey(id))
	if !ok {
		return writeAuthError(c, ErrInvalidRequest("the sign-in session has expired or is unknown").WithoutRedirect())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, live := g.sessions.get(tokenKey(id)); !live {
		// Another request on this session decided it while we waited.
		return writeAuthError(c, ErrInvalidRequest("the sign-in session has ended").WithoutRedirect())
	}
	a := s.candidates[s.current]
	out, err := a.impl.Check(c.UserContext(), s.state, answer)
	if err != nil {
		g.endSession(id, s)
		return writeAuthError(c, s.req.Fail(ErrServerError(err)))
	}
	if out.State != nil {
		s.state = out.State
	}
	switch out.Status {
	case Pending:
		if out.RedirectURL != "" && answer != nil {
			c.Set(fiber.HeaderCacheControl, "no-store")
			return c.Redirect(out.RedirectURL, fiber.StatusFound)
		}
		return g.waitingPage(c, id)
	case Failed:
		if s.current+1 < len(s.candidates) {
			return g.startNext(c, id, s)
		}
		g.endSession(id, s)
		reason := out.Reason
		if reason == "" {
			reason = "the subscriber was not authenticated"
		}
		return writeAuthError(c, s.req.Fail(ErrAccessDenied(reason)))
	}
	g.endSession(id, s)
	amr := a.AMR
	if len(out.AMR) > 0 {
		amr = out.AMR
	}
	code := newSecret()
	g.codes.put(tokenKey(code), &grant{req: s.req, msisdn: s.msisdn, acr: a.LoA, amr: amr, authTime: g.now()}, codeTTL)
	loc, err := s.req.SuccessRedirectURL(code)
	if err != nil {
		return writeAuthError(c, s.req.Fail(ErrServerError(err)))
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Redirect(loc, fiber.StatusFound)
}

func (g *Gateway) endSession(id string, s *authSession) {
	g.sessions.delete(tokenKey(id))
	g.polls.delete(s.pollKey)
}

func (g *Gateway) continueURL(id string) string {
	return g.paths.continueURL + "?session=" + url.QueryEscape(id)
}

var waitingPage = template.Must(template.New("wait").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="3;url={{.Continue}}">
<title>Mobile Connect: check your phone</title>
<style>body{font-family:sans-serif;max-width:36em;margin:2em auto;padding:0 1em}</style>
</head><body><h1>Check your phone</h1>
<p>Answer the request on your phone to continue. This page moves on by itself.</p>
</body></html>
`))

// waitingPage is shown while an out-of-band authenticator waits for the
// person; it reloads the continue URL. A headless SDK re-polls the
// authorize URL instead and ignores it.
func (g *Gateway) waitingPage(c *fiber.Ctx, id string) error {
	var b bytes.Buffer
	if err := waitingPage.Execute(&b, struct{ Continue string }{g.continueURL(id)}); err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	c.Set(fiber.HeaderContentSecurityPolicy, "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
	return c.Send(b.Bytes())
}

// SweepLoop drops expired sessions and codes until ctx ends; the node runs
// it for the gateway's lifetime.
func (g *Gateway) SweepLoop(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			g.sessions.sweep()
			g.polls.sweep()
			g.codes.sweep()
			g.used.sweep()
			g.access.sweep()
			g.refresh.sweep()
		}
	}
}
