package idgw

import (
	"context"
	"encoding/base64"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mcfed/mcfed/internal/jose"
)

// TestALoginRunsWithoutAnApp drives the endpoints' plain Go, as the
// handlers do but with no HTTP server or fiber app: a headless login ends
// in a code the token endpoint redeems once; a browser login through the
// continue URL gives that browser a session, which then signs it in to the
// SP at once.
func TestALoginRunsWithoutAnApp(t *testing.T) {
	g, _ := newAuthTestGateway(t) // not mounted
	phone := newPhone()
	router, err := NewRouter(Registration{AuthenticatorInfo{Name: "sms", LoA: 2, AMR: []string{"OTP_OK"}}, phone})
	if err != nil {
		t.Fatal(err)
	}
	g.cfg.Router, g.cfg.Subscribers = router, subscriberMap{red(t): {MSISDN: red(t), Active: true}}
	if _, err := g.cfg.Keys.Ensure(time.Now(), jose.RS256); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	args := func(kv ...string) url.Values {
		u, err := url.Parse(authorizeURL(kv...))
		if err != nil {
			t.Fatal(err)
		}
		return u.Query()
	}
	codeOf := func(a authorizeAnswer) string {
		t.Helper()
		if a.err != nil || a.redirect == "" {
			t.Fatalf("no redirect: %+v", a)
		}
		code := redirectParams(t, a.redirect).Get("code")
		if code == "" {
			t.Fatalf("no code in %s", a.redirect)
		}
		return code
	}

	// Headless: the waiting page, then the code once the phone said yes.
	headless := authorizeRequest{args: args()}
	first := g.authorize(ctx, headless)
	if first.err != nil || first.wait == "" || first.binding == "" {
		t.Fatalf("first request: %+v, want the waiting page and a login-binding cookie", first)
	}
	// The SDK's HTTP client sends the cookie back with its re-polls.
	headless.cookies.binding = first.binding
	phone.answer(redNumber, Succeeded)
	a := g.authorize(ctx, headless)
	code := codeOf(a)
	if a.session != "" {
		t.Fatal("a headless re-poll got a browser session")
	}
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("shop:"+shopSecret))
	redeem := tokenRequest{form: codeForm(code), authorization: basic}
	resp, e := g.token(ctx, redeem)
	if e != nil || resp.IDToken == "" || resp.AccessToken == "" || resp.CorrelationID != "corr-1" || resp.Scope != "openid mc_authn" {
		t.Fatalf("token: %+v %v", resp, e)
	}
	claims, e := g.userInfo(ctx, "userinfo", bearerRequest{authorization: "Bearer " + resp.AccessToken})
	if e != nil || claims["sub"] == "" {
		t.Fatalf("userinfo: %v %v", claims, e)
	}
	// The code again: refused, and what it issued is revoked.
	if _, e := g.token(ctx, redeem); e == nil || e.Code != CodeInvalidGrant {
		t.Fatalf("the code redeemed twice: %v, want invalid_grant", e)
	}
	if _, e := g.userInfo(ctx, "userinfo", bearerRequest{authorization: "Bearer " + resp.AccessToken}); e == nil || e.Code != CodeInvalidToken {
		t.Fatalf("userinfo after the code's replay: %v, want invalid_token", e)
	}
	if _, e := g.token(ctx, tokenRequest{form: codeForm("x")}); e == nil || e.Code != CodeInvalidClient {
		t.Fatalf("no client authentication: %v, want invalid_client", e)
	}

	// A browser: the continue URL, with the browser's login-binding
	// cookie, gives the code and a session.
	started := g.authorize(ctx, authorizeRequest{args: args("state", "in-browser")})
	cont, err := url.Parse(started.wait)
	if err != nil || started.err != nil || !strings.HasPrefix(started.wait, g.paths.continueURL) {
		t.Fatalf("browser login: %+v", started)
	}
	a = g.check(ctx, cont.Query().Get("session"), nil, &browserCookies{binding: started.binding})
	codeOf(a)
	if a.session == "" {
		t.Fatal("the browser that started the login got no session")
	}
	// Its session signs it in at once, without the phone.
	before := phone.started
	codeOf(g.authorize(ctx, authorizeRequest{args: args("state", "sso", "prompt", "none"), cookies: browserCookies{session: a.session}}))
	if phone.started != before {
		t.Fatal("the session's sign-in challenged the phone")
	}
}
