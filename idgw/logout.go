package idgw

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"

	"github.com/mcfed/mcfed/internal/jose"
)

// OpenID Connect RP-Initiated Logout 1.0: an SP sends the person's browser
// to the end_session_endpoint (issuer + /logout) with the ID token it
// holds (id_token_hint), and where to come back (post_logout_redirect_uri,
// one the SP registered, with state). The gateway ends the browser's
// session: the session cookie's record, the refresh tokens of the
// session's logins at each SP, and each SP that took part in it hears of
// it through back-channel logout (backchannel.go). A request the gateway
// cannot tie to the browser's session (no hint, or a hint of another
// session) is asked on a page first, so that a link on another site
// cannot sign a person out unawares (§2: the OP SHOULD ask).

// logoutPending is a logout waiting for the person's confirmation.
type logoutPending struct {
	// Session is the digest of the session cookie the logout ends.
	Session  []byte `json:"s"`
	Redirect string `json:"r,omitempty"`
	Lang     string `json:"g"`
	ClientID string `json:"c,omitempty"` // the SP that asked, not told again
}

var logoutPendingCodec = jsonCodec(func(p *logoutPending) logoutPending { return *p },
	func(p logoutPending) (*logoutPending, error) { return &p, nil })

// logoutRequest is what the end_session_endpoint reads.
type logoutRequest struct {
	args           url.Values
	cookies        browserCookies
	acceptLanguage string
}

// logoutAnswer is how it answers: a redirect, a confirmation page (confirm:
// its id) or the signed-out page, with the session cookie cleared when
// clear is set.
type logoutAnswer struct {
	err      *OAuthError
	redirect string
	confirm  string
	clear    bool
	lang     string
	cancel   bool // the person stayed signed in
}

// hintClaims are what the gateway reads of an id_token_hint.
type hintClaims struct {
	Iss string          `json:"iss"`
	Aud json.RawMessage `json:"aud"`
	Sub string          `json:"sub"`
	Sid string          `json:"sid"`
}

// audience is the hint's aud: a string or an array of them.
func (h hintClaims) audience() []string {
	var one string
	if json.Unmarshal(h.Aud, &one) == nil {
		return []string{one}
	}
	var many []string
	_ = json.Unmarshal(h.Aud, &many)
	return many
}

// logout is the end_session_endpoint (GET, or POST with a form).
func (g *Gateway) logout(ctx context.Context, r logoutRequest) logoutAnswer {
	lang := ChooseLanguage(firstArg(r.args, "ui_locales"), r.acceptLanguage)
	refuse := func(desc string) logoutAnswer {
		return logoutAnswer{err: ErrInvalidRequest(desc).WithoutRedirect(), lang: lang}
	}
	for k, vs := range r.args {
		if len(vs) > 1 {
			return refuse("parameter " + k + " is repeated")
		}
	}
	clientID := r.args.Get("client_id")
	var hint *hintClaims
	if raw := r.args.Get("id_token_hint"); raw != "" {
		h, err := g.verifyHint(raw)
		if err != nil {
			return refuse("id_token_hint is not an ID token this gateway issued")
		}
		aud := h.audience()
		if clientID != "" && !slices.Contains(aud, clientID) {
			return refuse("client_id is not the audience of id_token_hint")
		}
		if clientID == "" && len(aud) > 0 {
			clientID = aud[0]
		}
		hint = h
	}
	redirect := r.args.Get("post_logout_redirect_uri")
	if redirect != "" {
		sp := g.cfg.Registry.ServiceProvider(clientID)
		switch {
		case clientID == "":
			return refuse("post_logout_redirect_uri needs id_token_hint or client_id")
		case sp == nil:
			return refuse("the client is unknown")
		case !slices.Contains(sp.PostLogoutRedirectURIs, redirect):
			return refuse("post_logout_redirect_uri is not registered for the client")
		}
		loc, err := appendQuery(redirect, "state", r.args.Get("state"))
		if err != nil {
			return refuse("post_logout_redirect_uri is not a URL")
		}
		redirect = loc
	}
	done := logoutAnswer{redirect: redirect, lang: lang}
	session := g.browserSessionOf(ctx, r.cookies.session)
	if hint != nil && hint.Sid != "" && (session == nil || session.sid != hint.Sid) {
		// A login of no session in this browser (a headless SDK's, or
		// another browser's): its tokens at the SP that asked end.
		g.endHintedLogin(ctx, clientID, hint)
	}
	if session == nil {
		return done // no session here: nothing more to end
	}
	if hint != nil && hint.Sid != "" && hint.Sid == session.sid {
		g.endBrowserSession(ctx, r.cookies.session, session, clientID)
		done.clear = true
		return done
	}
	// Not tied to this session: the person decides.
	id := newSecret()
	k := tokenKey(r.cookies.session)
	if err := g.logouts.put(ctx, tokenKey(id), &logoutPending{Session: k[:], Redirect: redirect, Lang: lang, ClientID: clientID}, sessionTTL); err != nil {
		return logoutAnswer{err: ErrServerError(fmt.Errorf("storing a logout: %w", err)).WithoutRedirect(), lang: lang}
	}
	return logoutAnswer{confirm: id, lang: lang}
}

// confirmLogout ends the logout waiting under id with the person's
// answer; only the browser whose session it names can confirm it.
func (g *Gateway) confirmLogout(ctx context.Context, id string, yes bool, cookies browserCookies) logoutAnswer {
	var p *logoutPending
	if len(id) == sessionIDLen {
		p, _ = g.logouts.take(ctx, tokenKey(id))
	}
	if p == nil {
		return logoutAnswer{err: ErrInvalidRequest("the sign-out request has expired or is unknown").WithoutRedirect()}
	}
	out := logoutAnswer{redirect: p.Redirect, lang: p.Lang, cancel: !yes}
	k := tokenKey(cookies.session)
	if !yes || len(cookies.session) != sessionIDLen || string(k[:]) != string(p.Session) {
		out.cancel = true
		return out
	}
	if s := g.browserSessionOf(ctx, cookies.session); s != nil {
		g.endBrowserSession(ctx, cookies.session, s, p.ClientID)
	}
	out.clear = true
	return out
}

// verifyHint checks that raw is an ID token this gateway signed (with a
// key of its ring, expired or not: a hint's expiry does not matter, §2)
// for its issuer, and returns its claims.
func (g *Gateway) verifyHint(raw string) (*hintClaims, error) {
	payload, _, err := jose.Verify(raw, g.cfg.Keys.PublicSet(g.now()), jose.Algs...)
	if err != nil {
		return nil, err
	}
	var h hintClaims
	if err := json.Unmarshal(payload, &h); err != nil {
		return nil, err
	}
	o, err := g.operator()
	if err != nil || h.Iss != o.Issuer {
		return nil, fmt.Errorf("issuer %q is not this gateway's", h.Iss)
	}
	return &h, nil
}

// endHintedLogin revokes the token families of the hint's session at
// clientID, the subscriber found by the hint's sub through the PCR index.
// No logout token goes out: the SP asked.
func (g *Gateway) endHintedLogin(ctx context.Context, clientID string, hint *hintClaims) {
	if g.cfg.PCRIndex == nil || hint.Sub == "" {
		return
	}
	msisdn, err := g.cfg.PCRIndex.LookupPCR(ctx, clientID, hint.Sub)
	if err != nil {
		return
	}
	if _, err := g.endFamiliesAt(ctx, msisdn, clientID, &hint.Sid); err != nil {
		g.log.Error("logout: ending a login's tokens failed", "client_id", clientID, "error", err)
	}
}

// endBrowserSession ends the browser session id, s: its record, then, at
// each SP it signed the person in to, the refresh tokens of its logins,
// and a logout token for the SPs that registered a back-channel logout
// URI, except initiator, the SP that asked for the logout and knows.
func (g *Gateway) endBrowserSession(ctx context.Context, id string, s *browserSession, initiator string) {
	g.browsers.delete(ctx, tokenKey(id))
	if s.sid == "" {
		return
	}
	for clientID := range s.approved {
		if _, err := g.endFamiliesAt(ctx, s.msisdn, clientID, &s.sid); err != nil {
			g.log.Error("logout: ending a session's tokens failed", "client_id", clientID, "error", err)
		}
		if clientID != initiator {
			g.notifyLogout(ctx, s.msisdn, clientID, []string{s.sid})
		}
	}
	g.log.Info("logout: a browser session ended", "sps", len(s.approved))
}
