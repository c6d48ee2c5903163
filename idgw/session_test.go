package idgw

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/mcfed/mcfed/internal/e164"
	"github.com/mcfed/mcfed/internal/jose"
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
	// secretReads counts the reads of a PCR secret (PCRSecret, and
	// Subscriber and Standing, which read it along).
	secretReads int
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
	l.secrets[n] = []byte(e164.Format(n) + "-secret-" + string(rune('a'+l.gen)))
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
	l.secretReads++
	s.PCRSecret = l.secrets[n]
	return s, nil
}

func (l *liveSubscribers) Standing(ctx context.Context, n uint64) (Subscriber, error) {
	s, err := l.Subscriber(ctx, n)
	s.Enrolments = nil
	return s, err
}

func (l *liveSubscribers) PCRSecret(_ context.Context, n uint64) ([]byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.secretReads++
	s, ok := l.secrets[n]
	if !ok {
		return nil, ErrUnknownSubscriber
	}
	return s, nil
}

// ssoFixture is operator red's gateway with a clock the test moves, a phone
// that approves red's two subscribers, and an index of PCRs, served over
// loopback HTTP. The tests play the browsers: each request carries the
// cookies the test says that browser holds (also the Secure ones of an https
// issuer, which a browser would send over https).
type ssoFixture struct {
	t      *testing.T
	g      *Gateway
	app    *fiber.App
	base   string // http://127.0.0.1:port
	client *http.Client
	clock  *fakeClock
	phone  *phoneAuthenticator
	subs   *liveSubscribers
	pcrs   *pcrMap
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
	cfg.Store = newTestStore(t)
	if f.g, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	useClock(f.g, f.clock.now)
	if _, err := f.g.cfg.Keys.Ensure(f.clock.now(), jose.RS256); err != nil {
		t.Fatal(err)
	}
	f.app = fiber.New(fiber.Config{DisableStartupMessage: true})
	if err := f.g.Mount(f.app); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go f.app.Listener(ln)
	f.base = "http://" + ln.Addr().String()
	transport := &http.Transport{}
	// A browser's navigation: redirects are the test's to look at.
	f.client = &http.Client{Transport: transport, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	t.Cleanup(func() {
		transport.CloseIdleConnections()
		_ = f.app.Shutdown()
	})
	return f
}

// secretReads is how many times the gateway has read a PCR secret.
func (f *ssoFixture) secretReads() int {
	f.subs.mu.Lock()
	defer f.subs.mu.Unlock()
	return f.subs.secretReads
}

// get sends a GET for target (a path and query) with the cookies given
// (nil ones skipped) and returns the response with its body read.
func (f *ssoFixture) get(target string, cookies ...*http.Cookie) (*http.Response, string) {
	f.t.Helper()
	req, err := http.NewRequest("GET", f.base+target, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	for _, c := range cookies {
		if c != nil {
			req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
		}
	}
	resp, err := f.client.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	return resp, string(b)
}

var continueLink = regexp.MustCompile(`data-next="([^"]+)"`)

// startLogin opens the authorize URL in a browser holding cookie (may be
// nil): the waiting page, and the phone is challenged. It returns the
// continue URL the page moves on to (a path and query) and the login-binding
// cookie the gateway gave the browser.
func (f *ssoFixture) startLogin(cookie *http.Cookie, kv ...string) (cont string, binding *http.Cookie) {
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
	u, err := url.Parse(m[1])
	if err != nil {
		f.t.Fatal(err)
	}
	return u.RequestURI(), cookieOf(resp, f.g.cookie.binding)
}

// finishLogin opens the continue URL, once the phone has answered, in a
// browser holding cookies: the redirect with the code. It returns the code
// and the session cookie set, if any.
func (f *ssoFixture) finishLogin(cont string, cookies ...*http.Cookie) (code string, session *http.Cookie) {
	f.t.Helper()
	resp, _ := f.get(cont, cookies...)
	q := redirectParams(f.t, resp.Header.Get("Location"))
	if resp.StatusCode != 302 || q.Get("code") == "" {
		f.t.Fatalf("continue: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	return q.Get("code"), sessionCookieOf(f.t, f.g, resp)
}

// browserLogin runs a login in one browser: the authorize URL shows the
// waiting page, the phone has answered, the page's reload of the continue
// URL (with the login-binding cookie) ends in the redirect with the code
// and the session cookie. cookie is the session cookie the browser already
// holds.
func (f *ssoFixture) browserLogin(cookie *http.Cookie, kv ...string) (code string, session *http.Cookie) {
	f.t.Helper()
	cont, binding := f.startLogin(cookie, kv...)
	return f.finishLogin(cont, cookie, binding)
}

// sessionCookieOf returns the gateway's session cookie set by resp, or nil.
func sessionCookieOf(t *testing.T, g *Gateway, resp *http.Response) *http.Cookie {
	t.Helper()
	return cookieOf(resp, g.cookie.name)
}

// cookieOf returns the cookie named name that resp sets, or nil.
func cookieOf(resp *http.Response, name string) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == name {
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
// login-binding cookie set at /authorize is HttpOnly, SameSite=Lax and
// 256-bit too, lives as long as a login may take, and has a __Host- name
// when the issuer is https at the root. The headless SDK's re-poll (no
// browser) gets no cookie.
func TestSessionCookieAttributes(t *testing.T) {
	f := newSSOFixture(t, "https://red.example/")
	cont, b := f.startLogin(nil)
	if b == nil || !strings.HasPrefix(b.Name, "__Host-") || !b.HttpOnly || !b.Secure || b.SameSite != http.SameSiteLaxMode ||
		b.Path != "/" || b.Domain != "" || b.MaxAge != int(sessionTTL/time.Second) || len(b.Value) != 43 {
		t.Fatalf("login-binding cookie %s", b)
	}
	_, c := f.finishLogin(cont, b)
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
	// Another browser starting a login gets another binding.
	if _, b2 := f.startLogin(nil, "state", "other-browser"); b2 == nil || b2.Value == b.Value {
		t.Fatalf("two browsers got the same login binding %s", b2)
	}

	plain := newSSOFixture(t, "http://127.0.0.1:8080/red/")
	resp, body := plain.get("/red/authorize?" + strings.SplitN(authorizeURL(), "?", 2)[1])
	m := continueLink.FindStringSubmatch(body)
	pb := cookieOf(resp, plain.g.cookie.binding)
	if resp.StatusCode != 200 || m == nil {
		t.Fatalf("authorize under a path prefix: %d", resp.StatusCode)
	}
	if pb == nil || strings.HasPrefix(pb.Name, "__Host-") || pb.Secure || pb.Path != "/red" || !pb.HttpOnly || pb.SameSite != http.SameSiteLaxMode {
		t.Fatalf("login-binding cookie of an http issuer under /red/: %s", pb)
	}
	cont2, _ := url.Parse(m[1])
	resp, _ = plain.get(cont2.RequestURI(), pb)
	pc := sessionCookieOf(t, plain.g, resp)
	if pc == nil || pc.Secure || pc.Path != "/red" || !pc.HttpOnly || pc.Name == c.Name {
		t.Fatalf("cookie of an http issuer under /red/: %s (https one %s)", pc, c.Name)
	}
	// https under a path: Secure, but no __Host- name (that needs path /).
	prefixed := newSSOFixture(t, "https://red.example/red/")
	resp, _ = prefixed.get("/red/authorize?" + strings.SplitN(authorizeURL(), "?", 2)[1])
	if hb := cookieOf(resp, prefixed.g.cookie.binding); hb == nil || strings.HasPrefix(hb.Name, "__Host-") || !hb.Secure || hb.Path != "/red" {
		t.Fatalf("login-binding cookie of an https issuer under /red/: %s", hb)
	}

	// Headless: the SDK re-polls the authorize URL with the login-binding
	// cookie its HTTP client kept, and gets the code, and no cookie.
	first, _ := f.get(authorizeURL("state", "headless"))
	resp, _ = f.get(authorizeURL("state", "headless"), cookieOf(first, f.g.cookie.binding))
	if q := redirectParams(t, resp.Header.Get("Location")); q.Get("code") == "" || len(resp.Cookies()) != 0 {
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

// addSP registers another SP of red, with shop's secret and redirect URIs
// and the scopes shop may ask for.
func (f *ssoFixture) addSP(clientID string) {
	f.t.Helper()
	reg := f.g.cfg.Registry.(*registry.Registry)
	if err := reg.Apply(2000, registry.MustEncode(registry.CmdPutSP, registry.ServiceProvider{ClientID: clientID, Name: "SP " + clientID,
		SecretHash: registry.HashSecret(shopSecret), RedirectURIs: []string{shopCB, shopPlain},
		Scopes: []string{"openid", "mc_authn", "mc_authz", "mc_kyc_plain"}, Operators: []string{"red"}, Status: registry.StatusActive})); err != nil {
		f.t.Fatal(err)
	}
}

// TestSessionSignsInOnlyWhatThePhoneApproved: a browser session made when
// the person approved shop on the phone does not sign in another SP (bank):
// bank's prompt=none gets consent_required and no code, with or without a
// login_hint, and no phone is asked. Without prompt=none bank's request
// goes to the phone; once approved there, bank joins the session and shop
// stays in it. Scopes wider than those approved for shop, and
// prompt=consent, go to the phone too.
func TestSessionSignsInOnlyWhatThePhoneApproved(t *testing.T) {
	f := newSSOFixture(t, "https://red.example/")
	f.addSP("bank")
	_, c := f.browserLogin(nil) // shop, openid mc_authn

	for _, kv := range [][]string{
		{"client_id", "bank", "prompt", "none", "login_hint", ""},
		{"client_id", "bank", "prompt", "none"},
	} {
		if q := f.silent(c, kv...); q.Get("error") != "consent_required" || q.Get("code") != "" || q.Get("state") != "st-1" {
			t.Fatalf("bank %v with a session made for shop: %v", kv, q)
		}
	}
	// Without prompt=none, bank's request is asked on the phone.
	_, c2 := f.browserLogin(c, "client_id", "bank", "login_hint", "")
	if c2 == nil {
		t.Fatal("no session after bank's login")
	}
	for _, client := range []string{"bank", "shop"} {
		if q := f.silent(c2, "client_id", client, "prompt", "none", "login_hint", ""); q.Get("code") == "" {
			t.Fatalf("%s with prompt=none after both were approved on the phone: %v", client, q)
		}
	}

	// Wider scopes than shop's approval: the phone again.
	wider := []string{"scope", "openid mc_authn mc_kyc_plain"}
	if q := f.silent(c2, append(wider, "prompt", "none")...); q.Get("error") != "consent_required" || q.Get("code") != "" {
		t.Fatalf("shop asking for wider scopes with prompt=none: %v", q)
	}
	_, c3 := f.browserLogin(c2, wider...)
	if q := f.silent(c3, append(wider, "prompt", "none")...); q.Get("code") == "" {
		t.Fatalf("the wider scopes after their approval: %v", q)
	}
	if q := f.silent(c3, "scope", "openid", "prompt", "none"); q.Get("code") == "" {
		t.Fatalf("scopes within those approved: %v", q)
	}
	if q := f.silent(c3, "client_id", "bank", "prompt", "none"); q.Get("code") == "" {
		t.Fatalf("bank after shop's second approval: %v", q)
	}

	// prompt=consent always asks the phone (browserLogin fails otherwise),
	// and cannot go with none.
	f.browserLogin(c3, "prompt", "consent")
	if q := f.silent(c3, "prompt", "none consent"); q.Get("error") != "invalid_request" {
		t.Fatalf("prompt=none consent: %v", q)
	}

	// Approvals are the holder's: after the number is recycled, the new
	// holder's approval of bank in this browser does not bring shop along.
	g := newSSOFixture(t, "https://red.example/")
	g.addSP("bank")
	_, c = g.browserLogin(nil)
	g.subs.remove(red(t))
	g.subs.add(red(t))
	_, c2 = g.browserLogin(c, "client_id", "bank")
	if q := g.silent(c2, "client_id", "bank", "prompt", "none"); q.Get("code") == "" {
		t.Fatalf("bank after the new holder approved it: %v", q)
	}
	if q := g.silent(c2, "prompt", "none"); q.Get("error") != "consent_required" {
		t.Fatalf("shop, approved by the number's previous holder: %v", q)
	}
}

// TestContinueURLSignsInOnlyTheBrowserThatStarted: the continue URL of a
// login approved on the phone, opened in another browser (an attacker's
// link in a victim's browser: login CSRF), still ends in the redirect to
// the SP with the code, but sets no session cookie and leaves that
// browser's own session as it was. The browser that started the login gets
// the session; two logins started in one browser (two tabs) both do.
func TestContinueURLSignsInOnlyTheBrowserThatStarted(t *testing.T) {
	f := newSSOFixture(t, "https://red.example/")
	cont, victimBinding := f.startLogin(nil)
	_, victim := f.finishLogin(cont, victimBinding) // red signs in
	if victim == nil {
		t.Fatal("no session for the browser that started the login")
	}

	// The attacker starts a login for their own number, approves it on
	// their phone and has the victim's browser open the continue URL.
	attacker := "MSISDN:" + strings.TrimPrefix(red2Number, "+")
	cont, _ = f.startLogin(nil, "login_hint", attacker, "state", "attacker")
	code, set := f.finishLogin(cont, victim, victimBinding)
	if set != nil {
		t.Fatalf("the victim's browser was given the attacker's session: %s", set)
	}
	if sub := f.idToken(code).Sub; sub != pcr(f.mustSecret(red2Number), "shop") {
		t.Fatalf("the code of the attacker's login names %q", sub)
	}
	// The victim's own session still signs the victim in.
	q := f.silent(victim, "prompt", "none", "login_hint", "")
	if q.Get("code") == "" {
		t.Fatalf("the victim's session after the attack: %v", q)
	}
	if sub := f.idToken(q.Get("code")).Sub; sub != pcr(f.mustSecret(redNumber), "shop") {
		t.Fatalf("the victim's session names %q", sub)
	}

	// A browser with no cookie at all: the code, no session.
	cont, _ = f.startLogin(nil, "state", "elsewhere")
	if _, set := f.finishLogin(cont); set != nil {
		t.Fatalf("a browser without the login binding got a session: %s", set)
	}

	// Two tabs of one browser: the second login keeps the binding, and
	// each ends with a session.
	cont1, b1 := f.startLogin(nil, "state", "tab-1")
	cont2, b2 := f.startLogin(b1, "state", "tab-2")
	if b2 == nil || b2.Value != b1.Value {
		t.Fatalf("the second tab's binding %s, the first's %s", b2, b1)
	}
	_, s1 := f.finishLogin(cont1, b1)
	_, s2 := f.finishLogin(cont2, b1, s1)
	if s1 == nil || s2 == nil {
		t.Fatalf("two tabs: sessions %v, %v", s1, s2)
	}
}
