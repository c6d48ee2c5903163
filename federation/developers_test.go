package federation

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/mcfed/mcfed/client"
)

// TestSuspendedDeveloperSuspendsItsApps: on a real node, an SP whose
// developer the federation's admin suspends is refused at discovery (401
// invalid_client) and at the gateway's authorize (unauthorized_client),
// and serves again once the developer is activated; the SP's own record
// keeps its own status throughout.
func TestSuspendedDeveloperSuspendsItsApps(t *testing.T) {
	f := &standingFixture{operatorNode: startOperatorNode(t, "url"), secrets: map[string]string{}}
	f.admin = &client.Admin{Base: f.node.AdminURL(), Token: testAdminToken}
	f.do("PUT", "/v1/developers/acme", map[string]any{"name": "Acme Ltd",
		"contacts": []map[string]string{{"name": "Ops", "email": "ops@acme.example", "role": "technical"}}})
	var sp spResponse
	ctx := context.Background()
	body := map[string]any{"name": "Acme App", "developer": "acme", "redirect_uris": []string{smsRedirect}, "scopes": []string{"openid", "mc_authn"}}
	if err := client.Retry(ctx, func() error { return f.admin.Do(ctx, "PUT", "/v1/service-providers/acme-app", body, &sp) }); err != nil {
		t.Fatal(err)
	}
	f.secrets["acme-app"] = client.OperatorSecret(sp.ClientSecret, "acme-app", "red")
	discover := func() (int, map[string]any) {
		form := url.Values{"MSISDN": {strings.TrimPrefix(smsActive, "+")}, "Redirect_URL": {smsRedirect}}
		req, _ := http.NewRequest("POST", f.node.PublicURL()+"/v2/discovery", strings.NewReader(form.Encode()))
		req.SetBasicAuth("acme-app", sp.ClientSecret)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "application/json")
		return f.send(req)
	}
	authorize := func() (*http.Response, string) {
		q := url.Values{"client_id": {"acme-app"}, "redirect_uri": {smsRedirect}, "response_type": {"code"},
			"scope": {"openid mc_authn"}, "acr_values": {"2"}, "state": {"st"}, "nonce": {"n"},
			"login_hint": {"MSISDN:" + strings.TrimPrefix(smsActive, "+")}}
		resp, err := noFollow.Get(f.node.PublicURL() + "/authorize?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	if status, _ := discover(); status != 200 {
		t.Fatalf("discovery of an active developer's app: %d", status)
	}
	// The SMS goes out and the gateway's page waits for its link (the
	// headless SDK's answer in the URL mode).
	if resp, _ := authorize(); resp.StatusCode != 200 {
		t.Fatalf("authorize of an active developer's app: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}

	f.do("POST", "/v1/developers/acme/suspend", nil)
	if status, answer := discover(); status != 401 || answer["error"] != "invalid_client" {
		t.Fatalf("discovery of a suspended developer's app: %d %v, want 401 invalid_client", status, answer)
	}
	// The gateway's error page: no redirect to the SP for a client it
	// refuses (RFC 6749 §4.1.2.1 for an unknown one, kept for a refused one).
	if resp, page := authorize(); resp.StatusCode != 400 || !strings.Contains(page, "unauthorized_client") {
		t.Fatalf("authorize of a suspended developer's app: %d %q, want the unauthorized_client page (400):\n%s", resp.StatusCode, resp.Header.Get("Location"), page)
	}
	var rec map[string]any
	if err := f.admin.Do(ctx, "GET", "/v1/service-providers/acme-app", nil, &rec); err != nil || rec["status"] != "active" || rec["developer"] != "acme" {
		t.Fatalf("the app's record: %v %v, want its own status, active", rec, err)
	}

	f.do("POST", "/v1/developers/acme/activate", nil)
	if status, _ := discover(); status != 200 {
		t.Fatalf("discovery once the developer is active again: %d", status)
	}
}

// TestAPILimitPerSP: the catalogue's API "userinfo" sets each SP's limit
// at the gateway's userinfo: past its burst an SP gets 429 with the OAuth
// error slow_down and a Retry-After, while another SP still gets its
// answers; raising the limit takes effect at the next call.
func TestAPILimitPerSP(t *testing.T) {
	f := &standingFixture{operatorNode: startOperatorNode(t, "url"), secrets: map[string]string{}}
	f.admin = &client.Admin{Base: f.node.AdminURL(), Token: testAdminToken}
	f.secrets["shop"] = f.tokenSecret
	var sp spResponse
	ctx := context.Background()
	body := map[string]any{"name": "Other", "redirect_uris": []string{smsRedirect}, "scopes": []string{"openid", "mc_authn"}}
	if err := client.Retry(ctx, func() error { return f.admin.Do(ctx, "PUT", "/v1/service-providers/other", body, &sp) }); err != nil {
		t.Fatal(err)
	}
	f.secrets["other"] = client.OperatorSecret(sp.ClientSecret, "other", "red")
	f.do("POST", "/v1/subscribers", map[string]any{"msisdn": "+447400111501", "status": "active"})
	shop, _ := f.login("shop", smsActive)
	other, _ := f.login("other", "+447400111501")

	// One request a minute on average, three at once, per SP.
	f.do("PUT", "/v1/apis/userinfo", map[string]any{"name": "UserInfo", "rate_per_sp": 1.0 / 60, "burst_per_sp": 3})
	userinfo := func(access string) (int, map[string]any, http.Header) {
		req, _ := http.NewRequest("GET", f.node.PublicURL()+"/userinfo", nil)
		req.Header.Set("Authorization", "Bearer "+access)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out, resp.Header
	}
	for i := range 3 {
		if status, answer, _ := userinfo(shop); status != 200 {
			t.Fatalf("userinfo %d within the limit: %d %v", i, status, answer)
		}
	}
	status, answer, header := userinfo(shop)
	if status != http.StatusTooManyRequests || answer["error"] != "slow_down" || header.Get("Retry-After") == "" {
		t.Fatalf("userinfo past the limit: %d %v (Retry-After %q), want 429 slow_down with a Retry-After", status, answer, header.Get("Retry-After"))
	}
	if status, answer, _ := userinfo(other); status != 200 {
		t.Fatalf("another SP's userinfo: %d %v, want 200 (the limit is per SP)", status, answer)
	}
	f.do("PUT", "/v1/apis/userinfo", map[string]any{"name": "UserInfo", "rate_per_sp": 100, "burst_per_sp": 200})
	if status, answer, _ := userinfo(shop); status != 200 {
		t.Fatalf("userinfo once the limit is raised: %d %v", status, answer)
	}
}
