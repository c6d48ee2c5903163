package idgw

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mcfed/mcfed/registry"
)

// nav sends a browser's navigation (Sec-Fetch-Mode: navigate) to the
// fixture's gateway with the cookies given, the form as a POST body when
// not nil, and returns the response with its body read.
func (f *ssoFixture) nav(target string, form url.Values, cookies ...*http.Cookie) (*http.Response, string) {
	f.t.Helper()
	if u, err := url.Parse(target); err == nil && u.Host != "" {
		target = u.RequestURI() // the issuer's URL, served by the fixture
	}
	method, body := "GET", io.Reader(nil)
	if form != nil {
		method, body = "POST", strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, f.base+target, body)
	if err != nil {
		f.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Sec-Fetch-Mode", "navigate")
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
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// pageLogin runs a login in a person's browser holding cookie (may be
// nil) up to the answer after the phone: the consent page's URL when the
// person is asked (asked), else the SP's redirect and the session cookie
// set.
func (f *ssoFixture) pageLogin(cookie *http.Cookie, kv ...string) (asked string, binding *http.Cookie, loc string, session *http.Cookie) {
	f.t.Helper()
	resp, body := f.nav(authorizeURL(kv...), nil, cookie)
	m := continueLink.FindStringSubmatch(body)
	if resp.StatusCode != 200 || m == nil {
		f.t.Fatalf("authorize: %d %q, want the waiting page", resp.StatusCode, resp.Header.Get("Location"))
	}
	binding = cookieOf(resp, f.g.cookie.binding)
	resp, _ = f.nav(m[1], nil, cookie, binding)
	loc = resp.Header.Get("Location")
	if resp.StatusCode != 302 {
		f.t.Fatalf("continue: %d", resp.StatusCode)
	}
	if strings.HasPrefix(loc, f.g.paths.consent) {
		return loc, binding, "", nil
	}
	return "", binding, loc, sessionCookieOf(f.t, f.g, resp)
}

// allow answers the consent page at consentURL with Allow in the browser
// holding cookies: the SP's redirect with the code, and the session set.
func (f *ssoFixture) allow(consentURL string, cookies ...*http.Cookie) (string, *http.Cookie) {
	f.t.Helper()
	resp, _ := f.nav(consentURL, url.Values{"decision": {"allow"}}, cookies...)
	if q := redirectParams(f.t, resp.Header.Get("Location")); resp.StatusCode != 302 || q.Get("code") == "" {
		f.t.Fatalf("allow: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	return resp.Header.Get("Location"), sessionCookieOf(f.t, f.g, resp)
}

// TestConsentRecordSpansBrowsers: a person who allowed an SP its scopes is
// not asked again in another browser (the subscriber's consent record
// says so, not the first browser's session), is asked for a scope not yet
// allowed and with prompt=consent; the record lists when, what and by
// which authentication; once withdrawn, the first browser's single sign-on
// for the SP stops (consent_required) and a new login asks again.
func TestConsentRecordSpansBrowsers(t *testing.T) {
	f := newSSOFixture(t, "https://red.example/")
	const data = "openid mc_authn mc_kyc_plain"
	asked, binding, _, _ := f.pageLogin(nil, "scope", data)
	if asked == "" {
		t.Fatal("a first login asking for data did not ask for consent")
	}
	_, sessionA := f.allow(asked, binding)
	if sessionA == nil {
		t.Fatal("the browser that allowed got no session")
	}

	// Another browser, no cookie: a new challenge, and no consent page.
	if asked, _, loc, _ := f.pageLogin(nil, "scope", data, "state", "b"); asked != "" || redirectParams(t, loc).Get("code") == "" {
		t.Fatalf("a second browser was asked again (%q) or got no code (%q)", asked, loc)
	}
	// prompt=consent asks again in any browser.
	if asked, _, _, _ := f.pageLogin(nil, "scope", data, "prompt", "consent", "state", "c"); asked == "" {
		t.Fatal("prompt=consent did not ask")
	}

	consents, err := f.g.Consents(context.Background(), red(t))
	if err != nil || len(consents) != 1 {
		t.Fatalf("consents: %v %+v", err, consents)
	}
	c := consents[0]
	shown := map[string]bool{}
	for _, s := range c.Scopes {
		shown[s.Scope] = s.OnConsentPage
		if s.ACR != "2" || strings.Join(s.AMR, ",") != "OTP_OK" || s.GrantedAt.IsZero() {
			t.Fatalf("scope %+v", s)
		}
	}
	if c.ClientID != "shop" || c.SPName != "SP shop" || len(c.Scopes) != 3 || !shown["mc_kyc_plain"] || shown["openid"] ||
		!c.Expires.After(f.clock.now().Add(399*24*time.Hour)) {
		t.Fatalf("the record: %+v", c)
	}

	// Browser A signs the SP in at once, until the consent is withdrawn.
	if q := f.silent(sessionA, "scope", data, "prompt", "none", "state", "d"); q.Get("code") == "" {
		t.Fatalf("single sign-on before the withdrawal: %v", q)
	}
	if err := f.g.WithdrawConsent(context.Background(), red(t), "shop"); err != nil {
		t.Fatal(err)
	}
	if q := f.silent(sessionA, "scope", data, "prompt", "none", "state", "e"); q.Get("error") != "consent_required" || q.Get("code") != "" {
		t.Fatalf("single sign-on after the withdrawal: %v", q)
	}
	if asked, _, _, _ := f.pageLogin(sessionA, "scope", data, "state", "f"); asked == "" {
		t.Fatal("a login after the withdrawal did not ask for consent")
	}
	if err := f.g.WithdrawConsent(context.Background(), red(t), "shop"); !errors.Is(err, ErrNoConsent) {
		t.Fatalf("a second withdrawal: %v", err)
	}
}

// TestConsentRecordIsTheHolders: a recycled number's new holder does not
// inherit its predecessor's consent, nor see it listed.
func TestConsentRecordIsTheHolders(t *testing.T) {
	f := newSSOFixture(t, "https://red.example/")
	const data = "openid mc_authn mc_kyc_plain"
	asked, binding, _, _ := f.pageLogin(nil, "scope", data)
	f.allow(asked, binding)
	f.subs.remove(red(t))
	f.subs.add(red(t))
	if cs, err := f.g.Consents(context.Background(), red(t)); err != nil || len(cs) != 0 {
		t.Fatalf("the new holder's consents: %v %+v", err, cs)
	}
	if asked, _, _, _ := f.pageLogin(nil, "scope", data, "state", "n"); asked == "" {
		t.Fatal("the number's new holder was not asked for consent")
	}
}

// TestWithdrawalEndsTheSPsTokens: withdrawing the consent to an SP ends
// every token the subscriber's logins at it led to, a refreshed pair
// included (refresh invalid_grant, introspection inactive, userinfo 401),
// and leaves another SP's tokens serving.
func TestWithdrawalEndsTheSPsTokens(t *testing.T) {
	f := newTokenFixture(t)
	f.addClient("other")
	a1, r1 := f.tokens("w1")
	_, r2 := f.tokens("w2")
	status, body, _ := f.redeem("shop:"+shopSecret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {r2}})
	if status != 200 {
		t.Fatalf("refresh: %d %v", status, body)
	}
	a2, r2 := body["access_token"].(string), body["refresh_token"].(string)
	status, body, _ = f.redeem("other:"+shopSecret, codeForm(f.code("client_id", "other", "scope", "openid", "state", "o")))
	if status != 200 {
		t.Fatalf("other's token: %d %v", status, body)
	}
	oa, or := body["access_token"].(string), body["refresh_token"].(string)

	if err := f.g.WithdrawConsent(context.Background(), red(t), "shop"); err != nil {
		t.Fatal(err)
	}
	for _, p := range [][2]string{{a1, r1}, {a2, r2}} {
		f.assertEnded("shop", p[0], p[1])
	}
	if status, _, _, _ := f.get("/userinfo", "Bearer "+oa); status != 200 {
		t.Fatalf("another SP's token after the withdrawal: %d", status)
	}
	if status, body, _ := f.redeem("other:"+shopSecret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {or}}); status != 200 {
		t.Fatalf("another SP's refresh after the withdrawal: %d %v", status, body)
	}
	if n := liveCount(t, f.g, familyBySPKind); n != 1 {
		t.Fatalf("%d entries left in the family index, want other's one", n)
	}
}

// assertEnded checks that an access and refresh token of clientID no
// longer serve: userinfo 401, introspection inactive, refresh
// invalid_grant.
func (f *tokenFixture) assertEnded(clientID, access, refresh string) {
	f.t.Helper()
	if status, _, www, _ := f.get("/userinfo", "Bearer "+access); status != 401 || !strings.Contains(www, "invalid_token") {
		f.t.Fatalf("userinfo: %d %q", status, www)
	}
	for _, tok := range []string{access, refresh} {
		if status, body, _ := f.postTo("/introspect", clientID+":"+shopSecret, url.Values{"token": {tok}}); status != 200 || body["active"] != false {
			f.t.Fatalf("introspection: %d %v", status, body)
		}
	}
	if status, body, _ := f.redeem(clientID+":"+shopSecret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}); status != 400 || body["error"] != "invalid_grant" {
		f.t.Fatalf("refresh: %d %v", status, body)
	}
}

// TestNoLongerAcceptedSPLosesItsSessions: once the operator no longer
// accepts an SP (registry.ServiceProvider.Accepts), the browser's session
// signs it in no more (the page of an unauthorized client, no code) and
// its refresh token is refused; both serve again when it is accepted
// again, as a suspension's would.
func TestNoLongerAcceptedSPLosesItsSessions(t *testing.T) {
	f := newSSOFixture(t, "https://red.example/")
	code, session := f.browserLogin(nil)
	_, refresh := f.redeemAt("shop", code)
	f.editSP("shop", func(sp *registry.ServiceProvider) { sp.Operators = []string{"blue"} })
	resp, body := f.get(authorizeURL("prompt", "none", "state", "declined"), session)
	if resp.StatusCode != 400 || resp.Header.Get("Location") != "" || !strings.Contains(body, "unauthorized_client") {
		t.Fatalf("single sign-on of an SP no longer accepted: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	tf := &tokenFixture{t: t, g: f.g, app: f.app, clock: f.clock}
	if status, body, _ := tf.redeem("shop:"+shopSecret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}); status != 401 || body["error"] != "invalid_client" {
		t.Fatalf("refresh of an SP no longer accepted: %d %v", status, body)
	}
	f.editSP("shop", func(sp *registry.ServiceProvider) { sp.Operators = []string{"red"} })
	if q := f.silent(session, "prompt", "none", "state", "back"); q.Get("code") == "" {
		t.Fatalf("single sign-on once accepted again: %v", q)
	}
	if !f.refreshes("shop", refresh) {
		t.Fatal("the refresh token once accepted again")
	}
}
