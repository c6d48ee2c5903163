package federation

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"

	"github.com/mcfed/mcfed/api"
)

// TestOpenAPISamples sends real requests of each main resource to an
// operator's node and validates both sides against the documents.
func TestOpenAPISamples(t *testing.T) {
	o := startOperatorNode(t, "otp")
	adm := newValidator(t, api.Admin, o.node.AdminURL())
	pub := newValidator(t, api.Public, o.node.PublicURL())
	base, pubBase := o.node.AdminURL(), o.node.PublicURL()
	// as calls the admin API with token; admin with the node's own (a
	// federation admin's).
	as := func(token, method, path, contentType, body string, want int) []byte {
		t.Helper()
		req := newRequest(t, method, base+path, contentType)
		req.Header.Set("Authorization", "Bearer "+token)
		var b []byte
		if body != "" {
			b = []byte(body)
		}
		_, out := adm.exchange(http.DefaultClient, req, b, want)
		return out
	}
	admin := func(method, path, contentType, body string, want int) []byte {
		t.Helper()
		return as(testAdminToken, method, path, contentType, body, want)
	}

	t.Run("admin", func(t *testing.T) {
		admin("POST", "/v1/service-providers", "application/json",
			`{"client_id":"bank","name":"Bank","redirect_uris":["https://bank.example/cb"],"scopes":["openid","mc_authn"]}`, 201)
		admin("GET", "/v1/service-providers/bank", "", "", 200)
		admin("POST", "/v1/service-providers", "application/json",
			`{"client_id":"caller","name":"Call centre","redirect_uris":["https://caller.example/cb"],"scopes":["openid"],`+
				`"notification_uris":["https://caller.example/si"],"request_uris":["https://caller.example/ro"],"backchannel_token_delivery_mode":"ping",`+
				`"backchannel_client_notification_endpoint":"https://caller.example/ping"}`, 201)
		// A delivery mode there is not: refused by the document and by the
		// node.
		req := newRequest(t, "PUT", base+"/v1/service-providers/caller", "application/json")
		req.Header.Set("Authorization", "Bearer "+testAdminToken)
		adm.refused(http.DefaultClient, req, []byte(`{"name":"Call centre","redirect_uris":["https://caller.example/cb"],"scopes":["openid"],"backchannel_token_delivery_mode":"push"}`), 400)
		admin("GET", "/v1/service-providers", "", "", 200)
		admin("GET", "/v1/operators/red", "", "", 200)
		admin("GET", "/v1/operators?limit=1", "", "", 200)
		admin("GET", "/v1/operators/nobody", "", "", 404)
		admin("PUT", "/v1/operators/red/sp-policies/bank", "application/json", `{"scopes":["openid"]}`, 201)
		admin("GET", "/v1/scopes?consistent=true", "", "", 200)
		admin("PUT", "/v1/products/login", "application/json", `{"name":"Login","scopes":["openid"],"min_loa":2}`, 201)
		admin("GET", "/v1/ranges/+447400", "", "", 200)
		admin("POST", "/v1/ranges/import", "text/csv", "prefix,operator\n+447401,red\n", 200)
		admin("GET", "/v1/resolve/+447400111222", "", "", 200)
		admin("GET", "/v1/ip-ranges", "", "", 200)
		admin("GET", "/v1/subscribers/+447400111222", "", "", 200)
		admin("GET", "/v1/subscribers?limit=10", "", "", 200)
		admin("POST", "/v1/subscribers", "application/json", `{"msisdn":"+447400111444","attributes":{"given_name":"Ada"}}`, 201)
		admin("POST", "/v1/cluster/join-tokens", "application/json", `{"node_id":"n9","ttl_seconds":60}`, 201)
		admin("GET", "/v1/cluster/status", "", "", 200)
		admin("POST", "/v1/credentials", "application/json", `{"role":"porting-authority","name":"feed"}`, 201)
		admin("GET", "/v1/credentials", "", "", 200)
		admin("GET", "/v1/audit?limit=5", "", "", 200)
		admin("GET", "/v1/approval-rules", "", "", 200)
		admin("GET", "/v1/approvals", "", "", 200)
		admin("GET", "/v1/porting-rules", "", "", 200)
		admin("GET", "/v1/disputes", "", "", 200)
		admin("GET", "/v1/port-requests", "", "", 200)
		admin("POST", "/v1/operators", "application/json", `{"id":"red","name":"Red","country":"GB","currency":"GBP","issuer":"https://red.example/"}`, 409)
		admin("PUT", "/v1/operators/red", "application/json", `{"name":"Operator red","country":"GB","currency":"GBP","networks":["234_10"],"issuer":"`+pubBase+`","color":"#cc0000"}`, 200)
		admin("POST", "/v1/operators/red/suspend", "", "", 200)
		admin("POST", "/v1/operators/red/activate", "", "", 200)
		admin("GET", "/v1/operators/red/sp-policies", "", "", 200)
		admin("POST", "/v1/service-providers/bank/secret", "", "", 200)
		admin("GET", "/v1/service-providers?redirect_check=true", "", "", 200)
		admin("PUT", "/v1/ip-ranges/203.0.113.0/24", "application/json", `{"operator":"red"}`, 201)
		admin("GET", "/v1/ip-ranges/203.0.113.0/24", "", "", 200)
		admin("PUT", "/v1/ported/+447400111999", "application/json", `{"operator":"red"}`, 201)
		admin("GET", "/v1/ported/+447400111999", "", "", 200)
		admin("DELETE", "/v1/ported/+447400111999", "", "", 204)
		admin("POST", "/v1/ported/import", "text/csv", "msisdn,operator\n+447400111998,red\n", 200)
		admin("POST", "/v1/ranges/import", "text/csv", "prefix,operator\n+4474,nobody\n", 422)
		admin("PATCH", "/v1/subscribers/+447400111444", "application/merge-patch+json", `{"attributes":{"family_name":"Lovelace"}}`, 200)
		req = newRequest(t, "PATCH", base+"/v1/subscribers/+447400111444", "application/merge-patch+json")
		req.Header.Set("Authorization", "Bearer "+testAdminToken)
		req.Header.Set("If-Match", `"1"`)
		adm.exchange(http.DefaultClient, req, []byte(`{"status":"suspended"}`), 412)
		admin("POST", "/v1/subscribers/+447400111444/suspend", "", "", 200)
		admin("POST", "/v1/subscribers/import", "text/csv", "msisdn,given_name,family_name\n+447400111555,Alan,Turing\n", 200)
		admin("DELETE", "/v1/subscribers/+447400111555", "", "", 204)
		admin("GET", "/v1/audit?format=jsonl", "", "", 200)
		admin("GET", "/v1/audit/retention", "", "", 200)
		admin("DELETE", "/v1/cluster/nodes/nobody", "", "", 404)
		admin("GET", "/metrics", "", "", 200)
		admin("GET", "/debug/pprof/", "", "", 200)

		// The subscriber's consents (none yet: nobody has logged in), and
		// a withdrawal of one there is not.
		admin("GET", "/v1/subscribers/+447400111222/consents", "", "", 200)
		admin("DELETE", "/v1/subscribers/+447400111222/consents/bank", "", "", 404)

		// The voter rules, unset then naming this node; promoting the node
		// that already votes, and a node that is not a member.
		admin("GET", "/v1/cluster/voters", "", "", 200)
		admin("PUT", "/v1/cluster/voters", "application/json", `{"voters":["op-node"],"standby":["op-node-2"]}`, 200)
		admin("GET", "/v1/cluster/voters?consistent=true", "", "", 200)
		admin("GET", "/v1/cluster/status", "", "", 200)
		admin("POST", "/v1/cluster/members/op-node/promote", "", "", 409)
		admin("POST", "/v1/cluster/members/nobody/promote", "application/json", `{"replaces":"op-node"}`, 404)

		// A misspelt field: refused by the document and by the node.
		req = newRequest(t, "POST", base+"/v1/scopes", "application/json")
		req.Header.Set("Authorization", "Bearer "+testAdminToken)
		adm.refused(http.DefaultClient, req, []byte(`{"name":"x","colour":"red"}`), 400)

		// The probes, a refused token and a refused join, without the
		// admin token.
		for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/v1/operators": 401} {
			adm.exchange(http.DefaultClient, newRequest(t, "GET", base+path, ""), nil, want)
		}
		adm.exchange(http.DefaultClient, newRequest(t, "POST", base+"/v1/cluster/join", "application/json"),
			[]byte(`{"id":"n9","raft_addr":"127.0.0.1:1","admin_url":"http://127.0.0.1:1","token":"wrong","node_verifier":"x"}`), 403)
	})

	t.Run("operators", func(t *testing.T) {
		// A second operator, each operator's admin, a port request
		// between them and a range dispute.
		admin("PUT", "/v1/operators/blue", "application/json", `{"name":"Blue","country":"GB","currency":"GBP","networks":["234_20"],"issuer":"https://blue.example/"}`, 201)
		admin("PUT", "/v1/ranges/+447500", "application/json", `{"operator":"blue"}`, 201)
		token := func(operator string) string {
			var c struct{ Token string }
			if err := json.Unmarshal(admin("POST", "/v1/credentials", "application/json", `{"role":"operator-admin","operator":"`+operator+`"}`, 201), &c); err != nil {
				t.Fatal(err)
			}
			return c.Token
		}
		red, blue := token("red"), token("blue")
		var pr struct{ ID string }
		if err := json.Unmarshal(as(red, "POST", "/v1/port-requests", "application/json", `{"numbers":["+447500123456"]}`, 201), &pr); err != nil {
			t.Fatal(err)
		}
		as(blue, "GET", "/v1/port-requests/"+pr.ID, "", "", 200)
		as(blue, "POST", "/v1/port-requests/"+pr.ID+"/decline", "", "", 200)
		as(red, "GET", "/v1/port-requests?status=declined", "", "", 200)

		problem := as(red, "PUT", "/v1/ranges/+4475001", "application/json", `{"operator":"red"}`, 409)
		var page struct{ Items []struct{ ID string } }
		if err := json.Unmarshal(as(red, "GET", "/v1/disputes?status=open", "", "", 200), &page); err != nil || len(page.Items) != 1 {
			t.Fatalf("disputes: %v %+v (after %s)", err, page, problem)
		}
		as(blue, "GET", "/v1/disputes/"+page.Items[0].ID, "", "", 200)
		admin("POST", "/v1/disputes/"+page.Items[0].ID+"/settle", "application/json", `{"award":"blue"}`, 200)
		admin("PUT", "/v1/porting-rules", "application/json", `{"max_deadline_hours":48,"on_deadline":"expire"}`, 200)
		admin("PUT", "/v1/audit/retention", "application/json", `{"retention_days":120}`, 200)
	})

	t.Run("approvals", func(t *testing.T) {
		// With two approvals required, a federation admin's write is a
		// proposal (202) until another one approves it.
		var second struct{ Token string }
		if err := json.Unmarshal(admin("POST", "/v1/credentials", "application/json", `{"role":"federation-admin","name":"second"}`, 201), &second); err != nil {
			t.Fatal(err)
		}
		admin("PUT", "/v1/approval-rules", "application/json", `{"approvals_required":2}`, 200)
		var prop struct{ Proposal struct{ ID string } }
		if err := json.Unmarshal(admin("PUT", "/v1/scopes/mc_test", "application/json", `{"description":"a test scope"}`, 202), &prop); err != nil {
			t.Fatal(err)
		}
		admin("GET", "/v1/approvals?status=pending", "", "", 200)
		admin("GET", "/v1/approvals/"+prop.Proposal.ID, "", "", 200)
		as(second.Token, "POST", "/v1/approvals/"+prop.Proposal.ID+"/approve", "", "", 200)
		admin("GET", "/v1/scopes/mc_test", "", "", 200)
		admin("POST", "/v1/service-providers", "application/json", `{"client_id":"later","name":"Later","redirect_uris":["https://later.example/cb"],"scopes":["openid"]}`, 202)
	})

	t.Run("public", func(t *testing.T) {
		disc := func(q url.Values, user, secret string, want int) []byte {
			t.Helper()
			req := newRequest(t, "GET", pubBase+"/v2/discovery?"+q.Encode(), "")
			req.SetBasicAuth(user, secret)
			req.Header.Set("Accept", "application/json")
			_, b := pub.exchange(noFollow, req, nil, want)
			return b
		}
		disc(url.Values{"MSISDN": {smsActive}, "Redirect_URL": {smsRedirect}, "correlation_id": {"c1"}}, "shop", o.secret, 200)
		disc(url.Values{"Redirect_URL": {"https://elsewhere.example/cb"}}, "shop", o.secret, 400)

		// Operator selection: the link, the page, the choice.
		var sel struct{ Links []struct{ Href string } }
		if err := json.Unmarshal(disc(url.Values{"Redirect_URL": {smsRedirect}}, "shop", o.secret, 202), &sel); err != nil || len(sel.Links) != 1 {
			t.Fatalf("selection answer: %v %+v", err, sel)
		}
		pub.exchange(http.DefaultClient, newRequest(t, "GET", sel.Links[0].Href, ""), nil, 200)
		session, _ := url.Parse(sel.Links[0].Href)
		pub.exchange(noFollow, newRequest(t, "POST", pubBase+"/v2/discovery/users/operator-selection", "application/x-www-form-urlencoded"),
			[]byte(url.Values{"session_id": {session.Query().Get("session_id")}, "operator": {"red"}}.Encode()), 302)
		disc(url.Values{"MSISDN": {"+447911123456"}, "Redirect_URL": {smsRedirect}}, "shop", o.secret, 404)
		disc(url.Values{"Redirect_URL": {smsRedirect}}, "shop", "wrong-secret", 401)

		form := url.Values{"Redirect_URL": {smsRedirect}, "MSISDN": {smsActive}}
		req := newRequest(t, "POST", pubBase+"/v2/discovery", "application/x-www-form-urlencoded")
		req.SetBasicAuth("shop", o.secret)
		pub.exchange(noFollow, req, []byte(form.Encode()), 200)

		req = newRequest(t, "POST", pubBase+"/telco-finder/v1/search", "application/json")
		req.SetBasicAuth("shop", o.secret)
		pub.exchange(http.DefaultClient, req, []byte(`{"target":{"phoneNumber":"`+smsActive+`"},"includeApiRoot":true,"includeAuthProviderConfiguration":true}`), 200)
		req = newRequest(t, "POST", pubBase+"/telco-finder/v1/search", "application/json")
		req.SetBasicAuth("shop", o.secret)
		pub.exchange(http.DefaultClient, req, []byte(`{"target":{"ipv4Address":{"publicAddress":"198.51.100.7"}}}`), 404)
		pub.exchange(http.DefaultClient, newRequest(t, "POST", pubBase+"/telco-finder/v1/search", "application/json"), []byte(`{"target":{}}`), 401)
		for path, want := range map[string]int{"/healthz": 200, "/readyz": 200} {
			pub.exchange(http.DefaultClient, newRequest(t, "GET", pubBase+path, ""), nil, want)
		}

		pub.exchange(http.DefaultClient, newRequest(t, "GET", pubBase+"/.well-known/openid-configuration", ""), nil, 200)
		pub.exchange(http.DefaultClient, newRequest(t, "GET", pubBase+"/jwks", ""), nil, 200)

		// A login: authorize, the SMS code typed, the code for tokens, the
		// tokens at userinfo and introspection.
		authURL := o.authorizeURL(smsActive, "st")
		resp, _ := pub.exchange(o.sdk, newRequest(t, "GET", authURL, ""), nil, 302)
		page, _ := url.Parse(resp.Header.Get("Location"))
		pub.exchange(o.sdk, newRequest(t, "GET", page.String(), ""), nil, 200)
		pub.exchange(o.sdk, newRequest(t, "GET", pubBase+"/sms/status?c="+url.QueryEscape(page.Query().Get("c")), ""), nil, 200)
		otp := smsCode.FindString(o.sms(smsActive).Text)
		ret := page.Query().Get("return")
		resp, _ = pub.exchange(o.sdk, newRequest(t, "POST", ret, "application/x-www-form-urlencoded"), []byte(url.Values{"otp": {otp}}.Encode()), 302)
		code := o.codeFrom(resp, "st")

		token := func(f url.Values, basic bool, want int) []byte {
			t.Helper()
			req := newRequest(t, "POST", pubBase+"/token", "application/x-www-form-urlencoded")
			if basic {
				req.SetBasicAuth("shop", o.tokenSecret)
			}
			_, b := pub.exchange(http.DefaultClient, req, []byte(f.Encode()), want)
			return b
		}
		token(url.Values{"grant_type": {"authorization_code"}, "code": {"not-a-code"}, "redirect_uri": {smsRedirect}}, true, 400)
		token(url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {smsRedirect}}, false, 401)
		tok := token(url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {smsRedirect},
			"client_id": {"shop"}, "client_secret": {o.tokenSecret}}, false, 200)
		var tokens struct {
			AccessToken  string `json:"access_token"`
			RefreshToken string `json:"refresh_token"`
		}
		if err := json.Unmarshal(tok, &tokens); err != nil || tokens.AccessToken == "" {
			t.Fatalf("tokens %s: %v", tok, err)
		}
		for _, path := range []string{"/userinfo", "/premiuminfo"} {
			req := newRequest(t, "GET", pubBase+path, "")
			req.Header.Set("Authorization", "Bearer "+tokens.AccessToken)
			pub.exchange(http.DefaultClient, req, nil, 200)
		}
		pub.exchange(http.DefaultClient, newRequest(t, "POST", pubBase+"/userinfo", "application/x-www-form-urlencoded"),
			[]byte(url.Values{"access_token": {tokens.AccessToken}}.Encode()), 200)
		pub.exchange(http.DefaultClient, newRequest(t, "GET", pubBase+"/userinfo", ""), nil, 401)
		req = newRequest(t, "POST", pubBase+"/introspect", "application/x-www-form-urlencoded")
		req.SetBasicAuth("shop", o.tokenSecret)
		pub.exchange(http.DefaultClient, req, []byte(url.Values{"token": {tokens.AccessToken}}.Encode()), 200)
		token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tokens.RefreshToken}}, true, 200)
		req = newRequest(t, "POST", pubBase+"/revoke", "application/x-www-form-urlencoded")
		req.SetBasicAuth("shop", o.tokenSecret)
		pub.exchange(http.DefaultClient, req, []byte(url.Values{"token": {tokens.AccessToken}}.Encode()), 200)

		// Server-initiated login. CIBA: a number of the operator's range
		// that is no subscriber gets a (decoy) login like any other; its
		// auth_req_id polled at /token is pending, then too soon. Refusals:
		// no hint, no client authentication, an unknown auth_req_id.
		bc := func(f url.Values, basic bool, want int) []byte {
			t.Helper()
			req := newRequest(t, "POST", pubBase+"/bc-authorize", "application/x-www-form-urlencoded")
			if basic {
				req.SetBasicAuth("shop", o.tokenSecret)
			}
			_, b := pub.exchange(http.DefaultClient, req, []byte(f.Encode()), want)
			return b
		}
		var started struct {
			AuthReqID string `json:"auth_req_id"`
		}
		if b := bc(url.Values{"scope": {"openid"}, "login_hint": {"tel:+447400111777"}}, true, 200); json.Unmarshal(b, &started) != nil || started.AuthReqID == "" {
			t.Fatalf("bc-authorize answer: %s", b)
		}
		ciba := url.Values{"grant_type": {"urn:openid:params:grant-type:ciba"}, "auth_req_id": {started.AuthReqID}}
		oauthErr := func(b []byte, want string) {
			t.Helper()
			var e struct {
				Error         string `json:"error"`
				CorrelationID string `json:"correlation_id"`
			}
			if json.Unmarshal(b, &e) != nil || e.Error+e.CorrelationID != want {
				t.Fatalf("error %s, want %s", b, want)
			}
		}
		oauthErr(token(ciba, true, 400), "authorization_pending")
		oauthErr(token(ciba, true, 400), "slow_down")
		oauthErr(bc(url.Values{"scope": {"openid"}}, true, 400), "invalid_request")
		bc(url.Values{"scope": {"openid"}, "login_hint": {"tel:+447400111777"}}, false, 401)
		token(url.Values{"grant_type": {"urn:openid:params:grant-type:ciba"}, "auth_req_id": {"nothing"}}, true, 400)
		// Mobile Connect SI: no client_id (refused by the document too), a
		// request object that is no JWT (the correlation_id echoed in the
		// error) as a query and as JSON, an unknown client as a form.
		pub.refused(http.DefaultClient, newRequest(t, "GET", pubBase+"/si-authorize?correlation_id=si1", ""), nil, 400)
		_, b := pub.exchange(http.DefaultClient, newRequest(t, "GET", pubBase+"/si-authorize?client_id=shop&request=x&correlation_id=si1", ""), nil, 400)
		oauthErr(b, "invalid_request_objectsi1")
		_, b = pub.exchange(http.DefaultClient, newRequest(t, "POST", pubBase+"/si-authorize", "application/json"),
			[]byte(`{"client_id":"shop","request":"not-a-jwt","correlation_id":"si2"}`), 400)
		oauthErr(b, "invalid_request_objectsi2")
		pub.exchange(http.DefaultClient, newRequest(t, "POST", pubBase+"/si-authorize", "application/x-www-form-urlencoded"),
			[]byte(url.Values{"client_id": {"nobody"}, "request": {"x"}}.Encode()), 401)

		// An authorization request that cannot be redirected: a page.
		pub.exchange(noFollow, newRequest(t, "GET", pubBase+"/authorize?client_id=nobody&response_type=code&scope=openid&redirect_uri=https://x.example/cb", ""), nil, 400)

		// The login left a consent record: listed on the admin listener,
		// then withdrawn.
		var consents struct {
			Consents []struct {
				ClientID string `json:"client_id"`
			}
		}
		if b := admin("GET", "/v1/subscribers/"+smsActive+"/consents", "", "", 200); json.Unmarshal(b, &consents) != nil || len(consents.Consents) != 1 || consents.Consents[0].ClientID != "shop" {
			t.Fatalf("consents after a login: %s", b)
		}
		admin("DELETE", "/v1/subscribers/"+smsActive+"/consents/shop", "", "", 204)

		// Logout without a browser session: the signed-out page; a
		// post-logout redirect without a client: a page. The connected
		// services without a session: the sign-in form, and again with an
		// error for a number of no operator here.
		pub.exchange(noFollow, newRequest(t, "GET", pubBase+"/logout", ""), nil, 200)
		pub.exchange(noFollow, newRequest(t, "GET", pubBase+"/logout?post_logout_redirect_uri="+url.QueryEscape("https://x.example/bye"), ""), nil, 400)
		pub.exchange(noFollow, newRequest(t, "POST", pubBase+"/logout/confirm", "application/x-www-form-urlencoded"), []byte("l=unknown&decision=logout"), 400)
		pub.exchange(noFollow, newRequest(t, "GET", pubBase+"/services", ""), nil, 200)
		pub.exchange(noFollow, newRequest(t, "POST", pubBase+"/services", "application/x-www-form-urlencoded"),
			[]byte(url.Values{"action": {"signin"}, "number": {"+447911123456"}}.Encode()), 200)
	})

	t.Run("keys", func(t *testing.T) {
		// Last: the operator's own node replaces its signing key now.
		admin("POST", "/v1/operator/keys/rotate", "application/json", `{"signing":true}`, 200)
		pub.exchange(http.DefaultClient, newRequest(t, "GET", pubBase+"/jwks", ""), nil, 200)
	})
}
