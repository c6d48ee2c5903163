package federation

import (
	"context"
	"encoding/json"
	"html"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/mcfed/mcfed/client"
	"github.com/mcfed/mcfed/operator/fido"
	"github.com/mcfed/mcfed/operator/fido/fidotest"
	"github.com/mcfed/mcfed/operator/handset"
)

// TestFIDOOnThePhone is LoA 3 with a passkey held by the subscriber's
// phone: the operator enrols it through its admin API (the phone's
// software authenticator answers the registration ceremony, verified as
// a browser's); an SP asks acr_values=3; the gateway pushes the login to
// the phone (its push service: the handset's /handset/push) and the
// browser's page waits for it; the phone shows the SP and the binding
// message, the person confirms with the (simulated) biometric, the phone
// signs a real assertion for the gateway's RP ID and posts it; the page's
// status turns, and the verified ID token says acr 3, amr FIDO. A second
// login declined on the phone ("not me") is refused: the page says so and
// leads back to the SP with access_denied (nothing else reaches level 3).
// The operator then removes the phone's passkeys (a lost phone): level 3
// is refused at once.
func TestFIDOOnThePhone(t *testing.T) {
	var nodeAddr string // the node's listener, known once it started
	dial := func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, nodeAddr)
	}
	phone := handset.New(handset.Options{HTTPClient: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: dial}}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	phone.Mount(app)
	go app.Listener(ln)
	t.Cleanup(func() { app.Shutdown() })

	o := startOperatorNodeWith(t, "otp", func(cfg *Config, _ *handset.Handset) {
		cfg.PublicURL = fidoOrigin
		settings, _ := json.Marshal(map[string]string{"push_url": "http://" + ln.Addr().String() + "/handset/push"})
		cfg.Authenticators = []AuthenticatorConfig{{Type: "sms"}, {Type: "fido", Settings: settings}}
	})
	nodeAddr = o.node.publicLn.Addr().String()
	jar, _ := cookiejar.New(nil)
	b := &fidoBrowser{t: t, o: o, key: fidotest.New(), http: &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport:     &http.Transport{DialContext: dial}}}
	o.sdk = b.http

	// The operator enrols the passkey on the subscriber's phone.
	admin := &client.Admin{Base: o.node.AdminURL(), Token: testAdminToken}
	ctx := context.Background()
	var cer fido.Ceremony
	if err := admin.Do(ctx, "POST", "/v1/subscribers/"+smsActive+"/phone-passkey/begin", map[string]any{}, &cer); err != nil {
		t.Fatal(err)
	}
	att, err := phone.CreatePasskey(smsActive, cer.Options, fidoOrigin)
	if err != nil {
		t.Fatal(err)
	}
	var pk fido.PhonePasskey
	if err := admin.Do(ctx, "POST", "/v1/subscribers/"+smsActive+"/phone-passkey/finish?ceremony="+url.QueryEscape(cer.ID),
		json.RawMessage(att), &pk); err != nil || !pk.Phone || pk.ID == "" {
		t.Fatalf("enrolling the phone's passkey: %+v %v", pk, err)
	}
	// The same ceremony again is over.
	if err := admin.Do(ctx, "POST", "/v1/subscribers/"+smsActive+"/phone-passkey/finish?ceremony="+url.QueryEscape(cer.ID),
		json.RawMessage(att), nil); err == nil {
		t.Fatal("a registration ceremony served twice")
	}

	authorize := func(state string) string {
		q := url.Values{"client_id": {"shop"}, "redirect_uri": {smsRedirect}, "response_type": {"code"},
			"scope": {"openid mc_authn"}, "acr_values": {"3"}, "state": {state}, "nonce": {"n-" + state},
			"binding_message": {"Order 42"}, "login_hint": {"MSISDN:" + strings.TrimPrefix(smsActive, "+")}}
		return fidoOrigin + "/authorize?" + q.Encode()
	}
	status := func(statusURL string) string {
		t.Helper()
		var s struct{ Status string }
		req, _ := http.NewRequest("GET", fidoOrigin+statusURL, nil)
		getJSON(t, b.http, req, 200, &s)
		return s.Status
	}
	// start opens the login page and waits for the phone's prompt.
	start := func(state string) (done, statusURL string) {
		t.Helper()
		resp, _ := b.do("GET", authorize(state), "", "")
		loginPage := location(t, resp)
		_, body := b.do("GET", loginPage, "", "")
		if !strings.Contains(body, `data-mode="phone"`) || !strings.Contains(body, "we sent a request to your phone") ||
			!strings.Contains(body, "Corner Shop") {
			t.Fatalf("the login page does not wait for the phone:\n%s", body)
		}
		st := regexpFind(t, `data-status="([^"]+)"`, body)
		f := fidoDone.FindStringSubmatch(body)
		if f == nil {
			t.Fatalf("no way back to the gateway:\n%s", body)
		}
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		p, err := phone.WaitForFIDOPrompt(wctx, smsActive)
		if err != nil {
			t.Fatalf("nothing reached the phone: %v", err)
		}
		if p.SPName != "Corner Shop" || p.Message != "Order 42" {
			t.Fatalf("the phone's prompt: %+v", p)
		}
		if s := status(st); s != "pending" {
			t.Fatalf("before the phone answers: %q", s)
		}
		return html.UnescapeString(f[1]), st
	}

	done, st := start("phone")
	if res, err := phone.AnswerFIDO(ctx, smsActive, handset.FIDOConfirm); err != nil || res.Status != "signed" {
		t.Fatalf("confirming on the phone: %+v %v", res, err)
	}
	if s := status(st); s != "over" {
		t.Fatalf("after the phone's assertion: %q", s)
	}
	resp, _ := b.form(done, url.Values{"fido": {"done"}})
	acr, amr := b.idToken(o.codeFrom(resp, "phone"))
	if acr != "3" || strings.Join(amr, ",") != "FIDO" {
		t.Fatalf("ID token acr %q amr %v, want 3 and FIDO", acr, amr)
	}

	// Declined on the phone, in another browser (no single sign-on).
	b.http.Jar, _ = cookiejar.New(nil)
	done, st = start("declined")
	if res, err := phone.AnswerFIDO(ctx, smsActive, handset.FIDODecline); err != nil || res.Status != "declined" {
		t.Fatalf("declining on the phone: %+v %v", res, err)
	}
	if s := status(st); s != "over" {
		t.Fatalf("after the phone declined: %q", s)
	}
	// The gateway's page says so and leads back to the SP with
	// access_denied.
	resp, body := b.form(done, url.Values{"fido": {"done"}})
	if resp.StatusCode != 200 || !strings.Contains(body, "The sign-in was refused on your phone") ||
		!strings.Contains(body, "error=access_denied") {
		t.Fatalf("a declined login: %d\n%s", resp.StatusCode, body)
	}

	// The phone lost: the operator removes its passkeys, and level 3 is
	// refused at once (nothing else reaches it), saying which level.
	if err := admin.Do(ctx, "DELETE", "/v1/subscribers/"+smsActive+"/phone-passkey", nil, nil); err != nil {
		t.Fatal(err)
	}
	resp, _ = b.do("GET", authorize("lost"), "", "")
	if loc, _ := url.Parse(resp.Header.Get("Location")); loc == nil || loc.Query().Get("error") != "access_denied" ||
		!strings.Contains(loc.Query().Get("error_description"), "level of assurance") {
		t.Fatalf("level 3 after the phone's passkey was removed: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// regexpFind is the first group of pattern in s, HTML-unescaped.
func regexpFind(t *testing.T, pattern, s string) string {
	t.Helper()
	m := regexp.MustCompile(pattern).FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("%s not found in:\n%s", pattern, s)
	}
	return html.UnescapeString(m[1])
}
