package idgw

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"
)

// browserSessionTTL is how long a browser stays signed in at the gateway
// after the person authenticated. An hour matches the Java SDK's default
// max-age (3600, sent with every request), beyond which a session would be
// refused anyway; it also bounds the memory sessions take, one entry per
// browser login.
const browserSessionTTL = time.Hour

// sessionIDLen is the length of a session id (newSecret: 256 bits,
// base64url); a cookie of any other length is not looked up.
var sessionIDLen = base64.RawURLEncoding.EncodedLen(32)

// browserSession is what the gateway remembers of one successful
// authentication in one browser, so that a later request from that browser
// for the same subscriber and an SP the person has already approved there
// (prompt=none, say) needs no new challenge. It lives in memory on this
// node only, behind a random cookie. A stored session is never changed: a
// new authentication makes a new one (see startBrowserSession).
type browserSession struct {
	msisdn   uint64
	authTime time.Time
	acr      int
	amr      []string
	// holder is a digest of the subscriber's PCR secret at login. Deleting
	// the subscriber destroys the secret and a recycled number gets a new
	// one, so a session never carries over to the number's next holder.
	holder [sha256.Size]byte
	// approved holds, per client_id, the scopes the person approved on the
	// phone for that SP in this browser: the session signs in only those
	// SPs, for those scopes. Its slices are not modified once stored.
	approved map[string][]string
	// sid is the session id the ID tokens of its logins carry (OpenID
	// Back-Channel Logout's sid): random, unrelated to the cookie's id,
	// kept across the session's renewals by new authentications of the
	// same subscriber, so that a logout names every login of the session.
	sid string
}

// approves reports whether the person approved, on the phone, every one
// of scopes for clientID in this session.
func (s *browserSession) approves(clientID string, scopes []string) bool {
	ok, found := s.approved[clientID]
	if !found {
		return false
	}
	for _, sc := range scopes {
		if !slices.Contains(ok, sc) {
			return false
		}
	}
	return true
}

// sessionCookie is how the gateway names and scopes its session cookie
// and its login-binding cookie.
type sessionCookie struct {
	name    string
	binding string
	path    string
	secure  bool
}

// newSessionCookie derives the cookie from the issuer. The name carries a
// digest of the issuer because browsers do not separate cookies by port: the
// dev federation's operators share 127.0.0.1, and one node's cookie must not
// overwrite another's. The path is the issuer's, so the cookie goes to the
// authorization endpoint and its continue URL and nowhere else on the host.
// The login-binding cookie has a __Host- name when it can (https, path /),
// so that no other host of the site can plant one.
func newSessionCookie(issuer string) sessionCookie {
	sum := sha256.Sum256([]byte(issuer))
	tag := hex.EncodeToString(sum[:6])
	c := sessionCookie{name: "mcfed_sid_" + tag, binding: "mcfed_login_" + tag, path: "/"}
	if u, err := url.Parse(issuer); err == nil {
		c.secure = u.Scheme == "https"
		if p := strings.TrimRight(u.Path, "/"); p != "" {
			c.path = p
		}
	}
	if c.secure && c.path == "/" {
		c.binding = "__Host-" + c.binding
	}
	return c
}

// bindLogin returns the login-binding cookie to give the browser that
// starts a login at /authorize, the one it has (current) if any, so that
// logins in two tabs both bind, and its digest, which the login keeps.
// Only the browser that presents the cookie when the login ends gets the
// session (see loginBoundTo): whoever else opens the continue URL, say a
// victim sent an attacker's link, gets the redirect to the SP but no
// session.
func bindLogin(current string) (value string, tag [sha256.Size]byte) {
	value = current
	if len(value) != sessionIDLen {
		value = newSecret()
	}
	return value, bindingTag(value)
}

// loginBoundTo reports whether v, the login-binding cookie a request
// carries, is the one whose digest is tag.
func loginBoundTo(v string, tag [sha256.Size]byte) bool {
	if len(v) != sessionIDLen {
		return false
	}
	got := bindingTag(v)
	return subtle.ConstantTimeCompare(got[:], tag[:]) == 1
}

func bindingTag(v string) [sha256.Size]byte {
	return sha256.Sum256([]byte("mcfed-login-binding\x00" + v))
}

func holderTag(secret []byte) [sha256.Size]byte {
	return sha256.Sum256(append([]byte("mcfed-browser-session\x00"), secret...))
}

// browserSessionOf returns the live session a session cookie's id names,
// or nil.
func (g *Gateway) browserSessionOf(ctx context.Context, id string) *browserSession {
	if len(id) != sessionIDLen {
		return nil
	}
	s, _ := g.browsers.get(ctx, tokenKey(id))
	return s
}

// startBrowserSession keeps s, the person's authentication on the phone
// for clientID's request of scopes, and returns the id of the browser's
// new session cookie for it; old is the id of the one the browser has. The
// id is fresh at each authentication and the browser's previous session
// ends, so an id planted in a browser before login is worth nothing. s
// approves clientID for scopes, and keeps what the previous session
// approved when it was the same subscriber's (the same holder of the
// number): each SP approved on the phone joins the session.
func (g *Gateway) startBrowserSession(ctx context.Context, old string, s *browserSession, clientID string, scopes []string) string {
	s.approved = map[string][]string{}
	if prev := g.browserSessionOf(ctx, old); prev != nil && prev.msisdn == s.msisdn && prev.holder == s.holder {
		maps.Copy(s.approved, prev.approved)
		s.sid = prev.sid
	}
	if s.sid == "" {
		s.sid = newSecret()
	}
	if clientID != "" { // "": the gateway's own login approves no SP
		union := slices.Clone(s.approved[clientID])
		for _, sc := range scopes {
			if !slices.Contains(union, sc) {
				union = append(union, sc)
			}
		}
		s.approved[clientID] = union
	}
	if old != "" {
		g.browsers.delete(ctx, tokenKey(old))
	}
	id := newSecret()
	if err := g.browsers.put(ctx, tokenKey(id), s, browserSessionTTL); err != nil {
		// The login succeeds without single sign-on: the next one asks
		// the phone again.
		g.log.Error("authorize: storing a browser session failed", "error", err)
		return ""
	}
	return id
}

// sessionVerdict says whether the browser's session s lets req through
// without a new challenge for subscriber sub: nil when it does, else the
// error a prompt=none request gets. A session does when it is the same
// subscriber's (the number's current holder's), within max_age, at the
// level a new authentication would reach, and the person has approved this
// request on the phone already: the same client_id, for scopes within those
// approved in this browser. Otherwise the phone asks (consent_required for
// prompt=none, OpenID Connect Core §3.1.2.6): another SP, wider scopes,
// prompt=consent, a consent withdrawn since, and an authorisation (mc_authz), which shows its context
// on the phone every time. prompt=login is the caller's to handle.
func (g *Gateway) sessionVerdict(ctx context.Context, req *AuthRequest, sub Subscriber, who subject, s *browserSession, cands []registeredAuthenticator) *OAuthError {
	login := ErrLoginRequired("the subscriber must authenticate")
	switch {
	case s == nil || s.msisdn != sub.MSISDN:
		return login
	case req.HasMaxAge && !g.now().Before(s.authTime.Add(req.MaxAge)):
		return login
	case s.acr < levelToMeet(req.ACR, cands):
		return login
	case !allowsSession(req, s.amr, cands):
		return login
	case simChangedSince(sub, s.authTime, s.authTime):
		return login
	}
	if subtle.ConstantTimeCompare(who.holder[:], s.holder[:]) != 1 {
		return login
	}
	switch {
	case req.Authz:
		return ErrConsentRequired("the subscriber must approve this authorisation on the phone")
	case req.Prompt.Has(PromptConsent), !s.approves(req.ClientID, req.Scopes),
		// The subscriber's consent record, not only this browser, must
		// still grant them: a withdrawal ends single sign-on at once.
		!g.consentOf(ctx, sub.MSISDN, who.holder, req.ClientID).covers(req.Scopes, false):
		return ErrConsentRequired("the subscriber must approve this request on the phone")
	}
	return nil
}

// levelToMeet is the Level of Assurance a new authentication would aim for:
// the first of the SP's acr_values that one of the subscriber's
// authenticators reaches. acr_values "3 2" with a LoA 2 session therefore
// re-authenticates a subscriber who can do 3, and signs in at once one who
// cannot. cands is Router.Candidates' answer, not empty: its first entry is
// in the group of that level.
func levelToMeet(acr []int, cands []registeredAuthenticator) int {
	for _, l := range acr {
		if cands[0].LoA >= l {
			return l
		}
	}
	return acr[0]
}
