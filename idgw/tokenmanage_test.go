package idgw

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/mcfed/mcfed/registry"
)

// addClient registers another SP accepted by the test operator.
func (f *tokenFixture) addClient(id string) {
	f.t.Helper()
	reg := f.g.cfg.Registry.(*registry.Registry)
	err := reg.Apply(reg.AppliedIndex()+1, registry.MustEncode(registry.CmdPutSP, registry.ServiceProvider{
		ClientID: id, Name: "SP " + id, SecretHash: registry.HashSecret(shopSecret),
		RedirectURIs: []string{shopCB}, Scopes: []string{"openid"}, Operators: []string{"red"}, Status: registry.StatusActive}))
	if err != nil {
		f.t.Fatal(err)
	}
}

// tokens logs in and redeems the code: access and refresh tokens.
func (f *tokenFixture) tokens(state string) (string, string) {
	f.t.Helper()
	status, body, _ := f.redeem("shop:"+shopSecret, codeForm(f.code("state", state)))
	if status != 200 {
		f.t.Fatalf("token %d %v", status, body)
	}
	return body["access_token"].(string), body["refresh_token"].(string)
}

func TestRefreshRotatesAndRetiresTheOldPair(t *testing.T) {
	f := newTokenFixture(t)
	f.addClient("other")
	access, refresh := f.tokens("r1")
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}
	// Another client cannot use it, and its attempt does not spend it.
	if status, body, _ := f.redeem("other:"+shopSecret, form); status != 400 || body["error"] != "invalid_grant" {
		t.Fatalf("another client's refresh: %d %v", status, body)
	}
	status, body, _ := f.redeem("shop:"+shopSecret, form)
	if status != 200 || body["access_token"] == access || body["refresh_token"] == refresh {
		t.Fatalf("refresh: %d %v", status, body)
	}
	if _, ok := f.g.access.get(context.Background(), tokenKey(access)); ok {
		t.Fatal("the old access token outlived its refresh")
	}
	if _, ok := f.g.access.get(context.Background(), tokenKey(body["access_token"].(string))); !ok {
		t.Fatal("the new access token is not live")
	}
	if status, _, _ := f.redeem("shop:"+shopSecret, form); status != 400 {
		t.Fatal("a spent refresh token was accepted again")
	}
}

func TestRevocationAndIntrospection(t *testing.T) {
	f := newTokenFixture(t)
	f.addClient("other")
	access, refresh := f.tokens("i1")

	got := f.introspectAt("/introspect", "shop", access)
	if got["active"] != true || got["client_id"] != "shop" || !strings.Contains(got["scope"].(string), "openid") ||
		got["token_type"] != "access_token" || got["sub"] == "" {
		t.Fatalf("introspection of a live token: %v", got)
	}
	if got := f.introspectAt("/introspect", "other", access); got["active"] != false {
		t.Fatalf("another client sees the token: %v", got)
	}
	// Another client's revocation is answered 200 and changes nothing.
	if status := f.revoke("other", access); status != 200 {
		t.Fatalf("revocation by another client: %d", status)
	}
	if got := f.introspectAt("/introspect", "shop", access); got["active"] != true {
		t.Fatal("another client's revocation took effect")
	}
	if status := f.revoke("shop", access); status != 200 {
		t.Fatalf("revocation: %d", status)
	}
	for _, tok := range []string{access, refresh} {
		if got := f.introspectAt("/introspect", "shop", tok); got["active"] != false {
			t.Fatalf("a revoked pair is still active: %v", got)
		}
	}
	// Unknown tokens are revoked "successfully": nothing is revealed.
	if status := f.revoke("shop", "not-a-token"); status != 200 {
		t.Fatalf("revoking an unknown token: %d", status)
	}
}

func (f *tokenFixture) introspectAt(path, client, token string) map[string]any {
	f.t.Helper()
	_, body, _ := f.postTo(path, client+":"+shopSecret, url.Values{"token": {token}})
	return body
}

func (f *tokenFixture) revoke(client, token string) int {
	f.t.Helper()
	status, _, _ := f.postTo("/revoke", client+":"+shopSecret, url.Values{"token": {token}})
	return status
}
