package idgw

import (
	"context"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/gofiber/fiber/v2"
	"golang.org/x/oauth2"

	"github.com/mcfed/mcfed/internal/jose"
	"github.com/mcfed/mcfed/registry"
)

// TestRealRelyingParty runs the authorization code flow with a real OIDC
// relying party (coreos/go-oidc and golang.org/x/oauth2) against the
// gateway served over loopback HTTP: discovery of the provider metadata,
// the authorize redirect, the headless re-poll once the phone answers, the
// code exchange, and the ID token verified through the JWKS, nonce
// included; then userinfo with the access token.
func TestRealRelyingParty(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	issuer := "http://" + ln.Addr().String()
	const redirect = "https://rp.example/callback"
	secret := strings.Repeat("r", 40)

	reg := registry.New()
	idx := uint64(0)
	apply := func(typ registry.CommandType, v any) {
		idx++
		if err := reg.Apply(idx, registry.MustEncode(typ, v)); err != nil {
			t.Fatal(err)
		}
	}
	apply(registry.CmdPutOperator, registry.Operator{ID: "red", Name: "Red", Country: "GB", Currency: "GBP",
		Networks: []string{"234_10"}, Issuer: issuer, Status: registry.StatusActive})
	apply(registry.CmdPutRanges, registry.RangeBatch{Ranges: []registry.Range{{Prefix: "+447911", Operator: "red"}}})
	for _, s := range []string{"openid", "mc_authn"} {
		apply(registry.CmdPutScope, registry.Scope{Name: s})
	}
	apply(registry.CmdPutSP, registry.ServiceProvider{ClientID: "rp", Name: "Relying Party",
		SecretHash: registry.HashSecret(secret), RedirectURIs: []string{redirect},
		Scopes: []string{"openid", "mc_authn"}, Operators: []string{"red"}, Status: registry.StatusActive})

	ring := jose.NewKeyRing(time.Hour)
	if _, err := ring.Ensure(time.Now(), jose.RS256); err != nil {
		t.Fatal(err)
	}
	phone := newPhone()
	router, err := NewRouter(Registration{AuthenticatorInfo{Name: "sms", LoA: 2, AMR: []string{"OTP_OK"}}, phone})
	if err != nil {
		t.Fatal(err)
	}
	g, err := New(Config{OperatorID: "red", Issuer: issuer, Registry: reg, Keys: ring,
		Subscribers: subscriberMap{red(t): {MSISDN: red(t), Active: true}}, Router: router, Store: newTestStore(t)})
	if err != nil {
		t.Fatal(err)
	}
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	if err := g.Mount(app); err != nil {
		t.Fatal(err)
	}
	go app.Listener(ln)
	defer app.Shutdown()

	ctx := context.Background()
	provider, err := oidc.NewProvider(ctx, issuer)
	if err != nil {
		t.Fatalf("go-oidc cannot discover the gateway: %v", err)
	}
	conf := oauth2.Config{ClientID: "rp", ClientSecret: secret, Endpoint: provider.Endpoint(),
		RedirectURL: redirect, Scopes: []string{oidc.ScopeOpenID, "mc_authn"}}
	authURL := conf.AuthCodeURL("state-123", oidc.Nonce("nonce-456"),
		oauth2.SetAuthURLParam("login_hint", "MSISDN:447911123456"), oauth2.SetAuthURLParam("acr_values", "2"))

	// The SDK's headless client: no redirects followed automatically.
	// The SDK's HTTP client keeps cookies (the login-binding cookie its
	// re-poll needs).
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func() *http.Response {
		resp, err := client.Get(authURL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if resp := get(); resp.StatusCode != 200 {
		t.Fatalf("authorize: %d", resp.StatusCode)
	}
	phone.answer(redNumber, Succeeded)
	resp := get()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != 302 || err != nil || loc.Query().Get("state") != "state-123" {
		t.Fatalf("re-poll: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	tok, err := conf.Exchange(ctx, loc.Query().Get("code"))
	if err != nil {
		t.Fatalf("code exchange: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := provider.Verifier(&oidc.Config{ClientID: "rp"}).Verify(ctx, raw)
	if err != nil {
		t.Fatalf("go-oidc refuses the ID token: %v", err)
	}
	var claims struct {
		Nonce string   `json:"nonce"`
		ACR   string   `json:"acr"`
		AMR   []string `json:"amr"`
	}
	if err := idt.Claims(&claims); err != nil || claims.Nonce != "nonce-456" || claims.ACR != "2" || idt.Subject == "" {
		t.Fatalf("ID token claims %+v sub %q: %v", claims, idt.Subject, err)
	}
	if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
		t.Fatalf("at_hash: %v", err)
	}
	info, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil || info.Subject != idt.Subject {
		t.Fatalf("userinfo: %+v %v", info, err)
	}
}
