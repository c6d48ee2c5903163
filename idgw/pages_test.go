package idgw

import (
	"bytes"
	"context"
	"fmt"
	"html"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mcfed/mcfed/internal/e164"
)

func TestChooseLanguage(t *testing.T) {
	for _, c := range []struct{ ui, accept, want string }{
		{"de", "fr", "de"},
		{"nl de fr", "", "de"}, // the first supported wins
		{"de-CH", "", "de"},
		{"nl", "fr-CH, en;q=0.5", "fr"},
		{"", "es, de-AT;q=0.8, en;q=0.5", "de"},
		{"", "es", "en"},
		{"not a tag!", "", "en"},
		{"", "", "en"},
	} {
		if got := ChooseLanguage(c.ui, c.accept); got != c.want {
			t.Errorf("ui_locales %q, Accept-Language %q: %s, want %s", c.ui, c.accept, got, c.want)
		}
	}
}

func TestCatalogueIsComplete(t *testing.T) {
	if m := messages.Missing(); len(m) > 0 {
		t.Fatalf("texts missing: %v", m)
	}
	if got := messages.In("de").S("back_to", "Shop"); got != "Zurück zu Shop" {
		t.Fatalf("German back_to: %q", got)
	}
	if got := messages.In("xx").S("continue"); got != "Continue" {
		t.Fatalf("an unknown language falls back to English: %q", got)
	}
}

func TestMaskNumber(t *testing.T) {
	for number, want := range map[string]string{
		"+447400123456":  "+44 ••••• •3456",
		"+4915112345678": "+49 ••••• ••5678",
		"+33612987654":   "+33 ••••• 7654",
		"+12025550123":   "+1 ••••• •0123",
		"+353861234567":  "+353 ••••• 4567",
	} {
		n, err := e164.Parse(number)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.ReplaceAll(MaskNumber(n), "\u00a0", " "); got != want {
			t.Errorf("%s shown as %q, want %q", number, got, want)
		}
	}
}

func TestLook(t *testing.T) {
	if l := LookOf(nil); l.Name == "" || l.Color != defaultColor || l.Logo != "" {
		t.Fatalf("default look %+v", l)
	}
	for color, on := range map[string]string{"#1d4f91": "#ffffff", "#ffeb3b": "#000000", "#6d28d9": "#ffffff", "#bf360c": "#ffffff"} {
		if got := (Look{Color: color}).OnColor(); got != on {
			t.Errorf("text on %s: %s, want %s", color, got, on)
		}
	}
}

// watchingPhone is the test phone as an idgw.Watcher: answered once the
// person said yes or no.
type watchingPhone struct{ *phoneAuthenticator }

func (p watchingPhone) Answered(state []byte) bool {
	n, _ := e164.Parse(string(state))
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.answers[n] != Pending
}

// TestWaitingPageMovesOnByItself: the waiting page loads the node's own
// script (no inline script), which polls a status that says pending until
// the person answers on the phone.
func TestWaitingPageMovesOnByItself(t *testing.T) {
	phone := watchingPhone{newPhone()}
	subs := subscriberMap{red(t): {MSISDN: red(t), Active: true}}
	_, app := flowGateway(t, subs, Registration{AuthenticatorInfo{Name: "sms", LoA: 2}, phone})
	req := httptest.NewRequest("GET", authorizeURL("ui_locales", "fr"), nil)
	resp, err := app.Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	body.ReadFrom(resp.Body)
	page := body.String()
	csp := resp.Header.Get("Content-Security-Policy")
	m := continueLink.FindStringSubmatch(page)
	if resp.StatusCode != 200 || m == nil || !strings.Contains(page, `<script src="/assets/wait.js" defer>`) ||
		!strings.Contains(page, "Regardez votre téléphone") || !strings.Contains(page, "SP shop") || !strings.Contains(page, "•3456") {
		t.Fatalf("waiting page %d:\n%s", resp.StatusCode, page)
	}
	if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
		t.Fatalf("waiting page's policy %q", csp)
	}
	w := regexp.MustCompile(`data-watch="([^"]+)"`).FindStringSubmatch(page)
	if w == nil {
		t.Fatalf("the waiting page watches nothing:\n%s", page)
	}
	watch := html.UnescapeString(w[1])
	status := func() string {
		_, _, b := do(t, app, "GET", watch, nil)
		return b
	}
	if s := status(); s != `{"status":"pending"}` {
		t.Fatalf("status before the answer: %s", s)
	}
	phone.answer(redNumber, Succeeded)
	if s := status(); s != `{"status":"answered"}` {
		t.Fatalf("status after the answer: %s", s)
	}
	for _, f := range []string{"wait.js", "gateway.css", "favicon.svg"} {
		if code, _, b := do(t, app, "GET", "/assets/"+f, nil); code != 200 || b == "" {
			t.Fatalf("asset %s: %d", f, code)
		}
	}
}

// TestConsent: a person's browser is asked before data goes to the SP;
// Deny tells the SP access_denied; Allow is remembered per SP and scope in
// the browser's session, prompt=consent asks again, and a sign-in alone or
// a headless SDK is not asked.
func TestConsent(t *testing.T) {
	g, _ := newAuthTestGateway(t)
	phone := newPhone()
	router, err := NewRouter(Registration{AuthenticatorInfo{Name: "sms", LoA: 2, AMR: []string{"OTP_OK"}}, phone})
	if err != nil {
		t.Fatal(err)
	}
	g.cfg.Router, g.cfg.Subscribers = router, subscriberMap{red(t): {MSISDN: red(t), Active: true}}
	phone.answer(redNumber, Succeeded)
	ctx := context.Background()
	const data = "openid mc_authn mc_kyc_plain"
	// login runs a login to its end at the continue URL, in a browser with
	// session cookie (or headless when navigate is false).
	login := func(session string, navigate bool, kv ...string) (authorizeAnswer, browserCookies) {
		t.Helper()
		u, _ := url.Parse(authorizeURL(kv...))
		started := g.authorize(ctx, authorizeRequest{args: u.Query(), cookies: browserCookies{session: session}})
		if started.err != nil || started.wait == "" {
			t.Fatalf("authorize: %+v", started)
		}
		cont, _ := url.Parse(started.wait)
		b := browserCookies{session: session, binding: started.binding, navigate: navigate}
		return g.check(ctx, cont.Query().Get("session"), url.Values{}, &b), b
	}
	consentID := func(a authorizeAnswer) string {
		t.Helper()
		if !strings.HasPrefix(a.redirect, g.paths.consent+"?c=") {
			t.Fatalf("not sent to the consent page: %+v", a)
		}
		return strings.TrimPrefix(a.redirect, g.paths.consent+"?c=")
	}
	code := func(a authorizeAnswer) {
		t.Helper()
		if a.err != nil || redirectParams(t, a.redirect).Get("code") == "" {
			t.Fatalf("no code: %+v", a)
		}
	}

	// Deny: access_denied to the SP, with its state.
	a, b := login("", true, "scope", data, "state", "deny-1")
	id := consentID(a)
	if items := g.consentItems(g.pendingConsentOf(context.Background(), id).grant.req.Scopes, messages.In("en"), g.pendingConsentOf(context.Background(), id).page); len(items) != 2 ||
		!strings.Contains(items[0], "Operator red holds") || !strings.Contains(items[1], "SIM card") {
		t.Fatalf("the consent page lists %q", items)
	}
	denied := g.decideConsent(ctx, id, false, b)
	if q := redirectParams(t, denied.err.ErrorRedirectURL()); q.Get("error") != "access_denied" || q.Get("state") != "deny-1" || denied.session != "" {
		t.Fatalf("denied: %+v", denied)
	}
	if again := g.decideConsent(ctx, id, true, b); again.err == nil || again.err.Redirects() {
		t.Fatalf("a consent answered twice: %+v", again)
	}

	// Allow: the code, and a session that remembers it.
	a, b = login("", true, "scope", data)
	allowed := g.decideConsent(ctx, consentID(a), true, b)
	code(allowed)
	if allowed.session == "" {
		t.Fatal("the browser that allowed got no session")
	}
	a, _ = login(allowed.session, true, "scope", data, "prompt", "login")
	code(a) // authenticated again; consent remembered
	a, _ = login(allowed.session, true, "scope", data, "prompt", "consent")
	consentID(a) // asked again

	// No data, no consent; a headless SDK is not asked.
	a, _ = login("", true)
	code(a)
	a, _ = login("", false, "scope", data)
	code(a)
}

// TestSendLimitIsNotAnOutage: an authenticator that refuses to challenge
// the subscriber again so soon makes the SP hear access_denied with when to
// retry, a warning is logged without the number, and a person's browser is
// first shown what happened and what to do.
func TestSendLimitIsNotAnOutage(t *testing.T) {
	limited := newPhone()
	retry := time.Now().Add(12 * time.Minute)
	limited.startErr = fmt.Errorf("sms: sending limit: %w (%w)", &LimitError{Limit: 5, Window: 15 * time.Minute, RetryAt: retry}, ErrUnavailable)
	subs := subscriberMap{red(t): {MSISDN: red(t), Active: true}}
	g, app := flowGateway(t, subs, Registration{AuthenticatorInfo{Name: "sms", LoA: 2}, limited})
	var logged bytes.Buffer
	g.log = slog.New(slog.NewTextHandler(&logged, nil))

	status, loc, _ := do(t, app, "GET", authorizeURL(), nil)
	q := redirectParams(t, loc)
	if status != 302 || q.Get("error") != "access_denied" || !strings.Contains(q.Get("error_description"), "retry after "+retry.UTC().Format(time.RFC3339)) {
		t.Fatalf("send limit: %d %q", status, loc)
	}
	line := logged.String()
	if !strings.Contains(line, "level=WARN") || !strings.Contains(line, "access_denied") || strings.Contains(line, "7911") {
		t.Fatalf("log: %s", line)
	}

	req := httptest.NewRequest("GET", authorizeURL(), nil)
	req.Header.Set("Sec-Fetch-Mode", "navigate")
	req.Header.Set("Accept-Language", "de-DE,de;q=0.9")
	resp, err := app.Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	body.ReadFrom(resp.Body)
	page := body.String()
	if resp.StatusCode != 200 || !strings.Contains(page, "Zu viele Codes gesendet") || !strings.Contains(page, "in 12 Minuten") ||
		!strings.Contains(page, `href="`+shopCB) || !strings.Contains(page, "error=access_denied") {
		t.Fatalf("the person's page %d:\n%s", resp.StatusCode, page)
	}
}
