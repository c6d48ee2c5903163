package e2e

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/mcfed/mcfed/registry"
)

// The writes that are allowed: each author on what is its own, ports by
// the donor's decision or the porting authority, and creates that race.

// rightfulWritesSucceed: what b was refused, a's admin does on a's data
// (through c's node, which forwards to the leader) and the federation
// admin does on the federation's.
func (tf *trustFed) rightfulWritesSucceed() {
	t := tf.t
	var rec map[string]any
	tf.a.mustAdmin("GET", "/v1/operators/"+ukDemo.ID, nil, &rec)
	delete(rec, "meta")
	delete(rec, "slot")
	rec["name"] = ukDemo.Name + " (renamed)"
	evilSP := map[string]any{"name": "Corner Shop", "scopes": spScopes, "redirect_uris": []string{spRedirect, "https://shop.example/second"}}
	for _, w := range []struct {
		name, command, method, path string
		who                         credential
		via                         *node
		body                        any
	}{
		{"a rewrites its record", "put_operator", "PUT", "/v1/operators/" + ukDemo.ID, tf.opA, tf.c, rec},
		{"a declines the SP for itself", "put_sp_policy", "PUT", "/v1/operators/" + ukDemo.ID + "/sp-policies/e2e-shop", tf.opA, tf.c, map[string]bool{"declined": true}},
		{"a deletes its range", "delete_ranges", "DELETE", "/v1/ranges/" + ukDemo.Ranges[1], tf.opA, tf.c, nil},
		{"a adds a range", "put_ranges", "PUT", "/v1/ranges/" + ukDemo.Spare, tf.opA, tf.c, map[string]string{"operator": ukDemo.ID}},
		{"the federation suspends c", "update_operator", "POST", "/v1/operators/" + frDemo.ID + "/suspend", tf.fed, tf.b, nil},
		{"the federation activates c again", "update_operator", "POST", "/v1/operators/" + frDemo.ID + "/activate", tf.fed, tf.b, nil},
		{"the federation adds a redirect URI to the SP", "put_sp", "PUT", "/v1/service-providers/e2e-shop", tf.fed, tf.b, evilSP},
	} {
		if err := w.via.as(w.who.token, w.method, w.path, w.body, nil); err != nil {
			t.Errorf("%s: %v", w.name, err)
		}
		tf.expect(w.command, w.who, registry.OutcomeApplied, "")
	}
	tf.settle()
	for _, n := range tf.nodes {
		var o operatorRecord
		var c struct{ Status string }
		n.mustAs(tf.fed, "GET", "/v1/operators/"+ukDemo.ID, nil, &o)
		n.mustAs(tf.fed, "GET", "/v1/operators/"+frDemo.ID, nil, &c)
		if got, _ := n.resolve(ukDemo.Second); got != "" {
			t.Errorf("%s still resolves a's deleted range's %s to %s", n.id, ukDemo.Second, got)
		}
		if got, _ := n.resolve(ukDemo.SpareNumber); got != ukDemo.ID {
			t.Errorf("%s resolves a's new range's %s to %q", n.id, ukDemo.SpareNumber, got)
		}
		if c.Status != "active" {
			t.Errorf("%s holds c %s after its suspension was lifted", n.id, c.Status)
		}
		if err := n.as(tf.fed.token, "GET", "/v1/operators/"+ukDemo.ID+"/sp-policies/e2e-shop", nil, nil); err != nil {
			t.Errorf("%s holds no policy of a for the SP: %v", n.id, err)
		}
	}
}

// portRequest is the part of a port request the test reads.
type portRequest struct {
	ID, Donor, Recipient, Status string
}

// portingIsADecision: b's request for a's number moves nothing until a
// accepts; a's decline changes nothing; b cannot accept for a; a's accept
// moves it on every replica; the porting authority's import moves a
// number of a's to c without either.
func (tf *trustFed) portingIsADecision() {
	t := tf.t
	number := ukDemo.Number
	file := func() portRequest {
		t.Helper()
		var req portRequest
		tf.b.mustAdmin("POST", "/v1/port-requests", map[string]any{"numbers": []string{number}}, &req)
		tf.expect("file_port_request", nodeToken(tf.b), registry.OutcomeApplied, "")
		if req.Donor != ukDemo.ID || req.Recipient != deDemo.ID || req.Status != "pending" {
			t.Fatalf("b filed %+v", req)
		}
		return req
	}
	stillA := func(what string) {
		t.Helper()
		tf.settle()
		for _, n := range tf.nodes {
			if got, err := n.resolve(number); got != ukDemo.ID {
				t.Fatalf("%s: %s resolves %s to %q (%v)", what, n.id, number, got, err)
			}
		}
	}

	declined := file()
	stillA("a pending request")
	var pending struct{ Items []portRequest }
	tf.c.mustAs(tf.opA, "GET", "/v1/port-requests?donor="+ukDemo.ID+"&status=pending", nil, &pending)
	if len(pending.Items) != 1 || pending.Items[0].ID != declined.ID {
		t.Fatalf("a sees %+v pending against its numbers, want b's request %s", pending.Items, declined.ID)
	}
	tf.a.mustAs(tf.opA, "POST", "/v1/port-requests/"+declined.ID+"/decline", nil, nil)
	tf.expect("decline_port_request", tf.opA, registry.OutcomeApplied, "")
	stillA("a declined request")

	accepted := file()
	err := tf.b.as(tf.b.adminToken, "POST", "/v1/port-requests/"+accepted.ID+"/accept", nil, nil)
	wantProblem(t, "b accepts its own request for a's number", err, 403, "forbidden", "")
	tf.expect("accept_port_request", nodeToken(tf.b), registry.OutcomeRefused, registry.CodeForbidden)
	stillA("b's refused accept")
	tf.a.mustAs(tf.opA, "POST", "/v1/port-requests/"+accepted.ID+"/accept", nil, nil)
	tf.expect("accept_port_request", tf.opA, registry.OutcomeApplied, "")
	tf.waitResolves(number, deDemo.ID)

	// The national portability feed, imported by the porting authority
	// the federation admin appointed: neither a nor c decides.
	authority := tf.issue(tf.a, tf.fed, registry.RolePortingAuthority, "")
	tf.expect("put_credentials", tf.fed, registry.OutcomeApplied, "")
	moved := strings.TrimSuffix(ukDemo.Number, "6") + "7"
	csv := "msisdn,operator\n" + moved + "," + frDemo.ID + "\n"
	if err := send(tf.client, "POST", tf.b.adminURL()+"/v1/ported/import", authority.token, "text/csv", strings.NewReader(csv), nil); err != nil {
		t.Fatalf("the porting authority's import: %v", err)
	}
	tf.expect("port_numbers", authority, registry.OutcomeApplied, "")
	tf.waitResolves(moved, frDemo.ID)
}

// concurrentCreates: six creates of one SP at once, two through each node:
// one 201, five 409, and the secret the 201 handed out authenticates the
// SP at discovery on every node.
func (tf *trustFed) concurrentCreates() {
	t := tf.t
	body := map[string]any{"client_id": "race", "name": "Race", "redirect_uris": []string{spRedirect}, "scopes": []string{"openid"}}
	type result struct {
		err    error
		secret string
	}
	results := make([]result, 6)
	var wg sync.WaitGroup
	for i := range results {
		wg.Go(func() {
			var out struct {
				ClientSecret string `json:"client_secret"`
			}
			err := tf.nodes[i%3].as(tf.fed.token, "POST", "/v1/service-providers", body, &out)
			results[i] = result{err, out.ClientSecret}
		})
	}
	wg.Wait()
	var won []string
	for _, r := range results {
		if r.err == nil {
			won = append(won, r.secret)
			tf.expect("create_sp", tf.fed, registry.OutcomeApplied, "")
			continue
		}
		wantProblem(t, "a concurrent create of SP race", r.err, 409, "conflict", "")
		tf.mayAudit = append(tf.mayAudit, auditLine("create_sp", tf.fed.id, tf.fed.role, tf.fed.operator, registry.OutcomeRefused, registry.CodeConflict))
	}
	if len(won) != 1 || won[0] == "" {
		t.Fatalf("concurrent creates of one SP: %d succeeded, want exactly one with a secret", len(won))
	}
	race := sp{clientID: "race", secret: won[0], name: "Race"}
	tf.race = race
	tf.settle()
	for _, n := range tf.nodes {
		if status, a, err := race.discover(httpClient, n.publicURL(), deDemo.Number); err != nil || status != 200 {
			t.Errorf("discovery on %s with the secret the create handed out: %d %+v %v", n.id, status, a, err)
		}
	}
	wrong := sp{clientID: "race", secret: "not-" + won[0]}
	if status, _, err := wrong.discover(httpClient, tf.a.publicURL(), deDemo.Number); err != nil || status != 401 {
		t.Errorf("discovery with another secret: %d %v, want 401", status, err)
	}
}

// spSecretsStayWithTheirOperator: the secret discovery hands out for a's
// subscriber is the SP's secret at a only. It authenticates the SP at a's
// /token, and fails at b's /token and at discovery; the SP's own secret
// fails at every /token. A client that authenticates gets invalid_grant
// for the made-up code, one that does not gets invalid_client: which of
// the two a gateway answers says whether it took the secret.
func (tf *trustFed) spSecretsStayWithTheirOperator() {
	t := tf.t
	discover := func(number string, at *node) discoveryAnswer {
		status, a, err := tf.race.discover(httpClient, tf.c.publicURL(), number)
		if err != nil || status != 200 || a.link("issuer") != at.publicURL() {
			t.Fatalf("discovery of %s: %d %+v %v, want %s's gateway", number, status, a, err, at.id)
		}
		return a
	}
	// a's new range's number: a's own, unlike the numbers ported above.
	atA, atB := discover(ukDemo.SpareNumber, tf.a), discover(deDemo.Number, tf.b)
	secretA, secretB := atA.Response.ClientSecret, atB.Response.ClientSecret
	if secretA == "" || secretA == secretB || secretA == tf.race.secret || secretB == tf.race.secret {
		t.Fatalf("discovery handed out %q for a and %q for b: want two secrets, neither the SP's own", secretA, secretB)
	}
	token := func(endpoint, secret string) string {
		form := url.Values{"grant_type": {"authorization_code"}, "code": {"made-up"}, "redirect_uri": {spRedirect}}
		req, err := http.NewRequest("POST", endpoint, strings.NewReader(form.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth(tf.race.clientID, secret)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := httpClient.Do(req)
		if err != nil {
			t.Fatalf("POST %s: %v", endpoint, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	tokenA, tokenB := atA.link("token"), atB.link("token")
	for _, c := range []struct {
		what, endpoint, secret, want string
	}{
		{"a's secret at a's /token", tokenA, secretA, "invalid_grant"},
		{"b's secret at b's /token", tokenB, secretB, "invalid_grant"},
		{"a's secret at b's /token", tokenB, secretA, "invalid_client"},
		{"b's secret at a's /token", tokenA, secretB, "invalid_client"},
		{"the SP's own secret at a's /token", tokenA, tf.race.secret, "invalid_client"},
	} {
		if got := token(c.endpoint, c.secret); !strings.Contains(got, `"error":"`+c.want+`"`) {
			t.Errorf("%s: %s, want %s", c.what, got, c.want)
		}
	}
	replayed := sp{clientID: tf.race.clientID, secret: secretA}
	for _, n := range tf.nodes {
		if status, _, err := replayed.discover(httpClient, n.publicURL(), deDemo.Number); err != nil || status != 401 {
			t.Errorf("discovery on %s with the secret a's gateway saw: %d %v, want 401", n.id, status, err)
		}
	}
}
