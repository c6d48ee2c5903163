package e2e

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// TestLoginAtEachOperator logs a person in at each of three operators with
// a certified relying party (coreos/go-oidc and x/oauth2): discovery on
// another operator's node, the provider metadata and keys fetched from the
// issuer discovery named, the authorize request with the sealed number as
// ENCR_MSISDN login hint, the SMS read on the handset and its link tapped
// (or its code typed), the code exchanged, the ID token verified, userinfo
// read from the operator's own subscriber store.
func TestLoginAtEachOperator(t *testing.T) {
	ops := []demoOperator{ukDemo, deDemo, frDemo}
	f := startFederation(t, ops...)
	s := f.registerSP()
	for _, n := range f.nodes {
		n.provision()
	}
	for i, op := range ops {
		owner, asked := f.nodes[i], f.nodes[(i+1)%len(ops)]
		// The first operator's subscriber types the code, the others tap.
		typeCode := i == 0
		t.Run(op.ID, func(t *testing.T) {
			login(t, f, s, owner, asked, typeCode)
		})
	}
}

var smsCode = regexp.MustCompile(`\b\d{6}\b`)

func login(t *testing.T, f *federation, s sp, owner, asked *node, typeCode bool) {
	op := owner.op
	ctx := context.Background()
	a := s.mustDiscover(t, asked, op)

	provider, err := oidc.NewProvider(ctx, a.link("issuer"))
	if err != nil {
		t.Fatalf("go-oidc cannot discover %s's gateway at %s: %v", op.ID, a.link("issuer"), err)
	}
	if got := provider.Endpoint().AuthURL; got != a.link("authorization") {
		t.Fatalf("the metadata's authorization endpoint %q is not discovery's %q", got, a.link("authorization"))
	}
	conf := oauth2.Config{ClientID: a.Response.ClientID, ClientSecret: a.Response.ClientSecret,
		Endpoint: provider.Endpoint(), RedirectURL: spRedirect, Scopes: []string{oidc.ScopeOpenID, "mc_authn", "profile", "email"}}
	state, nonce := "st-"+randomHex(8), "n-"+randomHex(8)
	authURL := conf.AuthCodeURL(state, oidc.Nonce(nonce),
		oauth2.SetAuthURLParam("login_hint", "ENCR_MSISDN:"+a.SubscriberID),
		oauth2.SetAuthURLParam("acr_values", "2"), oauth2.SetAuthURLParam("version", "mc_di_r2_v2.3"))

	// The browser lands on the gateway's code page while the SMS goes out.
	// The SDK's HTTP client keeps the login-binding cookie for its re-poll.
	sdk := sdkClient()
	resp := get(t, sdk, authURL)
	page, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != 302 || page == nil || !strings.HasSuffix(page.Path, "/sms/otp") {
		t.Fatalf("authorize: %d %q, want the SMS code page", resp.StatusCode, resp.Header.Get("Location"))
	}
	msg := f.phone.waitSMS(t, op.Number, 0)
	if !strings.Contains(msg.Text, s.name) || msg.From != op.Sender {
		t.Fatalf("the SMS from %q does not name the shop: %q", msg.From, msg.Text)
	}

	var done string // the redirect to the SP
	wantAMR := "SMS_URL_OK"
	if typeCode {
		wantAMR = "OTP_OK"
		code := smsCode.FindString(msg.Text)
		if code == "" {
			t.Fatalf("no code in the SMS %q", msg.Text)
		}
		r, err := noRedirect.PostForm(page.Query().Get("return"), url.Values{"otp": {code}})
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		done = r.Header.Get("Location")
	} else {
		if len(msg.Links) == 0 {
			t.Fatalf("no link in the SMS %q", msg.Text)
		}
		if status, err := f.phone.tap(op.Number, msg, 0); err != nil || status != 200 {
			t.Fatalf("tapping the SMS link: %d %v", status, err)
		}
		// The SDK's headless re-poll of the same URL ends in the redirect.
		done = get(t, sdk, authURL).Header.Get("Location")
	}
	back, err := url.Parse(done)
	if err != nil || back.Query().Get("code") == "" || back.Query().Get("state") != state ||
		!strings.HasPrefix(done, spRedirect+"?") {
		t.Fatalf("want the redirect to the shop with a code, got %q", done)
	}

	tok, err := conf.Exchange(ctx, back.Query().Get("code"))
	if err != nil {
		t.Fatalf("code exchange: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := provider.Verifier(&oidc.Config{ClientID: conf.ClientID}).Verify(ctx, raw)
	if err != nil {
		t.Fatalf("go-oidc refuses the ID token: %v", err)
	}
	var claims struct {
		Nonce string   `json:"nonce"`
		ACR   string   `json:"acr"`
		AMR   []string `json:"amr"`
	}
	if err := idt.Claims(&claims); err != nil || idt.Issuer != owner.publicURL() || claims.Nonce != nonce ||
		claims.ACR != "2" || !slices.Equal(claims.AMR, []string{wantAMR}) || idt.Subject == "" {
		t.Fatalf("ID token iss %q sub %q claims %+v (%v)", idt.Issuer, idt.Subject, claims, err)
	}
	if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
		t.Fatalf("at_hash: %v", err)
	}
	// The pseudonymous sub, never the number.
	if strings.Contains(idt.Subject, strings.TrimPrefix(op.Number, "+")) {
		t.Fatalf("sub %q reveals the number", idt.Subject)
	}

	info, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		t.Fatalf("userinfo: %v", err)
	}
	var attrs struct {
		GivenName string `json:"given_name"`
	}
	if err := info.Claims(&attrs); err != nil || info.Subject != idt.Subject || info.Email != op.email() ||
		attrs.GivenName != "Ada" {
		t.Fatalf("userinfo sub %q email %q given_name %q (%v); ID token sub %q", info.Subject, info.Email,
			attrs.GivenName, err, idt.Subject)
	}
}

// get sends a GET with c, which does not follow redirects.
func get(t *testing.T, c *http.Client, u string) *http.Response {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}
