package idgw

import (
	"encoding/json"
	"io"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcfed/mcfed/internal/jose"
)

// jar is a signed authorization request of sishop for the red number,
// good for a minute; edit changes claims (nil deletes one).
func (f *bcFixture) jar(k *jose.Key, edit map[string]any) string {
	f.t.Helper()
	now := f.clock.now()
	c := map[string]any{"iss": "sishop", "aud": "https://red.example/", "client_id": "sishop",
		"response_type": "code", "redirect_uri": shopCB, "scope": "openid mc_authn dpv:FraudPreventionAndDetection",
		"state": "st-1", "nonce": newSecret(), "jti": newSecret(), "acr_values": "2",
		"login_hint": "MSISDN:" + strings.TrimPrefix(redNumber, "+"),
		"exp":        now.Add(time.Minute).Unix(), "iat": now.Unix()}
	for name, v := range edit {
		if v == nil {
			delete(c, name)
		} else {
			c[name] = v
		}
	}
	tok, err := jose.Sign(k, c)
	if err != nil {
		f.t.Fatal(err)
	}
	return tok
}

// get sends GET path?args to the gateway: the status, the Location and
// the body.
func (f *bcFixture) getQuery(path string, args url.Values) (int, string, string) {
	f.t.Helper()
	resp, err := f.app.Test(httptest.NewRequest("GET", path+"?"+args.Encode(), nil), -1)
	if err != nil {
		f.t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(b)
}

func TestSignedAuthorizationRequests(t *testing.T) {
	f := newBCFixture(t)
	// A request object alone (client_id outside it) starts the login: the
	// phone is challenged, and its purpose is shown on the consent page
	// later.
	ro := f.jar(f.key, nil)
	status, loc, body := f.getQuery("/authorize", url.Values{"client_id": {"sishop"}, "request": {ro}})
	if status != 302 && status != 200 || strings.Contains(loc, "error=") || strings.Contains(body, "invalid_request") {
		t.Fatalf("a signed request: %d %s %.300s", status, loc, body)
	}
	f.phone.mu.Lock()
	n := f.phone.started
	f.phone.mu.Unlock()
	if n != 1 {
		t.Fatalf("a signed request challenges the phone once, got %d", n)
	}
	refused := func(what, code string, args url.Values) {
		t.Helper()
		status, loc, body := f.getQuery("/authorize", args)
		if status != 400 || loc != "" || !strings.Contains(body, code) {
			t.Fatalf("%s: want 400 %s without a redirect, got %d %q %.300s", what, code, status, loc, body)
		}
	}
	// The same object again (another request around it): its jti is spent.
	refused("a replayed jti", "invalid_request_object", url.Values{"client_id": {"sishop"}, "request": {ro}, "ui_locales": {"en"}})
	other := spKey(t, jose.RS256, 1)
	refused("a forged object", "invalid_request_object", url.Values{"client_id": {"sishop"}, "request": {f.jar(other, nil)}})
	now := f.clock.now()
	refused("a 10-minute object", "invalid_request_object", url.Values{"client_id": {"sishop"},
		"request": {f.jar(f.key, map[string]any{"exp": now.Add(10 * time.Minute).Unix()})}})
	refused("no iat", "invalid_request_object", url.Values{"client_id": {"sishop"}, "request": {f.jar(f.key, map[string]any{"iat": nil})}})
	refused("another audience", "invalid_request_object", url.Values{"client_id": {"sishop"},
		"request": {f.jar(f.key, map[string]any{"aud": "https://blue.example/"})}})
	refused("a plain scope that differs", "invalid_request_object", url.Values{"client_id": {"sishop"}, "scope": {"openid"},
		"request": {f.jar(f.key, nil)}})
	refused("another client's object", "invalid_request_object", url.Values{"client_id": {"sishop"},
		"request": {f.jar(f.key, map[string]any{"client_id": "till"})}})
	refused("request_uri", "request_uri_not_supported", url.Values{"client_id": {"sishop"}, "request_uri": {"https://shop.example/ro"}})
	// Once the object is verified, its redirect_uri is trusted with errors.
	status, loc, _ = f.getQuery("/authorize", url.Values{"client_id": {"sishop"},
		"request": {f.jar(f.key, map[string]any{"scope": "openid mc_authn dpv:A dpv:B"})}})
	if status != 302 || !strings.HasPrefix(loc, shopCB+"&error=invalid_scope") {
		t.Fatalf("two purposes: %d %s", status, loc)
	}
	// Plain parameters repeated with the same values are fine.
	status, loc, body = f.getQuery("/authorize", url.Values{"client_id": {"sishop"}, "response_type": {"code"},
		"scope": {"openid mc_authn dpv:FraudPreventionAndDetection"}, "request": {f.jar(f.key, map[string]any{"state": "st-2"})}})
	if status != 302 && status != 200 || strings.Contains(loc, "error=") || strings.Contains(body, "invalid_request") {
		t.Fatalf("a signed request with its core parameters repeated: %d %s %.300s", status, loc, body)
	}
}

func TestClientCredentialsGrant(t *testing.T) {
	f := newBCFixture(t)
	f.cibaSP("finder", "")
	key := spKey(t, jose.ES256, 0)
	grant := func(scope string) (int, map[string]any) {
		form := url.Values{"grant_type": {grantClientCredentials}}
		if scope != "" {
			form.Set("scope", scope)
		}
		return f.ciba("/token", "finder", form)
	}
	status, body := grant("mc_authn dpv:NetworkServiceProvision")
	if status != 200 || body["access_token"] == nil || body["id_token"] != nil || body["refresh_token"] != nil ||
		body["scope"] != "mc_authn dpv:NetworkServiceProvision" {
		t.Fatalf("client_credentials: %d %v", status, body)
	}
	// Introspection: the client is the subject, the purpose is kept.
	form := withAssertion(url.Values{"token": {body["access_token"].(string)}}, f.assertion(key, "finder", nil))
	status, in, _ := f.postTo("/introspect", "", form)
	if status != 200 || in["active"] != true || in["sub"] != "finder" || in["purpose"] != "dpv:NetworkServiceProvision" {
		t.Fatalf("introspecting a client's token: %d %v", status, in)
	}
	// It reads no subscriber's data.
	req := httptest.NewRequest("GET", "/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+body["access_token"].(string))
	resp, err := f.app.Test(req, -1)
	if err != nil || resp.StatusCode != 401 {
		t.Fatalf("userinfo with a client's token: %v %v", err, resp)
	}
	// Revoked, it is inactive.
	status, _, _ = f.postTo("/revoke", "", withAssertion(url.Values{"token": {body["access_token"].(string)}}, f.assertion(key, "finder", nil)))
	status2, in2, _ := f.postTo("/introspect", "", withAssertion(url.Values{"token": {body["access_token"].(string)}}, f.assertion(key, "finder", nil)))
	if status != 200 || status2 != 200 || in2["active"] != false {
		t.Fatalf("a revoked client token: %d, then %d %v", status, status2, in2)
	}
	if status, body := grant(""); status != 200 || body["scope"] != "mc_authn" {
		t.Fatalf("client_credentials without scope: %d %v", status, body)
	}
	// The metadata is truthful.
	status, m, _, _ := f.get("/.well-known/openid-configuration", "")
	grants, _ := json.Marshal(m["grant_types_supported"])
	if status != 200 || !strings.Contains(string(grants), `"client_credentials"`) || m["request_parameter_supported"] != true ||
		m["request_uri_parameter_supported"] != true {
		t.Fatalf("metadata: grants %s, request %v, request_uri %v", grants, m["request_parameter_supported"], m["request_uri_parameter_supported"])
	}
	for _, scope := range []string{"openid", "profile"} {
		if status, body := grant(scope); status != 400 || body["error"] != "invalid_scope" {
			t.Fatalf("client_credentials for %s: %d %v", scope, status, body)
		}
	}
}

// budgetHits counts the send budget hits the gateway reports.
type budgetHits struct {
	mu   sync.Mutex
	hits []string
}

func (b *budgetHits) ObserveOAuth(Observation) {}
func (b *budgetHits) ObserveSendBudget(name string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.hits = append(b.hits, name)
}

func TestSendBudgets(t *testing.T) {
	f := newBCFixture(t)
	hits := &budgetHits{}
	f.g.cfg.Observer = hits
	f.g.cfg.SendBudgets = SendBudgets{PerSP: 2, PerSource: 100, PerOperator: 100, Window: time.Hour}
	f.cibaSP("till", "")
	starts := func() int {
		f.phone.mu.Lock()
		defer f.phone.mu.Unlock()
		return f.phone.started
	}
	start := func(number string) (int, map[string]any) {
		return f.ciba("/bc-authorize", "till", url.Values{"scope": {"openid"}, "login_hint": {"tel:" + number}})
	}
	for i := range 2 {
		if status, ack := start(redNumber); status != 200 || ack["auth_req_id"] == nil {
			t.Fatalf("login %d within the budget: %d %v", i, status, ack)
		}
	}
	sent := starts()
	// Over the SP's budget: a subscriber and a number that is none get
	// the same answer, and nothing reaches a handset.
	for _, n := range []string{redNumber, "+447911000001"} {
		status, body := start(n)
		if status != 429 || body["error"] != "temporarily_unavailable" {
			t.Fatalf("over the budget (%s): %d %v", n, status, body)
		}
	}
	if starts() != sent {
		t.Fatalf("a login over the budget reached the handset: %d starts, want %d", starts(), sent)
	}
	hits.mu.Lock()
	if len(hits.hits) != 2 || hits.hits[0] != budgetSP {
		t.Fatalf("budget hits observed: %v", hits.hits)
	}
	hits.mu.Unlock()
	// The browser's login of the same SP is over it too: the SP is told.
	status, loc, _ := f.getQuery("/authorize", url.Values{"client_id": {"till"}, "response_type": {"code"},
		"redirect_uri": {shopCB}, "scope": {"openid"}, "state": {"s"}, "nonce": {"n"},
		"login_hint": {"MSISDN:" + strings.TrimPrefix(redNumber, "+")}, "acr_values": {"2"}})
	if status != 302 || !strings.HasPrefix(loc, shopCB+"&error=temporarily_unavailable") || starts() != sent {
		t.Fatalf("an authorization over the budget: %d %s", status, loc)
	}
	// The next window lifts it.
	f.clock.advance(time.Hour)
	if status, ack := start(redNumber); status != 200 {
		t.Fatalf("the next window: %d %v", status, ack)
	}
}

func TestPurposeOnConsentPage(t *testing.T) {
	f := newBCFixture(t)
	for lang, want := range map[string]string{"en": "Purpose: FraudPreventionAndDetection", "de": "Zweck: FraudPreventionAndDetection"} {
		items := f.g.consentItems([]string{"openid", "dpv:FraudPreventionAndDetection"}, messages.In(lang), pageContext{})
		if len(items) != 1 || items[0] != want {
			t.Fatalf("%s consent items: %q", lang, items)
		}
	}
	if e := checkPurposes([]string{"openid", "dpv:Bad-Name"}); e == nil || e.Code != CodeInvalidScope {
		t.Fatalf("a malformed purpose: %v", e)
	}
}
