package dev

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mcfed/mcfed/operator/handset"
)

// TestFullLoginAtEachOperator is a Mobile Connect login as an SP and a
// person do it, on the dev federation: discovery on another operator's
// node, the authorize request at the serving operator's gateway with the
// sealed subscriber_id as login hint, the SMS read on the simulated handset
// and its link tapped, the SDK's headless re-poll ending in the code, the
// code exchanged at the token endpoint, the ID token verified through the
// operator's JWKS, then userinfo.
func TestFullLoginAtEachOperator(t *testing.T) {
	d, _ := startDev(t, nil)
	for i := range operators {
		loginAt(t, d, i, d.SPSecret)
	}
}

// loginAt logs the first demo subscriber of operators[i] in as the SDKs
// do, with the demo SP's credentials (client id and spSecret), through
// another operator's node, and checks the ID token and userinfo.
func loginAt(t *testing.T, d *Federation, i int, spSecret string) {
	t.Helper()
	op := operators[i]
	// The SDK's HTTP client: it stops at redirects and keeps cookies (the
	// login-binding cookie its re-poll needs).
	jar, _ := cookiejar.New(nil)
	noRedirect := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	asker := d.Nodes[(i+1)%len(d.Nodes)] // discovery on another operator's node

	// Discovery.
	disc := discoverFor(t, asker, spSecret, op.number)
	links := disc.Links()

	// Authorize, as the Java SDK builds it.
	q := url.Values{"client_id": {disc.Response.ClientID}, "redirect_uri": {spRedirect}, "response_type": {"code"},
		"scope": {"openid mc_authn profile email"}, "acr_values": {"2"}, "state": {"st-" + op.id}, "nonce": {"n-" + op.id},
		"version": {"mc_di_r2_v2.3"}, "max-age": {"3600"}, "login_hint": {"ENCR_MSISDN:" + disc.SubscriberID}}
	authURL := links["authorization"] + "?" + q.Encode()
	resp, err := noRedirect.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 302 || !strings.Contains(resp.Header.Get("Location"), "/sms/otp") {
		t.Fatalf("%s authorize: %d %q", op.id, resp.StatusCode, resp.Header.Get("Location"))
	}

	// The SMS reaches the handset; the person taps its link.
	msisdn, _ := handset.NormalizeMSISDN(op.number)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	msg, err := d.phone.handset.WaitFor(ctx, msisdn, func(m handset.Message) bool { return len(m.Links) > 0 })
	cancel()
	if err != nil {
		t.Fatalf("%s: no SMS with a link: %v", op.id, err)
	}
	if !strings.Contains(msg.Text, "Demo Shop") {
		t.Fatalf("the SMS does not name the SP: %q", msg.Text)
	}
	if tap, err := d.phone.handset.Tap(context.Background(), msisdn, msg.ID, 0); err != nil || tap.Status != 200 {
		t.Fatalf("%s: tapping the link: %+v %v", op.id, tap, err)
	}

	// The SDK's headless re-poll ends in the redirect with the code.
	resp, err = noRedirect.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != 302 || loc.Query().Get("code") == "" || loc.Query().Get("state") != "st-"+op.id {
		t.Fatalf("%s re-poll: %d %q", op.id, resp.StatusCode, resp.Header.Get("Location"))
	}

	// Token exchange with the credentials discovery handed out.
	accessToken, claims := redeemAndVerify(t, disc, loc.Query().Get("code"), "2", "SMS_URL_OK")
	if claims.Iss != links["issuer"] || claims.Nonce != "n-"+op.id || claims.Sub == "" {
		t.Fatalf("%s ID token claims %+v (issuer link %s)", op.id, claims, links["issuer"])
	}

	req, _ := http.NewRequest("GET", links["userinfo"], nil)
	req.Header.Set("Authorization", "Bearer "+accessToken)
	var info map[string]any
	getJSON(t, http.DefaultClient, req, 200, &info)
	// Exactly what profile and email release, from the operator's own
	// store: no phone number (phone was not granted).
	if info["sub"] != claims.Sub || info["given_name"] != "Demo" || info["email"] != "demo@"+op.id+".example" {
		t.Fatalf("%s userinfo %v (ID token sub %s)", op.id, info, claims.Sub)
	}
	if _, leaked := info["phone_number"]; leaked {
		t.Fatalf("%s userinfo releases phone_number without the phone scope", op.id)
	}
}

// TestLoA3ThroughTheSIMPIN: on the dev federation, a login at acr 3 for a
// demo subscriber reaches the SIM's PIN prompt on the simulated handset
// (its page shows the SP, the binding message and the PIN field); the PIN
// entered, the SDK's re-poll gets the code and the verified ID token says
// acr 3, amr SIM_PIN.
func TestLoA3ThroughTheSIMPIN(t *testing.T) {
	d, _ := startDev(t, nil)
	op := operators[1]
	// Not the operator's first demo number, whose phone holds a passkey:
	// a login no browser shows is pushed to it at level 3, before the SIM.
	number := op.more[0]
	jar, _ := cookiejar.New(nil)
	sdk := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	disc := discoverFor(t, d.Nodes[0], d.SPSecret, number)
	links := disc.Links()

	q := url.Values{"client_id": {disc.Response.ClientID}, "redirect_uri": {spRedirect}, "response_type": {"code"},
		"scope": {"openid mc_authn"}, "acr_values": {"3"}, "state": {"st-sim"}, "nonce": {"n-sim"},
		"version": {"mc_di_r2_v2.3"}, "binding_message": {"Blue bicycle"},
		"login_hint": {"ENCR_MSISDN:" + disc.SubscriberID}}
	authURL := links["authorization"] + "?" + q.Encode()
	resp, err := sdk.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("acr 3 waits for the SIM: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	prompt, err := d.phone.handset.WaitForSIMPrompt(ctx, number)
	cancel()
	if err != nil || !prompt.PIN || prompt.SPName != spName || prompt.Message != "Blue bicycle" {
		t.Fatalf("the SIM's prompt: %+v %v", prompt, err)
	}
	digits, _ := handset.NormalizeMSISDN(number)
	page, err := http.Get(d.phone.URL() + "/" + digits)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(page.Body)
	page.Body.Close()
	if !strings.Contains(string(body), spName) || !strings.Contains(string(body), `name="pin"`) {
		t.Fatalf("the handset's page does not show the PIN prompt:\n%s", body)
	}
	if res, err := d.phone.handset.AnswerSIM(number, handset.SIMAnswerPIN, devSIMPIN); err != nil || res.Status != "signed" {
		t.Fatalf("the PIN: %+v %v", res, err)
	}
	resp, err = sdk.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != 302 || loc.Query().Get("code") == "" {
		t.Fatalf("re-poll: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	redeemAndVerify(t, disc, loc.Query().Get("code"), "3", "SIM_PIN")
}
