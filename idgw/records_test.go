package idgw

import (
	"encoding/json"
	"reflect"
	"testing"
)

// TestStoredRequestsOfEitherFormDecode: a request stored by a build that
// wrote every field of AuthRequest, its empty ones too, decodes to what
// this build's shorter form (no empty fields) does, and that form keeps
// every field the request holds.
func TestStoredRequestsOfEitherFormDecode(t *testing.T) {
	want := loginRequest()
	// As a build before the empty fields were left out stored it.
	older := `{"ClientID":"loadgen-sp-3","RedirectURI":"https://sp.example/callback","Scopes":["openid"],"State":"st-2f8a1c0d9e7b","Nonce":"n-7c1e5a9b3d2f","Version":"mc_v2.0","RequestedVersion":"mc_v2_0","ACR":[2],"LevelFloor":0,"MaxAge":0,"HasMaxAge":false,"Prompt":0,"Display":"","LoginHint":"ENCR_MSISDN:0a1b2c3d4e5f60718293a4b5c6d7e8f9","LoginHintKind":2,"MSISDN":447400123456,"PCR":"","LoginHintToken":"","Claims":null,"ClaimsMalformed":false,"CodeChallenge":"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM","CorrelationID":"corr-5d1b2a","Authz":false,"Context":"","BindingMessage":"","ClientName":"","UILocales":"","ClaimsLocales":"","IDTokenHint":"","DTBS":"","ReceivedAt":"2026-12-08T01:02:03.000000004Z"}`
	var old AuthRequest
	if err := json.Unmarshal([]byte(older), &old); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&old, want) {
		t.Fatalf("the older form decodes to\n%+v\nwant\n%+v", old, *want)
	}
	b, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) >= len(older) {
		t.Errorf("the stored form has %d bytes, the older %d", len(b), len(older))
	}
	var back AuthRequest
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&back, want) {
		t.Fatalf("%s decodes to\n%+v\nwant\n%+v", b, back, *want)
	}
	// Every field set, none is left out.
	full := *want
	full.LevelFloor, full.MaxAge, full.HasMaxAge, full.Prompt, full.Display = 3, 600e9, true, PromptLogin, "page"
	full.PCR, full.LoginHintToken, full.ClaimsMalformed, full.Authz = "pcr-1", "lht", true, true
	full.Claims = ClaimsRequest{"userinfo": {"name": json.RawMessage(`{"essential":true}`)}}
	full.Context, full.BindingMessage, full.ClientName = "ctx", "bind", "Shop"
	full.UILocales, full.ClaimsLocales, full.IDTokenHint, full.DTBS = "de", "fr", "eyJ", "dtbs"
	if b, err = json.Marshal(&full); err != nil {
		t.Fatal(err)
	}
	back = AuthRequest{}
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, full) {
		t.Fatalf("%s decodes to\n%+v\nwant\n%+v", b, back, full)
	}
}
