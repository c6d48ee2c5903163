package idgw

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
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
	subject    subject
	candidates []registeredAuthenticator
	current    int
	state      []byte
	// pollKey finds the session again when an SDK re-polls the same
	// authorize URL (headless mode); repollKey finds it before the request
	// is validated again, when the re-poll's parameters are the very same.
	pollKey, repollKey storeKey
	// binding is the digest of the login-binding cookie given to the
	// browser that started the login: only that browser gets a session.
	binding [sha256.Size]byte
}

// grant is what an authorization code stands for, redeemed once at the
// token endpoint.
type grant struct {
	req      *AuthRequest
	msisdn   uint64
	subject  subject
	acr      int
	amr      []string
	authTime time.Time
}

// pollKeyOf identifies a validated request across the SDK's re-polls.
func pollKeyOf(r *AuthRequest) storeKey {
	return tokenKey(r.ClientID + "\x00" + r.RedirectURI + "\x00" + r.State + "\x00" + r.Nonce)
}

// repollKeyOf identifies a request by all its parameters, before any is
// validated: the SDK's re-poll of the same URL has the key of the request
// that started the login, and a request that differs in any parameter,
// order aside, has another. (Encode escapes every NUL, so no key of
// pollKeyOf's form can be made.)
func repollKeyOf(args url.Values) storeKey {
	return tokenKey("mcfed-repoll\x00" + args.Encode())
}

// handleAuthorize is the authorization endpoint (GET, or POST with a form).
func (g *Gateway) handleAuthorize(c *fiber.Ctx) error {
	args := argsValues(c.Context().QueryArgs())
	if c.Method() == fiber.MethodPost {
		for k, vs := range argsValues(c.Context().PostArgs()) {
			args[k] = append(args[k], vs...)
		}
	}
	// The Java SDK in headless mode re-GETs the same URL until it is sent
	// to redirect_uri: continue the session that URL started. The same
	// parameters were validated when it started; validating them again
	// would open a sealed login hint (RSA) at every poll. Only what the
	// registry may have changed since is checked again.
	repoll := repollKeyOf(args)
	if id, ok := g.polls.get(repoll); ok {
		if s, ok := g.sessions.get(tokenKey(id)); ok && g.stillAllowed(s.req) {
			return g.check(c, id, nil, false)
		}
	}
	req, oerr := g.parseAuthRequest(args, g.now())
	if oerr != nil {
		return writeError(c, authorizeErrors, oerr)
	}
	if id, ok := g.polls.get(pollKeyOf(req)); ok {
		return g.check(c, id, nil, false)
	}
	ctx := c.UserContext()
	// secret is the subscriber's PCR secret, read once for the whole
	// login: by the PCR hint's resolution, or below.
	var secret []byte
	if req.LoginHintKind == HintPCR {
		var e *OAuthError
		if secret, e = g.resolvePCRHint(ctx, req); e != nil {
			return writeError(c, authorizeErrors, req.Fail(e))
		}
	}
	session := g.browserSessionOf(c)
	msisdn := req.MSISDN
	if req.LoginHintKind == HintNone && session != nil {
		// No hint: the browser's session says who is there.
		msisdn = session.msisdn
	}
	if msisdn == 0 {
		if req.Prompt.Has(PromptNone) {
			return writeError(c, authorizeErrors, req.Fail(ErrLoginRequired("the subscriber must authenticate")))
		}
		return writeError(c, authorizeErrors, req.Fail(ErrInvalidRequest("a login_hint with the subscriber's number (MSISDN, ENCR_MSISDN, tel) or a PCR is required")))
	}
	sub, err := g.cfg.Subscribers.Subscriber(ctx, msisdn)
	switch {
	case errors.Is(err, ErrUnknownSubscriber):
		return writeError(c, authorizeErrors, req.Fail(ErrAccessDenied("not a subscriber of this operator")))
	case err != nil:
		return writeError(c, authorizeErrors, req.Fail(ErrServerError(err)))
	case !sub.Active:
		return writeError(c, authorizeErrors, req.Fail(ErrAccessDenied("the subscriber's account does not allow logins")))
	}
	cands := g.cfg.Router.Candidates(req.ACR, sub.Enrolments)
	if len(cands) == 0 {
		return writeError(c, authorizeErrors, req.Fail(ErrAccessDenied("no authenticator of the subscriber meets the requested level of assurance")))
	}
	if secret == nil {
		secret, err = g.cfg.Subscribers.PCRSecret(ctx, msisdn)
		switch {
		case errors.Is(err, ErrUnknownSubscriber):
			return writeError(c, authorizeErrors, req.Fail(ErrAccessDenied("not a subscriber of this operator")))
		case err != nil:
			return writeError(c, authorizeErrors, req.Fail(ErrServerError(fmt.Errorf("reading a PCR secret: %w", err))))
		}
	}
	who := subjectOf(secret, req.ClientID)
	verdict := g.sessionVerdict(req, sub, who, session, cands)
	if verdict == nil && !req.Prompt.Has(PromptLogin) {
		// Single sign-on: the code at once, with the session's
		// authentication (its time, level and methods).
		return g.issueCode(c, &grant{req: req, msisdn: msisdn, subject: who, acr: session.acr, amr: session.amr, authTime: session.authTime}, false)
	}
	if req.Prompt.Has(PromptNone) {
		return writeError(c, authorizeErrors, req.Fail(verdict))
	}
	id := newSecret()
	s := &authSession{req: req, msisdn: msisdn, subject: who, candidates: cands, current: -1,
		pollKey: pollKeyOf(req), repollKey: repoll, binding: g.bindLogin(c)}
	s.mu.Lock()
	defer s.mu.Unlock()
	g.sessions.put(tokenKey(id), s, sessionTTL)
	g.polls.put(s.pollKey, id, sessionTTL)
	g.polls.put(s.repollKey, id, sessionTTL)
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
	return writeError(c, authorizeErrors, s.req.Fail(ErrTemporarilyUnavailable(errors.New("no authenticator could start"))))
}

// handleContinue is where an authenticator's page sends the browser back,
// and what the waiting page polls.
func (g *Gateway) handleContinue(c *fiber.Ctx) error {
	answer := argsValues(c.Context().PostArgs())
	return g.check(c, c.Query("session"), answer, true)
}

// check asks the current authenticator how the challenge stands and ends
// the authorization when it is decided: a code on success, the next
// authenticator or an error on failure. browser says the request came from
// a browser (the continue URL), which then gets a session if it is the one
// that started the login (its login-binding cookie); a headless SDK's
// re-poll of the authorize URL gets none, as its HTTP client may be shared
// by all the SP's users. A browser that did not start the login gets the
// redirect to the SP (whose state check protects it) and its own session,
// if any, stays as it was.
func (g *Gateway) check(c *fiber.Ctx, id string, answer url.Values, browser bool) error {
	s, ok := g.sessions.get(tokenKey(id))
	if !ok {
		return writeError(c, authorizeErrors, ErrInvalidRequest("the sign-in session has expired or is unknown").WithoutRedirect())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, live := g.sessions.get(tokenKey(id)); !live {
		// Another request on this session decided it while we waited.
		return writeError(c, authorizeErrors, ErrInvalidRequest("the sign-in session has ended").WithoutRedirect())
	}
	a := s.candidates[s.current]
	out, err := a.impl.Check(c.UserContext(), s.state, answer)
	if err != nil {
		g.endSession(id, s)
		return writeError(c, authorizeErrors, s.req.Fail(ErrServerError(err)))
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
		return writeError(c, authorizeErrors, s.req.Fail(ErrAccessDenied(reason)))
	}
	g.endSession(id, s)
	amr := a.AMR
	if len(out.AMR) > 0 {
		amr = out.AMR
	}
	newSession := browser && g.loginBoundTo(c, s.binding)
	return g.issueCode(c, &grant{req: s.req, msisdn: s.msisdn, subject: s.subject, acr: a.LoA, amr: amr, authTime: g.now()}, newSession)
}

// issueCode ends an authorization that succeeded: it records the PCR the
// SP will receive (for later PCR hints), starts a browser session when the
// person has just authenticated on the phone for a login started in this
// browser (newSession), approving this SP for these scopes, and redirects
// with the code. The subscriber is the one the login started for
// (gr.subject): a login is judged as of its start, as one that ended a
// moment before the subscriber was deleted would be.
func (g *Gateway) issueCode(c *fiber.Ctx, gr *grant, newSession bool) error {
	g.rememberPCR(c.UserContext(), gr.req.ClientID, gr.msisdn, gr.subject.pcr)
	if newSession {
		g.startBrowserSession(c, &browserSession{msisdn: gr.msisdn, authTime: gr.authTime, acr: gr.acr, amr: gr.amr, holder: gr.subject.holder},
			gr.req.ClientID, gr.req.Scopes)
	}
	code := newSecret()
	g.codes.put(tokenKey(code), gr, codeTTL)
	loc, err := gr.req.SuccessRedirectURL(code)
	if err != nil {
		return writeError(c, authorizeErrors, gr.req.Fail(ErrServerError(err)))
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Redirect(loc, fiber.StatusFound)
}

func (g *Gateway) endSession(id string, s *authSession) {
	g.sessions.delete(tokenKey(id))
	g.polls.delete(s.pollKey)
	g.polls.delete(s.repollKey)
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
			g.browsers.sweep()
			g.polls.sweep()
			g.codes.sweep()
			g.used.sweep()
			g.access.sweep()
			g.refresh.sweep()
		}
	}
}
