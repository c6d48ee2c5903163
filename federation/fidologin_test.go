package federation

import (
	"context"
	"encoding/json"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mcfed/mcfed/internal/jose"
	"github.com/mcfed/mcfed/operator/fido"
	"github.com/mcfed/mcfed/operator/fido/fidotest"
	"github.com/mcfed/mcfed/operator/handset"
)

// fidoOrigin is the FIDO node's public URL: a passkey's relying party is
// a name, never an IP address, so the node is reached as localhost and
// the test's browser dials its loopback listener for that name.
const fidoOrigin = "http://localhost"

// fidoBrowser is a person's browser on the FIDO node with a software
// authenticator in it (real P-256 keys, real attestation and assertions).
type fidoBrowser struct {
	t    *testing.T
	o    *operatorNode
	http *http.Client // stops at redirects, keeps cookies
	key  *fidotest.Authenticator
}

func (b *fidoBrowser) do(method, u, contentType, body string, hdr ...string) (*http.Response, string) {
	b.t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		b.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Sec-Fetch-Mode", "navigate")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := b.http.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp, string(out)
}

func (b *fidoBrowser) form(u string, f url.Values) (*http.Response, string) {
	return b.do("POST", u, "application/x-www-form-urlencoded", f.Encode())
}

// idToken exchanges the code as the SP does and verifies the ID token
// with the gateway's JWKS: its acr and amr.
func (b *fidoBrowser) idToken(code string) (string, []string) {
	b.t.Helper()
	f := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {smsRedirect}}
	req, _ := http.NewRequest("POST", fidoOrigin+"/token", strings.NewReader(f.Encode()))
	req.SetBasicAuth("shop", b.o.tokenSecret)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	var tok struct {
		IDToken string `json:"id_token"`
	}
	getJSON(b.t, b.http, req, 200, &tok)
	_, jwks := b.do("GET", fidoOrigin+"/jwks", "", "")
	payload, _, err := jose.VerifyJWKS(tok.IDToken, []byte(jwks), jose.RS256)
	if err != nil {
		b.t.Fatalf("the ID token does not verify: %v", err)
	}
	var claims struct {
		ACR string
		AMR []string
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		b.t.Fatal(err)
	}
	return claims.ACR, claims.AMR
}

// location is a redirect's target, resolved against the node.
func location(t *testing.T, resp *http.Response) string {
	t.Helper()
	if resp.StatusCode/100 != 3 {
		t.Fatalf("want a redirect, got %d", resp.StatusCode)
	}
	u, err := resp.Request.URL.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return u.String()
}

var (
	csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	fidoData  = regexp.MustCompile(`data-options="([^"]+)" data-finish="([^"]+)"`)
	fidoDone  = regexp.MustCompile(`action="([^"]+)" id="fido-done"`)
)

// TestFIDOLoginAtLoA3 is the person's way to LoA 3 with a passkey, with
// no browser but a software authenticator: a login at LoA 2 by SMS; on
// the gateway's connected-services page "Add a passkey", the passkeys
// page, the registration ceremony; then the SP asks acr_values=3, the
// gateway routes to FIDO (the subscriber now has a passkey), the login
// page's assertion is verified, and the verified ID token says acr 3, amr
// FIDO. The assertion replayed into another login is refused.
func TestFIDOLoginAtLoA3(t *testing.T) {
	o := startOperatorNodeWith(t, "otp", func(cfg *Config, _ *handset.Handset) {
		cfg.PublicURL = fidoOrigin
		cfg.Authenticators = []AuthenticatorConfig{{Type: "sms"}, {Type: "fido"}}
	})
	addr := o.node.publicLn.Addr().String()
	jar, _ := cookiejar.New(nil)
	b := &fidoBrowser{t: t, o: o, key: fidotest.New(), http: &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport: &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		}}}}
	o.sdk = b.http // the SP's redirects and the token endpoint, on localhost too
	authorize := func(acr, state string) string {
		q := url.Values{"client_id": {"shop"}, "redirect_uri": {smsRedirect}, "response_type": {"code"},
			"scope": {"openid mc_authn"}, "acr_values": {acr}, "state": {state}, "nonce": {"n-" + state},
			"login_hint": {"MSISDN:" + strings.TrimPrefix(smsActive, "+")}}
		return fidoOrigin + "/authorize?" + q.Encode()
	}

	// LoA 2 by SMS, in the browser: the code page, the code.
	resp, _ := b.do("GET", authorize("2", "sms"), "", "")
	page, _ := url.Parse(location(t, resp))
	if !strings.Contains(page.Path, "/sms/otp") {
		t.Fatalf("LoA 2 by SMS: %q", page)
	}
	otp := smsCode.FindString(o.sms(smsActive).Text)
	resp, _ = b.form(page.Query().Get("return"), url.Values{"otp": {otp}})
	o.codeFrom(resp, "sms")

	// Before a passkey, LoA 3 is refused at once (nothing else reaches it).
	resp, _ = b.do("GET", authorize("3", "early"), "", "")
	if loc, _ := url.Parse(resp.Header.Get("Location")); loc == nil || loc.Query().Get("error") != "access_denied" {
		t.Fatalf("LoA 3 without a passkey: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}

	// The services page offers a passkey; its button opens FIDO's page.
	_, body := b.do("GET", fidoOrigin+"/services", "", "")
	m := csrfField.FindStringSubmatch(body)
	if m == nil || !strings.Contains(body, "Add a passkey") {
		t.Fatalf("the services page after the login:\n%s", body)
	}
	resp, _ = b.form(fidoOrigin+"/services", url.Values{"action": {"passkeys"}, "csrf": {html.UnescapeString(m[1])}})
	ticket := location(t, resp)
	if !strings.HasPrefix(ticket, fidoOrigin+"/fido/passkeys?t=") {
		t.Fatalf("the passkey button sends the browser to %q", ticket)
	}
	resp, _ = b.do("GET", ticket, "", "")
	if _, body := b.do("GET", location(t, resp), "", ""); !strings.Contains(body, "Your passkeys") {
		t.Fatalf("the passkeys page:\n%s", body)
	}
	resp, body = b.do("POST", fidoOrigin+"/fido/register/begin", "application/json", "{}", "Origin", fidoOrigin)
	var cer fido.Ceremony
	if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &cer) != nil {
		t.Fatalf("register begin: %d %s", resp.StatusCode, body)
	}
	cred, err := b.key.Create(cer.Options, fidotest.Options{Origin: fidoOrigin})
	if err != nil {
		t.Fatal(err)
	}
	if resp, body := b.do("POST", fidoOrigin+"/fido/register/finish?r="+url.QueryEscape(cer.ID), "application/json", string(cred),
		"Origin", fidoOrigin); resp.StatusCode != 201 {
		t.Fatalf("register finish: %d %s", resp.StatusCode, body)
	}

	// LoA 3: FIDO's login page, the assertion, back to the gateway.
	login := func(state string) (done string, assertion []byte) {
		t.Helper()
		resp, _ := b.do("GET", authorize("3", state), "", "")
		loginPage := location(t, resp)
		if !strings.HasPrefix(loginPage, fidoOrigin+"/fido/login") {
			t.Fatalf("LoA 3 with a passkey goes to %q", loginPage)
		}
		_, body := b.do("GET", loginPage, "", "")
		d, f := fidoData.FindStringSubmatch(body), fidoDone.FindStringSubmatch(body)
		if d == nil || f == nil {
			t.Fatalf("the login page:\n%s", body)
		}
		resp, opts := b.do("GET", fidoOrigin+html.UnescapeString(d[1]), "", "")
		if resp.StatusCode != 200 {
			t.Fatalf("login options: %d %s", resp.StatusCode, opts)
		}
		if assertion, err = b.key.Get([]byte(opts), fidotest.Options{Origin: fidoOrigin}); err != nil {
			t.Fatal(err)
		}
		if resp, body := b.do("POST", fidoOrigin+html.UnescapeString(d[2]), "application/json", string(assertion),
			"Origin", fidoOrigin); resp.StatusCode != 204 {
			t.Fatalf("login finish: %d %s", resp.StatusCode, body)
		}
		return html.UnescapeString(f[1]), assertion
	}
	done, assertion := login("loa3")
	resp, _ = b.form(done, url.Values{"fido": {"done"}})
	acr, amr := b.idToken(o.codeFrom(resp, "loa3"))
	if acr != "3" || strings.Join(amr, ",") != "FIDO" {
		t.Fatalf("ID token acr %q amr %v, want 3 and FIDO", acr, amr)
	}

	// The same assertion posted into a new login (in another browser, or
	// the session's SSO would answer at once) is refused there.
	b.http.Jar, _ = cookiejar.New(nil)
	resp, _ = b.do("GET", authorize("3", "replay"), "", "")
	_, body = b.do("GET", location(t, resp), "", "")
	d := fidoData.FindStringSubmatch(body)
	if d == nil {
		t.Fatalf("the second login page:\n%s", body)
	}
	b.do("GET", fidoOrigin+html.UnescapeString(d[1]), "", "")
	if resp, body := b.do("POST", fidoOrigin+html.UnescapeString(d[2]), "application/json", string(assertion),
		"Origin", fidoOrigin); resp.StatusCode == 204 {
		t.Fatalf("a replayed assertion was accepted: %s", body)
	}
}
