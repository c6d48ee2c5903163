package idgw

import (
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/mcfed/mcfed/registry"
)

// changeSP rewrites the fixture's SP "shop" in the registry.
func (f *tokenFixture) changeSP(edit func(sp *registry.ServiceProvider)) {
	f.t.Helper()
	reg := f.g.cfg.Registry.(*registry.Registry)
	sp := *reg.ServiceProvider("shop")
	edit(&sp)
	if err := reg.Apply(reg.AppliedIndex()+1, registry.MustEncode(registry.CmdPutSP, sp)); err != nil {
		f.t.Fatal(err)
	}
}

// TestAccessTokensFollowTheClientsStanding: once the SP is suspended, or
// no longer accepted by the operator, its access tokens get invalid_token
// at userinfo and premiuminfo and its refresh tokens are refused, and
// serve again when it is back; scopes the SP lost are no longer released.
func TestAccessTokensFollowTheClientsStanding(t *testing.T) {
	f := newTokenFixture(t)
	src := &recordingSource{}
	f.g.cfg.Claims = src
	access, refresh := f.tokens("s1")
	for _, c := range []struct {
		what string
		edit func(sp *registry.ServiceProvider)
	}{
		{"suspended", func(sp *registry.ServiceProvider) { sp.Status = registry.StatusSuspended }},
		{"not accepted by the operator", func(sp *registry.ServiceProvider) { sp.Operators = []string{"blue"} }},
	} {
		f.changeSP(c.edit)
		for _, ep := range []string{"/userinfo", "/premiuminfo"} {
			if status, _, www, _ := f.get(ep, "Bearer "+access); status != 401 || !strings.Contains(www, "invalid_token") {
				t.Fatalf("%s: %s answered %d %q", c.what, ep, status, www)
			}
		}
		if status, body, _ := f.redeem("shop:"+shopSecret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}); status == 200 {
			t.Fatalf("%s: refreshed: %v", c.what, body)
		}
		f.changeSP(func(sp *registry.ServiceProvider) { sp.Status, sp.Operators = registry.StatusActive, []string{"red"} })
		if status, _, _, _ := f.get("/userinfo", "Bearer "+access); status != 200 {
			t.Fatalf("after %s and back: %d", c.what, status)
		}
	}
	// The SP loses mc_authn: userinfo no longer asks for it.
	f.changeSP(func(sp *registry.ServiceProvider) { sp.Scopes = []string{"openid"} })
	if status, _, _, _ := f.get("/userinfo", "Bearer "+access); status != 200 || strings.Join(src.last.Scopes, " ") != "openid" {
		t.Fatalf("after losing a scope: %d, asked for %v", status, src.last.Scopes)
	}
	status, body, _ := f.redeem("shop:"+shopSecret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}})
	if status != 200 || body["scope"] != "openid" {
		t.Fatalf("refresh after losing a scope: %d %v", status, body)
	}
}

// TestUserinfoTakesTheTokenInTheFormBody: RFC 6750 §2.2, as pyoidc sends
// it; both a header and a form token at once is invalid_request (§2).
func TestUserinfoTakesTheTokenInTheFormBody(t *testing.T) {
	f := newTokenFixture(t)
	access, _ := f.tokens("f1")
	post := func(auth string, form url.Values) int {
		req := httptest.NewRequest("POST", "/userinfo", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := f.app.Test(req, -1)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode
	}
	if s := post("", url.Values{"access_token": {access}}); s != 200 {
		t.Fatalf("form-body token: %d", s)
	}
	if s := post("Bearer "+access, url.Values{"access_token": {access}}); s != 400 && s != 401 {
		t.Fatalf("token in the header and the body: %d", s)
	}
	if s := post("", url.Values{"access_token": {"nope"}}); s != 401 {
		t.Fatalf("a bad form-body token: %d", s)
	}
}
