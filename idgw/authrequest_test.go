package idgw

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/mcfed/mcfed/internal/e164"
	"github.com/mcfed/mcfed/internal/jose"
	"github.com/mcfed/mcfed/registry"
)

const (
	shopCB    = "https://shop.example/cb?app=1" // a registered URI with its own query
	shopPlain = "https://shop.example/cb"
	shopApp   = "com.shop.app:/cb"
	redNumber = "+447911123456" // in red's range
	blueNum   = "+447912123456" // in blue's range
	noneNum   = "+447400123456" // a valid number in no range
)

// authTestOpener opens ENCR_MSISDN hints from a map, or with an RSA key the way
// discovery seals them (digits|fill, PKCS#1 v1.5, hex).
type authTestOpener struct {
	m      map[string]uint64
	priv   *rsa.PrivateKey
	opened atomic.Int32 // calls of OpenLoginHint
}

func (o *authTestOpener) OpenLoginHint(s, _ string) (uint64, error) {
	o.opened.Add(1)
	if n, ok := o.m[s]; ok {
		return n, nil
	}
	if o.priv == nil {
		return 0, errors.New("secret detail: no such key 0xdeadbeef")
	}
	ct, err := hex.DecodeString(s)
	if err != nil {
		return 0, err
	}
	//lint:ignore SA1019 the ENCR_MSISDN format.
	pt, err := rsa.DecryptPKCS1v15(nil, o.priv, ct)
	if err != nil {
		return 0, err
	}
	d, _, ok := strings.Cut(string(pt), "|")
	if !ok {
		return 0, errors.New("bad plaintext")
	}
	return strconv.ParseUint(d, 10, 64)
}

// authTestSeal is discovery's Seal, redone here (idgw may not import discovery).
func authTestSeal(t testing.TB, pub *rsa.PublicKey, msisdn string) string {
	t.Helper()
	pt := []byte(strings.TrimPrefix(msisdn, "+") + "|")
	for len(pt) < 128 {
		pt = append(pt, 'x')
	}
	//lint:ignore SA1019 the ENCR_MSISDN format.
	ct, err := rsa.EncryptPKCS1v15(rand.Reader, pub, pt)
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(ct)
}

func authTestMSISDN(t testing.TB, s string) uint64 {
	t.Helper()
	n, err := e164.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// newAuthTestGateway builds the gateway of operator red over a registry with
// operators red and blue, their number ranges, a small catalogue and SPs:
// shop (accepted by red), blueonly (accepted by blue only) and sleepy
// (suspended).
func newAuthTestGateway(t testing.TB) (*Gateway, *authTestOpener) {
	t.Helper()
	r := registry.New()
	var index uint64
	must := func(typ registry.CommandType, v any) {
		t.Helper()
		index++
		if err := r.Apply(index, registry.MustEncode(typ, v)); err != nil {
			t.Fatalf("command %d: %v", typ, err)
		}
	}
	for _, o := range []struct{ id, network string }{{"red", "234_10"}, {"blue", "234_20"}} {
		must(registry.CmdPutOperator, registry.Operator{ID: o.id, Name: "Operator " + o.id, Country: "GB",
			Currency: "GBP", Networks: []string{o.network}, Issuer: "https://" + o.id + ".example/",
			Status: registry.StatusActive})
	}
	must(registry.CmdPutRanges, registry.RangeBatch{Ranges: []registry.Range{
		{Prefix: "+447911", Operator: "red"}, {Prefix: "+447912", Operator: "blue"}}})
	for _, s := range []string{"openid", "mc_authn", "mc_authz", "mc_identity_phonenumber", "mc_kyc_plain"} {
		must(registry.CmdPutScope, registry.Scope{Name: s})
	}
	sp := func(id string, ops []string, st registry.Status) registry.ServiceProvider {
		return registry.ServiceProvider{ClientID: id, Name: "SP " + id,
			SecretHash:   registry.HashSecret(strings.Repeat("s", 40)),
			RedirectURIs: []string{shopCB, shopPlain, shopApp},
			Scopes:       []string{"openid", "mc_authn", "mc_authz", "mc_kyc_plain"},
			Operators:    ops, Status: st}
	}
	must(registry.CmdPutSP, sp("shop", []string{"red"}, registry.StatusActive))
	must(registry.CmdPutSP, sp("blueonly", []string{"blue"}, registry.StatusActive))
	must(registry.CmdPutSP, sp("sleepy", []string{registry.AllOperators}, registry.StatusSuspended))

	op := &authTestOpener{m: map[string]uint64{
		"aa11": authTestMSISDN(t, redNumber),
		"bb22": authTestMSISDN(t, blueNum),
	}}
	g, err := New(Config{OperatorID: "red", Issuer: "https://red.example/", Registry: r, Keys: jose.NewKeyRing(time.Hour), LoginHints: op,
		Subscribers: subscriberMap{}, Router: &Router{}, Store: newTestStore(t)})
	if err != nil {
		t.Fatal(err)
	}
	return g, op
}

// authTestArgs is a valid request.
func authTestArgs() url.Values {
	return url.Values{
		"client_id":      {"shop"},
		"redirect_uri":   {shopCB},
		"response_type":  {"code"},
		"scope":          {"openid mc_authn"},
		"state":          {"st-1"},
		"nonce":          {"n-1"},
		"correlation_id": {"corr-1"},
	}
}

var authTestNow = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

func TestParseAuthRequestRejections(t *testing.T) {
	g, _ := newAuthTestGateway(t)
	set := func(kv ...string) func(url.Values) {
		return func(v url.Values) {
			for i := 0; i < len(kv); i += 2 {
				if kv[i+1] == "\x00del" {
					delete(v, kv[i])
				} else {
					v.Set(kv[i], kv[i+1])
				}
			}
		}
	}
	del := "\x00del"
	add := func(k string, vs ...string) func(url.Values) {
		return func(v url.Values) { v[k] = append(v[k], vs...) }
	}
	long := strings.Repeat("a", maxParamLen+1)
	for _, tc := range []struct {
		name     string
		change   func(url.Values)
		code     ErrorCode
		redirect bool
		noState  bool // state is not echoed (missing or unusable)
	}{
		// Not redirectable: the client or the redirect URI is not trusted.
		{"missing client_id", set("client_id", del), CodeInvalidRequest, false, false},
		{"empty client_id", set("client_id", ""), CodeInvalidRequest, false, false},
		{"unknown client_id", set("client_id", "nobody"), CodeInvalidRequest, false, false},
		{"oversized client_id", set("client_id", long), CodeInvalidRequest, false, false},
		{"repeated client_id", add("client_id", "shop"), CodeInvalidRequest, false, false},
		{"suspended client", set("client_id", "sleepy"), CodeUnauthorizedClient, false, false},
		{"client not accepted by this operator", set("client_id", "blueonly"), CodeUnauthorizedClient, false, false},
		{"missing redirect_uri", set("redirect_uri", del), CodeInvalidRequest, false, false},
		{"unregistered redirect_uri", set("redirect_uri", "https://evil.example/cb"), CodeInvalidRequest, false, false},
		{"redirect_uri extending a registered one", set("redirect_uri", shopCB+"&x=1"), CodeInvalidRequest, false, false},
		{"redirect_uri differing in case", set("redirect_uri", "https://SHOP.example/cb"), CodeInvalidRequest, false, false},
		{"repeated redirect_uri", add("redirect_uri", shopCB), CodeInvalidRequest, false, false},

		// Redirectable.
		{"repeated state", add("state", "st-2"), CodeInvalidRequest, true, false},
		{"repeated nonce", add("nonce", "n-2"), CodeInvalidRequest, true, false},
		{"repeated scope", add("scope", "openid"), CodeInvalidRequest, true, false},
		{"repeated login_hint", add("login_hint", "PCR:a", "PCR:b"), CodeInvalidRequest, true, false},
		{"claims three times", add("claims", "{}", "{}", "{}"), CodeInvalidRequest, true, false},
		{"max_age and max-age disagree", set("max_age", "10", "max-age", "20"), CodeInvalidRequest, true, false},
		{"oversized nonce", set("nonce", long), CodeInvalidRequest, true, false},
		{"oversized state", set("state", long), CodeInvalidRequest, true, true},
		{"oversized claims", set("claims", `{"userinfo":{"x":"`+strings.Repeat("a", maxClaimsLen)+`"}}`), CodeInvalidRequest, true, false},
		{"invalid UTF-8", set("ui_locales", "\xff"), CodeInvalidRequest, true, false},
		{"missing response_type", set("response_type", del), CodeInvalidRequest, true, false},
		{"response_type token", set("response_type", "token"), CodeUnsupportedResponseType, true, false},
		{"response_type code id_token", set("response_type", "code id_token"), CodeUnsupportedResponseType, true, false},
		{"missing scope", set("scope", del), CodeInvalidScope, true, false},
		{"scope without openid", set("scope", "mc_authn"), CodeInvalidScope, true, false},
		{"malformed scope", set("scope", `openid "mc_authn`), CodeInvalidScope, true, false},
		{"scope in the catalogue but not allowed to the SP", set("scope", "openid mc_identity_phonenumber"), CodeAccessDenied, true, false},
		{"scope not in the catalogue", set("scope", "openid mc_nope"), CodeAccessDenied, true, false},
		{"missing state", set("state", del), CodeInvalidRequest, true, true},
		{"missing nonce", set("nonce", del), CodeInvalidRequest, true, false},
		{"unknown version", set("version", "mc_v9.9"), CodeInvalidRequest, true, false},
		{"server-initiated version", set("version", "mc_si_r2_v1.0"), CodeInvalidRequest, true, false},
		{"acr_values without a supported level", set("acr_values", "1 5 x"), CodeInvalidRequest, true, false},
		{"empty acr_values", set("acr_values", ""), CodeInvalidRequest, true, false},
		{"negative max_age", set("max_age", "-1"), CodeInvalidRequest, true, false},
		{"negative max-age", set("max-age", "-1"), CodeInvalidRequest, true, false},
		{"non-numeric max-age", set("max-age", "1h"), CodeInvalidRequest, true, false},
		{"huge max_age", set("max_age", "99999999999999999999"), CodeInvalidRequest, true, false},
		{"unknown prompt", set("prompt", "login bogus"), CodeInvalidRequest, true, false},
		{"prompt none with others", set("prompt", "none login"), CodeInvalidRequest, true, false},
		{"unknown display", set("display", "tv"), CodeInvalidRequest, true, false},
		{"claims not JSON", set("claims", "{nope"), CodeInvalidRequest, true, false},
		{"claims a JSON array", set("claims", `[{"userinfo":{}}]`), CodeInvalidRequest, true, false},
		{"mc_authz without context", set("scope", "openid mc_authz", "client_name", "Shop"), CodeInvalidRequest, true, false},
		{"mc_authz without client_name", set("scope", "openid mc_authz", "context", "Pay 10 GBP"), CodeInvalidRequest, true, false},
		{"context without mc_authn and without client_name", set("scope", "openid", "context", "Pay"), CodeInvalidRequest, true, false},
		{"binding_message too long", set("scope", "openid mc_authz", "context", "Pay", "client_name", "Shop",
			"binding_message", strings.Repeat("b", maxBindingRunes+1)), CodeInvalidRequest, true, false},
		{"binding_message with a link", set("scope", "openid mc_authz", "context", "Pay", "client_name", "Shop",
			"binding_message", "Pay 1 EUR http://evil.example"), CodeInvalidRequest, true, false},
		{"binding_message with a bare domain", set("scope", "openid mc_authz", "context", "Pay", "client_name", "Shop",
			"binding_message", "see evil.example now"), CodeInvalidRequest, true, false},
		{"binding_message with a code-like number", set("scope", "openid mc_authz", "context", "Pay", "client_name", "Shop",
			"binding_message", "Your code is 995 314"), CodeInvalidRequest, true, false},
		{"context with control characters", set("scope", "openid mc_authz", "context", "Pay\r\nnow", "client_name", "Shop"), CodeInvalidRequest, true, false},
		{"PKCE plain", set("code_challenge", strings.Repeat("a", 43), "code_challenge_method", "plain"), CodeInvalidRequest, true, false},
		{"PKCE without method (plain)", set("code_challenge", strings.Repeat("a", 43)), CodeInvalidRequest, true, false},
		{"PKCE method without challenge", set("code_challenge_method", "S256"), CodeInvalidRequest, true, false},
		{"PKCE challenge too short", set("code_challenge", strings.Repeat("a", 42), "code_challenge_method", "S256"), CodeInvalidRequest, true, false},
		{"PKCE challenge too long", set("code_challenge", strings.Repeat("a", 129), "code_challenge_method", "S256"), CodeInvalidRequest, true, false},
		{"PKCE challenge outside the unreserved set", set("code_challenge", strings.Repeat("a", 42)+"+", "code_challenge_method", "S256"), CodeInvalidRequest, true, false},
		{"login_hint MSISDN not a number", set("login_hint", "MSISDN:12"), CodeInvalidRequest, true, false},
		{"login_hint of another form", set("login_hint", "EMAIL:a@b.example"), CodeInvalidRequest, true, false},
		{"login_hint ipport (CAMARA, unsupported)", set("login_hint", "ipport:80.90.34.2:16790"), CodeInvalidRequest, true, false},
		{"login_hint tel without +", set("login_hint", "tel:447911123456"), CodeInvalidRequest, true, false},
		{"login_hint ENCR_MSISDN not hex", set("login_hint", "ENCR_MSISDN:zz"), CodeInvalidRequest, true, false},
		{"login_hint ENCR_MSISDN that fails to open", set("login_hint", "ENCR_MSISDN:0123abcd"), CodeInvalidRequest, true, false},
		{"login_hint empty PCR", set("login_hint", "PCR:"), CodeInvalidRequest, true, false},
		{"login_hint MSISDN of another operator", set("login_hint", "MSISDN:"+strings.TrimPrefix(blueNum, "+")), CodeAccessDenied, true, false},
		{"login_hint MSISDN in no range", set("login_hint", "MSISDN:"+noneNum), CodeAccessDenied, true, false},
		{"login_hint tel of another operator", set("login_hint", "tel:"+blueNum), CodeAccessDenied, true, false},
		{"login_hint ENCR_MSISDN of another operator", set("login_hint", "ENCR_MSISDN:bb22"), CodeAccessDenied, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := authTestArgs()
			tc.change(args)
			r, e := g.parseAuthRequest(args, authTestNow)
			if e == nil {
				t.Fatalf("accepted: %+v", r)
			}
			if r != nil {
				t.Fatal("both a request and an error")
			}
			if e.Code != tc.code {
				t.Fatalf("code %q (%s), want %q", e.Code, e.Description, tc.code)
			}
			if e.Redirects() != tc.redirect {
				t.Fatalf("redirects = %v, want %v", e.Redirects(), tc.redirect)
			}
			loc := e.ErrorRedirectURL()
			if !tc.redirect {
				if loc != "" || e.RedirectURI() != "" {
					t.Fatalf("a non-redirectable error has a redirect: %q", loc)
				}
				if e.CorrelationID() != "corr-1" {
					t.Fatalf("the error page lost correlation_id: %q", e.CorrelationID())
				}
				return
			}
			u, err := url.Parse(loc)
			if err != nil {
				t.Fatal(err)
			}
			q := u.Query()
			if !strings.HasPrefix(loc, shopCB+"&") || q.Get("app") != "1" {
				t.Fatalf("redirect %q does not keep the registered URI and its query", loc)
			}
			if q.Get("error") != string(tc.code) || q.Get("error_description") != e.Description || e.Description == "" {
				t.Fatalf("redirect %q: wrong error", loc)
			}
			if q.Get("correlation_id") != "corr-1" {
				t.Fatalf("redirect %q lost correlation_id", loc)
			}
			wantState := "st-1"
			if tc.noState {
				wantState = ""
			}
			if q.Get("state") != wantState || len(q["state"]) > 1 {
				t.Fatalf("redirect %q: state %q, want %q", loc, q["state"], wantState)
			}
		})
	}
}

func TestParseAuthRequestAccepts(t *testing.T) {
	g, _ := newAuthTestGateway(t)
	red := authTestMSISDN(t, redNumber)
	challenge := strings.Repeat("A", 20) + "-._~" + strings.Repeat("z", 19)
	for _, tc := range []struct {
		name   string
		change map[string][]string
		check  func(t *testing.T, r *AuthRequest)
	}{
		{"defaults", nil, func(t *testing.T, r *AuthRequest) {
			if r.Version != "mc_v1.1" || r.RequestedVersion != "" || !slices.Equal(r.ACR, []int{2}) ||
				r.Display != "page" || r.HasMaxAge || r.Prompt != 0 || r.LoginHintKind != HintNone || r.Claims != nil || r.Authz {
				t.Fatalf("%+v", r)
			}
			if r.ClientID != "shop" || r.Client == nil || r.RedirectURI != shopCB || r.State != "st-1" || r.Nonce != "n-1" ||
				r.CorrelationID != "corr-1" || !r.ReceivedAt.Equal(authTestNow) || !slices.Equal(r.Scopes, []string{"openid", "mc_authn"}) {
				t.Fatalf("%+v", r)
			}
		}},
		{"mc_v2_0 (Java's underscore)", map[string][]string{"version": {"mc_v2_0"}}, func(t *testing.T, r *AuthRequest) {
			if r.Version != "mc_v2.0" || r.RequestedVersion != "mc_v2_0" {
				t.Fatal(r.Version)
			}
		}},
		{"mc_v2.0", map[string][]string{"version": {"mc_v2.0"}}, func(t *testing.T, r *AuthRequest) {
			if r.Version != "mc_v2.0" {
				t.Fatal(r.Version)
			}
		}},
		{"mc_v1.2", map[string][]string{"version": {"mc_v1.2"}}, func(t *testing.T, r *AuthRequest) {
			if r.Version != "mc_v1.2" {
				t.Fatal(r.Version)
			}
		}},
		{"mc_di_v3.0", map[string][]string{"version": {"mc_di_v3.0"}}, func(t *testing.T, r *AuthRequest) {
			if r.Version != "mc_di_v3.0" {
				t.Fatal(r.Version)
			}
		}},
		{"max-age (Java)", map[string][]string{"max-age": {"3600"}}, func(t *testing.T, r *AuthRequest) {
			if !r.HasMaxAge || r.MaxAge != time.Hour {
				t.Fatal(r.MaxAge)
			}
		}},
		{"max_age 0 (PHP)", map[string][]string{"max_age": {"0"}}, func(t *testing.T, r *AuthRequest) {
			if !r.HasMaxAge || r.MaxAge != 0 {
				t.Fatal(r.MaxAge)
			}
		}},
		{"max_age and max-age agreeing", map[string][]string{"max_age": {"60"}, "max-age": {"60"}}, func(t *testing.T, r *AuthRequest) {
			if r.MaxAge != time.Minute {
				t.Fatal(r.MaxAge)
			}
		}},
		{"login_token_hint (PHP's typo)", map[string][]string{"login_token_hint": {"eyJhbGciOi.x.y"}}, func(t *testing.T, r *AuthRequest) {
			if r.LoginHintToken != "eyJhbGciOi.x.y" {
				t.Fatal(r.LoginHintToken)
			}
		}},
		{"login_hint_token", map[string][]string{"login_hint_token": {"tok"}}, func(t *testing.T, r *AuthRequest) {
			if r.LoginHintToken != "tok" {
				t.Fatal(r.LoginHintToken)
			}
		}},
		{"login_hint MSISDN without +", map[string][]string{"login_hint": {"MSISDN:447911123456"}}, func(t *testing.T, r *AuthRequest) {
			if r.LoginHintKind != HintMSISDN || r.MSISDN != red || r.LoginHint != "MSISDN:447911123456" {
				t.Fatalf("%v %d", r.LoginHintKind, r.MSISDN)
			}
		}},
		{"login_hint MSISDN with +", map[string][]string{"login_hint": {"MSISDN:+447911123456"}}, func(t *testing.T, r *AuthRequest) {
			if r.LoginHintKind != HintMSISDN || r.MSISDN != red {
				t.Fatalf("%v %d", r.LoginHintKind, r.MSISDN)
			}
		}},
		{"login_hint ENCR_MSISDN", map[string][]string{"login_hint": {"ENCR_MSISDN:aa11"}}, func(t *testing.T, r *AuthRequest) {
			if r.LoginHintKind != HintEncrMSISDN || r.MSISDN != red {
				t.Fatalf("%v %d", r.LoginHintKind, r.MSISDN)
			}
		}},
		{"login_hint PCR", map[string][]string{"login_hint": {"PCR:3f2a-77"}}, func(t *testing.T, r *AuthRequest) {
			if r.LoginHintKind != HintPCR || r.PCR != "3f2a-77" || r.MSISDN != 0 {
				t.Fatalf("%v %q", r.LoginHintKind, r.PCR)
			}
		}},
		{"login_hint tel (CAMARA)", map[string][]string{"login_hint": {"tel:" + redNumber}}, func(t *testing.T, r *AuthRequest) {
			if r.LoginHintKind != HintTel || r.MSISDN != red {
				t.Fatalf("%v %d", r.LoginHintKind, r.MSISDN)
			}
		}},
		{"acr_values preference order", map[string][]string{"acr_values": {"3 x 2 3"}}, func(t *testing.T, r *AuthRequest) {
			if !slices.Equal(r.ACR, []int{3, 2}) {
				t.Fatal(r.ACR)
			}
		}},
		{"prompt and display", map[string][]string{"prompt": {"login consent no_seam"}, "display": {"touch"}}, func(t *testing.T, r *AuthRequest) {
			if !r.Prompt.Has(PromptLogin|PromptConsent|PromptNoSeam) || r.Prompt.Has(PromptNone) || r.Display != "touch" {
				t.Fatal(r.Prompt, r.Display)
			}
		}},
		{"prompt mobile (PHP headless)", map[string][]string{"prompt": {"mobile"}}, func(t *testing.T, r *AuthRequest) {
			if r.Prompt != PromptMobile {
				t.Fatal(r.Prompt)
			}
		}},
		{"repeated claims merge", map[string][]string{"scope": {"openid mc_authn mc_kyc_plain"}, "claims": {
			`{"userinfo":{"email":{"essential":true}},"id_token":{"acr":null}}`,
			`{"premiuminfo":{"address":{"value":"1 High St"}},"userinfo":{"email":null,"phone_number":null}}`,
		}}, func(t *testing.T, r *AuthRequest) {
			if r.ClaimsMalformed {
				t.Fatal("standard claims flagged malformed")
			}
			want := `{"id_token":{"acr":null},"premiuminfo":{"address":{"value":"1 High St"}},"userinfo":{"email":{"essential":true},"phone_number":null}}`
			if got, _ := json.Marshal(r.Claims); string(got) != want {
				t.Fatalf("claims %s\nwant   %s", got, want)
			}
		}},
		{"Java's malformed KYC claims", map[string][]string{"scope": {"openid mc_kyc_plain"}, "claims": {
			`{"userinfo":{"name":null}}`,
			`{"premiuminfo":[{"John":{"value":"John"}},{},{"address":{"value":"1 High St"}},"junk",{"bad":5}]}`,
		}}, func(t *testing.T, r *AuthRequest) {
			if !r.ClaimsMalformed {
				t.Fatal("malformed claims not flagged")
			}
			want := `{"premiuminfo":{"John":{"value":"John"},"address":{"value":"1 High St"}},"userinfo":{"name":null}}`
			if got, _ := json.Marshal(r.Claims); string(got) != want {
				t.Fatalf("claims %s\nwant   %s", got, want)
			}
		}},
		{"authorisation", map[string][]string{"scope": {"openid mc_authz"}, "context": {"Pay 10 GBP"},
			"client_name": {"Shop"}, "binding_message": {"ref A-123 ✓ 1,250.00 EUR"}}, func(t *testing.T, r *AuthRequest) {
			if !r.Authz || r.Context != "Pay 10 GBP" || r.ClientName != "Shop" || r.BindingMessage != "ref A-123 ✓ 1,250.00 EUR" {
				t.Fatalf("%+v", r)
			}
		}},
		{"context with mc_authn is not authorisation", map[string][]string{"context": {"hello"}}, func(t *testing.T, r *AuthRequest) {
			if r.Authz || r.Context != "hello" {
				t.Fatalf("%+v", r)
			}
		}},
		{"PKCE S256", map[string][]string{"code_challenge": {challenge}, "code_challenge_method": {"S256"}}, func(t *testing.T, r *AuthRequest) {
			if r.CodeChallenge != challenge {
				t.Fatal(r.CodeChallenge)
			}
		}},
		{"kept as given", map[string][]string{"ui_locales": {"en fr"}, "claims_locales": {"en"}, "id_token_hint": {"a.b.c"},
			"dtbs": {"data"}, "unknown_param": {"x", "y"}}, func(t *testing.T, r *AuthRequest) {
			if r.UILocales != "en fr" || r.ClaimsLocales != "en" || r.IDTokenHint != "a.b.c" || r.DTBS != "data" {
				t.Fatalf("%+v", r)
			}
		}},
		{"custom-scheme redirect URI", map[string][]string{"redirect_uri": {shopApp}}, func(t *testing.T, r *AuthRequest) {
			loc, err := r.SuccessRedirectURL("c0de")
			if err != nil || loc != "com.shop.app:/cb?code=c0de&state=st-1&correlation_id=corr-1" {
				t.Fatal(loc, err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := authTestArgs()
			for k, v := range tc.change {
				args[k] = v
			}
			r, e := g.parseAuthRequest(args, authTestNow)
			if e != nil {
				t.Fatalf("refused: %v", e)
			}
			tc.check(t, r)
		})
	}
}

// TestJavaSDKAuthorizeRequest parses the authorize URL the GSMA Java server
// SDK builds (spec §7), with a subscriber_id really sealed to the
// operator's key.
func TestJavaSDKAuthorizeRequest(t *testing.T) {
	g, op := newAuthTestGateway(t)
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	op.priv = priv
	sub := authTestSeal(t, &priv.PublicKey, redNumber)
	if len(sub) != 512 {
		t.Fatalf("subscriber_id of %d hex digits", len(sub))
	}
	const (
		corr  = "5b1a3f4e-8c2d-4e6f-9a0b-1c2d3e4f5a6b"
		state = "0c8b1d5e-7f2a-4b3c-9d4e-5f6a7b8c9d0e"
		nonce = "9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b"
	)
	rawQuery := "redirect_uri=" + url.QueryEscape(shopPlain) + "&client_id=shop&correlation_id=" + corr +
		"&response_type=code&scope=openid+mc_authn&acr_values=2&state=" + state + "&nonce=" + nonce +
		"&display=page&max-age=3600&version=mc_di_r2_v2.3&login_hint=ENCR_MSISDN%3A" + sub

	var got *AuthRequest
	app := fiber.New()
	app.Get("/authorize", func(c *fiber.Ctx) error {
		r, e := g.parseAuthRequest(argsValues(c.Context().QueryArgs()), authTestNow)
		if e != nil {
			return writeError(c, authorizeErrors, e)
		}
		got = r
		loc, err := r.SuccessRedirectURL("the-code")
		if err != nil {
			return err
		}
		return c.Redirect(loc, fiber.StatusFound)
	})
	resp, err := app.Test(httptest.NewRequest(http.MethodGet, "/authorize?"+rawQuery, nil))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if loc := resp.Header.Get("Location"); loc != shopPlain+"?code=the-code&state="+state+"&correlation_id="+corr {
		t.Fatalf("Location %q", loc)
	}
	want := AuthRequest{
		Client: got.Client, ClientID: "shop", RedirectURI: shopPlain, Scopes: []string{"openid", "mc_authn"},
		State: state, Nonce: nonce, Version: "mc_di_r2_v2.3", RequestedVersion: "mc_di_r2_v2.3",
		ACR: []int{2}, MaxAge: time.Hour, HasMaxAge: true, Display: "page",
		LoginHint: "ENCR_MSISDN:" + sub, LoginHintKind: HintEncrMSISDN, MSISDN: authTestMSISDN(t, redNumber),
		CorrelationID: corr, ReceivedAt: authTestNow,
	}
	if got.Client == nil || got.Client.ClientID != "shop" {
		t.Fatal("no client")
	}
	gj, _ := json.Marshal(got)
	wj, _ := json.Marshal(&want)
	if string(gj) != string(wj) {
		t.Fatalf("parsed\n%s\nwant\n%s", gj, wj)
	}

	// The same hint sealed to another key does not open: invalid_request,
	// redirected, and nothing of the opener's error leaks.
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(rawQuery, sub, authTestSeal(t, &other.PublicKey, redNumber), 1)
	resp, err = app.Test(httptest.NewRequest(http.MethodGet, "/authorize?"+bad, nil))
	if err != nil {
		t.Fatal(err)
	}
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || loc.Query().Get("error") != string(CodeInvalidRequest) ||
		loc.Query().Get("state") != state || loc.Query().Get("correlation_id") != corr ||
		strings.Contains(loc.String(), "decryption") || strings.Contains(loc.String(), "deadbeef") {
		t.Fatalf("status %d, Location %q", resp.StatusCode, loc)
	}
}

// FuzzParseAuthRequest: any query gives a request or an error, never both
// nor neither; nothing redirects anywhere but a registered URI.
func FuzzParseAuthRequest(f *testing.F) {
	g, _ := newAuthTestGateway(f)
	f.Add(authTestArgs().Encode())
	f.Add("client_id=shop&redirect_uri=https%3A%2F%2Fshop.example%2Fcb&response_type=code&scope=openid+mc_authn" +
		"&acr_values=2&state=s&nonce=n&display=page&max-age=3600&version=mc_di_r2_v2.3&login_hint=ENCR_MSISDN%3Aaa11")
	f.Add("client_id=shop&redirect_uri=com.shop.app%3A%2Fcb&response_type=code&scope=openid+mc_kyc_plain&state=s&nonce=n" +
		`&claims={"premiuminfo":[{"a":{"value":"a"}},{}]}&claims={"userinfo":{"email":null}}&login_hint=tel:%2B447911123456`)
	f.Add("client_id=shop&redirect_uri=https%3A%2F%2Fevil.example%2F&state=<x>")
	f.Add("client_id=shop&redirect_uri=https%3A%2F%2Fshop.example%2Fcb&response_type=code&scope=openid+mc_authz" +
		"&state=s&nonce=n&context=Pay&client_name=Shop&binding_message=b&prompt=none&code_challenge_method=S256" +
		"&code_challenge=" + strings.Repeat("x", 43) + "&login_hint=MSISDN:447912123456")
	f.Fuzz(func(t *testing.T, query string) {
		args, _ := url.ParseQuery(query)
		r, e := g.parseAuthRequest(args, authTestNow)
		if (r == nil) == (e == nil) {
			t.Fatalf("request %v, error %v", r, e)
		}
		registered := func(clientID, uri string) bool {
			sp := g.cfg.Registry.ServiceProvider(clientID)
			return sp != nil && slices.Contains(sp.RedirectURIs, uri)
		}
		if r != nil {
			if !registered(r.ClientID, r.RedirectURI) || !r.HasScope("openid") || r.State == "" || r.Nonce == "" ||
				len(r.ACR) == 0 || r.Version == "" {
				t.Fatalf("accepted an invalid request: %+v", r)
			}
			return
		}
		if e.Code == "" || e.Description != safeDescription(e.Description) {
			t.Fatalf("bad error %#v", e)
		}
		if e.Redirects() {
			if !registered(firstArg(args, "client_id"), e.RedirectURI()) {
				t.Fatalf("redirects to unregistered %q", e.RedirectURI())
			}
			loc, err := url.Parse(e.ErrorRedirectURL())
			if err != nil || loc.Query().Get("error") != string(e.Code) {
				t.Fatalf("bad redirect %q: %v", e.ErrorRedirectURL(), err)
			}
		} else if e.ErrorRedirectURL() != "" {
			t.Fatal("a non-redirectable error has a redirect URL")
		}
	})
}
