package idgw

import (
	"encoding/json"
	"io"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/mcfed/mcfed/internal/jose"
	"github.com/mcfed/mcfed/registry"
)

const testIssuer = "https://op.example/mc"

// testRegistry holds one operator, "op", with the catalogue's scopes.
func testRegistry(t *testing.T, scopes ...string) *registry.Registry {
	t.Helper()
	r := registry.New()
	idx := uint64(0)
	apply := func(typ registry.CommandType, v any) {
		idx++
		if err := r.Apply(idx, registry.MustEncode(typ, v)); err != nil {
			t.Fatal(err)
		}
	}
	apply(registry.CmdPutOperator, registry.Operator{ID: "op", Name: "Op", Country: "GB", Currency: "GBP",
		Networks: []string{"234_50"}, Issuer: testIssuer, Status: registry.StatusActive})
	for _, s := range scopes {
		apply(registry.CmdPutScope, registry.Scope{Name: s})
	}
	return r
}

func testGateway(t *testing.T, reg Registry) (*Gateway, *fiber.App) {
	t.Helper()
	return testGatewayWith(t, reg, &Router{})
}

// testGatewayWith is testGateway with the authenticators of router.
func testGatewayWith(t *testing.T, reg Registry, router *Router) (*Gateway, *fiber.App) {
	t.Helper()
	ring := jose.NewKeyRing(time.Hour)
	if _, err := ring.Ensure(time.Now(), jose.RS256, jose.ES256); err != nil {
		t.Fatal(err)
	}
	g, err := New(Config{OperatorID: "op", Issuer: testIssuer, Registry: reg, Keys: ring, Subscribers: subscriberMap{}, Router: router, Store: newTestStore(t)})
	if err != nil {
		t.Fatal(err)
	}
	app := fiber.New()
	if err := g.Mount(app); err != nil {
		t.Fatal(err)
	}
	return g, app
}

func get(t *testing.T, app *fiber.App, path string) (int, string, []byte) {
	t.Helper()
	resp, err := app.Test(httptest.NewRequest("GET", path, nil))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), b
}

// TestMetadataHasWhatTheSDKsRead checks the fields spec §2.6 and §7 name:
// the Java SDK refuses "openid mc_authn" unless mc_version lists
// mc_di_r2_v2.3 or mc_di_v3.0, and requires every requested scope listed.
func TestMetadataHasWhatTheSDKsRead(t *testing.T) {
	router, err := NewRouter(Registration{AuthenticatorInfo{Name: "sms", LoA: 2, AMR: []string{"OTP_OK"}}, newPhone()},
		Registration{AuthenticatorInfo{Name: "sim-pin", LoA: 3, AMR: []string{"SIM_PIN"}, Enrolment: "sim-pin"}, newPhone()})
	if err != nil {
		t.Fatal(err)
	}
	_, app := testGatewayWith(t, testRegistry(t, "openid", "mc_authn", "mc_identity_phonenumber"), router)
	status, _, body := get(t, app, "/mc/.well-known/openid-configuration")
	if status != 200 {
		t.Fatalf("metadata: %d %s", status, body)
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	if m["issuer"] != testIssuer {
		t.Fatalf("issuer %v, want exactly %s", m["issuer"], testIssuer)
	}
	for field, want := range map[string]string{
		"authorization_endpoint": testIssuer + "/authorize", "token_endpoint": testIssuer + "/token",
		"userinfo_endpoint": testIssuer + "/userinfo", "premiuminfo_endpoint": testIssuer + "/premiuminfo",
		"jwks_uri": testIssuer + "/jwks", "revocation_endpoint": testIssuer + "/revoke",
		"si_authorization_endpoint": testIssuer + "/si-authorize", "version": "3.0",
	} {
		if m[field] != want {
			t.Errorf("%s = %v, want %s", field, m[field], want)
		}
	}
	list := func(field string) []string {
		var out []string
		for _, v := range m[field].([]any) {
			out = append(out, v.(string))
		}
		return out
	}
	for field, must := range map[string][]string{
		"mc_version":                                    {"mc_di_r2_v2.3", "mc_di_v3.0", "mc_v1.1"},
		"scopes_supported":                              {"openid", "mc_authn", "mc_identity_phonenumber"},
		"mc_di_scopes_supported":                        {"mc_identity_phonenumber"},
		"acr_values_supported":                          {"2", "3"},
		"login_hint_methods_supported":                  {"MSISDN", "ENCR_MSISDN", "PCR"},
		"response_types_supported":                      {"code"},
		"id_token_signing_alg_values_supported":         {"RS256"},
		"token_endpoint_auth_methods_supported":         {"client_secret_basic", "client_secret_post", "private_key_jwt"},
		"revocation_endpoint_auth_methods_supported":    {"private_key_jwt"},
		"introspection_endpoint_auth_methods_supported": {"private_key_jwt"},
		// Asymmetric algorithms only: an HMAC with the client secret is
		// not a key the gateway can trust an assertion to.
		"token_endpoint_auth_signing_alg_values_supported": {"RS256", "PS256", "ES256"},
	} {
		got := list(field)
		for _, w := range must {
			if !slices.Contains(got, w) {
				t.Errorf("%s = %v lacks %s", field, got, w)
			}
		}
	}
	for _, a := range list("token_endpoint_auth_signing_alg_values_supported") {
		if a == "none" || strings.HasPrefix(a, "HS") {
			t.Errorf("token_endpoint_auth_signing_alg_values_supported lists %s", a)
		}
	}
	// Every ID token algorithm advertised is one an SP can register (the
	// registry refuses EdDSA there, though the signing ring holds a key).
	for _, a := range list("id_token_signing_alg_values_supported") {
		sp := registry.ServiceProvider{ClientID: "alg-check", Name: "Alg check", RedirectURIs: []string{"https://sp.example/cb"},
			Scopes: []string{"openid"}, IDTokenAlg: a, SecretHash: "sha256:" + strings.Repeat("ab", 32), Status: "active"}
		if err := sp.Validate(); err != nil {
			t.Errorf("id_token_signing_alg_values_supported lists %s, which an SP cannot register: %v", a, err)
		}
	}
}

func TestJWKSPublishesPublicKeysWithKidAndAlg(t *testing.T) {
	_, app := testGateway(t, testRegistry(t, "openid"))
	status, ctype, body := get(t, app, "/mc/jwks")
	if status != 200 || !strings.Contains(ctype, "json") {
		t.Fatalf("jwks: %d %s", status, ctype)
	}
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil || len(set.Keys) != 2 {
		t.Fatalf("jwks %s: %v", body, err)
	}
	for _, k := range set.Keys {
		for _, f := range []string{"kty", "use", "alg", "kid"} {
			if k[f] == nil {
				t.Errorf("key %v has no %s", k, f)
			}
		}
		for _, f := range []string{"d", "p", "q", "dp", "dq", "qi"} {
			if k[f] != nil {
				t.Fatalf("the JWKS publishes private member %s", f)
			}
		}
	}
}

func TestMetadataWaitsForTheOperatorRecord(t *testing.T) {
	_, app := testGateway(t, registry.New())
	if status, _, _ := get(t, app, "/mc/.well-known/openid-configuration"); status != 503 {
		t.Fatalf("metadata before the operator is registered: %d, want 503", status)
	}
}

// TestMetadataListsOnlyWhatItsAuthenticatorsReach: acr_values_supported
// and mc_amr_values_supported are the levels and methods of the
// authenticators the gateway runs, nothing more: a gateway with only SMS
// promises level 2 and SMS's amr values; one with none promises nothing.
func TestMetadataListsOnlyWhatItsAuthenticatorsReach(t *testing.T) {
	sms := Registration{AuthenticatorInfo{Name: "sms-otp-url", LoA: 2, AMR: []string{"OTP_OK", "SMS_URL_OK"}}, newPhone()}
	sim := []Registration{
		{AuthenticatorInfo{Name: "sim-ok", LoA: 2, AMR: []string{"SIM_OK"}, Enrolment: "sim-ok"}, newPhone()},
		{AuthenticatorInfo{Name: "sim-pin", LoA: 3, AMR: []string{"SIM_PIN"}, Enrolment: "sim-pin"}, newPhone()},
	}
	seam := Registration{AuthenticatorInfo{Name: "seamless", LoA: 2, AMR: []string{"SEAM_OK"}}, networkPhone{newPhone()}}
	const prompts = "none login consent select_account"
	for _, c := range []struct {
		name             string
		regs             []Registration
		acr, amr, prompt string
	}{
		{"only SMS", []Registration{sms}, "2", "OTP_OK SMS_URL_OK", prompts},
		{"SIM then SMS", append(sim, sms), "2 3", "SIM_OK SIM_PIN OTP_OK SMS_URL_OK", prompts},
		{"seamless then SMS", []Registration{seam, sms}, "2", "SEAM_OK OTP_OK SMS_URL_OK", prompts + " no_seam"},
		{"none", nil, "", "", prompts},
	} {
		t.Run(c.name, func(t *testing.T) {
			router, err := NewRouter(c.regs...)
			if err != nil {
				t.Fatal(err)
			}
			_, app := testGatewayWith(t, testRegistry(t, "openid", "mc_authn"), router)
			status, _, body := get(t, app, "/mc/.well-known/openid-configuration")
			var m struct {
				ACR    []string `json:"acr_values_supported"`
				AMR    []string `json:"mc_amr_values_supported"`
				Prompt []string `json:"prompt_values_supported"`
			}
			if err := json.Unmarshal(body, &m); status != 200 || err != nil || m.ACR == nil || m.AMR == nil {
				t.Fatalf("metadata: %d %v %s", status, err, body)
			}
			if got := strings.Join(m.ACR, " "); got != c.acr {
				t.Errorf("acr_values_supported %q, want %q", got, c.acr)
			}
			if got := strings.Join(m.AMR, " "); got != c.amr {
				t.Errorf("mc_amr_values_supported %q, want %q", got, c.amr)
			}
			if got := strings.Join(m.Prompt, " "); got != c.prompt {
				t.Errorf("prompt_values_supported %q, want %q (no_seam only with seamless login)", got, c.prompt)
			}
		})
	}
}

// networkPhone is an authenticator that reads the network (seamless).
type networkPhone struct{ *phoneAuthenticator }

func (networkPhone) NetworkHeaders() []string { return []string{"X-MSISDN"} }
