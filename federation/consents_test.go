package federation

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/mcfed/mcfed/client"
	"github.com/mcfed/mcfed/internal/jose"
)

// TestCustomerCareWithdrawsAConsent: on a real node, the provisioning API
// lists the SPs a subscriber signed in to, with the scopes, when and by
// which authentication; a withdrawal (204) ends the SP's tokens of the
// subscriber (userinfo 401, introspection inactive, refresh refused), a
// second one is 404, and bad input is answered with problem+json; the
// routes need the operator's credentials like every subscriber route.
func TestCustomerCareWithdrawsAConsent(t *testing.T) {
	f := &standingFixture{operatorNode: startOperatorNode(t, "url"), secrets: map[string]string{}}
	f.admin = &client.Admin{Base: f.node.AdminURL(), Token: testAdminToken}
	f.secrets["shop"] = f.tokenSecret
	const number = "+447400111501"
	// The SP hears of the withdrawal at its back-channel logout URI: a
	// loopback server, which a node on loopback may reach.
	tokens := make(chan string, 4)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		tokens <- r.PostForm.Get("logout_token")
	}))
	defer rcv.Close()
	f.do("PUT", "/v1/service-providers/shop", map[string]any{"name": "Corner Shop", "redirect_uris": []string{smsRedirect},
		"scopes": []string{"openid", "mc_authn", "profile", "mc_identity_phonenumber"}, "backchannel_logout_uri": rcv.URL + "/bcl"})
	f.do("POST", "/v1/subscribers", map[string]any{"msisdn": number, "status": "active"})
	access, refresh := f.login("shop", number)

	call := func(method, path, token string) (int, string, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, f.node.AdminURL()+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var out map[string]any
		_ = json.Unmarshal(b, &out)
		return resp.StatusCode, resp.Header.Get("Content-Type"), out
	}
	path := "/v1/subscribers/" + url.PathEscape(number) + "/consents"
	status, _, body := call("GET", path, testAdminToken)
	cs, _ := body["consents"].([]any)
	if status != 200 || len(cs) != 1 {
		t.Fatalf("list: %d %v", status, body)
	}
	c := cs[0].(map[string]any)
	scopes, _ := c["scopes"].([]any)
	if c["client_id"] != "shop" || len(scopes) != 2 || scopes[0].(map[string]any)["acr"] != "2" || c["first_granted"] == nil {
		t.Fatalf("the consent: %v", c)
	}
	if status, _, _ := call("GET", path, ""); status != 401 {
		t.Fatalf("without a token: %d", status)
	}
	for _, bad := range []struct {
		method, path string
		status       int
	}{
		{"DELETE", path + "/bad%20client", 400},
		{"GET", "/v1/subscribers/" + url.PathEscape("+447400111599") + "/consents", 404},
		{"GET", "/v1/subscribers/notanumber/consents", 400},
	} {
		if status, ctype, _ := call(bad.method, bad.path, testAdminToken); status != bad.status || ctype != "application/problem+json" {
			t.Fatalf("%s %s: %d %s, want %d problem+json", bad.method, bad.path, status, ctype, bad.status)
		}
	}
	if status, _, body := call("DELETE", path+"/shop", testAdminToken); status != 204 {
		t.Fatalf("withdraw: %d %v", status, body)
	}
	if ok, _, _ := f.serves("shop", access, refresh); ok {
		t.Fatal("the SP's tokens still serve after the withdrawal")
	}
	select {
	case tok := <-tokens:
		payload, err := jose.UnverifiedPayload(tok)
		var c map[string]any
		if err != nil || json.Unmarshal(payload, &c) != nil || c["aud"].([]any)[0] != "shop" || c["sid"] == nil || c["events"] == nil {
			t.Fatalf("the logout token: %v %s", err, payload)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no logout token reached the SP")
	}
	if status, ctype, _ := call("DELETE", path+"/shop", testAdminToken); status != 404 || ctype != "application/problem+json" {
		t.Fatalf("a second withdrawal: %d %s", status, ctype)
	}
	if status, _, body := call("GET", path, testAdminToken); status != 200 || len(body["consents"].([]any)) != 0 {
		t.Fatalf("list after the withdrawal: %d %v", status, body)
	}
}
