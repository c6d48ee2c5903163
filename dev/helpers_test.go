package dev

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/mcfed/mcfed/client"
	"github.com/mcfed/mcfed/federation"
	"github.com/mcfed/mcfed/internal/jose"
)

// The tests' steps of an SP's server: discovery, the operator's metadata,
// form posts with the credentials discovery handed out, and the token
// exchange with the ID token's check. Each is the HTTP request an SDK
// makes, so the tests exercise the public endpoints as SPs do.

// startDev starts the demo federation in a new directory for one test.
func startDev(t *testing.T, out io.Writer) (*Federation, string) {
	t.Helper()
	dir := t.TempDir()
	d, err := Start(context.Background(), Options{DataDir: dir, Out: out})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d, dir
}

// getJSON does req with c and decodes the JSON answer into out, failing
// the test unless the status is want.
func getJSON(t *testing.T, c *http.Client, req *http.Request, want int, out any) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: %d %s", req.Method, req.URL, resp.StatusCode, b)
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("%s %s: %v in %s", req.Method, req.URL, err, b)
	}
}

// discoverAt asks the discovery endpoint discoveryURL about number as
// sp's server does (its client id and secret, its redirect URI, a JSON
// answer) and returns the answer, which must be a 200.
func discoverAt(t *testing.T, discoveryURL string, sp client.DevSPInfo, number string) client.DiscoveryAnswer {
	t.Helper()
	form := url.Values{"MSISDN": {strings.TrimPrefix(number, "+")}, "Redirect_URL": {sp.RedirectURI}}
	req, _ := http.NewRequest("POST", discoveryURL, strings.NewReader(form.Encode()))
	req.SetBasicAuth(sp.ClientID, sp.ClientSecret)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	var disc client.DiscoveryAnswer
	getJSON(t, http.DefaultClient, req, 200, &disc)
	return disc
}

// discoverFor asks node about number as the demo SP (client id demo-sp,
// secret spSecret: a test may hold an older one than d.SPSecret).
func discoverFor(t *testing.T, node *federation.Node, spSecret, number string) client.DiscoveryAnswer {
	t.Helper()
	sp := client.DevSPInfo{ClientID: "demo-sp", ClientSecret: spSecret, RedirectURI: spRedirect}
	return discoverAt(t, node.PublicURL()+"/v2/discovery", sp, number)
}

// readMetadata decodes the serving operator's openid-configuration, as
// disc links it, into out.
func readMetadata(t *testing.T, disc client.DiscoveryAnswer, out any) {
	t.Helper()
	req, _ := http.NewRequest("GET", disc.Links()["openid-configuration"], nil)
	getJSON(t, http.DefaultClient, req, 200, out)
}

// clientRequest is a form POST to endpoint authenticated with the client
// credentials disc handed out (client_secret_basic).
func clientRequest(endpoint string, disc client.DiscoveryAnswer, form url.Values) *http.Request {
	req, _ := http.NewRequest("POST", endpoint, strings.NewReader(form.Encode()))
	req.SetBasicAuth(disc.Response.ClientID, disc.Response.ClientSecret)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return req
}

// postForm posts form to endpoint with the client credentials disc
// handed out and returns the status and the JSON answer (nil if it is
// not JSON): the caller asserts on both, errors included.
func postForm(t *testing.T, endpoint string, disc client.DiscoveryAnswer, form url.Values) (int, map[string]any) {
	t.Helper()
	resp, err := http.DefaultClient.Do(clientRequest(endpoint, disc, form))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// idClaims are the ID token claims the tests check.
type idClaims struct {
	Iss, Sub, Nonce, ACR string
	AMR                  []string
}

// redeemAndVerify exchanges an authorization code (issued for spRedirect)
// at the token endpoint disc links, with the credentials disc handed out,
// and checks its ID token as verifyIDToken does. It returns the access
// token and the ID token's claims.
func redeemAndVerify(t *testing.T, disc client.DiscoveryAnswer, code, acr, amr string) (string, idClaims) {
	t.Helper()
	tf := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {spRedirect}}
	var tok struct {
		AccessToken string `json:"access_token"`
		IDToken     string `json:"id_token"`
	}
	getJSON(t, http.DefaultClient, clientRequest(disc.Links()["token"], disc, tf), 200, &tok)
	return tok.AccessToken, verifyIDToken(t, disc, tok.IDToken, acr, amr)
}

// verifyIDToken verifies idToken through the JWKS of the operator disc
// links and checks it says acr and amr (the methods, comma-separated).
func verifyIDToken(t *testing.T, disc client.DiscoveryAnswer, idToken, acr, amr string) idClaims {
	t.Helper()
	links := disc.Links()
	jwksResp, err := http.Get(links["jwks"])
	if err != nil {
		t.Fatal(err)
	}
	jwks, _ := io.ReadAll(jwksResp.Body)
	jwksResp.Body.Close()
	payload, _, err := jose.VerifyJWKS(idToken, jwks, jose.RS256)
	if err != nil {
		t.Fatalf("the ID token of %s does not verify: %v", links["issuer"], err)
	}
	var claims idClaims
	_ = json.Unmarshal(payload, &claims)
	if claims.ACR != acr || strings.Join(claims.AMR, ",") != amr {
		t.Fatalf("ID token of %s: acr %q amr %v, want %s and %s", links["issuer"], claims.ACR, claims.AMR, acr, amr)
	}
	return claims
}

// backchannelMeta is what a CIBA client reads of the operator's metadata.
type backchannelMeta struct {
	Backchannel string   `json:"backchannel_authentication_endpoint"`
	Token       string   `json:"token_endpoint"`
	Modes       []string `json:"backchannel_token_delivery_modes_supported"`
}

// cibaClient is the demo SP's server about to start a CIBA login for
// number: discovery at the second node, then the serving operator's
// metadata.
func cibaClient(t *testing.T, d *Federation, number string) (client.DiscoveryAnswer, backchannelMeta) {
	t.Helper()
	disc := discoverFor(t, d.Nodes[1], d.SPSecret, number)
	var meta backchannelMeta
	readMetadata(t, disc, &meta)
	return disc, meta
}
