package federation

import (
	"context"
	"strings"
	"testing"

	"github.com/mcfed/mcfed/raft"
	"github.com/mcfed/mcfed/registry"
)

// RFC 9700 §2.1 and §4.1.3: registration refuses redirect URIs a code must
// never be sent to, naming the URI; an SP an older log registered with one
// is still there (the rule is for new writes) and the migration check lists
// it.
func TestRegistrationRefusesUnsafeRedirectURIs(t *testing.T) {
	f := seeded(t)
	waitCatalogue(t, f.nodes[0])
	sp := func(uris ...string) map[string]any {
		return map[string]any{"client_id": "shop", "name": "Shop", "redirect_uris": uris, "scopes": []string{"openid"}}
	}
	for _, bad := range []string{
		"javascript:alert(1)", "data:text/html,x", "file:///etc/passwd", "http://shop.example/cb",
		"https://*.shop.example/cb", "*", "https://shop.example/cb#x", "https://u:p@shop.example/cb", "myapp:/cb",
	} {
		p := f.problemOf(0, "POST", "/v1/service-providers", sp("https://shop.example/cb", bad))
		if p.Status != 400 || !strings.Contains(p.Problem.Detail, bad) {
			t.Errorf("%s: %d %q, want a 400 naming the URI", bad, p.Status, p.Problem.Detail)
		}
	}
	f.do(0, "POST", "/v1/service-providers", sp("https://shop.example/cb", "http://127.0.0.1:9000/cb",
		"http://[::1]/cb", "http://localhost/cb", "com.shop.app:/cb"), nil)

	// An SP written by a log from before the rule, straight through Raft.
	legacy := registry.ServiceProvider{ClientID: "legacy", Name: "Legacy", SecretHash: registry.HashSecret(strings.Repeat("s", 40)),
		RedirectURIs: []string{"http://legacy.example/cb"}, Operators: []string{registry.AllOperators}, Status: registry.StatusActive}
	own := raft.Presented{Credential: registry.AdminCredentialID(f.nodes[0].cfg.NodeID), Secret: testAdminToken}
	if _, err := f.nodes[0].raft.Apply(context.Background(), own, registry.MustEncode(registry.CmdPutSP, &legacy)); err != nil {
		t.Fatalf("an SP with a URI the new rule refuses no longer applies: %v", err)
	}
	var checked registry.Page[registry.RedirectCheck]
	f.do(0, "GET", "/v1/service-providers?redirect_check=true", nil, &checked)
	if len(checked.Items) != 1 || checked.Items[0].ClientID != "legacy" || len(checked.Items[0].Refused) != 1 ||
		checked.Items[0].Refused[0].RedirectURI != "http://legacy.example/cb" {
		t.Fatalf("migration check: %+v", checked.Items)
	}
	// Its next write must fix it.
	if p := f.problemOf(0, "PUT", "/v1/service-providers/legacy", map[string]any{"name": "Legacy",
		"redirect_uris": []string{"http://legacy.example/cb"}}); p.Status != 400 || !strings.Contains(p.Problem.Detail, "http://legacy.example/cb") {
		t.Fatalf("rewriting a legacy URI: %d %s", p.Status, p.Problem.Detail)
	}
	f.do(0, "PUT", "/v1/service-providers/legacy", map[string]any{"name": "Legacy", "redirect_uris": []string{"https://legacy.example/cb"}, "scopes": []string{"openid"}}, nil)
	checked = registry.Page[registry.RedirectCheck]{}
	f.do(0, "GET", "/v1/service-providers?redirect_check=true", nil, &checked)
	if len(checked.Items) != 0 {
		t.Fatalf("migration check after the fix: %+v", checked.Items)
	}
}

// The admin API holds an SP's logout registration to the same rules:
// post_logout_redirect_uris as redirect URIs, backchannel_logout_uri https
// (http only to loopback); what it takes is kept.
func TestRegistrationOfLogoutURIs(t *testing.T) {
	f := seeded(t)
	waitCatalogue(t, f.nodes[0])
	sp := func(kv ...any) map[string]any {
		m := map[string]any{"client_id": "rp", "name": "RP", "redirect_uris": []string{"https://rp.example/cb"}, "scopes": []string{"openid"}}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	for _, bad := range []map[string]any{
		sp("post_logout_redirect_uris", []string{"http://rp.example/bye"}),
		sp("post_logout_redirect_uris", []string{"https://rp.example/bye#x"}),
		sp("backchannel_logout_uri", "http://rp.example/bcl"),
		sp("backchannel_logout_uri", "https://rp.example/bcl#x"),
		sp("backchannel_logout_session_required", true),
	} {
		if p := f.problemOf(0, "POST", "/v1/service-providers", bad); p.Status != 400 {
			t.Errorf("%v: %d %q, want 400", bad, p.Status, p.Problem.Detail)
		}
	}
	f.do(0, "POST", "/v1/service-providers", sp("post_logout_redirect_uris", []string{"https://rp.example/bye"},
		"backchannel_logout_uri", "https://rp.example/bcl", "backchannel_logout_session_required", true), nil)
	var got registry.ServiceProvider
	f.do(0, "GET", "/v1/service-providers/rp", nil, &got)
	if len(got.PostLogoutRedirectURIs) != 1 || got.BackchannelLogoutURI != "https://rp.example/bcl" || !got.BackchannelLogoutSessionRequired {
		t.Fatalf("registered: %+v", got)
	}
}
