package federation

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcfed/mcfed/client"
	"github.com/mcfed/mcfed/operator/handset"
	"github.com/mcfed/mcfed/operator/smsc"
)

// operatorNode is one operator's node with a simulated SMSC delivering to
// a simulated handset, its operator, range, catalogue, an SP and two
// provisioned subscribers (one suspended), written through the admin API.
type operatorNode struct {
	t       *testing.T
	node    *Node
	handset *handset.Handset
	// secret is the SP's own, for discovery; tokenSecret the one derived
	// for red's gateway.
	secret, tokenSecret string
	// sdk is the SP's HTTP client at the authorization endpoint: it stops
	// at redirects and keeps cookies (the login-binding cookie a re-poll
	// needs), as the Java SDK's does.
	sdk *http.Client
}

const (
	smsActive    = "+447400111222"
	smsSuspended = "+447400111333"
	smsRedirect  = "https://sp.example/cb"
)

// Credentials of the test SMSC (SMPP limits the password to 8 characters).
const (
	testSMSCSystemID = "mcfed"
	testSMSCPassword = "testsmsc"
)

func startOperatorNode(t *testing.T, mode string) *operatorNode {
	return startOperatorNodeWith(t, mode, nil)
}

// startOperatorNodeWith is startOperatorNode with tweak's changes to the
// node's configuration, made with the node's handset at hand.
func startOperatorNodeWith(t *testing.T, mode string, tweak func(*Config, *handset.Handset)) *operatorNode {
	hs := handset.New(handset.Options{})
	sc, err := smsc.Listen(smsc.Config{Addr: "127.0.0.1:0", SystemID: testSMSCSystemID, Password: testSMSCPassword,
		Deliverer: hs, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sc.Close() })
	cfg := testNodeConfig(t, "op-node", t.TempDir())
	cfg.Bootstrap, cfg.PublicAddr, cfg.OperatorID = true, "127.0.0.1:0", "red"
	cfg.SMSC = &SMSCConfig{Addr: sc.Addr(), SystemID: testSMSCSystemID, Password: testSMSCPassword,
		SourceAddr: "RedMobile", SourceTON: 5}
	cfg.SMSMode = mode
	if tweak != nil {
		tweak(&cfg, hs)
	}
	n, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	jar, _ := cookiejar.New(nil)
	o := &operatorNode{t: t, node: n, handset: hs,
		sdk: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	admin := &client.Admin{Base: n.AdminURL(), Token: testAdminToken}
	ctx := context.Background()
	must := func(method, path string, body, out any) {
		t.Helper()
		if err := client.Retry(ctx, func() error { return admin.Do(ctx, method, path, body, out) }); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
	}
	op := demoOperator("red", "234_10")
	op.Issuer = n.PublicURL()
	must("PUT", "/v1/operators/red", op, nil)
	must("PUT", "/v1/ranges/+447400", operatorRef{Operator: "red"}, nil)
	// The scopes are the standard catalogue's, which the node seeds.
	waitCatalogue(t, n)
	var sp spResponse
	must("PUT", "/v1/service-providers/shop", map[string]any{"name": "Corner Shop", "redirect_uris": []string{smsRedirect},
		"scopes": []string{"openid", "mc_authn", "profile", "mc_identity_phonenumber"}}, &sp)
	o.secret = sp.ClientSecret
	o.tokenSecret = client.OperatorSecret(sp.ClientSecret, "shop", "red")
	for num, status := range map[string]string{smsActive: "active", smsSuspended: "suspended"} {
		must("POST", "/v1/subscribers", map[string]any{"msisdn": num, "status": status,
			"attributes": map[string]any{"given_name": "Grace", "family_name": "Hopper", "email": "grace@example.org"}}, nil)
	}
	return o
}

func getJSON(t *testing.T, c *http.Client, req *http.Request, want int, out any) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: %d %s", req.Method, req.URL, resp.StatusCode, b)
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("%s %s: %v in %s", req.Method, req.URL, err, b)
	}
}

var noFollow = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func (o *operatorNode) authorizeURL(number, state string) string {
	q := url.Values{"client_id": {"shop"}, "redirect_uri": {smsRedirect}, "response_type": {"code"},
		"scope": {"openid mc_authn profile mc_identity_phonenumber"}, "acr_values": {"2"}, "state": {state},
		"nonce": {"n"}, "login_hint": {"MSISDN:" + strings.TrimPrefix(number, "+")}}
	return o.node.PublicURL() + "/authorize?" + q.Encode()
}

func (o *operatorNode) get(u string) *http.Response {
	o.t.Helper()
	resp, err := o.sdk.Get(u)
	if err != nil {
		o.t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// sms waits for the newest SMS of number on the handset.
func (o *operatorNode) sms(number string) handset.Message {
	o.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := o.handset.WaitFor(ctx, number, nil)
	if err != nil {
		o.t.Fatalf("no SMS for %s: %v", number, err)
	}
	return m
}

// tap taps the first link of an SMS, as the person does on the phone.
func (o *operatorNode) tap(number string, m handset.Message) {
	o.t.Helper()
	res, err := o.handset.Tap(context.Background(), number, m.ID, 0)
	if err != nil || res.Status != 200 {
		o.t.Fatalf("the tapped link answered %+v, %v", res, err)
	}
}

var smsCode = regexp.MustCompile(`\b\d{6}\b`)

// codeFrom ends a login: the redirect to the SP must carry a code.
func (o *operatorNode) codeFrom(resp *http.Response, state string) string {
	o.t.Helper()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != 302 || loc.Query().Get("code") == "" || loc.Query().Get("state") != state {
		o.t.Fatalf("want the redirect with a code, got %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	return loc.Query().Get("code")
}

// TestSMSLoginInEachMode provisions subscribers through the admin API and
// logs in with the SMS authenticator in each of its modes on one operator's
// node, then reads userinfo and premiuminfo: exactly the claims the granted
// scopes allow. A suspended subscriber cannot log in.
func TestSMSLoginInEachMode(t *testing.T) {
	for _, mode := range []string{"otp", "url", "otp+url"} {
		t.Run(mode, func(t *testing.T) {
			o := startOperatorNode(t, mode)
			authURL := o.authorizeURL(smsActive, "s-"+mode)
			resp := o.get(authURL)
			var code string
			switch mode {
			case "url":
				if resp.StatusCode != 200 {
					t.Fatalf("URL mode waits out of band: %d %q", resp.StatusCode, resp.Header.Get("Location"))
				}
				m := o.sms(smsActive)
				if !strings.Contains(m.Text, "Corner Shop") || len(m.Links) == 0 {
					t.Fatalf("SMS %q", m.Text)
				}
				o.tap(smsActive, m)
				code = o.codeFrom(o.get(authURL), "s-"+mode)
			default: // a code typed on the page
				page, _ := url.Parse(resp.Header.Get("Location"))
				if resp.StatusCode != 302 || !strings.Contains(page.Path, "/sms/otp") {
					t.Fatalf("code modes show the code page: %d %q", resp.StatusCode, resp.Header.Get("Location"))
				}
				m := o.sms(smsActive)
				otp := smsCode.FindString(m.Text)
				if otp == "" || !strings.Contains(m.Text, "Corner Shop") {
					t.Fatalf("SMS %q", m.Text)
				}
				r, err := noFollow.PostForm(page.Query().Get("return"), url.Values{"otp": {otp}})
				if err != nil {
					t.Fatal(err)
				}
				r.Body.Close()
				code = o.codeFrom(r, "s-"+mode)
			}

			tok := o.token(code)
			info := o.claims("/userinfo", tok)
			premium := o.claims("/premiuminfo", tok)
			if keys(info) != "family_name given_name name sub" {
				t.Fatalf("userinfo for profile: %v", info)
			}
			if keys(premium) != "phone_number sub" || premium["phone_number"] != smsActive {
				t.Fatalf("premiuminfo for mc_identity_phonenumber: %v", premium)
			}

			// A suspended subscriber gets a decoy challenge: the answer a
			// subscriber gets (the code page, or the waiting page), and
			// no SMS is sent. (Before the node's metrics wrapper let the
			// gateway see through it, nodes refused at once.)
			resp = o.get(o.authorizeURL(smsSuspended, "susp"))
			loc, _ := url.Parse(resp.Header.Get("Location"))
			if mode == "url" && resp.StatusCode != 200 || mode != "url" && (resp.StatusCode != 302 || !strings.Contains(loc.Path, "/sms/otp")) {
				t.Fatalf("suspended subscriber: %d %q, want the answer a subscriber gets", resp.StatusCode, resp.Header.Get("Location"))
			}
			if inbox := o.handset.Messages(smsSuspended); len(inbox) != 0 {
				t.Fatalf("%d SMS sent to a suspended subscriber", len(inbox))
			}
		})
	}
}

func (o *operatorNode) token(code string) string {
	o.t.Helper()
	f := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {smsRedirect}}
	req, _ := http.NewRequest("POST", o.node.PublicURL()+"/token", strings.NewReader(f.Encode()))
	req.SetBasicAuth("shop", o.tokenSecret)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	getJSON(o.t, http.DefaultClient, req, 200, &tok)
	return tok.AccessToken
}

func (o *operatorNode) claims(path, access string) map[string]any {
	o.t.Helper()
	req, _ := http.NewRequest("GET", o.node.PublicURL()+path, nil)
	req.Header.Set("Authorization", "Bearer "+access)
	var out map[string]any
	getJSON(o.t, http.DefaultClient, req, 200, &out)
	return out
}

func keys(m map[string]any) string {
	var k []string
	for key := range m {
		k = append(k, key)
	}
	slices.Sort(k)
	return strings.Join(k, " ")
}
