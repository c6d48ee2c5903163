package idgw

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/mcfed/mcfed/registry"
)

// acrOf reads the acr claim of an ID token the gateway just issued (its
// signature is checked by the token tests; here only the claim matters).
func acrOf(t *testing.T, idToken string) string {
	t.Helper()
	parts := strings.Split(idToken, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS: %q", idToken)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		ACR string `json:"acr"`
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		t.Fatal(err)
	}
	return c.ACR
}

// TestSPPolicyHoldsTheLevel (issue 16 item 5, issue 20's catalogue): an
// SP's own min_loa, or the min_loa of its product that covers the
// request's scopes, holds its logins to that level whatever acr_values
// asks: routing offers only authenticators that reach it, the ID token
// says the level reached, and a subscriber none of whose authenticators
// reaches it is refused with access_denied naming the level.
func TestSPPolicyHoldsTheLevel(t *testing.T) {
	f := newTokenFixture(t)
	phone := newPhone()
	phone.answer(redNumber, Succeeded)
	r, err := NewRouter(
		Registration{AuthenticatorInfo{Name: "sms", LoA: 2, AMR: []string{"OTP_OK"}}, phone},
		Registration{AuthenticatorInfo{Name: "pin", LoA: 3, AMR: []string{"SIM_PIN"}}, phone})
	if err != nil {
		t.Fatal(err)
	}
	f.g.cfg.Router = r
	login := func(state string) string {
		t.Helper()
		status, body, _ := f.redeem("shop:"+shopSecret, codeForm(f.code("state", state, "acr_values", "2")))
		if status != 200 {
			t.Fatalf("token: %d %v", status, body)
		}
		return acrOf(t, body["id_token"].(string))
	}
	if got := login("no-policy"); got != "2" {
		t.Fatalf("without a policy acr_values=2 gives acr %s", got)
	}

	f.changeSP(func(sp *registry.ServiceProvider) { sp.MinLoA = 3 })
	if got := login("sp-floor"); got != "3" {
		t.Fatalf("the SP's min_loa 3: acr %s", got)
	}

	reg := f.g.cfg.Registry.(*registry.Registry)
	for _, p := range []registry.Product{
		{ID: "plus", Name: "Authenticate Plus", Scopes: []string{"openid", "mc_authn"}, MinLoA: 3},
		{ID: "kyc", Name: "KYC", Scopes: []string{"openid", "mc_kyc_plain"}, MinLoA: 4},
	} {
		if err := reg.Apply(reg.AppliedIndex()+1, registry.MustEncode(registry.CmdPutProduct, p)); err != nil {
			t.Fatal(err)
		}
	}
	// A product that covers the request holds it; one that does not
	// (KYC, not asked for) does not.
	f.changeSP(func(sp *registry.ServiceProvider) { sp.MinLoA, sp.Products = 0, []string{"plus", "kyc"} })
	if got := login("product-floor"); got != "3" {
		t.Fatalf("the product's min_loa 3: acr %s", got)
	}

	// Nothing of the subscriber's reaches 4: refused, saying so.
	f.changeSP(func(sp *registry.ServiceProvider) { sp.MinLoA = 4 })
	_, loc, _ := do(t, f.app, "GET", authorizeURL("state", "too-high", "acr_values", "2"), nil)
	q := redirectParams(t, loc)
	if q.Get("error") != "access_denied" || !strings.Contains(q.Get("error_description"), "level of assurance 4") {
		t.Fatalf("a floor no authenticator reaches: %v", q)
	}
}
