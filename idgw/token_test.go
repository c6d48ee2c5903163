package idgw

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/mcfed/mcfed/internal/e164"
	"github.com/mcfed/mcfed/internal/jose"
)

const shopSecret = "ssssssssssssssssssssssssssssssssssssssss" // 40 s: the fixture's

// tokenFixture is a gateway whose phone approves every login, with signing
// keys, so a test can get codes and redeem them.
type tokenFixture struct {
	t     testing.TB
	g     *Gateway
	app   *fiber.App
	clock *fakeClock
}

func newTokenFixture(t testing.TB) *tokenFixture {
	phone := newPhone()
	phone.answer(redNumber, Succeeded)
	g, app := flowGateway(t, subscriberMap{red(t): {MSISDN: red(t), Active: true}},
		Registration{AuthenticatorInfo{Name: "sms", LoA: 2, AMR: []string{"OTP_OK"}}, phone})
	clock := &fakeClock{t: time.Now()}
	useClock(g, clock.now)
	if _, err := g.cfg.Keys.Ensure(clock.now(), jose.RS256, jose.ES256); err != nil {
		t.Fatal(err)
	}
	return &tokenFixture{t: t, g: g, app: app, clock: clock}
}

// code runs a headless login (the phone answers at once) and returns the
// code; kv changes the authorize request.
func (f *tokenFixture) code(kv ...string) string {
	f.t.Helper()
	do(f.t, f.app, "GET", authorizeURL(kv...), nil)
	status, loc, _ := do(f.t, f.app, "GET", authorizeURL(kv...), nil)
	q := redirectParams(f.t, loc)
	if status != 302 || q.Get("code") == "" {
		f.t.Fatalf("no code: %d %q", status, loc)
	}
	return q.Get("code")
}

// redeem posts to the token endpoint; basic is "id:secret" or "".
func (f *tokenFixture) redeem(basic string, form url.Values) (int, map[string]any, string) {
	f.t.Helper()
	return f.postTo("/token", basic, form)
}

// postTo posts a form to one of the gateway's endpoints.
func (f *tokenFixture) postTo(path, basic string, form url.Values) (int, map[string]any, string) {
	f.t.Helper()
	req := httptest.NewRequest("POST", path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basic != "" {
		req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(basic)))
	}
	resp, err := f.app.Test(req, -1)
	if err != nil {
		f.t.Fatal(err)
	}
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body, resp.Header.Get("WWW-Authenticate")
}

func codeForm(code string, kv ...string) url.Values {
	v := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {shopCB}}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == "" {
			v.Del(kv[i])
		} else {
			v.Set(kv[i], kv[i+1])
		}
	}
	return v
}

func TestTokenIssuesAVerifiableIDToken(t *testing.T) {
	f := newTokenFixture(t)
	status, body, _ := f.redeem("shop:"+shopSecret, codeForm(f.code()))
	if status != 200 || body["token_type"] != "Bearer" || body["correlation_id"] != "corr-1" || body["refresh_token"] == "" {
		t.Fatalf("token answer %d %v", status, body)
	}
	idToken, access := body["id_token"].(string), body["access_token"].(string)
	payload, hdr, err := jose.VerifyJWKS(idToken, f.g.cfg.Keys.JWKS(f.clock.now()), jose.RS256)
	if err != nil || hdr.Kid == "" {
		t.Fatalf("the ID token does not verify through the JWKS: %v", err)
	}
	if strings.Contains(string(payload), ": ") {
		t.Fatal("the ID token's payload is not compact JSON")
	}
	var c idTokenClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(access))
	if c.Iss != "https://red.example/" || len(c.Aud) != 1 || c.Aud[0] != "shop" || c.Azp != "shop" ||
		c.Nonce != "n-1" || c.ACR != "2" || strings.Join(c.AMR, ",") != "OTP_OK" ||
		c.AtHash != base64.RawURLEncoding.EncodeToString(sum[:16]) || c.HashedLoginHint == "" ||
		c.Exp <= c.Iat || c.AuthTime == 0 {
		t.Fatalf("ID token claims %+v", c)
	}
	if c.Sub == "" || strings.Contains(c.Sub, "447911") {
		t.Fatalf("sub %q is empty or carries the MSISDN", c.Sub)
	}

	// The same subscriber and SP get the same sub next time; another SP a
	// different one.
	_, body2, _ := f.redeem("shop:"+shopSecret, codeForm(f.code("state", "st-2")))
	p2, _, _ := jose.VerifyJWKS(body2["id_token"].(string), f.g.cfg.Keys.JWKS(f.clock.now()), jose.RS256)
	var c2 idTokenClaims
	_ = json.Unmarshal(p2, &c2)
	if c2.Sub != c.Sub {
		t.Fatal("the PCR changed between two logins of one subscriber at one SP")
	}
	if pcr([]byte(e164.Format(red(t))+"-secret"), "other-sp") == c.Sub {
		t.Fatal("two SPs get the same PCR")
	}
}

func TestCodeReplayRevokesWhatItIssued(t *testing.T) {
	f := newTokenFixture(t)
	code := f.code()
	status, body, _ := f.redeem("shop:"+shopSecret, codeForm(code))
	if status != 200 {
		t.Fatalf("first redemption %d %v", status, body)
	}
	access := body["access_token"].(string)
	if _, ok := f.g.access.get(context.Background(), tokenKey(access)); !ok {
		t.Fatal("the access token is not live after issuance")
	}
	status, body, _ = f.redeem("shop:"+shopSecret, codeForm(code))
	if status != 400 || body["error"] != "invalid_grant" {
		t.Fatalf("replay: %d %v", status, body)
	}
	if _, ok := f.g.access.get(context.Background(), tokenKey(access)); ok {
		t.Fatal("a replayed code left the tokens it issued alive")
	}
}

func TestTokenRefusals(t *testing.T) {
	f := newTokenFixture(t)
	verifier := strings.Repeat("v", 50)
	sum := sha256.Sum256([]byte(verifier))
	challenge := base64.RawURLEncoding.EncodeToString(sum[:])
	for _, tc := range []struct {
		name    string
		basic   string
		code    func() string
		form    []string
		status  int
		error   string
		wwwAuth bool
	}{
		{"wrong secret", "shop:" + strings.Repeat("x", 40), func() string { return f.code() }, nil, 401, "invalid_client", true},
		{"unknown client", "nobody:" + shopSecret, func() string { return f.code() }, nil, 401, "invalid_client", true},
		{"no client authentication", "", func() string { return f.code() }, nil, 401, "invalid_client", false},
		{"basic and post disagree", "shop:" + shopSecret, func() string { return f.code() }, []string{"client_id", "shop", "client_secret", strings.Repeat("y", 40)}, 400, "invalid_request", false},
		{"redirect_uri differs", "shop:" + shopSecret, func() string { return f.code() }, []string{"redirect_uri", shopPlain}, 400, "invalid_grant", false},
		{"PKCE verifier without a challenge (downgrade)", "shop:" + shopSecret, func() string { return f.code() }, []string{"code_verifier", strings.Repeat("v", 50)}, 400, "invalid_grant", false},
		{"PKCE verifier missing", "shop:" + shopSecret, func() string { return f.code("code_challenge", challenge, "code_challenge_method", "S256") }, nil, 400, "invalid_grant", false},
		{"PKCE verifier wrong", "shop:" + shopSecret, func() string { return f.code("code_challenge", challenge, "code_challenge_method", "S256") }, []string{"code_verifier", strings.Repeat("w", 50)}, 400, "invalid_grant", false},
		{"expired code", "shop:" + shopSecret, func() string { c := f.code(); f.clock.advance(2 * codeTTL); return c }, nil, 400, "invalid_grant", false},
		{"unknown grant type", "shop:" + shopSecret, func() string { return f.code() }, []string{"grant_type", "password"}, 400, "unsupported_grant_type", false},
	} {
		code := tc.code()
		status, body, www := f.redeem(tc.basic, codeForm(code, tc.form...))
		if status != tc.status || body["error"] != tc.error || (www != "") != tc.wwwAuth {
			t.Errorf("%s: %d %v (WWW-Authenticate %q), want %d %s", tc.name, status, body, www, tc.status, tc.error)
		}
	}
	// The right verifier, by client_secret_post, and both methods agreeing.
	code := f.code("code_challenge", challenge, "code_challenge_method", "S256", "state", "pk")
	if status, body, _ := f.redeem("", codeForm(code, "code_verifier", verifier, "client_id", "shop", "client_secret", shopSecret)); status != 200 {
		t.Fatalf("PKCE with client_secret_post: %d %v", status, body)
	}
	if status, body, _ := f.redeem("shop:"+shopSecret, codeForm(f.code("state", "both"), "client_id", "shop", "client_secret", shopSecret)); status != 200 {
		t.Fatalf("basic and post agreeing: %d %v", status, body)
	}
}
