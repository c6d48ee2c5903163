package federation

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcfed/mcfed/operator/handset"
	"github.com/mcfed/mcfed/registry"
)

// operatorNode is one operator's node with the demo SMSC and handset, its
// operator, range, catalogue, an SP and two provisioned subscribers (one
// suspended), written through the admin API.
type operatorNode struct {
	t      *testing.T
	node   *Node
	phone  *devPhone
	secret string
}

const (
	smsActive    = "+447400111222"
	smsSuspended = "+447400111333"
	smsRedirect  = "https://sp.example/cb"
)

func startOperatorNode(t *testing.T, mode string) *operatorNode {
	phone, err := startDevPhone(slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { phone.Close() })
	cfg := testNodeConfig(t, "op-node", t.TempDir())
	cfg.Bootstrap, cfg.PublicAddr, cfg.OperatorID = true, "127.0.0.1:0", "red"
	cfg.SMSC, cfg.SMSMode = phone.smppConfig("RedMobile"), mode
	n, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	o := &operatorNode{t: t, node: n, phone: phone}
	admin := &AdminClient{Base: n.AdminURL(), Token: testAdminToken}
	ctx := context.Background()
	must := func(method, path string, body, out any) {
		t.Helper()
		if err := retry(ctx, func() error { return admin.Do(ctx, method, path, body, out) }); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
	}
	op := demoOperator("red", "234_10")
	op.Issuer = n.PublicURL()
	must("PUT", "/v1/operators/red", op, nil)
	must("PUT", "/v1/ranges/+447400", operatorRef{Operator: "red"}, nil)
	for _, s := range []string{"openid", "mc_authn", "profile", "mc_identity_phonenumber"} {
		must("PUT", "/v1/scopes/"+s, registry.Scope{Name: s}, nil)
	}
	var sp spResponse
	must("PUT", "/v1/service-providers/shop", map[string]any{"name": "Corner Shop", "redirect_uris": []string{smsRedirect},
		"scopes": []string{"openid", "mc_authn", "profile", "mc_identity_phonenumber"}}, &sp)
	o.secret = sp.ClientSecret
	for num, status := range map[string]string{smsActive: "active", smsSuspended: "suspended"} {
		must("POST", "/v1/subscribers", map[string]any{"msisdn": num, "status": status,
			"attributes": map[string]any{"given_name": "Grace", "family_name": "Hopper", "email": "grace@example.org"}}, nil)
	}
	return o
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
	resp, err := noFollow.Get(u)
	if err != nil {
		o.t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// sms reads the newest SMS of number through the handset's JSON API, as an
// automated SP test would, polling until one arrives.
func (o *operatorNode) sms(number string) handset.Message {
	o.t.Helper()
	msisdn, _ := handset.NormalizeMSISDN(number)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequest("GET", o.phone.URL()+"/"+msisdn+"/messages", nil)
		var inbox struct {
			Messages []handset.Message `json:"messages"`
		}
		getJSON(o.t, http.DefaultClient, req, 200, &inbox)
		if len(inbox.Messages) > 0 {
			return inbox.Messages[0]
		}
		time.Sleep(20 * time.Millisecond)
	}
	o.t.Fatalf("no SMS for %s", number)
	return handset.Message{}
}

// tap taps the first link of an SMS through the handset's API.
func (o *operatorNode) tap(number string, m handset.Message) {
	o.t.Helper()
	msisdn, _ := handset.NormalizeMSISDN(number)
	req, _ := http.NewRequest("POST", o.phone.URL()+"/"+msisdn+"/messages/"+m.ID+"/tap?link=0", nil)
	var res struct {
		Status int `json:"status"`
	}
	getJSON(o.t, http.DefaultClient, req, 200, &res)
	if res.Status != 200 {
		o.t.Fatalf("the tapped link answered %d", res.Status)
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

			// A suspended subscriber is refused before any SMS is sent.
			resp = o.get(o.authorizeURL(smsSuspended, "susp"))
			loc, _ := url.Parse(resp.Header.Get("Location"))
			if resp.StatusCode != 302 || loc.Query().Get("error") != "access_denied" {
				t.Fatalf("suspended subscriber: %d %q", resp.StatusCode, resp.Header.Get("Location"))
			}
			msisdn, _ := handset.NormalizeMSISDN(smsSuspended)
			req, _ := http.NewRequest("GET", o.phone.URL()+"/"+msisdn+"/messages", nil)
			var inbox struct {
				Messages []handset.Message `json:"messages"`
			}
			getJSON(t, http.DefaultClient, req, 200, &inbox)
			if len(inbox.Messages) != 0 {
				t.Fatalf("%d SMS sent to a suspended subscriber", len(inbox.Messages))
			}
		})
	}
}

func (o *operatorNode) token(code string) string {
	o.t.Helper()
	f := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {smsRedirect}}
	req, _ := http.NewRequest("POST", o.node.PublicURL()+"/token", strings.NewReader(f.Encode()))
	req.SetBasicAuth("shop", o.secret)
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
