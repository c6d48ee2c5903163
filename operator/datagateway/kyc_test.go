package datagateway

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	"github.com/mcfed/mcfed/idgw"
)

func sha(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// premium builds a premiuminfo claims request from claim → request JSON.
func premium(m map[string]string) idgw.ClaimsRequest {
	sec := map[string]json.RawMessage{}
	for k, v := range m {
		sec[k] = json.RawMessage(v)
	}
	return idgw.ClaimsRequest{"premiuminfo": sec}
}

func val(s string) string {
	b, _ := json.Marshal(map[string]string{"value": s})
	return string(b)
}

// kycOnly returns the _match results of out, checking that nothing else but
// the ATP signals was released.
func kycOnly(t *testing.T, out map[string]any) map[string]any {
	t.Helper()
	m := map[string]any{}
	for k, v := range out {
		switch {
		case strings.HasSuffix(k, "_match"):
			m[k] = v
		case k == ClaimSIMChangeDate || k == ClaimLastPortDate:
		default:
			t.Errorf("KYC released %s = %v", k, v)
		}
	}
	return m
}

// assertNoValues checks that none of the held values nor of the SP's values
// appear anywhere in the answer.
func assertNoValues(t *testing.T, out map[string]any, values ...string) {
	t.Helper()
	b, _ := json.Marshal(out)
	low := bytes.ToLower(b)
	for _, v := range values {
		if v != "" && bytes.Contains(low, []byte(strings.ToLower(v))) {
			t.Errorf("answer %s carries the value %q", b, v)
		}
	}
}

var heldValues = []string{"John", "Quincy", "Smith", "1980-01-01", "Downing", "SW1A", "London", "AB123456C", "example.com"}

func TestKYCPlain(t *testing.T) {
	g := New(&fakeSource{rec: fullRecord()})
	sent := map[string]string{
		"given_name":           val("  john "),
		"family_name":          val("SMITH"),
		"name":                 val("John  Quincy Smith"),
		"birthdate":            val("1980-01-02"),
		"postal_code":          val("sw1a2aa"),
		"town":                 val("LONDON"),
		"country":              val("FR"),
		"houseno_or_housename": val("10"),
		"address":              val("10 Downing Street, SW1A 2AA, London"),
	}
	out, err := g.Claims(context.Background(), query(EndpointPremiumInfo, "openid mc_kyc_plain", premium(sent)))
	if err != nil {
		t.Fatal(err)
	}
	assertJSONEqual(t, kycOnly(t, out), map[string]any{
		"given_name_match": "true", "family_name_match": "true", "name_match": "true",
		"birthdate_match": "false", "postal_code_match": "true", "town_match": "true",
		"country_match": "false", "houseno_or_housename_match": "true", "address_match": "true",
	})
	assertNoValues(t, out, append(heldValues, "FR", "1980-01-02")...)

	// Mismatches all round.
	out, _ = g.Claims(context.Background(), query(EndpointPremiumInfo, "openid mc_kyc_plain", premium(map[string]string{
		"given_name": val("Jon"), "family_name": val("Smyth"), "name": val("John Smith Jr"),
		"houseno_or_housename": val("11"), "address": val("10 Downing Street, SW1A 2AB"),
		"postal_code": val("SW1A 2AB"),
	})))
	assertJSONEqual(t, kycOnly(t, out), map[string]any{
		"given_name_match": "false", "family_name_match": "false", "name_match": "false",
		"houseno_or_housename_match": "false", "address_match": "false", "postal_code_match": "false",
	})

	// "values": any of them may match; numbers are read as their text.
	out, _ = g.Claims(context.Background(), query(EndpointPremiumInfo, "openid mc_kyc_plain", premium(map[string]string{
		"given_name": `{"values":["Jon","John"]}`, "houseno_or_housename": `{"value":10}`,
	})))
	assertJSONEqual(t, kycOnly(t, out), map[string]any{"given_name_match": "true", "houseno_or_housename_match": "true"})
}

func TestKYCHashed(t *testing.T) {
	g := New(&fakeSource{rec: fullRecord()})
	sent := map[string]string{
		"given_name_hashed":           val(sha("john")),                             // canonical fold
		"family_name_hashed":          val(strings.ToUpper(sha("smith"))),           // uppercase hex
		"name_hashed":                 val(sha("john quincy smith")),                // lower case, spaces kept
		"birthdate_hashed":            val(sha("1980-01-02")),                       // wrong date
		"postal_code_hashed":          val("not-a-digest"),                          // malformed
		"address_hashed":              val(sha("10downingstreetsw1a2aa")),           // composite canonical
		"town_hashed":                 val(sha("London")),                           // as held
		"country_hashed":              val(sha("fr")),                               // wrong
		"houseno_or_housename_hashed": val(" " + sha("10downingstreet") + " "),      // whole street
		"given_name":                  val("John"),                                  // plain: not granted
		"unknown_hashed":              val(sha("john")),                             // not a KYC claim
		"name":                        `{"value":"` + sha("johnquincysmith") + `"}`, // plain, not granted
	}
	out, err := g.Claims(context.Background(), query(EndpointPremiumInfo, "openid mc_kyc_hashed", premium(sent)))
	if err != nil {
		t.Fatal(err)
	}
	assertJSONEqual(t, kycOnly(t, out), map[string]any{
		"given_name_hashed_match": "true", "family_name_hashed_match": "true", "name_hashed_match": "true",
		"birthdate_hashed_match": "false", "postal_code_hashed_match": "false", "address_hashed_match": "true",
		"town_hashed_match": "true", "country_hashed_match": "false", "houseno_or_housename_hashed_match": "true",
	})
	assertNoValues(t, out, append(heldValues, sha("john"), sha("smith"))...)

	// A hashed claim under the plain scope only is not answered, and a
	// plain value is not taken for a digest.
	out, _ = g.Claims(context.Background(), query(EndpointPremiumInfo, "openid mc_kyc_plain", premium(map[string]string{
		"given_name_hashed": val(sha("john")), "given_name": val(sha("john")),
	})))
	assertJSONEqual(t, kycOnly(t, out), map[string]any{"given_name_match": "false"})

	// Both scopes: both kinds.
	out, _ = g.Claims(context.Background(), query(EndpointPremiumInfo, "openid mc_kyc_plain mc_kyc_hashed", premium(map[string]string{
		"given_name_hashed": val(sha("john")), "family_name": val("smith"),
	})))
	assertJSONEqual(t, kycOnly(t, out), map[string]any{"given_name_hashed_match": "true", "family_name_match": "true"})
}

func TestKYCNotHeldIsFalse(t *testing.T) {
	g := New(&fakeSource{rec: Record{GivenName: "John"}})
	out, err := g.Claims(context.Background(), query(EndpointPremiumInfo, "openid mc_kyc_plain mc_kyc_hashed", premium(map[string]string{
		"given_name": val("John"), "birthdate": val("1980-01-01"), "address": val("10 Downing Street"),
		"name": val("John"), "postal_code_hashed": val(sha("")),
	})))
	if err != nil {
		t.Fatal(err)
	}
	assertJSONEqual(t, out, map[string]any{
		"address_match": "false", "birthdate_match": "false", "given_name_match": "true",
		"name_match": "false", "postal_code_hashed_match": "false",
	})
}

func TestKYCOnlyOnPremiumInfo(t *testing.T) {
	g := New(&fakeSource{rec: fullRecord()})
	claims := premium(map[string]string{"given_name": val("John")})
	claims["userinfo"] = claims["premiuminfo"]
	out, err := g.Claims(context.Background(), query(EndpointUserInfo, "openid mc_kyc_plain", claims))
	if err != nil || len(out) != 0 {
		t.Errorf("userinfo with KYC: %v, %v", out, err)
	}
}

// javaKYCClaims is what the GSMA Java SDK's KYCClaimsParameter.toJson sends:
// premiuminfo as an array of one-member objects named by the value rather
// than the claim, and empty objects for the claims not set.
const javaKYCClaims = `{"premiuminfo":[{"John":{"value":"John"}},{},{"Smith":{"value":"Smith"}},{},{},` +
	`{"SW1A 2AA":{"value":"SW1A 2AA"}},{},{},{"1980-01-01":{"value":"1980-01-01"}},{},{},{},{},{},{},{},{},{}]}`

// mergeLikeIDGW reads a claims parameter as idgw's parseClaims does with an
// array section: element by element, keeping the objects.
func mergeLikeIDGW(t *testing.T, param string) idgw.ClaimsRequest {
	t.Helper()
	var top map[string]json.RawMessage
	if err := json.Unmarshal([]byte(param), &top); err != nil {
		t.Fatal(err)
	}
	out := idgw.ClaimsRequest{}
	for name, raw := range top {
		var elems []map[string]json.RawMessage
		if err := json.Unmarshal(raw, &elems); err != nil {
			t.Fatal(err)
		}
		sec := map[string]json.RawMessage{}
		for _, el := range elems {
			for k, v := range el {
				sec[k] = v
			}
		}
		out[name] = sec
	}
	return out
}

func TestKYCJavaSDKMalformedForm(t *testing.T) {
	g := New(&fakeSource{rec: fullRecord()})
	claims := mergeLikeIDGW(t, javaKYCClaims)
	// A well-formed claim sent along is still answered.
	claims["premiuminfo"]["postal_code"] = json.RawMessage(val("SW1A 2AA"))
	for _, scopes := range []string{"openid mc_kyc_plain", "openid mc_kyc_hashed", "openid mc_kyc_plain mc_kyc_hashed"} {
		out, err := g.Claims(context.Background(), query(EndpointPremiumInfo, scopes, claims))
		if err != nil {
			t.Fatalf("%s: %v", scopes, err)
		}
		want := map[string]any{}
		if strings.Contains(scopes, "mc_kyc_plain") {
			want["postal_code_match"] = "true"
		}
		assertJSONEqual(t, kycOnly(t, out), want)
		assertNoValues(t, out, "John", "Smith", "1980-01-01", "SW1A")
	}

	// Whatever else a section may hold: arrays, bare strings, objects as
	// values, broken JSON, nulls. Nothing crashes; what can be matched is.
	garbage := idgw.ClaimsRequest{"premiuminfo": {
		"given_name":           json.RawMessage(`["John"]`),
		"family_name":          json.RawMessage(`"Smith"`),
		"birthdate":            json.RawMessage(`{"value":{"date":"1980-01-01"}}`),
		"postal_code":          json.RawMessage(`{"value":`),
		"town":                 json.RawMessage(`null`),
		"name":                 json.RawMessage(``),
		"address":              json.RawMessage(`{"values":"10 Downing Street"}`),
		"houseno_or_housename": json.RawMessage(`{"value":"   "}`),
		"country":              json.RawMessage(`{"value":"gb","essential":true}`),
		"given_name_hashed":    json.RawMessage(`{"value":["` + sha("john") + `"]}`),
	}}
	out, err := g.Claims(context.Background(), query(EndpointPremiumInfo, "openid mc_kyc_plain mc_kyc_hashed", garbage))
	if err != nil {
		t.Fatal(err)
	}
	assertJSONEqual(t, kycOnly(t, out), map[string]any{"country_match": "true"})

	// A nil claims request.
	if out, err := g.Claims(context.Background(), query(EndpointPremiumInfo, "openid mc_kyc_plain", nil)); err != nil || len(kycOnly(t, out)) != 0 {
		t.Errorf("nil claims: %v, %v", out, err)
	}
}
