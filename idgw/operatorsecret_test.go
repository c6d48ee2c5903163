package idgw

import (
	"net/url"
	"testing"

	"github.com/mcfed/mcfed/internal/jose"
	"github.com/mcfed/mcfed/internal/spsecret"
	"github.com/mcfed/mcfed/registry"
)

// TestGatewayTakesOnlyItsOperatorsSecret: red's gateway authenticates an SP
// with per-operator secrets by the secret derived for red, sent either way
// (Basic or in the form) at the token, introspection and revocation
// endpoints; the SP's own secret and the secret for another operator are
// refused; the SP's keys still work for private_key_jwt.
func TestGatewayTakesOnlyItsOperatorsSecret(t *testing.T) {
	f := newTokenFixture(t)
	const master = "bW9yZS1yYW5kb20tdGhhbi10aGlzLXJlYWxseS0xMjM"
	rs := spKey(t, jose.RS256, 0)
	if err := f.addSP(registry.ServiceProvider{ClientID: "newshop", SecretKey: spsecret.PublicKey(master), JWKS: jwksOf(rs)}); err != nil {
		t.Fatal(err)
	}
	forRed, forBlue := spsecret.OperatorSecret(master, "newshop", "red"), spsecret.OperatorSecret(master, "newshop", "blue")

	for i, bad := range []string{master, forBlue, forRed[:len(forRed)-1]} {
		status, body, _ := f.redeem("newshop:"+bad, codeForm(f.code("client_id", "newshop", "state", "s-bad")))
		if status != 401 || body["error"] != "invalid_client" {
			t.Fatalf("secret %d at red: %d %v, want 401 invalid_client", i, status, body)
		}
	}
	status, body, _ := f.redeem("newshop:"+forRed, codeForm(f.code("client_id", "newshop", "state", "s-basic")))
	if status != 200 || body["access_token"] == nil {
		t.Fatalf("red's secret by Basic: %d %v", status, body)
	}
	form := codeForm(f.code("client_id", "newshop", "state", "s-post"), "client_id", "newshop", "client_secret", forRed)
	if status, body, _ = f.redeem("", form); status != 200 {
		t.Fatalf("red's secret in the form: %d %v", status, body)
	}
	access := body["access_token"].(string)
	if _, got, _ := f.postTo("/introspect", "newshop:"+forRed, url.Values{"token": {access}}); got["active"] != true {
		t.Fatalf("introspection with red's secret: %v", got)
	}
	if status, got, _ := f.postTo("/introspect", "newshop:"+master, url.Values{"token": {access}}); status != 401 {
		t.Fatalf("introspection with the SP's own secret: %d %v", status, got)
	}
	if status, got, _ := f.postTo("/revoke", "newshop:"+forRed, url.Values{"token": {access}}); status != 200 {
		t.Fatalf("revocation with red's secret: %d %v", status, got)
	}
	status, body, _ = f.redeem("", withAssertion(codeForm(f.code("client_id", "newshop", "state", "s-jwt")), f.assertion(rs, "newshop", nil)))
	if status != 200 {
		t.Fatalf("private_key_jwt of an SP with per-operator secrets: %d %v", status, body)
	}
}
