package federation

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/mcfed/mcfed/client"
	"github.com/mcfed/mcfed/raft"
	"github.com/mcfed/mcfed/registry"
)

// discoverAt asks node's discovery for number with the SP's Basic
// credentials, as the GSMA SDKs post it.
func discoverAt(t *testing.T, node *Node, clientID, secret, number, redirect string) (int, client.DiscoveryAnswer) {
	t.Helper()
	form := url.Values{"MSISDN": {strings.TrimPrefix(number, "+")}, "Redirect_URL": {redirect}}
	req, _ := http.NewRequest("POST", node.PublicURL()+"/v2/discovery", strings.NewReader(form.Encode()))
	req.SetBasicAuth(clientID, secret)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var a client.DiscoveryAnswer
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &a); err != nil {
		t.Fatalf("discovery: %d %s", resp.StatusCode, b)
	}
	return resp.StatusCode, a
}

// tokenAt presents clientID and secret at node's token endpoint with a code
// that does not exist, and returns the OAuth error: invalid_grant means the
// client authenticated (the code is what was refused), invalid_client that
// it did not.
func tokenAt(t *testing.T, node *Node, clientID, secret string, post bool) string {
	t.Helper()
	form := url.Values{"grant_type": {"authorization_code"}, "code": {"no-such-code"}, "redirect_uri": {"https://bank.example/cb"}}
	if post {
		form.Set("client_id", clientID)
		form.Set("client_secret", secret)
	}
	req, _ := http.NewRequest("POST", node.PublicURL()+"/token", strings.NewReader(form.Encode()))
	if !post {
		req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(secret))
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e struct {
		Error string `json:"error"`
	}
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &e); err != nil || e.Error == "" {
		t.Fatalf("token: %d %s", resp.StatusCode, b)
	}
	return e.Error
}

// TestOperatorSecretsAreNotReplayable: with three competing operators, the
// secret discovery hands an SP for operator a works at a's token endpoint
// only: not at b's or c's, not at discovery. The SP's own secret opens
// discovery and no token endpoint. Rotating the secret ends the old one at
// discovery and every derived one at the gateways.
func TestOperatorSecretsAreNotReplayable(t *testing.T) {
	c := startCompetitors(t)
	var created spResponse
	c.do(0, "POST", "/v1/service-providers", map[string]any{"client_id": "bank", "name": "Bank",
		"redirect_uris": []string{"https://bank.example/cb"}, "scopes": []string{"openid"}}, &created)
	c.settle()
	master := created.ClientSecret
	const redirect = "https://bank.example/cb"

	// Discovery, on any operator's node, answers with the serving
	// operator's own secret, the one client.OperatorSecret derives.
	seen := map[string]string{} // what each operator's gateway will see
	for _, p := range competitorPlan {
		for _, asked := range []string{"a", "c"} {
			status, a := discoverAt(t, c.node[asked], "bank", master, p.number, redirect)
			want := client.OperatorSecret(master, "bank", p.id)
			if status != 200 || a.Response.ClientID != "bank" || a.Response.ClientSecret != want {
				t.Fatalf("discovery on %s's node for %s's number: %d %+v, want client_secret %q", asked, p.id, status, a, want)
			}
		}
		seen[p.id] = client.OperatorSecret(master, "bank", p.id)
	}
	if seen["a"] == master || seen["a"] == seen["b"] {
		t.Fatal("the operators' secrets are not distinct from each other and from the SP's")
	}

	for _, at := range competitorPlan {
		for _, from := range competitorPlan {
			want := "invalid_client"
			if at.id == from.id {
				want = "invalid_grant"
			}
			for _, post := range []bool{false, true} {
				if got := tokenAt(t, c.node[at.id], "bank", seen[from.id], post); got != want {
					t.Errorf("%s's secret at %s's /token (post %v): %s, want %s", from.id, at.id, post, got, want)
				}
			}
		}
		if got := tokenAt(t, c.node[at.id], "bank", master, false); got != "invalid_client" {
			t.Errorf("the SP's own secret at %s's /token: %s, want invalid_client", at.id, got)
		}
	}
	// What a's gateway saw does not open discovery, on a's node or b's.
	for _, node := range []string{"a", "b"} {
		if status, a := discoverAt(t, c.node[node], "bank", seen["a"], competitorPlan[1].number, redirect); status != 401 || a.Error != "invalid_client" {
			t.Errorf("a's secret at discovery on %s's node: %d %q, want 401 invalid_client", node, status, a.Error)
		}
	}

	// Rotation: the old secret and what was derived from it stop working.
	var rotated spResponse
	c.do(0, "POST", "/v1/service-providers/bank/secret", nil, &rotated)
	c.settle()
	if rotated.ClientSecret == "" || rotated.ClientSecret == master || rotated.SecretKey == created.SecretKey {
		t.Fatalf("rotation: %+v", rotated)
	}
	if got := tokenAt(t, c.node["a"], "bank", seen["a"], false); got != "invalid_client" {
		t.Errorf("a's secret from before the rotation at a's /token: %s, want invalid_client", got)
	}
	if status, _ := discoverAt(t, c.node["a"], "bank", master, competitorPlan[0].number, redirect); status != 401 {
		t.Errorf("the secret from before the rotation at discovery: %d, want 401", status)
	}
	status, a := discoverAt(t, c.node["b"], "bank", rotated.ClientSecret, competitorPlan[0].number, redirect)
	if status != 200 || a.Response.ClientSecret != client.OperatorSecret(rotated.ClientSecret, "bank", "a") {
		t.Fatalf("discovery with the new secret: %d %+v", status, a)
	}
	if got := tokenAt(t, c.node["a"], "bank", a.Response.ClientSecret, false); got != "invalid_grant" {
		t.Errorf("the new secret for a at a's /token: %s, want invalid_grant", got)
	}
}

// TestLegacySPStillLogsIn: an SP registered before per-operator secrets
// (only a SecretHash, as an old log holds it) still discovers with its one
// secret, gets it back from discovery, and completes a login with it; a
// rotation moves it to per-operator secrets.
func TestLegacySPStillLogsIn(t *testing.T) {
	o := startOperatorNode(t, "url")
	secret := strings.Repeat("L3gacy-", 6)
	legacy := registry.ServiceProvider{ClientID: "shop", Name: "Corner Shop", SecretHash: registry.HashSecret(secret),
		RedirectURIs: []string{smsRedirect}, Scopes: []string{"openid", "mc_authn", "profile", "mc_identity_phonenumber"},
		Operators: []string{registry.AllOperators}, Status: registry.StatusActive}
	own := raft.Presented{Credential: registry.AdminCredentialID(o.node.cfg.NodeID), Secret: testAdminToken}
	if _, err := o.node.raft.Apply(context.Background(), own, registry.MustEncode(registry.CmdPutSP, &legacy)); err != nil {
		t.Fatal(err)
	}
	var listed registry.Page[registry.ServiceProvider]
	admin := &client.Admin{Base: o.node.AdminURL(), Token: testAdminToken}
	if err := admin.Do(context.Background(), "GET", "/v1/service-providers", nil, &listed); err != nil ||
		len(listed.Items) != 1 || listed.Items[0].SecretKey != "" || listed.Items[0].SecretHash == "" {
		t.Fatalf("the listing does not show the legacy form: %v %+v", err, listed.Items)
	}

	status, a := discoverAt(t, o.node, "shop", secret, smsActive, smsRedirect)
	if status != 200 || a.Response.ClientSecret != secret {
		t.Fatalf("legacy discovery: %d %+v, want its own secret back", status, a)
	}
	o.secret, o.tokenSecret = secret, a.Response.ClientSecret
	authURL := o.authorizeURL(smsActive, "legacy")
	o.get(authURL)
	o.tap(smsActive, o.sms(smsActive))
	access := o.token(o.codeFrom(o.get(authURL), "legacy"))
	if info := o.claims("/userinfo", access); info["sub"] == nil {
		t.Fatalf("userinfo of a legacy SP's login: %v", info)
	}

	// Migration: rotate, then the SDK's config holds the new secret.
	var rotated spResponse
	if err := admin.Do(context.Background(), "POST", "/v1/service-providers/shop/secret", nil, &rotated); err != nil {
		t.Fatal(err)
	}
	if sp := o.node.Raft().Registry().ServiceProvider("shop"); sp.Legacy() || sp.SecretHash != "" || sp.SecretKey == "" {
		t.Fatalf("after rotation: %+v", sp)
	}
	if got := tokenAt(t, o.node, "shop", secret, false); got != "invalid_client" {
		t.Errorf("the legacy secret after rotation at /token: %s", got)
	}
	status, a = discoverAt(t, o.node, "shop", rotated.ClientSecret, smsActive, smsRedirect)
	if status != 200 || a.Response.ClientSecret != client.OperatorSecret(rotated.ClientSecret, "shop", "red") {
		t.Fatalf("discovery after migration: %d %+v", status, a)
	}
}
