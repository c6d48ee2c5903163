package federation

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/mcfed/mcfed/client"
	"github.com/mcfed/mcfed/internal/jose"
	"github.com/mcfed/mcfed/registry"
)

// seeded is a one-node federation with two operators and their ranges.
func seeded(t *testing.T) *testFed { return seededWith(t, nil) }

// seededWith is seeded with a node configured by tweak.
func seededWith(t *testing.T, tweak func(*Config)) *testFed {
	f := startFedWith(t, 1, tweak)
	f.do(0, "PUT", "/v1/operators/red", demoOperator("red", "234_10"), nil)
	f.do(0, "PUT", "/v1/operators/blue", demoOperator("blue", "234_20"), nil)
	f.do(0, "POST", "/v1/ranges/import", strings.NewReader("prefix,operator\n+447911,red\n+447912,blue\n"), nil)
	return f
}

func TestImportPortedIsValidatedWholeThenIdempotent(t *testing.T) {
	f := seeded(t)
	var csv strings.Builder
	csv.WriteString("msisdn,operator\n")
	for i := range 25000 { // three batches
		fmt.Fprintf(&csv, "+4479%07d,%s\n", 11000000+i, map[bool]string{true: "blue", false: "red"}[i%2 == 0])
	}
	var res importResult
	f.do(0, "POST", "/v1/ported/import", strings.NewReader(csv.String()), &res)
	// Every row is new to the index (a number "ported" to its range's own
	// holder is recorded too), in three batches of at most 10,000.
	if res.Rows != 25000 || res.Changed != 25000 || res.Batches != 3 {
		t.Fatalf("first import: %+v", res)
	}
	if n := f.nodes[0].Raft().Registry().PortedCount(); n != 25000 {
		t.Fatalf("the index holds %d ported numbers, want 25000", n)
	}
	var got portedNumber
	f.do(0, "GET", "/v1/ported/+447911000000", nil, &got)
	if got.Operator != "blue" {
		t.Fatalf("+447911000000 ported to %q, want blue", got.Operator)
	}
	applied := f.nodes[0].Raft().Registry().AppliedIndex()
	f.do(0, "POST", "/v1/ported/import", strings.NewReader(csv.String()), &res)
	if res.Changed != 0 || res.Batches != 0 || res.Unchanged != 25000 {
		t.Fatalf("second import of the same file: %+v, want nothing changed", res)
	}
	if f.nodes[0].Raft().Registry().AppliedIndex() != applied {
		t.Fatal("the second import wrote to the log")
	}
}

func TestBadInputIsRefusedWithNothingApplied(t *testing.T) {
	f := seeded(t)
	reg := f.nodes[0].Raft().Registry()
	before := reg.AppliedIndex()
	ported := reg.PortedCount()

	for _, tc := range []struct {
		name, path, csv string
		status          int
		detail          string
	}{
		{"malformed CSV", "/v1/ported/import", "msisdn,operator\n+447911000001,red\n\"+447911000002,red\n", 422, "line 3: malformed CSV"},
		{"wrong field count", "/v1/ported/import", "+447911000001,red,extra\n", 422, "line 1: want 2 fields"},
		{"invalid number", "/v1/ported/import", "+447911000001,red\n+447700900123,red\n", 422, "line 2:"},
		{"not digits", "/v1/ported/import", "+447911000001,red\n447911-000002,red\n", 422, "line 2:"},
		{"unknown operator", "/v1/ported/import", "+447911000001,red\n+447911000002,green\n", 422, `line 2: operator "green" does not exist`},
		{"outside every range", "/v1/ported/import", "+447911000001,red\n+447400000001,red\n", 422, "line 2: +447400000001 is in no operator's range"},
		{"two operators for one number", "/v1/ported/import", "+447911000001,red\n+447911000001,blue\n", 422, "two different operators"},
		{"conflicting range", "/v1/ranges/import", "+447913,red\n+447911,blue\n", 422, "line 2: +447911 already belongs to operator red"},
		{"range given twice", "/v1/ranges/import", "+447913,red\n+447913,blue\n", 422, "line 2: +447913 is already on line 1"},
		{"bad prefix", "/v1/ranges/import", "+447913,red\n+99912,red\n", 422, "line 2:"},
		{"empty file", "/v1/ported/import", "msisdn,operator\n", 400, "no rows"},
		{"a line past the bound", "/v1/ported/import", "msisdn,operator\n+447911000001," + strings.Repeat("r", 64<<10) + "\n", 422,
			"line 2: line longer than 4096 bytes"},
		{"a range line past the bound", "/v1/ranges/import", strings.Repeat("+", 64<<10), 422, "line 1: line longer than 4096 bytes"},
	} {
		api := f.problemOf(0, "POST", tc.path, strings.NewReader(tc.csv))
		if api.Status != tc.status || !strings.Contains(api.Problem.Detail, tc.detail) {
			t.Errorf("%s: %d %q, want %d containing %q", tc.name, api.Status, api.Problem.Detail, tc.status, tc.detail)
		}
	}
	if reg.AppliedIndex() != before || reg.PortedCount() != ported || reg.Range("+447913") != nil {
		t.Fatal("a refused import applied something")
	}

	// Single writes: an invalid number, a conflicting range, an unknown
	// operator, a misspelt field.
	for _, tc := range []struct {
		method, path string
		body         any
		status       int
		detail       string
	}{
		{"PUT", "/v1/ported/+447700900123", operatorRef{Operator: "red"}, 400, "not a valid number"},
		{"PUT", "/v1/ranges/+447911", operatorRef{Operator: "blue"}, 409, "already belongs to operator red"},
		{"PUT", "/v1/ranges/+447913", operatorRef{Operator: "green"}, 404, `"green" does not exist`},
		{"PUT", "/v1/operators/green", map[string]string{"id": "green", "nmae": "typo"}, 400, "unknown field"},
		{"PUT", "/v1/operators/green", demoOperator("other", "234_30"), 400, "the URL names green"},
		{"POST", "/v1/operators", demoOperator("red", "234_10"), 409, "already exists"},
		{"DELETE", "/v1/operators/red", nil, 409, "still has 1 number ranges"},
		{"PUT", "/v1/service-providers/shop", map[string]any{"name": "Shop", "redirect_uris": []string{"https://s.example/cb"}, "client_secret": "short"}, 400, "at least 32"},
		// Long enough, but no key: one letter, two letters, a word repeated.
		{"PUT", "/v1/service-providers/shop", map[string]any{"name": "Shop", "redirect_uris": []string{"https://s.example/cb"}, "client_secret": strings.Repeat("a", 40)}, 400, "leave it out to have one generated"},
		{"PUT", "/v1/service-providers/shop", map[string]any{"name": "Shop", "redirect_uris": []string{"https://s.example/cb"}, "client_secret": strings.Repeat("ab", 32)}, 400, "guessable"},
		{"PUT", "/v1/service-providers/shop", map[string]any{"name": "Shop", "redirect_uris": []string{"https://s.example/cb"}, "client_secret": strings.Repeat("password", 5)}, 400, "guessable"},
		{"PUT", "/v1/service-providers/shop", map[string]any{"name": "Shop", "redirect_uris": []string{"https://s.example/cb"}, "secret_key": "ed25519:AAAA"}, 400, "send client_secret"},
		{"POST", "/v1/service-providers/nobody/secret", nil, 404, "does not exist"},
	} {
		api := f.problemOf(0, tc.method, tc.path, tc.body)
		if api.Status != tc.status || !strings.Contains(api.Problem.Detail, tc.detail) {
			t.Errorf("%s %s: %d %q, want %d containing %q", tc.method, tc.path, api.Status, api.Problem.Detail, tc.status, tc.detail)
		}
	}
	if reg.Operator("green") != nil || reg.Operator("other") != nil || reg.Range("+447913") != nil || reg.ServiceProvider("shop") != nil {
		t.Fatal("a refused write applied something")
	}
}

func TestAdminAPINeedsTheToken(t *testing.T) {
	f := startFed(t, 1)
	for _, token := range []string{"", "wrong-token-wrong-token", testAdminToken + "x"} {
		c := &client.Admin{Base: f.nodes[0].AdminURL(), Token: token}
		err := c.Do(context.Background(), "PUT", "/v1/scopes/x-refused", registry.Scope{Name: "x-refused"}, nil)
		api, ok := err.(*client.APIError)
		if !ok || api.Status != 401 || api.ContentType != "application/problem+json" {
			t.Fatalf("token %q: %v", token, err)
		}
	}
	if f.nodes[0].Raft().Registry().Scope("x-refused") != nil {
		t.Fatal("an unauthenticated write was applied")
	}
	// Internal endpoints refuse the admin token: they take a member's node
	// credential only.
	api := f.problemOf(0, "POST", "/v1/internal/apply", bytes.NewReader(registry.MustEncode(registry.CmdPutScope, registry.Scope{Name: "x"})))
	if api.Status != 401 {
		t.Fatalf("internal apply with the admin token: %d", api.Status)
	}
}

func TestOversizedBodiesAreRefused(t *testing.T) {
	// Small caps, so that the whole oversized body fits in the loopback
	// socket buffers: the client finishes writing and reads the 413 rather
	// than racing the server's close.
	f := seededWith(t, func(c *Config) { c.MaxBodyBytes, c.MaxImportBytes = 32<<10, 32<<10 })
	big := `{"name":"x-refused","description":"` + strings.Repeat("x", 64<<10) + `"}`
	req, _ := http.NewRequest("PUT", f.nodes[0].AdminURL()+"/v1/scopes/x-refused", strings.NewReader(big))
	req.Header.Set("Authorization", "Bearer "+testAdminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 413 {
		t.Fatalf("a 64 KB JSON body over a 32 KB cap got %d, want 413", resp.StatusCode)
	}
	var csv strings.Builder
	for csv.Len() < 64<<10 {
		csv.WriteString("+447911000001,red\n")
	}
	api := f.problemOf(0, "POST", "/v1/ported/import", strings.NewReader(csv.String()))
	if api.Status != 413 {
		t.Fatalf("an import over the cap got %d %s, want 413", api.Status, api.Problem.Detail)
	}
	if f.nodes[0].Raft().Registry().Scope("x-refused") != nil {
		t.Fatal("an oversized body was applied")
	}
}

func TestServiceProviderSecretIsShownOnceAndStoredAsAPublicKey(t *testing.T) {
	f := startFed(t, 1)
	f.do(0, "PUT", "/v1/scopes/openid", registry.Scope{Name: "openid"}, nil)
	var created spResponse
	f.do(0, "POST", "/v1/service-providers", map[string]any{"client_id": "shop", "name": "Shop",
		"redirect_uris": []string{"https://shop.example/cb"}, "scopes": []string{"openid"}}, &created)
	if len(created.ClientSecret) < registry.MinSecretLength {
		t.Fatalf("generated secret %q is too short", created.ClientSecret)
	}
	sp := f.nodes[0].Raft().Registry().ServiceProvider("shop")
	if !sp.CheckSecret(created.ClientSecret) || sp.SecretHash != "" || !strings.HasPrefix(sp.SecretKey, "ed25519:") ||
		sp.Legacy() || sp.SecretKey != created.SecretKey {
		t.Fatalf("the stored SP does not hold the public key of the secret it was given: %+v", sp)
	}
	var read map[string]any
	f.do(0, "GET", "/v1/service-providers/shop", nil, &read)
	if _, shown := read["client_secret"]; shown || read["secret_key"] != sp.SecretKey {
		t.Fatalf("reading an SP shows its secret or hides which form it has: %v", read)
	}
	if b, _ := json.Marshal(read); strings.Contains(string(b), created.ClientSecret) {
		t.Fatal("reading an SP shows its secret")
	}
	// A given secret that is a key goes through the same derivation.
	given := strings.Repeat("0123456789abcdef", 4)
	var other spResponse
	f.do(0, "POST", "/v1/service-providers", map[string]any{"client_id": "given", "name": "Given", "client_secret": given,
		"redirect_uris": []string{"https://given.example/cb"}, "scopes": []string{"openid"}}, &other)
	if g := f.nodes[0].Raft().Registry().ServiceProvider("given"); other.ClientSecret != given || !g.CheckSecret(given) || g.SecretHash != "" {
		t.Fatalf("a given secret: shown %q, stored %+v", other.ClientSecret, g)
	}
	// Replacing the SP without a secret keeps the old one.
	f.do(0, "PUT", "/v1/service-providers/shop", map[string]any{"name": "Shop 2",
		"redirect_uris": []string{"https://shop.example/cb"}, "scopes": []string{"openid"}}, nil)
	if !f.nodes[0].Raft().Registry().ServiceProvider("shop").CheckSecret(created.ClientSecret) {
		t.Fatal("an update without client_secret changed the secret")
	}
}

func TestMetricsNeedTheTokenAndSpeakPrometheus(t *testing.T) {
	f := startFed(t, 1)
	f.do(0, "PUT", "/v1/scopes/openid", registry.Scope{Name: "openid"}, nil)
	get := func(token string) (int, string) {
		req, _ := http.NewRequest("GET", f.nodes[0].AdminURL()+"/metrics", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if status, _ := get(""); status != 401 {
		t.Fatalf("metrics without a token: %d", status)
	}
	status, body := get(testAdminToken)
	applied := f.nodes[0].Raft().Registry().AppliedIndex()
	if status != 200 || !strings.Contains(body, fmt.Sprintf("mcfed_registry_applied_index %d", applied)) ||
		!strings.Contains(body, "mcfed_raft_leader 1") {
		t.Fatalf("metrics: %d\n%s", status, body)
	}
}

// TestKeysOnlyServiceProvider: an SP registered for private_key_jwt has no
// secret at all, so no secret of any kind authenticates it, and the admin
// API refuses a keys-only registration without keys or with a secret.
func TestKeysOnlyServiceProvider(t *testing.T) {
	f := startFed(t, 1)
	f.do(0, "PUT", "/v1/scopes/openid", registry.Scope{Name: "openid"}, nil)
	key, err := jose.GenerateKey(jose.ES256)
	if err != nil {
		t.Fatal(err)
	}
	jwks := json.RawMessage(`{"keys":[` + string(key.Public()) + `]}`)
	base := map[string]any{"client_id": "app", "name": "App", "redirect_uris": []string{"https://app.example/cb"},
		"scopes": []string{"openid"}, "token_endpoint_auth_method": "private_key_jwt"}
	with := func(k string, v any) map[string]any {
		m := map[string]any{}
		for a, b := range base {
			m[a] = b
		}
		m[k] = v
		return m
	}
	if p := f.problemOf(0, "POST", "/v1/service-providers", base); p.Status != 400 || !strings.Contains(p.Problem.Detail, "jwks") {
		t.Fatalf("keys-only SP without keys: %+v", p)
	}
	withSecret := with("jwks", jwks)
	withSecret["client_secret"] = strings.Repeat("s", 40)
	if p := f.problemOf(0, "POST", "/v1/service-providers", withSecret); p.Status != 400 {
		t.Fatalf("keys-only SP with a secret: %+v", p)
	}
	var created spResponse
	f.do(0, "POST", "/v1/service-providers", with("jwks", jwks), &created)
	sp := f.nodes[0].Raft().Registry().ServiceProvider("app")
	if created.ClientSecret != "" || sp.SecretHash != "" || sp.SecretKey != "" || sp.CheckSecret("") {
		t.Fatalf("a keys-only SP got a secret: shown %q, stored %q", created.ClientSecret, sp.SecretHash)
	}
	other := with("token_endpoint_auth_method", "tls_client_auth")
	other["client_id"] = "app2"
	if p := f.problemOf(0, "POST", "/v1/service-providers", other); p.Status != 400 {
		t.Fatalf("an unknown auth method: %+v", p)
	}
}

// TestImportsTakeAByteOrderMark: a file a spreadsheet exported, with a
// UTF-8 byte order mark before its header, imports like any other (the
// header is recognised, not taken for a malformed row).
func TestImportsTakeAByteOrderMark(t *testing.T) {
	f := seeded(t)
	var res importResult
	f.do(0, "POST", "/v1/ported/import", strings.NewReader("\ufeffmsisdn,operator\n+447911000001,blue\n"), &res)
	if res.Rows != 1 || res.Changed != 1 {
		t.Fatalf("ported import with a byte order mark: %+v", res)
	}
	f.do(0, "POST", "/v1/ranges/import", strings.NewReader("\ufeffprefix,operator\n+447913,red\n"), &res)
	if res.Rows != 1 || res.Changed != 1 {
		t.Fatalf("range import with a byte order mark: %+v", res)
	}
}
