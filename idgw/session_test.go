package idgw

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/mcfed/mcfed/jose"
	"github.com/mcfed/mcfed/registry"
)

const red2Number = "+447911123457" // a second subscriber in red's range

// liveSubscribers is a subscriber store in memory whose subscribers can be
// suspended, deleted and recycled (a new holder, a new secret) during a
// test, as the operator's store can.
type liveSubscribers struct {
	mu      sync.Mutex
	subs    map[uint64]Subscriber
	secrets map[uint64][]byte
	gen     int
}

func newLiveSubscribers() *liveSubscribers {
	return &liveSubscribers{subs: map[uint64]Subscriber{}, secrets: map[uint64][]byte{}}
}

// add creates a subscriber with a fresh secret (also how a recycled
// number's new holder is made).
func (l *liveSubscribers) add(n uint64, enrolments ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.gen++
	l.subs[n] = Subscriber{MSISDN: n, Active: true, Enrolments: enrolments}
	l.secrets[n] = []byte(registry.FormatMSISDN(n) + "-secret-" + string(rune('a'+l.gen)))
}

// enrol gives a subscriber authenticator enrolments, keeping its secret.
func (l *liveSubscribers) enrol(n uint64, enrolments ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.subs[n]
	s.Enrolments = enrolments
	l.subs[n] = s
}

// remove deletes a subscriber; its secret is destroyed.
func (l *liveSubscribers) remove(n uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.subs, n)
	delete(l.secrets, n)
}

func (l *liveSubscribers) suspend(n uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.subs[n]
	s.Active = false
	l.subs[n] = s
}

func (l *liveSubscribers) Subscriber(_ context.Context, n uint64) (Subscriber, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s, ok := l.subs[n]
	if !ok {
		return Subscriber{}, ErrUnknownSubscriber
	}
	return s, nil
}

func (l *liveSubscribers) PCRSecret(_ context.Context, n uint64) ([]byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s, ok := l.secrets[n]
	if !ok {
		return nil, ErrUnknownSubscriber
	}
	return s, nil
}

// ssoFixture is operator red's gateway with a clock the test moves, a phone
// that approves red's two subscribers, and an index of PCRs, served through
// fiber's app.Test as a browser would reach it.
type ssoFixture struct {
	t     *testing.T
	g     *Gateway
	app   *fiber.App
	clock *fakeClock
	phone *phoneAuthenticator
	subs  *liveSubscribers
	pcrs  *pcrMap
}

// more are further authenticators, answered by the same phone.
func newSSOFixture(t *testing.T, issuer string, more ...AuthenticatorInfo) *ssoFixture {
	t.Helper()
	base, _ := newAuthTestGateway(t)
	f := &ssoFixture{t: t, clock: &fakeClock{t: time.Now()}, phone: newPhone(), subs: newLiveSubscribers(), pcrs: newPCRMap()}
	f.subs.add(red(t))
	f.subs.add(authTestMSISDN(t, red2Number))
	f.phone.answer(redNumber, Succeeded)
	f.phone.answer(red2Number, Succeeded)
	regs := []Registration{{AuthenticatorInfo{Name: "sms", LoA: 2, AMR: []string{"OTP_OK"}}, f.phone}}
	for _, info := range more {
		regs = append(regs, Registration{info, f.phone})
	}
	router, err := NewRouter(regs...)
	if err != nil {
		t.Fatal(err)
	}
	cfg := base.cfg
	cfg.Issuer, cfg.Now, cfg.Subscribers, cfg.PCRIndex, cfg.Router = issuer, f.clock.now, f.subs, f.pcrs, router
	if f.g, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := f.g.cfg.Keys.Ensure(f.clock.now(), jose.RS256); err != nil {
		t.Fatal(err)
	}
	f.app = fiber.New()
	if err := f.g.Mount(f.app); err != nil {
		t.Fatal(err)
	}
	return f
}

// get sends a GET with the session cookie, if any, and returns the
// response with its body read.
func (f *ssoFixture) get(target string, cookie *http.Cookie) (*http.Response, string) {
	f.t.Helper()
	req := httptest.NewRequest("GET", target, nil)
	if cookie != nil {
		req.AddCookie(cookie)
	}
	resp, err := f.app.Test(req, -1)
	if err != nil {
		f.t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	return resp, string(b)
}

var continueLink = regexp.MustCompile(`url=([^"]+)"`)

// browserLogin runs a login in a browser: the authorize URL shows the
// waiting page, the phone has answered, the page's reload of the continue
// URL ends in the redirect with the code and the session cookie. cookie is
// what the browser already holds.
func (f *ssoFixture) browserLogin(cookie *http.Cookie, kv ...string) (code string, session *http.Cookie) {
	f.t.Helper()
	started := f.started()
	resp, body := f.get(authorizeURL(kv...), cookie)
	m := continueLink.FindStringSubmatch(body)
	if resp.StatusCode != 200 || m == nil {
		f.t.Fatalf("authorize: %d %q, want the waiting page", resp.StatusCode, resp.Header.Get("Location"))
	}
	if f.started() != started+1 {
		f.t.Fatal("the login did not challenge the phone")
	}
	cont, err := url.Parse(m[1])
	if err != nil {
		f.t.Fatal(err)
	}
	resp, _ = f.get(cont.RequestURI(), cookie)
	q := redirectParams(f.t, resp.Header.Get("Location"))
	if resp.StatusCode != 302 || q.Get("code") == "" {
		f.t.Fatalf("continue: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	return q.Get("code"), sessionCookieOf(f.t, f.g, resp)
}

// sessionCookieOf returns the gateway's session cookie set by resp, or nil.
func sessionCookieOf(t *testing.T, g *Gateway, resp *http.Response) *http.Cookie {
	t.Helper()
	for _, c := range resp.Cookies() {
		if c.Name == g.cookie.name {
			return c
		}
	}
	return nil
}

func (f *ssoFixture) started() int {
	f.phone.mu.Lock()
	defer f.phone.mu.Unlock()
	return f.phone.started
}

// silent asks for a code with the session: the answer must be a redirect
// to the SP, with a code or an error, and no challenge.
func (f *ssoFixture) silent(cookie *http.Cookie, kv ...string) url.Values {
	f.t.Helper()
	started := f.started()
	resp, _ := f.get(authorizeURL(kv...), cookie)
	if resp.StatusCode != 302 {
		f.t.Fatalf("authorize %v: %d, want a redirect to the SP", kv, resp.StatusCode)
	}
	if f.started() != started {
		f.t.Fatalf("authorize %v challenged the phone", kv)
	}
	return redirectParams(f.t, resp.Header.Get("Location"))
}

// idToken redeems a code of client shop and returns the ID token's claims.
func (f *ssoFixture) idToken(code string) idTokenClaims {
	f.t.Helper()
	tf := &tokenFixture{t: f.t, g: f.g, app: f.app, clock: f.clock}
	status, body, _ := tf.redeem("shop:"+shopSecret, codeForm(code))
	raw, _ := body["id_token"].(string)
	if status != 200 || raw == "" {
		f.t.Fatalf("token: %d %v", status, body)
	}
	payload, _, err := jose.VerifyJWKS(raw, f.g.cfg.Keys.JWKS(f.clock.now()), jose.RS256)
	if err != nil {
		f.t.Fatal(err)
	}
	var c idTokenClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		f.t.Fatal(err)
	}
	return c
}

// TestSessionCookieAttributes: a login in a browser sets an HttpOnly,
// SameSite=Lax cookie with a 256-bit random value, Secure when the issuer
// is https; each login gets a new value and ends the old session. The
// headless SDK's re-poll (no browser) gets no cookie.
func TestSessionCookieAttributes(t *testing.T) {
	f := newSSOFixture(t, "https://red.example/")
	_, c := f.browserLogin(nil)
	if c == nil {
		t.Fatal("no session cookie after a login")
	}
	if !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.MaxAge != 3600 || len(c.Value) != 43 {
		t.Fatalf("cookie %s", c)
	}
	_, c2 := f.browserLogin(c, "prompt", "login")
	if c2 == nil || c2.Value == c.Value {
		t.Fatalf("a new login kept the session id: %v", c2)
	}
	if q := f.silent(c, "prompt", "none"); q.Get("error") != "login_required" {
		t.Fatalf("the replaced session still signs in: %v", q)
	}
	if q := f.silent(c2, "prompt", "none"); q.Get("code") == "" {
		t.Fatalf("the new session does not sign in: %v", q)
	}

	plain := newSSOFixture(t, "http://127.0.0.1:8080/red/")
	resp, body := plain.get("/red/authorize?"+strings.SplitN(authorizeURL(), "?", 2)[1], nil)
	m := continueLink.FindStringSubmatch(body)
	if resp.StatusCode != 200 || m == nil {
		t.Fatalf("authorize under a path prefix: %d", resp.StatusCode)
	}
	cont, _ := url.Parse(m[1])
	resp, _ = plain.get(cont.RequestURI(), nil)
	pc := sessionCookieOf(t, plain.g, resp)
	if pc == nil || pc.Secure || pc.Path != "/red" || !pc.HttpOnly || pc.Name == c.Name {
		t.Fatalf("cookie of an http issuer under /red/: %s (https one %s)", pc, c.Name)
	}

	// Headless: the SDK re-polls the authorize URL and gets the code, no
	// cookie.
	f.get(authorizeURL("state", "headless"), nil)
	resp, _ = f.get(authorizeURL("state", "headless"), nil)
	if q := redirectParams(t, resp.Header.Get("Location")); q.Get("code") == "" || sessionCookieOf(t, f.g, resp) != nil {
		t.Fatalf("headless re-poll: %q, cookies %v", resp.Header.Get("Location"), resp.Cookies())
	}
}

// TestPromptNone: with a live session for the hinted subscriber, prompt=none
// gets a code at once, whose ID token carries the session's auth_time;
// without one (no cookie, an unknown cookie, another subscriber's session)
// it gets login_required on the redirect with state and correlation_id.
func TestPromptNone(t *testing.T) {
	f := newSSOFixture(t, "https://red.example/")
	if q := f.silent(nil, "prompt", "none"); q.Get("error") != "login_required" || q.Get("state") != "st-1" || q.Get("correlation_id") != "corr-1" || q.Get("code") != "" {
		t.Fatalf("prompt=none without a session: %v", q)
	}
	loginAt := f.clock.now()
	_, c := f.browserLogin(nil)
	f.clock.advance(5 * time.Minute)

	q := f.silent(c, "prompt", "none", "state", "st-2")
	if q.Get("code") == "" || q.Get("state") != "st-2" || q.Get("correlation_id") != "corr-1" {
		t.Fatalf("prompt=none with a session: %v", q)
	}
	claims := f.idToken(q.Get("code"))
	if claims.AuthTime != loginAt.Unix() || claims.ACR != "2" || strings.Join(claims.AMR, ",") != "OTP_OK" {
		t.Fatalf("ID token of a session sign-in: auth_time %d (login at %d), acr %s, amr %v", claims.AuthTime, loginAt.Unix(), claims.ACR, claims.AMR)
	}
	// The session names the subscriber when the SP gives no hint.
	if q := f.silent(c, "prompt", "none", "login_hint", ""); q.Get("code") == "" {
		t.Fatalf("prompt=none without login_hint, with a session: %v", q)
	}
	forged := &http.Cookie{Name: c.Name, Value: strings.Repeat("A", 43)}
	if q := f.silent(forged, "prompt", "none"); q.Get("error") != "login_required" {
		t.Fatalf("prompt=none with an unknown session id: %v", q)
	}
	// An authorisation must be approved on the phone each time.
	if q := f.silent(c, "prompt", "none", "scope", "openid mc_authz", "context", "Pay 10 GBP", "client_name", "Shop"); q.Get("error") != "consent_required" {
		t.Fatalf("prompt=none for an authorisation: %v", q)
	}
	// The session expires.
	f.clock.advance(browserSessionTTL)
	if q := f.silent(c, "prompt", "none"); q.Get("error") != "login_required" {
		t.Fatalf("prompt=none with an expired session: %v", q)
	}
}

// TestSessionIsForItsSubscriberOnly: a session for one subscriber does not
// sign in another (login_hint names someone else), and ends with the
// subscriber: suspended, deleted, or the number recycled to a new holder.
func TestSessionIsForItsSubscriberOnly(t *testing.T) {
	f := newSSOFixture(t, "https://red.example/")
	_, c := f.browserLogin(nil)
	other := "MSISDN:" + strings.TrimPrefix(red2Number, "+")
	if q := f.silent(c, "prompt", "none", "login_hint", other); q.Get("error") != "login_required" {
		t.Fatalf("prompt=none for another subscriber: %v", q)
	}
	// Without prompt=none, the other subscriber is challenged.
	f.browserLogin(c, "login_hint", other)

	g := newSSOFixture(t, "https://red.example/")
	_, c = g.browserLogin(nil)
	g.subs.suspend(red(t))
	if q := g.silent(c, "prompt", "none"); q.Get("error") != "access_denied" {
		t.Fatalf("prompt=none for a suspended subscriber: %v", q)
	}
	g.subs.remove(red(t))
	g.subs.add(red(t)) // the number's new holder
	if q := g.silent(c, "prompt", "none"); q.Get("error") != "login_required" {
		t.Fatalf("the previous holder's session signs in the new holder of the number: %v", q)
	}
}

// TestMaxAgeAndPromptLoginReauthenticate: a session older than max_age (or
// max-age, as the Java SDK spells it), or prompt=login, challenges the
// phone again, and the new code carries the new auth_time; within max_age
// the session is enough.
func TestMaxAgeAndPromptLoginReauthenticate(t *testing.T) {
	f := newSSOFixture(t, "https://red.example/")
	first := f.clock.now()
	_, c := f.browserLogin(nil)
	f.clock.advance(10 * time.Minute)

	if q := f.silent(c, "max-age", "3600"); q.Get("code") == "" {
		t.Fatalf("a 10-minute-old session with max-age 3600: %v", q)
	}
	if q := f.silent(c, "max_age", "300", "prompt", "none"); q.Get("error") != "login_required" {
		t.Fatalf("prompt=none, session older than max_age: %v", q)
	}
	code, c2 := f.browserLogin(c, "max_age", "300")
	second := f.clock.now()
	if claims := f.idToken(code); claims.AuthTime != second.Unix() || claims.AuthTime == first.Unix() {
		t.Fatalf("auth_time after re-authentication %d, want %d", claims.AuthTime, second.Unix())
	}
	// The new session is fresh: max_age 300 passes now.
	if q := f.silent(c2, "max_age", "300"); q.Get("code") == "" {
		t.Fatalf("a fresh session with max_age 300: %v", q)
	}
	// max_age=0 and prompt=login always challenge.
	f.browserLogin(c2, "max_age", "0")
	code, _ = f.browserLogin(c2, "prompt", "login")
	if claims := f.idToken(code); claims.AuthTime != f.clock.now().Unix() {
		t.Fatalf("auth_time after prompt=login %d", claims.AuthTime)
	}
}

// TestSessionLevelOfAssurance: a LoA 2 session does not satisfy an SP
// asking for LoA 3 from a subscriber enrolled for it, and does when the SP
// accepts 2 and the subscriber cannot reach 3.
func TestSessionLevelOfAssurance(t *testing.T) {
	f := newSSOFixture(t, "https://red.example/",
		AuthenticatorInfo{Name: "sim", LoA: 3, AMR: []string{"SIM_PIN"}, Enrolment: "sim-applet"})
	_, c := f.browserLogin(nil) // acr_values absent: LoA 2 by SMS

	if q := f.silent(c, "acr_values", "3 2", "prompt", "none"); q.Get("code") == "" {
		t.Fatalf("acr 3 2, subscriber without a SIM applet, LoA 2 session: %v", q)
	}
	f.subs.enrol(red(t), "sim-applet")
	if q := f.silent(c, "acr_values", "3 2", "prompt", "none"); q.Get("error") != "login_required" {
		t.Fatalf("acr 3 2, subscriber with a SIM applet, LoA 2 session: %v", q)
	}
	code, c3 := f.browserLogin(c, "acr_values", "3 2")
	if claims := f.idToken(code); claims.ACR != "3" || strings.Join(claims.AMR, ",") != "SIM_PIN" {
		t.Fatalf("step-up login: acr %s amr %v", claims.ACR, claims.AMR)
	}
	if q := f.silent(c3, "acr_values", "3", "prompt", "none"); q.Get("code") == "" {
		t.Fatalf("LoA 3 session, acr 3: %v", q)
	}
}
