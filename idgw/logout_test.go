package idgw

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcfed/mcfed/internal/jose"
	"github.com/mcfed/mcfed/registry"
)

const shopBye = "https://shop.example/bye"

// logoutReceiver is an SP's back-channel logout endpoint: a loopback HTTP
// server that keeps the logout tokens POSTed to it, answering fail first
// with 503.
type logoutReceiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	tokens []string
	tries  int
	fail   int
}

func newLogoutReceiver(t *testing.T) *logoutReceiver {
	r := &logoutReceiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.tries++
		if req.Method != "POST" || req.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
			w.WriteHeader(400)
			return
		}
		if r.fail > 0 {
			r.fail--
			w.WriteHeader(503)
			return
		}
		_ = req.ParseForm()
		r.tokens = append(r.tokens, req.PostForm.Get("logout_token"))
		w.WriteHeader(200)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *logoutReceiver) got() ([]string, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.tokens...), r.tries
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// editSP rewrites SP clientID in the fixture's registry.
func (f *ssoFixture) editSP(clientID string, edit func(sp *registry.ServiceProvider)) {
	f.t.Helper()
	reg := f.g.cfg.Registry.(*registry.Registry)
	sp := *reg.ServiceProvider(clientID)
	edit(&sp)
	if err := reg.Apply(reg.AppliedIndex()+1, registry.MustEncode(registry.CmdPutSP, sp)); err != nil {
		f.t.Fatal(err)
	}
}

// redeemAt redeems a code of clientID: the ID token and the refresh token.
func (f *ssoFixture) redeemAt(clientID, code string) (idToken, refresh string) {
	f.t.Helper()
	tf := &tokenFixture{t: f.t, g: f.g, app: f.app, clock: f.clock}
	status, body, _ := tf.redeem(clientID+":"+shopSecret, codeForm(code))
	if status != 200 {
		f.t.Fatalf("token at %s: %d %v", clientID, status, body)
	}
	return body["id_token"].(string), body["refresh_token"].(string)
}

func (f *ssoFixture) refreshes(clientID, refresh string) bool {
	f.t.Helper()
	tf := &tokenFixture{t: f.t, g: f.g, app: f.app, clock: f.clock}
	status, _, _ := tf.redeem(clientID+":"+shopSecret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}})
	return status == 200
}

// claimsOf verifies a token of the gateway's and returns its claims and
// header.
func (f *ssoFixture) claimsOf(token string) (map[string]any, jose.Header) {
	f.t.Helper()
	payload, h, err := jose.VerifyJWKS(token, f.g.cfg.Keys.JWKS(f.clock.now()), jose.RS256)
	if err != nil {
		f.t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(payload, &c); err != nil {
		f.t.Fatal(err)
	}
	return c, h
}

// logoutFixture is a loopback gateway (so that it may deliver to a
// loopback SP) whose SPs shop and bank registered a back-channel logout
// URI at a receiver, shop a post-logout redirect URI too, and whose node
// delivers logout tokens.
func logoutFixture(t *testing.T) (*ssoFixture, *logoutReceiver) {
	f := newSSOFixture(t, "http://127.0.0.1/")
	rcv := newLogoutReceiver(t)
	f.addSP("bank")
	for _, id := range []string{"shop", "bank"} {
		f.editSP(id, func(sp *registry.ServiceProvider) {
			sp.BackchannelLogoutURI = rcv.srv.URL + "/bcl/" + id
			sp.PostLogoutRedirectURIs = []string{shopBye}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); f.g.DeliverLogouts(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return f, rcv
}

// TestRPInitiatedLogout: an SP's logout with its ID token as the hint ends
// the browser's session at the gateway (no single sign-on after it), the
// refresh tokens of the session's logins at every SP, sends the browser to
// the registered post-logout URI with state, and the other SP of the
// session receives a signed logout token naming the session; bad hints and
// unregistered URIs are refused on a page.
func TestRPInitiatedLogout(t *testing.T) {
	f, rcv := logoutFixture(t)
	code, session := f.browserLogin(nil)
	shopID, shopRefresh := f.redeemAt("shop", code)
	code, session = f.browserLogin(session, "client_id", "bank", "state", "b")
	bankID, bankRefresh := f.redeemAt("bank", code)
	shopClaims, _ := f.claimsOf(shopID)
	bankClaims, _ := f.claimsOf(bankID)
	if shopClaims["sid"] == nil || shopClaims["sid"] != bankClaims["sid"] {
		t.Fatalf("the ID tokens of one browser session name sessions %v and %v", shopClaims["sid"], bankClaims["sid"])
	}
	for _, bad := range []struct{ name, query string }{
		{"unregistered post_logout_redirect_uri", url.Values{"id_token_hint": {shopID}, "post_logout_redirect_uri": {"https://evil.example/"}}.Encode()},
		{"post_logout_redirect_uri without a client", url.Values{"post_logout_redirect_uri": {shopBye}}.Encode()},
		{"a hint not signed by the gateway", url.Values{"id_token_hint": {foreignToken(t, shopClaims)}, "post_logout_redirect_uri": {shopBye}}.Encode()},
		{"client_id not the hint's audience", url.Values{"id_token_hint": {shopID}, "client_id": {"bank"}}.Encode()},
	} {
		resp, body := f.nav("/logout?"+bad.query, nil, session)
		if resp.StatusCode != 400 || resp.Header.Get("Location") != "" || !strings.Contains(body, "invalid_request") {
			t.Fatalf("%s: %d %q", bad.name, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	if q := f.silent(session, "prompt", "none", "state", "sso"); q.Get("code") == "" {
		t.Fatalf("the refused logouts ended the session: %v", q)
	}

	resp, _ := f.nav("/logout?"+url.Values{"id_token_hint": {shopID}, "post_logout_redirect_uri": {shopBye}, "state": {"bye-1"}}.Encode(), nil, session)
	if resp.StatusCode != 302 || resp.Header.Get("Location") != shopBye+"?state=bye-1" {
		t.Fatalf("logout: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if c := sessionCookieOf(t, f.g, resp); c == nil || c.Value != "" || !c.Expires.Before(time.Now()) {
		t.Fatalf("the session cookie was not cleared: %+v", c)
	}
	if q := f.silent(session, "prompt", "none", "state", "after"); q.Get("error") != "login_required" {
		t.Fatalf("single sign-on after the logout: %v", q)
	}
	if f.refreshes("shop", shopRefresh) || f.refreshes("bank", bankRefresh) {
		t.Fatal("a refresh token of the ended session still refreshes")
	}

	// The bank, not the shop that asked, hears of it.
	waitFor(t, "the bank's logout token", func() bool { ts, _ := rcv.got(); return len(ts) == 1 })
	ts, _ := rcv.got()
	c, h := f.claimsOf(ts[0])
	events, _ := c["events"].(map[string]any)
	if h.Typ != "logout+jwt" || c["aud"].([]any)[0] != "bank" || c["sid"] != bankClaims["sid"] || c["sub"] != bankClaims["sub"] ||
		c["iss"] != "https://red.example/" || c["jti"] == "" || c["iat"] == nil || c["exp"] == nil || c["nonce"] != nil ||
		events == nil || events[backchannelLogoutEvent] == nil {
		t.Fatalf("logout token %+v %+v", h, c)
	}
	waitFor(t, "the queue to empty", func() bool { return f.g.pendingLogouts(context.Background()) == 0 })
}

// regexpValue is the first group of pattern in s, or "".
func regexpValue(s, pattern string) string {
	if m := regexp.MustCompile(pattern).FindStringSubmatch(s); m != nil {
		return m[1]
	}
	return ""
}

// TestLogoutOfAHeadlessLogin: an SP's logout with the ID token of a login
// that has no session in this browser (a headless SDK's) ends that
// login's refresh token and no other.
func TestLogoutOfAHeadlessLogin(t *testing.T) {
	f, rcv := logoutFixture(t)
	id1, refresh1 := f.redeemAt("shop", f.headlessCode("state", "h1"))
	_, refresh2 := f.redeemAt("shop", f.headlessCode("state", "h2"))
	resp, _ := f.nav("/logout?"+url.Values{"id_token_hint": {id1}, "post_logout_redirect_uri": {shopBye}}.Encode(), nil)
	if resp.StatusCode != 302 || resp.Header.Get("Location") != shopBye {
		t.Fatalf("logout: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if f.refreshes("shop", refresh1) {
		t.Fatal("the logged-out login's refresh token still refreshes")
	}
	if !f.refreshes("shop", refresh2) {
		t.Fatal("another login's refresh token stopped")
	}
	if ts, _ := rcv.got(); len(ts) != 0 {
		t.Fatalf("the SP that asked was sent %d logout tokens", len(ts))
	}
}

// foreignToken is an ID token with claims, signed by a key the gateway
// does not hold.
func foreignToken(t *testing.T, claims map[string]any) string {
	k, err := jose.GenerateKey(jose.RS256)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jose.Sign(k, claims)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestLogoutWithoutAHintAsks: a logout the gateway cannot tie to the
// browser's session (no id_token_hint) asks the person; only that browser
// can confirm, and staying signed in changes nothing.
func TestLogoutWithoutAHintAsks(t *testing.T) {
	f, _ := logoutFixture(t)
	_, session := f.browserLogin(nil)
	_, other := f.browserLogin(nil, "state", "other")
	confirm := func(cookie *http.Cookie, decision string) (*http.Response, string) {
		resp, body := f.nav("/logout?ui_locales=de", nil, cookie)
		id := regexpValue(body, `name="l" value="([^"]+)"`)
		if resp.StatusCode != 200 || id == "" || !strings.Contains(body, "Abmelden?") {
			t.Fatalf("logout without a hint: %d %s", resp.StatusCode, body)
		}
		return f.nav("/logout/confirm", url.Values{"l": {id}, "decision": {decision}}, cookie)
	}
	if resp, body := confirm(session, "stay"); resp.StatusCode != 200 || !strings.Contains(body, "weiterhin angemeldet") {
		t.Fatalf("stay: %d %s", resp.StatusCode, body)
	}
	if q := f.silent(session, "prompt", "none", "state", "s1"); q.Get("code") == "" {
		t.Fatalf("staying signed in ended the session: %v", q)
	}
	// A confirmation page's id posted by another browser ends nothing.
	resp, body := f.nav("/logout", nil, session)
	id := regexpValue(body, `name="l" value="([^"]+)"`)
	if resp, _ := f.nav("/logout/confirm", url.Values{"l": {id}, "decision": {"logout"}}, other); sessionCookieOf(t, f.g, resp) != nil {
		t.Fatal("another browser's confirmation cleared a cookie")
	}
	if q := f.silent(session, "prompt", "none", "state", "s2"); q.Get("code") == "" {
		t.Fatalf("another browser's confirmation ended the session: %v", q)
	}
	resp, body = confirm(session, "logout")
	if resp.StatusCode != 200 || !strings.Contains(body, "abgemeldet") || sessionCookieOf(t, f.g, resp) == nil {
		t.Fatalf("confirmed: %d %s", resp.StatusCode, body)
	}
	if q := f.silent(session, "prompt", "none", "state", "s3"); q.Get("error") != "login_required" {
		t.Fatalf("after the confirmed logout: %v", q)
	}
}

// TestBackchannelLogoutRetriesAndFollowsWithdrawal: a consent withdrawal
// sends the SP a logout token per session of its ended families; an SP
// that answers 503 gets it again after a back-off, and once it answers 200
// the delivery leaves the queue.
func TestBackchannelLogoutRetriesAndFollowsWithdrawal(t *testing.T) {
	f, rcv := logoutFixture(t)
	rcv.mu.Lock()
	rcv.fail = 2
	rcv.mu.Unlock()
	code, _ := f.browserLogin(nil)
	id, _ := f.redeemAt("shop", code)
	claims, _ := f.claimsOf(id)
	if err := f.g.WithdrawConsent(context.Background(), red(t), "shop"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a first attempt", func() bool { _, n := rcv.got(); return n >= 1 })
	if ts, _ := rcv.got(); len(ts) != 0 || f.g.pendingLogouts(context.Background()) != 1 {
		t.Fatal("a refused delivery left the queue")
	}
	// The retries come only once their back-off has passed: 1 s, then 2 s.
	for attempt := 2; attempt <= 3; attempt++ {
		backoff := time.Duration(1<<(attempt-2)) * time.Second
		waitFor(t, "the retry to be scheduled", func() bool {
			d, ok := f.queued()
			return ok && d.Attempts == attempt-1 && d.Next.Sub(f.clock.now()) == backoff
		})
		if _, n := rcv.got(); n != attempt-1 {
			t.Fatalf("attempt %d came before its back-off", attempt)
		}
		f.clock.advance(backoff)
		waitFor(t, "a retry", func() bool { _, n := rcv.got(); return n >= attempt })
	}
	ts, _ := rcv.got()
	if len(ts) != 1 {
		t.Fatalf("%d tokens delivered", len(ts))
	}
	c, _ := f.claimsOf(ts[0])
	if c["sid"] != claims["sid"] || c["sub"] != claims["sub"] || c["aud"].([]any)[0] != "shop" {
		t.Fatalf("the withdrawal's logout token: %v", c)
	}
	waitFor(t, "the queue to empty", func() bool { return f.g.pendingLogouts(context.Background()) == 0 })
}

// pendingLogouts is how many logout tokens wait for delivery.
func (g *Gateway) pendingLogouts(ctx context.Context) int {
	es, err := g.cfg.Store.Scan(ctx, logoutDeliveryKind, nil, nil, 1000)
	if err != nil {
		return -1
	}
	return len(es)
}

// queued is the one logout delivery waiting, if any.
func (f *ssoFixture) queued() (logoutDelivery, bool) {
	es, err := f.g.cfg.Store.Scan(context.Background(), logoutDeliveryKind, nil, nil, 2)
	var d logoutDelivery
	if err != nil || len(es) != 1 || json.Unmarshal(es[0].Value, &d) != nil {
		return d, false
	}
	return d, true
}

// TestBackchannelLogoutRefusesInternalAddresses: a production gateway
// does not POST to a loopback or private address, whatever the SP
// registered (as for jwks_uri), and drops the delivery.
func TestBackchannelLogoutRefusesInternalAddresses(t *testing.T) {
	f := newSSOFixture(t, "https://red.example/")
	rcv := newLogoutReceiver(t)
	for _, uri := range []string{rcv.srv.URL + "/bcl", "https://10.0.0.1/bcl", "https://127.0.0.1:1/bcl"} {
		f.editSP("shop", func(sp *registry.ServiceProvider) { sp.BackchannelLogoutURI = uri })
		if err, _ := f.g.sendLogout(context.Background(), logoutDelivery{ClientID: "shop", Sub: "s", JTI: "j"}); err == nil {
			t.Fatalf("%s: delivered", uri)
		}
	}
	if _, n := rcv.got(); n != 0 {
		t.Fatalf("the receiver got %d requests", n)
	}
}

// TestMetadataAdvertisesLogout: the end_session_endpoint under the issuer,
// back-channel logout with sessions, and sid among the claims.
func TestMetadataAdvertisesLogout(t *testing.T) {
	_, app := testGateway(t, testRegistry(t, "openid"))
	_, _, body := get(t, app, "/mc/.well-known/openid-configuration")
	var m struct {
		EndSession     string   `json:"end_session_endpoint"`
		Backchannel    *bool    `json:"backchannel_logout_supported"`
		BackchannelSID *bool    `json:"backchannel_logout_session_supported"`
		Claims         []string `json:"claims_supported"`
	}
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	if m.EndSession != testIssuer+"/logout" || m.Backchannel == nil || !*m.Backchannel || m.BackchannelSID == nil || !*m.BackchannelSID ||
		!slices.Contains(m.Claims, "sid") {
		t.Fatalf("metadata: %s", body)
	}
	if status, _, _ := get(t, app, "/mc/logout"); status != 200 {
		t.Fatalf("the end_session_endpoint at its advertised path: %d", status)
	}
}
