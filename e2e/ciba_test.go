package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcfed/mcfed/internal/jose"
)

// notifyReceiver is an SP's notification endpoint on loopback: down, it
// answers 503; up, it keeps what it is sent and acknowledges with 204.
type notifyReceiver struct {
	srv      *httptest.Server
	mu       sync.Mutex
	down     bool
	refused  int
	received []notifyCall
}

type notifyCall struct {
	auth string
	body map[string]any
}

func startNotifyReceiver(t *testing.T) *notifyReceiver {
	r := &notifyReceiver{down: true}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.down {
			r.refused++
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		var body map[string]any
		_ = json.Unmarshal(b, &body)
		r.received = append(r.received, notifyCall{auth: req.Header.Get("Authorization"), body: body})
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *notifyReceiver) state() (refused int, received []notifyCall) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.refused, append([]notifyCall(nil), r.received...)
}

func (r *notifyReceiver) setDown(down bool) { r.mu.Lock(); r.down = down; r.mu.Unlock() }

// TestServerInitiatedLogins runs the server-initiated logins against a
// node of the e2e federation whose send budget lets its SP start three
// logins an hour: a Mobile Connect SI push approved by tapping the SMS
// link on the simulated handset, its notification endpoint down then up
// (the result delivered once, with the SP's bearer token); an OpenID CIBA
// poll hearing authorization_pending, then the tokens; a signed
// authorization request (JAR) at /authorize; the client_credentials
// grant; then a fourth login over the budget, answered
// temporarily_unavailable, with no SMS sent.
// The SP authenticates by private_key_jwt and signs its request objects
// with the key it registered.
func TestServerInitiatedLogins(t *testing.T) {
	f := newFederation(t)
	n := f.addNodeAs("node-"+ukDemo.ID, ukDemo, "", []string{"--send-budgets", "sp=3,source=100,operator=100"})
	n.provision()
	recv := startNotifyReceiver(t)
	key, err := jose.GenerateKey(jose.ES256)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"openid", "mc_authn"} {
		n.mustAdmin("PUT", "/v1/scopes/"+s, map[string]string{"name": s}, nil)
	}
	const client = "e2e-till"
	n.mustAdmin("PUT", "/v1/service-providers/"+client, map[string]any{"name": "Till 4",
		"redirect_uris": []string{spRedirect}, "scopes": []string{"openid", "mc_authn"},
		"jwks": map[string]any{"keys": []json.RawMessage{key.Public()}}, "notification_uris": []string{recv.srv.URL + "/notify"}}, nil)

	var meta struct {
		Issuer      string   `json:"issuer"`
		Authorize   string   `json:"authorization_endpoint"`
		Token       string   `json:"token_endpoint"`
		SI          string   `json:"si_authorization_endpoint"`
		Backchannel string   `json:"backchannel_authentication_endpoint"`
		Grants      []string `json:"grant_types_supported"`
	}
	if err := getJSON(n.publicURL()+"/.well-known/openid-configuration", &meta); err != nil || meta.SI == "" || meta.Backchannel == "" {
		t.Fatalf("metadata: %+v %v", meta, err)
	}
	sign := func(claims map[string]any) string { t.Helper(); return signFresh(t, key, client, claims) }
	post := func(endpoint string, form url.Values) (int, map[string]any) {
		t.Helper()
		return postForm(t, endpoint, form)
	}
	// authenticated is form with a fresh client assertion.
	authenticated := func(form url.Values) url.Values {
		form.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
		form.Set("client_assertion", sign(map[string]any{"sub": client, "aud": meta.Token}))
		return form
	}
	inbox := func() int {
		msgs, err := f.phone.inbox(ukDemo.Number)
		if err != nil {
			t.Fatal(err)
		}
		return len(msgs)
	}
	tapNewest := func(seen int) {
		t.Helper()
		msg := f.phone.waitSMS(t, ukDemo.Number, seen)
		if len(msg.Links) == 0 {
			t.Fatalf("no link in the SMS %q", msg.Text)
		}
		if status, err := f.phone.tap(ukDemo.Number, msg, 0); err != nil || status != 200 {
			t.Fatalf("tapping the SMS link: %d %v", status, err)
		}
	}

	siRequest := func(edit map[string]any) map[string]any {
		c := map[string]any{"aud": meta.Issuer, "client_id": client, "response_type": "mc_si_async_code",
			"scope": "openid mc_authn", "nonce": randomHex(8), "login_hint": "MSISDN:" + strings.TrimPrefix(ukDemo.Number, "+"),
			"acr_values": "2", "notification_uri": recv.srv.URL + "/notify", "client_notification_token": "cnt-e2e",
			"binding_message": "Till 4 pays 12 GBP"}
		for k, v := range edit {
			c[k] = v
		}
		return c
	}
	si := func(ro string) (int, map[string]any) {
		return post(meta.SI, url.Values{"client_id": {client}, "response_type": {"mc_si_async_code"}, "scope": {"openid mc_authn"}, "request": {ro}})
	}

	// 0. Refused before anything is sent or spent: a request object signed
	// with a key the SP did not register, an unregistered notification URI.
	seen := inbox()
	other, err := jose.GenerateKey(jose.ES256)
	if err != nil {
		t.Fatal(err)
	}
	forged := siRequest(map[string]any{"iss": client, "iat": time.Now().Unix(), "exp": time.Now().Add(time.Minute).Unix(), "jti": randomHex(12)})
	forgedTok, err := jose.Sign(other, forged)
	if err != nil {
		t.Fatal(err)
	}
	if status, body := si(forgedTok); status != 400 || body["error"] != "invalid_request_object" {
		t.Fatalf("a forged request object: %d %v", status, body)
	}
	if status, body := si(sign(siRequest(map[string]any{"notification_uri": recv.srv.URL + "/elsewhere"}))); status != 400 || body["error"] != "invalid_request" {
		t.Fatalf("an unregistered notification_uri: %d %v", status, body)
	}

	// 1. SI push, the SP's notification endpoint down.
	ro := sign(siRequest(nil))
	status, ack := si(ro)
	siID, _ := ack["auth_req_id"].(string)
	if status != 200 || siID == "" {
		t.Fatalf("SI request: %d %v", status, ack)
	}
	// The same request object again: its jti is spent.
	if status, body := si(ro); status != 400 || body["error"] != "invalid_request_object" {
		t.Fatalf("a replayed request object: %d %v", status, body)
	}
	tapNewest(seen)
	if err := poll(30*time.Second, func() (bool, error) { refused, _ := recv.state(); return refused > 0, nil }); err != nil {
		t.Fatal("the gateway never tried the notification endpoint")
	}
	recv.setDown(false)
	if err := poll(60*time.Second, func() (bool, error) { _, got := recv.state(); return len(got) > 0, nil }); err != nil {
		t.Fatal("the result was never delivered once the endpoint was up")
	}
	_, got := recv.state()
	if got[0].auth != "Bearer cnt-e2e" || got[0].body["auth_req_id"] != siID || got[0].body["access_token"] == nil || got[0].body["id_token"] == nil {
		t.Fatalf("the SI notification: %q %v", got[0].auth, got[0].body)
	}

	// 2. CIBA poll: authorization_pending until the tap, then the tokens.
	seen = inbox()
	status, ack = post(meta.Backchannel, authenticated(url.Values{"scope": {"openid"}, "login_hint": {"tel:" + ukDemo.Number},
		"binding_message": {"Till 4 pays 7 GBP"}}))
	cibaID, _ := ack["auth_req_id"].(string)
	if status != 200 || cibaID == "" {
		t.Fatalf("CIBA request: %d %v", status, ack)
	}
	grant := url.Values{"grant_type": {"urn:openid:params:grant-type:ciba"}, "auth_req_id": {cibaID}}
	if status, body := post(meta.Token, authenticated(grant)); status != 400 || body["error"] != "authorization_pending" {
		t.Fatalf("the first poll: %d %v", status, body)
	}
	tapNewest(seen)
	var tokens map[string]any
	// Polls 6 s apart (the interval is 5 s): pending until the tap is seen.
	err = poll(60*time.Second, func() (bool, error) {
		time.Sleep(6 * time.Second)
		status, body := post(meta.Token, authenticated(url.Values{"grant_type": grant["grant_type"], "auth_req_id": grant["auth_req_id"]}))
		switch {
		case status == 200:
			tokens = body
			return true, nil
		case body["error"] == "authorization_pending":
			return false, nil
		}
		t.Fatalf("a poll: %d %v", status, body)
		return false, nil
	})
	if err != nil || tokens["access_token"] == nil || tokens["id_token"] == nil {
		t.Fatalf("the CIBA tokens: %v %v", tokens, err)
	}

	// The auth_req_id is spent (polled after the interval, so not slow_down).
	time.Sleep(6 * time.Second)
	if status, body := post(meta.Token, authenticated(url.Values{"grant_type": grant["grant_type"], "auth_req_id": grant["auth_req_id"]})); status != 400 || body["error"] != "invalid_grant" {
		t.Fatalf("a replayed auth_req_id: %d %v", status, body)
	}

	// The CAMARA profile's server-to-server grant: no subscriber, no
	// id_token, no refresh token.
	if !slices.Contains(meta.Grants, "client_credentials") {
		t.Fatalf("grant_types_supported: %v", meta.Grants)
	}
	status, cc := post(meta.Token, authenticated(url.Values{"grant_type": {"client_credentials"}, "scope": {"mc_authn dpv:FraudPreventionAndDetection"}}))
	if status != 200 || cc["access_token"] == nil || cc["id_token"] != nil || cc["refresh_token"] != nil {
		t.Fatalf("client_credentials: %d %v", status, cc)
	}

	// A signed authorization request (JAR) at /authorize: the SMS goes
	// out, its link is tapped, the SDK's re-poll ends at the SP with a code.
	seen = inbox()
	jar := sign(map[string]any{"aud": meta.Issuer, "client_id": client, "response_type": "code", "redirect_uri": spRedirect,
		"scope": "openid mc_authn dpv:FraudPreventionAndDetection", "state": "st-jar", "nonce": randomHex(8), "acr_values": "2",
		"login_hint": "MSISDN:" + strings.TrimPrefix(ukDemo.Number, "+")})
	authURL := meta.Authorize + "?" + url.Values{"client_id": {client}, "request": {jar}}.Encode()
	sdk := sdkClient()
	if resp := get(t, sdk, authURL); resp.StatusCode != 302 || !strings.Contains(resp.Header.Get("Location"), "/sms/") {
		t.Fatalf("a signed authorization request: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	tapNewest(seen)
	if resp := get(t, sdk, authURL); !strings.HasPrefix(resp.Header.Get("Location"), spRedirect+"?code=") || !strings.Contains(resp.Header.Get("Location"), "state=st-jar") {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("the signed request's re-poll: %d %q %.400s", resp.StatusCode, resp.Header.Get("Location"), b)
	}

	// 3. Over the SP's budget (three logins an hour): the documented error,
	// and nothing sent.
	seen = inbox()
	status, body := post(meta.Backchannel, authenticated(url.Values{"scope": {"openid"}, "login_hint": {"tel:" + ukDemo.Number}}))
	if status != 429 || body["error"] != "temporarily_unavailable" {
		t.Fatalf("a login over the budget: %d %v", status, body)
	}
	var metrics string
	if err := poll(10*time.Second, func() (bool, error) {
		req, _ := http.NewRequest("GET", n.adminURL()+"/metrics", nil)
		req.Header.Set("Authorization", "Bearer "+n.adminToken)
		resp, err := httpClient.Do(req)
		if err != nil {
			return false, err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		metrics = string(b)
		return strings.Contains(metrics, `mcfed_send_budget_hits_total{budget="sp"} 1`), nil
	}); err != nil {
		t.Fatalf("no budget hit in the metrics: %v", err)
	}
	// The SI result was delivered once, whatever the rounds since.
	if _, got := recv.state(); len(got) != 1 || inbox() != seen {
		t.Fatalf("after the budget hit: %d notifications (want 1), %d SMS (want %d)", len(got), inbox(), seen)
	}
}
