package fido_test

import (
	"context"
	"html"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/mcfed/mcfed/operator/fido"
	"github.com/mcfed/mcfed/operator/state"
)

// noInlineScript: every script element of a page loads a file.
var scriptTag = regexp.MustCompile(`<script[^>]*>`)

func checkPagePolicy(t *testing.T, name string, p answer) {
	t.Helper()
	csp := p.header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
		t.Fatalf("%s: policy %q", name, csp)
	}
	for _, tag := range scriptTag.FindAllString(p.body, -1) {
		if !strings.Contains(tag, ` src="/fido/fido.js"`) {
			t.Fatalf("%s: an inline or foreign script %q", name, tag)
		}
	}
	if p.header.Get("Referrer-Policy") != "no-referrer" || p.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("%s: headers %v", name, p.header)
	}
}

// TestLoginPageLooksAndSpeaks: the login page is in the gateway's layout
// with the operator's look, names the SP and the masked number in the
// person's language, loads only the package's script (the policy allows
// no inline one), and offers another way back to the gateway.
func TestLoginPageLooksAndSpeaks(t *testing.T) {
	r, a, d := enrolled(t)
	for _, c := range []struct{ lang, want string }{
		{"en", "To sign in to " + spName + " with your number"},
		{"de", "bei " + spName + " anzumelden"},
		{"fr", "Pour vous connecter à " + spName},
	} {
		st, err := a.Start(context.Background(), r.challenge(alice, c.lang))
		if err != nil {
			t.Fatal(err)
		}
		p := do(t, d.http, "GET", st.RedirectURL, "", "")
		body := html.UnescapeString(p.body)
		for _, want := range []string{c.want, "Demo Mobil DE", "--brand:#c2185b", "••••", `href="/assets/gateway.css"`,
			`action="` + r.public + `/authorize/continue?session=abc123"`, `name="fido" value="cancel"`, `lang="` + c.lang + `"`} {
			if p.status != 200 || !strings.Contains(body, want) {
				t.Fatalf("%s login page %d lacks %q:\n%s", c.lang, p.status, want, body)
			}
		}
		checkPagePolicy(t, c.lang+" login page", p)
	}
	js := do(t, d.http, "GET", r.public+"/fido/fido.js", "", "")
	if js.status != 200 || !strings.HasPrefix(js.header.Get("Content-Type"), "text/javascript") || !strings.Contains(js.body, "navigator.credentials.get") {
		t.Fatalf("script: %d %v", js.status, js.header)
	}
	if css := do(t, d.http, "GET", r.public+"/assets/gateway.css", "", ""); css.status != 200 {
		t.Fatalf("stylesheet: %d", css.status)
	}
	// A page of no challenge, or a malformed one, says so in the
	// browser's language.
	p := do(t, d.http, "GET", r.public+"/fido/login?c=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "", "", "Accept-Language", "de")
	if !strings.Contains(p.body, "Anmeldung abgelaufen") {
		t.Fatalf("unknown challenge:\n%s", p.body)
	}
	if p := do(t, d.http, "GET", r.public+"/fido/login?c=x", "", ""); p.status != 400 || !strings.Contains(p.body, "This page cannot be used") {
		t.Fatalf("malformed token: %d\n%s", p.status, p.body)
	}
}

// TestPasskeysPage: the list, with remove buttons and the add button, in
// the layout; the policy as the login page's.
func TestPasskeysPage(t *testing.T) {
	r, a, d := enrolled(t)
	p := d.openPasskeys(t, a, alice)
	checkPagePolicy(t, "passkeys page", p)
	id := d.auth.CredentialIDs()[0]
	for _, want := range []string{`value="` + id + `"`, "Passkey added on ", "Add a passkey", `data-mode="register"`,
		`href="` + r.public + `/account"`} {
		if !strings.Contains(p.body, want) {
			t.Fatalf("passkeys page lacks %q:\n%s", want, p.body)
		}
	}
	// The ticket becomes a cookie only this package's paths get, that no
	// script reads and no cross-site post carries; the URL loses it.
	u, err := a.Enrol(context.Background(), r.challenge(alice, "en"))
	if err != nil {
		t.Fatal(err)
	}
	c := r.client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	res := do(t, c, "GET", u, "", "")
	ck := strings.ToLower(res.header.Get("Set-Cookie"))
	if res.status != 303 || res.header.Get("Location") != "/fido/passkeys" || !strings.Contains(ck, "path=/fido/") ||
		!strings.Contains(ck, "httponly") || !strings.Contains(ck, "samesite=lax") {
		t.Fatalf("ticket: %d %v", res.status, res.header)
	}
}

// TestConfig: what New refuses, each said.
func TestConfig(t *testing.T) {
	r := newRig(t)
	for _, c := range []struct {
		cfg  fido.Config
		want string
	}{
		{fido.Config{PublicURL: "http://127.0.0.1:8080"}, "IP address"},
		{fido.Config{PublicURL: "http://localhost:8080", Origins: []string{"https://evil.example"}}, "not on the RP ID"},
		{fido.Config{PublicURL: "ftp://localhost"}, "PublicURL"},
		{fido.Config{PublicURL: "http://localhost", UserVerification: "always"}, "UserVerification"},
		{fido.Config{PublicURL: "http://localhost", MaxAttempts: 99}, "MaxAttempts"},
	} {
		c.cfg.Store = r.store
		if _, err := fido.New(c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.cfg, err, c.want)
		}
	}
	if _, err := fido.New(fido.Config{PublicURL: "https://id.example.com/op"}); err == nil || !strings.Contains(err.Error(), "Store") {
		t.Errorf("no store: %v", err)
	}
	var st state.Store = r.store
	if _, err := fido.New(fido.Config{PublicURL: "https://id.example.com/op", RPID: "example.com", Store: st}); err != nil {
		t.Errorf("an RP ID that is a suffix of the host: %v", err)
	}
}
