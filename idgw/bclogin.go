package idgw

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mcfed/mcfed/operator/state"
	"github.com/mcfed/mcfed/registry"
)

// Server-initiated login: a login an SP starts without the person's
// browser, by Mobile Connect SI (si.go, the result pushed to the SP) or
// OpenID CIBA (ciba.go, polled at /token or pinged). Both become a
// bcLogin, a record of the operator's state store (kind "idgw.ciba", keyed
// by the SHA-256 of its auth_req_id) that any node sharing the store
// advances and that survives a restart. The person answers on the handset
// through the router's authenticators that need no browser (Headless).
//
// Several nodes may look at one login at once (the loop of each, the SP's
// token requests on any). A node works on a login only under its lease, a
// short claim written with the store's Update (claim): the one node that
// holds it asks the authenticator how the challenge stands (so a success
// an authenticator reports once is never lost to a concurrent check), and
// delivers the result; the result is ended by a Take, which one request
// wins.

// Lifetimes of a server-initiated login.
const (
	bcDefaultExpiry = 5 * time.Minute  // without requested_expiry
	bcMaxExpiry     = 10 * time.Minute // requested_expiry is cut to this
	bcMinExpiry     = 30 * time.Second
	// bcKeep is how long a login's record outlives its expiry: the result
	// (a refusal, the timeout) is still delivered, or said to a late poll
	// as expired_token, for this long.
	bcKeep = time.Hour
	// bcInterval is the least time between an SP's token requests for one
	// login (CIBA poll); each slow_down adds bcSlowDownStep.
	bcInterval     = 5 * time.Second
	bcSlowDownStep = 5 * time.Second
	// bcLease is how long a node's claim on a login lasts: longer than a
	// Check or a notification takes (its timeout), so a node that dies
	// holding it only delays the login by this much.
	bcLease = 20 * time.Second
	// bcMaxAttempts bounds deliveries to an SP that never answers 2xx.
	bcMaxAttempts = 12
)

// bcMode is how a login's result reaches the SP.
type bcMode string

const (
	modePoll bcMode = "poll" // CIBA: the SP polls /token
	modePing bcMode = "ping" // CIBA: the SP is told, then calls /token
	modePush bcMode = "push" // Mobile Connect SI: the result is POSTed
)

// bcStatus is where a login stands.
type bcStatus uint8

const (
	bcPending  bcStatus = iota // the person has not answered
	bcApproved                 // authenticated: tokens to issue
	bcFailed                   // refused, timed out or could not run
)

// bcLogin is one server-initiated login in progress.
type bcLogin struct {
	// id is the auth_req_id. It is kept because the notifications carry
	// it; it is not a credential alone: redeeming it takes the SP's
	// client authentication.
	id  string
	req *AuthRequest
	// source is the SP server's address, for the send budgets; it is not
	// stored with the login.
	source     string
	mode       bcMode
	msisdn     uint64
	subject    subject
	candidates []registeredAuthenticator
	current    int
	state      []byte
	decoy      bool
	expires    time.Time
	// The SP's token requests (poll): the interval asked of it and when
	// it last asked.
	interval time.Duration
	lastPoll time.Time
	// Where and with what bearer the result is notified (push, ping).
	notifyURI, notifyToken string

	status   bcStatus
	errCode  ErrorCode
	errDesc  string
	acr      int
	amr      []string
	authTime time.Time

	// Deliveries so far, when the next is due, and whether the SP
	// acknowledged one (ping: the record stays for the token request).
	attempts   int
	nextNotify time.Time
	notified   bool

	lease  time.Time
	holder string
}

// Error codes of CIBA Core §11 and OIDC Core §3.1.2.6 that only the
// server-initiated endpoints answer.
const (
	CodeAuthorizationPending  ErrorCode = "authorization_pending"
	CodeExpiredToken          ErrorCode = "expired_token"
	CodeInvalidRequestObject  ErrorCode = "invalid_request_object"
	CodeInvalidBindingMessage ErrorCode = "invalid_binding_message"
)

// bcError is an error of the backchannel endpoints and the CIBA grant:
// JSON, 400 (CIBA Core §13 and §11), whatever the code.
func bcError(code ErrorCode, desc string) *OAuthError {
	e := newSafeError(code, desc)
	e.status = 400
	return e
}

// Headless is an authenticator that says whether it can reach the person
// without a browser: a SIM applet, a push, an SMS with a link the person
// taps. One that says so is used whatever page its Start offers (the SMS
// with a code and a link: the link serves); one that says no is not used;
// one that is not a Headless is tried, and passed over when its Start asks
// for a browser page (Started.RedirectURL).
type Headless interface {
	Headless() bool
}

// HandsetPrompt is an authenticator that asks the person on the handset
// itself (the SIM applet's prompt, OK or the PIN): no link to tap, no page
// to open. Where the subscriber has one, a server-initiated login, which
// has no browser, uses it before those that reach the person through a
// page (the SMS link), among the authenticators that reach the same level
// the SP asked for (headlessOf).
type HandsetPrompt interface {
	PromptsOnHandset() bool
}

// bcArgs are the parameters of a server-initiated request, whatever it
// came as (a CIBA form, an SI request object's claims).
type bcArgs = url.Values

// parseBackchannel validates the parameters common to SI and CIBA for the
// authenticated (CIBA) or signed-for (SI) client sp, into an AuthRequest
// whose login hint is read. expires is when the person's time is up.
func (g *Gateway) parseBackchannel(ctx context.Context, args bcArgs, sp *registry.ServiceProvider, now time.Time) (*AuthRequest, time.Time, *OAuthError) {
	var zero time.Time
	for _, name := range []string{"scope", "login_hint", "login_hint_token", "id_token_hint", "binding_message",
		"acr_values", "requested_expiry", "client_notification_token", "nonce", "correlation_id", "context", "client_name"} {
		vs := args[name]
		if len(vs) > 1 {
			return nil, zero, bcError(CodeInvalidRequest, name+" is repeated")
		}
		if len(vs) == 1 && (len(vs[0]) > 8<<10 || !utf8.ValidString(vs[0])) {
			return nil, zero, bcError(CodeInvalidRequest, name+" is too long or not UTF-8")
		}
	}
	r := &AuthRequest{Client: sp, ClientID: sp.ClientID, Version: defaultVersion, ReceivedAt: now,
		CorrelationID: echoable(args.Get("correlation_id")), Nonce: args.Get("nonce")}
	if r.CorrelationID == "" {
		r.CorrelationID = newSecret()[:22]
	}
	if e := r.parseScope(args.Get("scope")); e != nil {
		return nil, zero, bcError(e.Code, e.Description)
	}
	acr, ok := parseACR(args["acr_values"])
	if !ok {
		return nil, zero, bcError(CodeInvalidRequest, "acr_values holds no supported level of assurance")
	}
	r.ACR = acr
	if cs := args["claims"]; len(cs) > 0 {
		claims, malformed, err := parseClaims(cs)
		if err != nil {
			return nil, zero, bcError(CodeInvalidRequest, "claims is not a JSON object")
		}
		r.Claims, r.ClaimsMalformed = claims, malformed
	}
	r.Context, r.ClientName, r.BindingMessage = args.Get("context"), args.Get("client_name"), args.Get("binding_message")
	r.Authz = r.HasScope(scopeAuthz) || (r.Context != "" && !r.HasScope(scopeAuthn))
	for _, f := range []struct {
		name, v string
		max     int
	}{{"context", r.Context, maxContextRunes}, {"client_name", r.ClientName, maxClientNameRunes}} {
		if !displayable(f.v, f.max) {
			return nil, zero, bcError(CodeInvalidRequest, f.name+" is too long or holds control characters")
		}
	}
	if !displayable(r.BindingMessage, maxBindingRunes) {
		return nil, zero, bcError(CodeInvalidBindingMessage, "binding_message is too long or holds control characters")
	}
	// It goes into the operator's SMS and the handset's prompt.
	if why := SPTextProblem(r.BindingMessage); why != "" {
		return nil, zero, bcError(CodeInvalidBindingMessage, "binding_message must not hold "+why)
	}
	expiry := bcDefaultExpiry
	if v := args.Get("requested_expiry"); v != "" {
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil || n == 0 {
			return nil, zero, bcError(CodeInvalidRequest, "requested_expiry must be a positive number of seconds")
		}
		expiry = min(max(time.Duration(n)*time.Second, bcMinExpiry), bcMaxExpiry)
	}

	// Exactly one hint (CIBA Core §7.1).
	hints := 0
	for _, h := range []string{"login_hint", "login_hint_token", "id_token_hint"} {
		if args.Get(h) != "" {
			hints++
		}
	}
	if hints != 1 {
		return nil, zero, bcError(CodeInvalidRequest, "give exactly one of login_hint, login_hint_token and id_token_hint")
	}
	hint := args.Get("login_hint")
	switch {
	case args.Get("login_hint_token") != "":
		r.LoginHintToken = args.Get("login_hint_token")
		n, e := g.loginHintTokenNumber(ctx, sp, r.LoginHintToken, now)
		if e != nil {
			return nil, zero, e
		}
		hint = "tel:" + n
	case args.Get("id_token_hint") != "":
		r.IDTokenHint = args.Get("id_token_hint")
		sub, e := g.idTokenHintSubject(r.IDTokenHint, sp.ClientID, now)
		if e != nil {
			return nil, zero, e
		}
		hint = loginHintPCR + sub
	case hasPrefixFold(hint, "ipport:"):
		// An address and port name the operator's network, not a
		// subscriber: mapping them to one takes the operator's NAT and
		// session records, which the gateway does not have.
		return nil, zero, bcError(CodeInvalidRequest, "login_hint ipport: is not supported by this operator: use tel:+<number>")
	}
	if e := g.parseLoginHint(r, hint); e != nil {
		return nil, zero, bcError(e.Code, e.Description)
	}
	if r.LoginHintToken != "" || r.IDTokenHint != "" {
		// The hint the SP sent, not the one made of it, is what it may
		// compare hashed_login_hint with.
		r.LoginHint = ""
	}
	return r, now.Add(expiry), nil
}

// startBackchannel makes the login of r for the SP's mode, starts its
// first challenge on the handset, stores it and returns its auth_req_id.
// A number the gateway will not challenge (not a subscriber, suspended,
// challenged too often) gets a login that looks the same to the SP: a
// decoy challenge that reaches no one, ending as a real one the person
// ignores or refuses, so no answer tells the numbers apart.
func (g *Gateway) startBackchannel(ctx context.Context, b *bcLogin) *OAuthError {
	r := b.req
	var secret []byte
	if r.LoginHintKind == HintPCR {
		var e *OAuthError
		if secret, e = g.resolvePCRHint(ctx, r); e != nil {
			return bcError(e.Code, e.Description)
		}
	}
	// Before the subscriber is looked at: a budget hit is answered alike
	// for every number.
	if e := g.spendSendBudgets(ctx, r.ClientID, b.source); e != nil {
		return e
	}
	b.msisdn = r.MSISDN
	sub, err := g.cfg.Subscribers.Subscriber(ctx, b.msisdn)
	unusable := ""
	switch {
	case errors.Is(err, ErrUnknownSubscriber):
		unusable = "not a subscriber of this operator"
	case err != nil:
		return ErrServerError(err)
	case !sub.Active:
		unusable = "the subscriber's account does not allow logins"
	}
	g.applyLevelFloor(r)
	all, err := g.candidates(ctx, r, sub.Enrolments)
	if err != nil {
		return ErrServerError(err)
	}
	cands := headlessOf(all, r.ACR)
	if unusable == "" && len(cands) == 0 {
		return bcError(CodeAccessDenied, "no authenticator that reaches the handset meets the requested level of assurance")
	}
	if unusable == "" && secret == nil {
		if secret, err = g.cfg.Subscribers.PCRSecret(ctx, b.msisdn); err != nil {
			unusable = "not a subscriber of this operator"
		}
	}
	if unusable != "" {
		g.log.Info("backchannel: a number that is not challenged gets a decoy login",
			"client_id", r.ClientID, "correlation_id", r.CorrelationID, "why", unusable)
		b.decoy = true
		for _, c := range cands {
			if _, ok := optional[Decoy](c.impl); ok {
				b.candidates = append(b.candidates, c)
			}
		}
		b.subject = subjectOf([]byte(newSecret()), r.ClientID)
	} else {
		b.candidates, b.subject = cands, subjectOf(secret, r.ClientID)
	}
	b.id, b.current, b.interval = newSecret(), -1, bcInterval
	if e := g.bcStartNext(ctx, b); e != nil {
		return e
	}
	if err := g.bc.put(ctx, tokenKey(b.id), b, b.expires.Sub(g.now())+bcKeep); err != nil {
		return ErrServerError(fmt.Errorf("storing a backchannel login: %w", err))
	}
	return nil
}

// headlessOf are the candidates that do not say they need a browser, in
// routing's order for the levels acr (each candidate in the group of the
// first level it reaches), except that within a group those that prompt
// on the handset itself come first.
func headlessOf(cands []registeredAuthenticator, acr []int) []registeredAuthenticator {
	var out []registeredAuthenticator
	for _, c := range cands {
		if h, ok := optional[Headless](c.impl); ok && !h.Headless() {
			continue
		}
		out = append(out, c)
	}
	group := func(a registeredAuthenticator) int {
		for i, l := range acr {
			if a.LoA >= l {
				return i
			}
		}
		return len(acr)
	}
	prompts := func(a registeredAuthenticator) bool {
		p, ok := optional[HandsetPrompt](a.impl)
		return ok && p.PromptsOnHandset()
	}
	slices.SortStableFunc(out, func(a, b registeredAuthenticator) int {
		if ga, gb := group(a), group(b); ga != gb {
			return ga - gb
		}
		switch pa, pb := prompts(a), prompts(b); {
		case pa && !pb:
			return -1
		case pb && !pa:
			return 1
		}
		return 0
	})
	return out
}

// bcStartNext starts the next candidate that can serve. A decoy login
// whose decoys cannot start, or that has none, runs without a challenge
// and ends at its expiry. A real one that none can serve is refused now,
// as a challenge limit turns into a decoy (possession not yet proven).
func (g *Gateway) bcStartNext(ctx context.Context, b *bcLogin) *OAuthError {
	ch := Challenge{MSISDN: b.msisdn, SPName: b.req.Client.Name, BindingMessage: b.req.BindingMessage,
		Context: b.req.Context, ReturnURL: g.paths.continueURL + "?bc=1", Operator: LookOf(nil),
		Number: MaskNumber(b.msisdn), Language: DefaultLanguage}
	if op, err := g.operator(); err == nil {
		ch.Operator = LookOf(op)
	}
	var limited bool
	for b.current+1 < len(b.candidates) {
		b.current++
		a := b.candidates[b.current]
		var st Started
		var err error
		if b.decoy {
			d, _ := optional[Decoy](a.impl)
			st, err = d.StartDecoy(ctx, ch)
		} else {
			st, err = a.impl.Start(ctx, ch)
		}
		if le := (*LimitError)(nil); errors.As(err, &le) {
			limited = true
		}
		if err != nil {
			continue // cannot start: the next one
		}
		if _, ok := optional[Headless](a.impl); !ok && st.RedirectURL != "" {
			continue // it asks for a browser page: the next one
		}
		b.state = st.State
		return nil
	}
	b.current, b.state = len(b.candidates), nil
	if b.decoy || limited {
		if limited && !b.decoy {
			g.log.Warn("backchannel: the subscriber was challenged too often; a decoy login, no message sent",
				"client_id", b.req.ClientID, "correlation_id", b.req.CorrelationID)
		}
		b.decoy = true
		return nil
	}
	return bcError(CodeTemporarilyUnavailable, "no authenticator could reach the handset")
}

// errLeased: another claim (on this node or another) holds the login's
// lease.
var errLeased = errors.New("idgw: the backchannel login is leased")

// claim takes the lease of login key: of the claims made together, by
// any requests on any nodes, one gets it (each claim has a token of its
// own, so two of one node's goroutines exclude each other too). It
// answers the login as stored, and false when another holds it (or it is
// gone).
func (g *Gateway) claim(ctx context.Context, key storeKey) (*bcLogin, bool) {
	var got *bcLogin
	now := g.now()
	token := newSecret()[:22]
	err := g.bc.update(ctx, key, 0, func(b *bcLogin) (*bcLogin, error) {
		if b.holder != "" && now.Before(b.lease) {
			return nil, errLeased
		}
		b.holder, b.lease = token, now.Add(bcLease)
		got = b
		return b, nil
	})
	if err != nil {
		if !errors.Is(err, errLeased) && !errors.Is(err, errGone) {
			g.log.Error("backchannel: claiming a login failed", "error", err)
		}
		return nil, false
	}
	return got, true
}

// release writes b, claimed, back and gives up the lease, if the claim
// still holds it (one that lost it, being too slow, writes nothing).
func (g *Gateway) release(ctx context.Context, b *bcLogin) {
	mine := b.holder
	b.holder, b.lease = "", time.Time{}
	err := g.bc.update(ctx, tokenKey(b.id), 0, func(cur *bcLogin) (*bcLogin, error) {
		if cur.holder != mine {
			return nil, errLeased
		}
		// The SP's polls are counted outside the lease (cibaGrant).
		b.lastPoll, b.interval = cur.lastPoll, cur.interval
		return b, nil
	})
	if err != nil && !errors.Is(err, errGone) {
		g.log.Warn("backchannel: a login could not be written back", "client_id", b.req.ClientID, "error", err)
	}
}

// advance asks the authenticator how login key stands, when this node
// can claim it, and records a decision; it answers the login as it now
// stands (as stored, when another node holds it).
func (g *Gateway) advance(ctx context.Context, key storeKey) (*bcLogin, bool) {
	b, ok := g.claim(ctx, key)
	if !ok {
		return g.bc.get(ctx, key)
	}
	defer g.release(ctx, b)
	if b.status != bcPending {
		return b, true
	}
	now := g.now()
	if !now.Before(b.expires) {
		b.status, b.errCode, b.errDesc = bcFailed, CodeExpiredToken, "the subscriber did not answer in time"
		return b, true
	}
	if b.current < 0 || b.current >= len(b.candidates) {
		return b, true // a decoy without a challenge: it ends at its expiry
	}
	a := b.candidates[b.current]
	out, err := a.impl.Check(ctx, b.state, nil)
	if err != nil {
		g.log.Warn("backchannel: the authenticator's check failed; asked again later", "authenticator", a.Name, "error", err)
		return b, true
	}
	if out.State != nil {
		b.state = out.State
	}
	if b.decoy && out.Status == Succeeded {
		out = Outcome{Status: Failed, Reason: "the subscriber was not authenticated"}
	}
	switch out.Status {
	case Pending:
	case Failed:
		// As at /authorize: a refusal or too many wrong answers ends the
		// login; other failures fall back to the next authenticator.
		if b.current+1 < len(b.candidates) && out.Failure != FailureRefused && out.Failure != FailureTooManyAttempts {
			if e := g.bcStartNext(ctx, b); e == nil {
				return b, true
			}
		}
		reason := out.Reason
		if reason == "" {
			reason = "the subscriber was not authenticated"
		}
		b.status, b.errCode, b.errDesc = bcFailed, CodeAccessDenied, reason
	case Succeeded:
		b.status, b.acr, b.amr, b.authTime = bcApproved, a.LoA, a.AMR, now
		if len(out.AMR) > 0 {
			b.amr = out.AMR
		}
	}
	return b, true
}

// finish ends login b, claimed, if the claim still holds its lease: the
// record that its result was delivered.
func (g *Gateway) finish(ctx context.Context, b *bcLogin) {
	mine, key := b.holder, tokenKey(b.id)
	_, err := g.cfg.Store.Update(ctx, g.bc.kind, key[:], func(old state.Record, found bool) (state.Record, error) {
		cur, err := g.bc.codec.dec(old.Value)
		if !found || err != nil || cur.holder != mine {
			return state.Record{}, errLeased
		}
		return state.Record{Value: old.Value, Expires: time.Unix(0, 0)}, nil // removed
	})
	if err != nil {
		g.log.Warn("backchannel: a delivered login could not be ended", "client_id", b.req.ClientID, "error", err)
	}
}

// bcGrant is what an approved login's tokens are issued from.
func (b *bcLogin) grant() *grant {
	return &grant{req: b.req, msisdn: b.msisdn, subject: b.subject, acr: b.acr, amr: b.amr, authTime: b.authTime}
}

// RunBackchannel advances the operator's server-initiated logins and
// delivers their results, every interval (a second when 0), until ctx is
// done. Every node of the operator runs it; the leases make one node act
// on each login at a time.
func (g *Gateway) RunBackchannel(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = time.Second
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			g.backchannelRound(ctx)
		}
	}
}

// backchannelRound looks once at each stored login: advances those
// pending and notifies those whose result is due.
func (g *Gateway) backchannelRound(ctx context.Context) {
	var after []byte
	for {
		es, err := g.cfg.Store.Scan(ctx, g.bc.kind, nil, after, 256)
		if err != nil {
			g.log.Error("backchannel: scanning the logins failed", "error", err)
			return
		}
		for _, e := range es {
			var key storeKey
			if fill(key[:], e.Key, "key") != nil {
				continue
			}
			b, err := g.bc.codec.dec(e.Value)
			if err != nil {
				continue
			}
			if b.status == bcPending && b.mode != modePoll {
				// Poll logins are advanced by the SP's token requests.
				if b, ok := g.advance(ctx, key); ok && b.status != bcPending {
					g.notifyResult(ctx, key)
				}
				continue
			}
			if b.status != bcPending && b.mode != modePoll && !b.notified && !g.now().Before(b.nextNotify) {
				g.notifyResult(ctx, key)
			}
		}
		if len(es) < 256 {
			return
		}
		after = es[len(es)-1].Key
	}
}

// bcModeOf is the CIBA mode an SP registered.
func bcModeOf(sp *registry.ServiceProvider) bcMode {
	if sp.BackchannelTokenDeliveryMode == registry.DeliveryPing {
		return modePing
	}
	return modePoll
}

// bcAnswer is the acknowledgement of a server-initiated request (CIBA Core
// §7.3; Mobile Connect SI adds correlation_id).
type bcAnswer struct {
	AuthReqID     string `json:"auth_req_id"`
	ExpiresIn     int    `json:"expires_in"`
	Interval      int    `json:"interval,omitempty"`
	CorrelationID string `json:"correlation_id,omitempty"`
}

func (g *Gateway) answerOf(b *bcLogin) *bcAnswer {
	a := &bcAnswer{AuthReqID: b.id, ExpiresIn: int(b.expires.Sub(g.now()).Round(time.Second) / time.Second)}
	switch b.mode {
	case modePoll, modePing:
		a.Interval = int(b.interval / time.Second)
	case modePush:
		a.CorrelationID = b.req.CorrelationID
	}
	return a
}

// bcPath is the backchannel authentication endpoint's URL.
func (g *Gateway) backchannelURL() string {
	return strings.TrimRight(g.cfg.Issuer, "/") + "/bc-authorize"
}

// bcModes are the CIBA token delivery modes served.
var bcModes = []string{string(modePoll), string(modePing)}
