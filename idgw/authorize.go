package idgw

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/url"
	"time"
)

// Lifetimes of the authorization server's node-local state.
const (
	sessionTTL = 10 * time.Minute // a person has this long to answer
	codeTTL    = time.Minute      // RFC 6749 §4.1.2 recommends at most 10
)

// authSession is one authorization in progress: the validated request, the
// authenticators routing chose (in order) and the current one's state.
type authSession struct {
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
	// page is what the person's pages show of this login.
	page pageContext
	// browser: a person's browser started the login (Challenge.Browser).
	browser bool
	// decoy: the number is not one the gateway challenges; the session
	// runs the authenticators' decoys (Decoy) and can never succeed.
	decoy bool
	// version counts the session's writes to the store (saveSession).
	version uint64
	// network is the authorize request's network (Challenge.Network):
	// known only while that request runs, never stored.
	network Network
}

// pageContext is what the person's pages show of a login: the operator's
// look, the SP's registered name and the masked number, in the person's
// language.
type pageContext struct {
	look   Look
	lang   string
	sp     string
	number string
	// match is the number the person picks on the phone, when the
	// authenticator asks for one (Started.Match).
	match string
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
	// sid is the session the login belongs to (the ID token's sid): the
	// browser session's, or one of its own for a login without one.
	sid string
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

// browserCookies are the gateway's cookies a browser sent: its session id
// and its login-binding value ("" when absent); navigate says the request
// is a browser's navigation to a page (Fetch Metadata's Sec-Fetch-Mode,
// sent by every current browser): a person is there to read a page, which
// a headless SDK or a script is not.
type browserCookies struct {
	session, binding string
	navigate         bool
}

// authorizeRequest is what the authorization endpoint reads of an HTTP
// request.
type authorizeRequest struct {
	// args are the query's parameters, then the form's of a POST.
	args    url.Values
	cookies browserCookies
	// acceptLanguage is the browser's Accept-Language, for the pages'
	// language when the request has no ui_locales the gateway speaks.
	acceptLanguage string
	// source is the client's address, for the send budgets.
	source string
	// network is the network the request came through (networkOf).
	network Network
}

// authorizeAnswer is how the authorization endpoint answers: exactly one
// of err, redirect and wait is set, with the cookies to give the browser.
type authorizeAnswer struct {
	err *OAuthError
	// redirect is where the browser goes next: the SP with a code, or an
	// authenticator's page.
	redirect string
	// wait is the continue URL of the waiting page.
	wait string
	// binding is a login-binding cookie value and session a browser
	// session id to set, when not "".
	binding, session string
	// page is what a page shown for this answer (waiting, ended) says of
	// the login; ending, with err, why the login ended, for a person's
	// browser to show before it goes back to the SP.
	page   pageContext
	ending *ending
	// decided: the authenticator just started decided at Start
	// (Started.Decided); the caller checks at once, without a page.
	decided bool
}

// ending is why a login ended without success, as the person's page says.
type ending struct {
	failure Failure
	limit   *LimitError // the subscriber was challenged too often
	down    bool        // no authenticator could serve
}

func failed(e *OAuthError) authorizeAnswer { return authorizeAnswer{err: e} }

// authorize is the authorization endpoint (GET, or POST with a form).
func (g *Gateway) authorize(ctx context.Context, r authorizeRequest) authorizeAnswer {
	// The Java SDK in headless mode re-GETs the same URL until it is sent
	// to redirect_uri: continue the session that URL started. The same
	// parameters were validated when it started; validating them again
	// would open a sealed login hint (RSA) at every poll. Only what the
	// registry may have changed since is checked again.
	repoll := repollKeyOf(r.args)
	if id, ok := g.polls.get(ctx, repoll); ok {
		if s, ok := g.sessions.get(ctx, tokenKey(id)); ok && g.stillAllowed(s.req) {
			return g.repoll(ctx, id, s, r.cookies)
		}
	}
	args := r.args
	if args.Has("request") || args.Has("request_uri") {
		var oerr *OAuthError
		if args, oerr = g.authorizeRequestObject(ctx, r.args); oerr != nil {
			return failed(oerr)
		}
	}
	req, oerr := g.parseAuthRequest(args, g.now())
	if oerr != nil {
		return failed(oerr)
	}
	g.applyLevelFloor(req)
	if id, ok := g.polls.get(ctx, pollKeyOf(req)); ok {
		s, ok := g.sessions.get(ctx, tokenKey(id))
		if !ok {
			return failed(ErrInvalidRequest("the sign-in session has expired or is unknown").WithoutRedirect())
		}
		return g.repoll(ctx, id, s, r.cookies)
	}
	// secret is the subscriber's PCR secret, read once for the whole
	// login: by the PCR hint's resolution, or below.
	var secret []byte
	if req.LoginHintKind == HintPCR {
		var e *OAuthError
		if secret, e = g.resolvePCRHint(ctx, req); e != nil {
			return failed(req.Fail(e))
		}
	}
	session := g.browserSessionOf(ctx, r.cookies.session)
	msisdn := req.MSISDN
	if req.LoginHintKind == HintNone && session != nil {
		// No hint: the browser's session says who is there.
		msisdn = session.msisdn
	}
	if msisdn == 0 {
		if req.Prompt.Has(PromptNone) {
			return failed(req.Fail(ErrLoginRequired("the subscriber must authenticate")))
		}
		return failed(req.Fail(ErrInvalidRequest("a login_hint with the subscriber's number (MSISDN, ENCR_MSISDN, tel) or a PCR is required")))
	}
	sub, err := g.cfg.Subscribers.Subscriber(ctx, msisdn)
	var unusable string
	switch {
	case errors.Is(err, ErrUnknownSubscriber):
		unusable = "not a subscriber of this operator"
	case err != nil:
		return failed(req.Fail(ErrServerError(err)))
	case !sub.Active:
		unusable = "the subscriber's account does not allow logins"
	}
	cands, err := g.candidates(ctx, req, sub.Enrolments)
	if err != nil {
		return failed(req.Fail(ErrServerError(err)))
	}
	if len(cands) == 0 {
		return failed(req.Fail(noLevel(req)))
	}
	if unusable != "" {
		// Until possession is proven, a number the gateway will not
		// challenge gets the answers a subscriber's does: a decoy
		// challenge that reaches no one. Without a decoy-capable
		// authenticator the refusal is said at once.
		decoys := decoysOf(cands)
		if len(decoys) == 0 {
			return failed(req.Fail(ErrAccessDenied(unusable)))
		}
		if req.Prompt.Has(PromptNone) {
			return failed(req.Fail(ErrLoginRequired("the subscriber must authenticate")))
		}
		g.log.Info("authorize: a number that is not challenged gets a decoy challenge",
			"client_id", req.ClientID, "correlation_id", req.CorrelationID, "why", unusable)
		return g.begin(ctx, r, req, msisdn, subjectOf([]byte(newSecret()), req.ClientID), decoys, repoll, true)
	}
	if secret == nil {
		secret, err = g.cfg.Subscribers.PCRSecret(ctx, msisdn)
		switch {
		case errors.Is(err, ErrUnknownSubscriber):
			return failed(req.Fail(ErrAccessDenied("not a subscriber of this operator")))
		case err != nil:
			return failed(req.Fail(ErrServerError(fmt.Errorf("reading a PCR secret: %w", err))))
		}
	}
	who := subjectOf(secret, req.ClientID)
	verdict := g.sessionVerdict(ctx, req, sub, who, session, cands)
	if verdict == nil && !req.Prompt.Has(PromptLogin) {
		// Single sign-on: the code at once, with the session's
		// authentication (its time, level and methods).
		return g.issueCode(ctx, &grant{req: req, msisdn: msisdn, subject: who, acr: session.acr, amr: session.amr,
			authTime: session.authTime, sid: session.sid}, nil, false)
	}
	if req.Prompt.Has(PromptNone) {
		return failed(req.Fail(verdict))
	}
	return g.begin(ctx, r, req, msisdn, who, cands, repoll, false)
}

// repoll continues login id, s, for a re-poll of the authorize URL that
// started it: the Java SDK's headless mode re-GETs it until it is sent to
// redirect_uri, and a person may reload the page. Only the client that
// started the login may: the one holding the login-binding cookie given
// with the first answer (an SDK's HTTP client keeps it in its cookie
// store, as a browser does). Anyone else who has the URL, which carries
// no secret, gets an error and nothing of the login: not its code once the
// person answered, not its continue URL; the login goes on for its
// owner.
func (g *Gateway) repoll(ctx context.Context, id string, s *authSession, cookies browserCookies) authorizeAnswer {
	if !loginBoundTo(cookies.binding, s.binding) {
		g.log.Warn("authorize: a re-poll without the login's binding cookie is refused",
			"client_id", s.req.ClientID, "correlation_id", s.req.CorrelationID)
		return failed(ErrInvalidRequest("this sign-in was started by another client; start a new one").WithoutRedirect())
	}
	return g.check(ctx, id, nil, nil)
}

// decoysOf are the candidates that can run a decoy challenge, in order.
func decoysOf(cands []registeredAuthenticator) []registeredAuthenticator {
	var out []registeredAuthenticator
	for _, c := range cands {
		if _, ok := optional[Decoy](c.impl); ok {
			out = append(out, c)
		}
	}
	return out
}

// begin starts a new login session for msisdn with the candidates, in
// this browser, and its first challenge (a decoy's when decoy is set).
func (g *Gateway) begin(ctx context.Context, r authorizeRequest, req *AuthRequest, msisdn uint64, who subject,
	cands []registeredAuthenticator, repoll storeKey, decoy bool) authorizeAnswer {
	// Before anything reaches a handset, and alike for a decoy.
	if e := g.spendSendBudgets(ctx, req.ClientID, r.source); e != nil {
		return failed(req.Fail(e))
	}
	id := newSecret()
	binding, tag := bindLogin(r.cookies.binding)
	op, _ := g.operator()
	s := &authSession{req: req, msisdn: msisdn, subject: who, candidates: cands, current: -1,
		pollKey: pollKeyOf(req), repollKey: repoll, binding: tag, browser: r.cookies.navigate, decoy: decoy,
		page: pageContext{look: LookOf(op), lang: ChooseLanguage(req.UILocales, r.acceptLanguage),
			sp: req.Client.Name, number: MaskNumber(msisdn)}, network: r.network}
	key := tokenKey(id)
	unlock := g.locks.lock(key)
	// The session and the keys that find it again, together.
	if err := writeAll(ctx, g.cfg.Store, opOf(g.sessions.putOp(key, s, sessionTTL)),
		opOf(g.polls.putOp(s.pollKey, id, sessionTTL)), opOf(g.polls.putOp(s.repollKey, id, sessionTTL))); err != nil {
		unlock()
		return failed(req.Fail(ErrServerError(fmt.Errorf("storing a login session: %w", err))))
	}
	a := g.startNext(ctx, id, s)
	unlock()
	if a.decided {
		// Decided at Start (seamless): the outcome now, as the continue
		// URL would give it: to a person's browser, which holds the
		// binding, as there; to a headless SDK as at its re-poll.
		var browser *browserCookies
		if r.cookies.navigate {
			browser = &browserCookies{session: r.cookies.session, binding: binding, navigate: true}
		}
		a = g.check(ctx, id, nil, browser)
	}
	a.binding = binding
	return a
}

// startNext starts the next candidate authenticator, falling back past
// those that cannot serve now, and saves the session. The caller holds
// the session's lock. When none can, the
// SP is told why: access_denied when the subscriber was challenged too
// often (a limit for this person, which retrying soon will not lift),
// temporarily_unavailable when the authenticators are down. Both are
// logged, without the number.
func (g *Gateway) startNext(ctx context.Context, id string, s *authSession) authorizeAnswer {
	var limit *LimitError
	var last error
	challenge := Challenge{
		MSISDN: s.msisdn, SPName: s.req.Client.Name, BindingMessage: s.req.BindingMessage,
		Context: s.req.Context, ReturnURL: g.continueURL(id),
		Operator: s.page.look, Number: s.page.number, Language: s.page.lang, Browser: s.browser,
		Network: s.network,
	}
	first := s.current
	for s.current+1 < len(s.candidates) {
		s.current++
		a := s.candidates[s.current]
		var st Started
		var err error
		if s.decoy {
			d, _ := optional[Decoy](a.impl)
			st, err = d.StartDecoy(ctx, challenge)
		} else {
			st, err = a.impl.Start(ctx, challenge)
		}
		if err != nil {
			if le := (*LimitError)(nil); errors.As(err, &le) && limit == nil {
				limit = le
			}
			last = fmt.Errorf("%s: %w", a.Name, err)
			continue // unavailable or failed to start: the next one
		}
		s.state = st.State
		s.page.match = st.Match
		if a := g.saveSession(ctx, id, s); a != nil {
			return *a
		}
		if st.RedirectURL != "" {
			return authorizeAnswer{redirect: st.RedirectURL}
		}
		return authorizeAnswer{wait: g.continueURL(id), page: s.page, decided: st.Decided}
	}
	if limit != nil && !s.decoy {
		// Challenged too often: said only once possession is proven, so
		// the person gets a decoy challenge, as an unknown number would.
		for i := first + 1; i < len(s.candidates); i++ {
			d, ok := optional[Decoy](s.candidates[i].impl)
			if !ok {
				continue
			}
			st, err := d.StartDecoy(ctx, challenge)
			if err != nil {
				continue
			}
			g.log.Warn("authorize: the subscriber was challenged too often; a decoy challenge, no message sent",
				"client_id", s.req.ClientID, "correlation_id", s.req.CorrelationID,
				"limit", limit.Limit, "window", limit.Window, "retry_at", limit.RetryAt)
			s.decoy, s.current, s.state, s.page.match = true, i, st.State, st.Match
			if a := g.saveSession(ctx, id, s); a != nil {
				return *a
			}
			if st.RedirectURL != "" {
				return authorizeAnswer{redirect: st.RedirectURL}
			}
			return authorizeAnswer{wait: g.continueURL(id), page: s.page}
		}
	}
	g.endSession(ctx, id, s)
	if limit != nil {
		g.log.Warn("authorize: the subscriber was challenged too often; access_denied",
			"client_id", s.req.ClientID, "correlation_id", s.req.CorrelationID,
			"limit", limit.Limit, "window", limit.Window, "retry_at", limit.RetryAt)
		return authorizeAnswer{err: s.req.Fail(errChallengeLimit(limit)), page: s.page, ending: &ending{limit: limit}}
	}
	g.log.Warn("authorize: no authenticator could start; temporarily_unavailable",
		"client_id", s.req.ClientID, "correlation_id", s.req.CorrelationID, "error", last)
	return authorizeAnswer{err: s.req.Fail(ErrTemporarilyUnavailable(errors.New("no authenticator could start"))),
		page: s.page, ending: &ending{down: true}}
}

// check asks the current authenticator of session id how the challenge
// stands and ends the authorization when it is decided: a code on success,
// the next authenticator or an error on failure. answer is what the
// browser posted back, if anything. browser holds the cookies of a request
// from a browser (the continue URL), nil for a headless SDK's re-poll of
// the authorize URL. A browser gets a session if it is the one that
// started the login (its login-binding cookie); a headless SDK gets none,
// as its HTTP client may be shared by all the SP's users. A browser that
// did not start the login gets the redirect to the SP (whose state check
// protects it) and its own session, if any, stays as it was.
func (g *Gateway) check(ctx context.Context, id string, answer url.Values, browser *browserCookies) authorizeAnswer {
	// Read the session once its lock is held: a request that held it
	// before may have decided the login.
	unlock := g.locks.lock(tokenKey(id))
	defer unlock()
	s, ok := g.sessions.get(ctx, tokenKey(id))
	if !ok {
		return failed(ErrInvalidRequest("the sign-in session has expired or has ended").WithoutRedirect())
	}
	if s.current < 0 {
		return authorizeAnswer{wait: g.continueURL(id), page: s.page}
	}
	a := s.candidates[s.current]
	out, err := a.impl.Check(ctx, s.state, answer)
	if err != nil {
		g.endSession(ctx, id, s)
		return failed(s.req.Fail(ErrServerError(err)))
	}
	if out.State != nil {
		s.state = out.State
	}
	if s.decoy && out.Status == Succeeded {
		// A decoy cannot be answered; one that says so is not believed.
		out = Outcome{Status: Failed, Reason: "the subscriber was not authenticated"}
	}
	switch out.Status {
	case Pending:
		if out.State != nil {
			if a := g.saveSession(ctx, id, s); a != nil {
				return *a
			}
		}
		if out.RedirectURL != "" && answer != nil {
			return authorizeAnswer{redirect: out.RedirectURL}
		}
		return authorizeAnswer{wait: g.continueURL(id), page: s.page}
	case Failed:
		// A refusal on the phone, or too many wrong answers (codes, a
		// SIM's PIN), ends the login: another authenticator would give
		// whoever is there more tries. Other failures (expired, a
		// service that failed) fall back to the next one.
		if s.current+1 < len(s.candidates) && out.Failure != FailureRefused && out.Failure != FailureTooManyAttempts {
			return g.startNext(ctx, id, s)
		}
		if !g.endSession(ctx, id, s) {
			return failed(ErrInvalidRequest("the sign-in session has ended").WithoutRedirect())
		}
		reason := out.Reason
		if reason == "" {
			reason = "the subscriber was not authenticated"
		}
		return authorizeAnswer{err: s.req.Fail(ErrAccessDenied(reason)), page: s.page, ending: &ending{failure: out.Failure}}
	}
	// Of the requests that saw the success, on any node, the one that
	// ends the session issues the code.
	if !g.endSession(ctx, id, s) {
		return failed(ErrInvalidRequest("the sign-in session has ended").WithoutRedirect())
	}
	amr := a.AMR
	if len(out.AMR) > 0 {
		amr = out.AMR
	}
	gr := &grant{req: s.req, msisdn: s.msisdn, subject: s.subject, acr: a.LoA, amr: amr, authTime: g.now()}
	if gr.req.ClientID == ownLoginClient {
		return g.ownLoginDone(ctx, gr, s.binding, browser)
	}
	if browser != nil && browser.navigate && g.needsConsent(ctx, gr) {
		return g.askConsent(ctx, gr, s.binding, s.page)
	}
	if browser != nil && !loginBoundTo(browser.binding, s.binding) {
		browser = nil
	}
	return g.issueCode(ctx, gr, browser, false)
}

// issueCode ends an authorization that succeeded: it records the PCR the
// SP will receive (for later PCR hints), starts a browser session when the
// person has just authenticated on the phone for a login started in this
// browser (newSession: that browser's cookies), approving this SP for
// these scopes, and redirects with the code. The subscriber is the one
// the login started for (gr.subject): a login is judged as of its start,
// as one that ended a moment before the subscriber was deleted would be.
// The subscriber's consent record takes what the SP is given (shown: the
// person allowed it on the consent page), and the login gets its session
// id: the browser session's, or its own.
func (g *Gateway) issueCode(ctx context.Context, gr *grant, newSession *browserCookies, shown bool) authorizeAnswer {
	g.rememberPCR(ctx, gr.req.ClientID, gr.msisdn, gr.subject.pcr)
	var a authorizeAnswer
	if newSession != nil {
		bs := &browserSession{msisdn: gr.msisdn, authTime: gr.authTime, acr: gr.acr, amr: gr.amr, holder: gr.subject.holder}
		if a.session = g.startBrowserSession(ctx, newSession.session, bs, gr.req.ClientID, gr.req.Scopes); a.session != "" {
			gr.sid = bs.sid
		}
	}
	if gr.sid == "" {
		gr.sid = newSecret()
	}
	g.recordConsent(ctx, gr, shown)
	code := newSecret()
	if err := g.codes.put(ctx, tokenKey(code), gr, codeTTL); err != nil {
		return failed(gr.req.Fail(ErrServerError(fmt.Errorf("storing a code: %w", err))))
	}
	loc, err := gr.req.SuccessRedirectURL(code)
	if err != nil {
		return failed(gr.req.Fail(ErrServerError(err)))
	}
	a.redirect = loc
	return a
}

// endSession removes login id and reports whether this call did: of the
// requests that decide a login together, on any of the operator's nodes,
// one ends it.
func (g *Gateway) endSession(ctx context.Context, id string, s *authSession) bool {
	_, ok := g.sessions.take(ctx, tokenKey(id))
	if err := g.cfg.Store.Batch(ctx, g.polls.deleteOp(s.pollKey), g.polls.deleteOp(s.repollKey)); err != nil {
		// They point at a session that is gone: a re-poll finds nothing.
		g.log.Error("state store: removing a login's poll keys failed", "error", err)
	}
	return ok
}

// errSessionMoved: the stored session is not the version this request
// read; another request, on this node or another, changed it.
var errSessionMoved = errors.New("idgw: the login session changed meanwhile")

// saveSession writes s back as login id's next version. It answers nil
// when it did, and otherwise the answer to give: another request changed
// or ended the session since s was read (on another node: this one's
// lock serialises its own), and its word stands, so the browser is sent
// to wait and look again; or the store failed.
func (g *Gateway) saveSession(ctx context.Context, id string, s *authSession) *authorizeAnswer {
	read := s.version
	s.version++
	err := g.sessions.update(ctx, tokenKey(id), 0, func(cur *authSession) (*authSession, error) {
		if cur.version != read {
			return nil, errSessionMoved
		}
		return s, nil
	})
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errSessionMoved), errors.Is(err, errGone):
		return &authorizeAnswer{wait: g.continueURL(id), page: s.page}
	}
	return &authorizeAnswer{err: s.req.Fail(ErrServerError(fmt.Errorf("storing a login session: %w", err))), page: s.page}
}

func (g *Gateway) continueURL(id string) string {
	return g.paths.continueURL + "?session=" + url.QueryEscape(id)
}

// Login statuses the waiting page's script polls for.
const (
	statusPending  = "pending"  // no answer yet
	statusAnswered = "answered" // move on to the continue URL
)

// loginStatus says whether the login of session id has something new for
// the browser: the person answered on the phone, the challenge is over, or
// the session is gone (the continue URL then says what happened). It never
// decides the challenge.
func (g *Gateway) loginStatus(ctx context.Context, id string) string {
	s, ok := g.sessions.get(ctx, tokenKey(id))
	if !ok {
		return statusAnswered
	}
	if s.current < 0 || s.current >= len(s.candidates) {
		return statusAnswered
	}
	if w, ok := optional[Watcher](s.candidates[s.current].impl); ok && !w.Answered(s.state) {
		return statusPending
	}
	return statusAnswered
}

// errChallengeLimit is what the SP is told when the subscriber was
// challenged too often: access_denied, the Mobile Connect profile's code
// for a user the operator will not challenge now ("user busy"), not
// temporarily_unavailable, which RFC 6749 keeps for a server overloaded or
// in maintenance and which an SP would retry at once, only to meet the
// limit again. The description says when a retry can succeed.
func errChallengeLimit(l *LimitError) *OAuthError {
	return ErrAccessDenied(fmt.Sprintf("too many sign-in messages sent to this subscriber (at most %d per %d minutes): retry after %s",
		l.Limit, int(l.Window/time.Minute), l.RetryAt.UTC().Format(time.RFC3339))).WithParent(l)
}
