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
	"github.com/mcfed/mcfed/registry"
)

// standingFixture is an operator's node with one SP and one subscriber per
// revocation cause, so each cause meets tokens no other cause touched.
type standingFixture struct {
	*operatorNode
	admin   *client.Admin
	secrets map[string]string // client id → its secret for red's gateway
}

func (f *standingFixture) do(method, path string, body any) {
	f.t.Helper()
	ctx := context.Background()
	if err := client.Retry(ctx, func() error { return f.admin.Do(ctx, method, path, body, nil) }); err != nil {
		f.t.Fatalf("%s %s: %v", method, path, err)
	}
}

// login runs a login of number at clientID in the SMS URL mode, as the
// SDK does headless (the link tapped, the authorize URL re-polled), and
// redeems the code: the access and refresh tokens.
func (f *standingFixture) login(clientID, number string) (access, refresh string) {
	f.t.Helper()
	q := url.Values{"client_id": {clientID}, "redirect_uri": {smsRedirect}, "response_type": {"code"},
		"scope": {"openid mc_authn"}, "acr_values": {"2"}, "state": {"st"}, "nonce": {"n"},
		"login_hint": {"MSISDN:" + strings.TrimPrefix(number, "+")}}
	authURL := f.node.PublicURL() + "/authorize?" + q.Encode()
	if resp := f.get(authURL); resp.StatusCode != 200 {
		f.t.Fatalf("authorize %s: %d %q", clientID, resp.StatusCode, resp.Header.Get("Location"))
	}
	f.tap(number, f.sms(number))
	code := f.codeFrom(f.get(authURL), "st")
	status, body := f.post(clientID, "/token", url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {smsRedirect}})
	if status != 200 {
		f.t.Fatalf("token: %d %v", status, body)
	}
	return body["access_token"].(string), body["refresh_token"].(string)
}

// post sends a form to one of the gateway's endpoints as clientID.
func (f *standingFixture) post(clientID, path string, form url.Values) (int, map[string]any) {
	f.t.Helper()
	req, _ := http.NewRequest("POST", f.node.PublicURL()+path, strings.NewReader(form.Encode()))
	req.SetBasicAuth(clientID, f.secrets[clientID])
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return f.send(req)
}

func (f *standingFixture) send(req *http.Request) (int, map[string]any) {
	f.t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return resp.StatusCode, out
}

func (f *standingFixture) userinfo(access string) int {
	f.t.Helper()
	req, _ := http.NewRequest("GET", f.node.PublicURL()+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+access)
	status, _ := f.send(req)
	return status
}

// serves says whether the tokens still serve, and checks that the three
// endpoints agree: userinfo 200, introspection active, the refresh 200 —
// or 401, inactive (or the client refused outright), and an OAuth error.
// A refresh that succeeds spends refresh; the new pair is returned.
func (f *standingFixture) serves(clientID, access, refresh string) (bool, string, string) {
	f.t.Helper()
	info := f.userinfo(access)
	_, intro := f.post(clientID, "/introspect", url.Values{"token": {access}})
	status, body := f.post(clientID, "/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}})
	switch {
	case info == 200 && intro["active"] == true && status == 200:
		return true, body["access_token"].(string), body["refresh_token"].(string)
	case info == 401 && intro["active"] != true && status >= 400 && body["error"] != nil:
		return false, "", ""
	}
	f.t.Fatalf("the endpoints disagree: userinfo %d, introspection %v, refresh %d %v", info, intro, status, body)
	return false, "", ""
}

// TestTokensFollowTheSubscriberAndTheSP: on a real node, through its
// admin and provisioning APIs, each revocation cause stops the tokens
// issued before it at userinfo (401), introspection (inactive) and the
// token endpoint: the subscriber suspended (and serving again once
// reactivated), deleted, or its number ported out; the SP suspended,
// declined by the operator, or deleted.
func TestTokensFollowTheSubscriberAndTheSP(t *testing.T) {
	f := &standingFixture{operatorNode: startOperatorNode(t, "url"), secrets: map[string]string{}}
	f.admin = &client.Admin{Base: f.node.AdminURL(), Token: testAdminToken}
	f.secrets["shop"] = f.tokenSecret
	f.do("PUT", "/v1/operators/blue", demoOperator("blue", "234_20"))
	for _, id := range []string{"sp-suspended", "sp-declined", "sp-deleted"} {
		var sp spResponse
		ctx := context.Background()
		body := map[string]any{"name": "SP " + id, "redirect_uris": []string{smsRedirect}, "scopes": []string{"openid", "mc_authn"}}
		if err := client.Retry(ctx, func() error { return f.admin.Do(ctx, "PUT", "/v1/service-providers/"+id, body, &sp) }); err != nil {
			t.Fatal(err)
		}
		f.secrets[id] = client.OperatorSecret(sp.ClientSecret, id, "red")
	}
	causes := []struct {
		name, client, number string
		apply                func(number string)
		undo                 func(number string) // a cause that is lifted: the tokens serve again
	}{
		{name: "subscriber suspended", client: "shop", number: "+447400111401",
			apply: func(n string) { f.do("POST", "/v1/subscribers/"+n+"/suspend", nil) },
			undo:  func(n string) { f.do("POST", "/v1/subscribers/"+n+"/reactivate", nil) }},
		{name: "subscriber deleted", client: "shop", number: "+447400111402",
			apply: func(n string) { f.do("DELETE", "/v1/subscribers/"+n, nil) }},
		{name: "number ported out", client: "shop", number: "+447400111403",
			apply: func(n string) { f.do("PUT", "/v1/ported/"+n, map[string]string{"operator": "blue"}) }},
		{name: "SP suspended", client: "sp-suspended", number: "+447400111404",
			apply: func(string) {
				f.do("PUT", "/v1/service-providers/sp-suspended", map[string]any{"name": "SP sp-suspended",
					"redirect_uris": []string{smsRedirect}, "scopes": []string{"openid", "mc_authn"}, "status": registry.StatusSuspended})
			}},
		{name: "SP declined by the operator", client: "sp-declined", number: "+447400111405",
			apply: func(string) {
				f.do("PUT", "/v1/operators/red/sp-policies/sp-declined", map[string]bool{"declined": true})
			},
			undo: func(string) { f.do("DELETE", "/v1/operators/red/sp-policies/sp-declined", nil) }},
		{name: "SP deleted", client: "sp-deleted", number: "+447400111406",
			apply: func(string) { f.do("DELETE", "/v1/service-providers/sp-deleted", nil) }},
	}
	for _, c := range causes {
		f.do("POST", "/v1/subscribers", map[string]any{"msisdn": c.number, "status": "active"})
	}
	for _, c := range causes {
		access, refresh := f.login(c.client, c.number)
		ok, access, refresh := f.serves(c.client, access, refresh)
		if !ok {
			t.Fatalf("%s: the tokens do not serve before the cause", c.name)
		}
		c.apply(c.number)
		if ok, _, _ := f.serves(c.client, access, refresh); ok {
			t.Fatalf("%s: the tokens still serve", c.name)
		}
		if c.undo != nil {
			c.undo(c.number)
			if ok, _, _ := f.serves(c.client, access, refresh); !ok {
				t.Fatalf("%s lifted: the tokens do not serve again", c.name)
			}
		}
	}
}
