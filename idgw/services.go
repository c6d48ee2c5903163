package idgw

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/mcfed/mcfed/internal/e164"
	"github.com/mcfed/mcfed/registry"
)

// Connected services (issuer + /services): the subscriber's own page of
// the SPs their number signed them in to, with what each was let have
// (the consent records), and a way to withdraw each. It shows only to a
// browser whose gateway session is at LoA 2 or above and recent
// (servicesFreshness); any other gets a form for the number, which starts
// the gateway's own login (the same authenticators, pages and decoys as an
// SP's login, ownLoginClient), whose success gives the browser such a
// session and comes back here.

// servicesFreshness is how recent the browser session's authentication
// must be to list and withdraw consents: a session left open on a shared
// device an hour ago should not let the next person withdraw them.
const servicesFreshness = 15 * time.Minute

// ownLoginClient is the client_id of the gateway's own logins: not one
// any SP can register (registry's client_id rule has no '/').
const ownLoginClient = "/services"

// ownClient is the SP record of the gateway's own logins: their request
// names the operator (ClientName), and their redirect URI is the
// connected-services page.
func ownClient(req *AuthRequest) *registry.ServiceProvider {
	return &registry.ServiceProvider{ClientID: ownLoginClient, Name: req.ClientName, RedirectURIs: []string{req.RedirectURI}}
}

// servicesRequest is what the page reads of a request.
type servicesRequest struct {
	form    url.Values // a POST's form; nil for GET
	cookies browserCookies
	lang    string
	// authorize is the request as the authorization endpoint reads it, for
	// a sign-in the page starts.
	authorize authorizeRequest
}

// servicesAnswer is the page to show: the list (session set), the
// sign-in form, or a login started (login).
type servicesAnswer struct {
	lang     string
	login    *authorizeAnswer
	signin   bool
	errText  string
	session  *browserSession
	consents []Consent
	notice   string
	csrf     string
	passkeys bool // the node enrols passkeys: the page offers them
}

// services answers the connected-services page.
func (g *Gateway) services(ctx context.Context, r servicesRequest) servicesAnswer {
	out := servicesAnswer{lang: r.lang}
	t := messages.In(r.lang)
	op, err := g.operator()
	if err != nil {
		out.login = &authorizeAnswer{err: errOperatorUnregistered(err).WithoutRedirect()}
		return out
	}
	session := g.freshSession(ctx, r.cookies.session)
	switch {
	case r.form.Get("action") == "signin":
		n, err := e164.Parse(r.form.Get("number"))
		if res, ok := g.cfg.Registry.Resolve(n); err != nil || !ok || res.Operator == nil || res.Operator.ID != g.cfg.OperatorID {
			out.signin, out.errText = true, t.S("services_bad_number", LookOf(op).Name)
			return out
		}
		a := g.beginOwnLogin(ctx, r.authorize, n, LookOf(op).Name, r.lang)
		out.login = &a
		return out
	case session == nil:
		out.signin = true
		return out
	case r.form.Get("action") == "passkeys":
		a := g.openPasskeys(ctx, r, session)
		out.login = &a
		return out
	case r.form.Get("action") == "withdraw":
		want := servicesCSRF(r.cookies.session)
		if subtle.ConstantTimeCompare([]byte(r.form.Get("csrf")), []byte(want)) != 1 {
			out.login = &authorizeAnswer{err: ErrInvalidRequest("the page has expired; open it again").WithoutRedirect()}
			return out
		}
		id := r.form.Get("client_id")
		name := id
		if cs, _ := g.Consents(ctx, session.msisdn); cs != nil {
			for _, c := range cs {
				if c.ClientID == id {
					name = c.SPName
				}
			}
		}
		switch err := g.WithdrawConsent(ctx, session.msisdn, id); {
		case err == nil, errors.Is(err, ErrNoConsent):
			out.notice = t.S("services_withdrawn", name)
		default:
			out.login = &authorizeAnswer{err: ErrServerError(fmt.Errorf("withdrawing a consent: %w", err)).WithoutRedirect()}
			return out
		}
	}
	cs, err := g.Consents(ctx, session.msisdn)
	if err != nil {
		out.login = &authorizeAnswer{err: ErrServerError(err).WithoutRedirect()}
		return out
	}
	out.session, out.consents, out.csrf = session, cs, servicesCSRF(r.cookies.session)
	out.passkeys = g.passkeyEnroller() != nil
	return out
}

// freshSession is the browser's session when it may see the page: LoA 2
// or above, authenticated within servicesFreshness, and still the
// number's holder's.
func (g *Gateway) freshSession(ctx context.Context, id string) *browserSession {
	s := g.browserSessionOf(ctx, id)
	if s == nil || s.acr < 2 || g.now().Sub(s.authTime) > servicesFreshness {
		return nil
	}
	sub, err := g.cfg.Subscribers.Standing(ctx, s.msisdn)
	if err != nil || !sub.Active {
		return nil
	}
	if holder := holderTag(sub.PCRSecret); subtle.ConstantTimeCompare(holder[:], s.holder[:]) != 1 {
		return nil
	}
	return s
}

// servicesCSRF is the token the page's forms carry: bound to the session
// cookie, which a page of another site cannot read.
func servicesCSRF(session string) string {
	sum := sha256.Sum256([]byte("mcfed-services\x00" + session))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// beginOwnLogin starts the gateway's own login of msisdn at LoA 2, in
// the browser of r: like an SP's, with a decoy for a number the gateway
// does not challenge, so the form tells no one which numbers are
// subscribers.
func (g *Gateway) beginOwnLogin(ctx context.Context, r authorizeRequest, msisdn uint64, operatorName, lang string) authorizeAnswer {
	req := &AuthRequest{ClientID: ownLoginClient, ClientName: operatorName, RedirectURI: g.paths.services,
		Scopes: []string{scopeOpenID}, State: newSecret(), ACR: []int{2}, Version: "mc_v1.1", UILocales: lang, ReceivedAt: g.now()}
	req.Client = ownClient(req)
	page := func(e *OAuthError) authorizeAnswer { return failed(e.WithoutRedirect()) }
	sub, err := g.cfg.Subscribers.Subscriber(ctx, msisdn)
	unusable := errors.Is(err, ErrUnknownSubscriber) || err == nil && !sub.Active
	if err != nil && !unusable {
		return page(ErrServerError(err))
	}
	cands := g.cfg.Router.Candidates(req.ACR, sub.Enrolments)
	if unusable {
		if decoys := decoysOf(cands); len(decoys) > 0 {
			return g.begin(ctx, r, req, msisdn, subjectOf([]byte(newSecret()), ownLoginClient), decoys, tokenKey(newSecret()), true)
		}
		return page(ErrAccessDenied("the number cannot sign in"))
	}
	if len(cands) == 0 {
		return page(ErrAccessDenied("no authenticator of the subscriber meets the level of assurance"))
	}
	return g.begin(ctx, r, req, msisdn, subjectOf(sub.PCRSecret, ownLoginClient), cands, tokenKey(newSecret()), false)
}

// ownLoginDone ends the gateway's own login that succeeded: the browser
// that started it (its login-binding cookie) gets a session at the
// authentication's level and goes to the connected-services page; any
// other gets nothing.
func (g *Gateway) ownLoginDone(ctx context.Context, gr *grant, binding [sha256.Size]byte, browser *browserCookies) authorizeAnswer {
	if browser == nil || !loginBoundTo(browser.binding, binding) {
		return failed(ErrInvalidRequest("this sign-in was started in another browser").WithoutRedirect())
	}
	id := g.startBrowserSession(ctx, browser.session,
		&browserSession{msisdn: gr.msisdn, authTime: gr.authTime, acr: gr.acr, amr: gr.amr, holder: gr.subject.holder}, "", nil)
	if id == "" {
		return failed(ErrServerError(errors.New("storing a browser session failed")).WithoutRedirect())
	}
	return authorizeAnswer{redirect: g.paths.services, session: id}
}
