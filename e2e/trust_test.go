package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/mcfed/mcfed/registry"
)

// Issue 14's trust between competing operators, across processes: three
// operators' nodes (a: uk-demo, which bootstrapped the federation; b:
// de-demo; c: fr-demo), each its own `mcfed serve` process with an admin
// token of its own, mutual TLS between them. The in-process tests
// (federation/trust_test.go, porting_test.go, disputes_test.go,
// jointoken_test.go) hold the same list of attempts against whole nodes in
// one process; here the credentials, certificates and processes are the
// ones an operator would run.

// trustFed is the federation under test and the credentials the test
// acts with, and what the audit log must say of what it did.
type trustFed struct {
	*federation
	a, b, c *node
	// fed is a federation-admin credential the consortium holds (issued
	// with a's node's admin token, the bootstrap node's, which is
	// federation admin); opA and opB operator-admin credentials issued to
	// a and b; each is valid on every node.
	fed, opA, opB credential
	// audit is what the audit log must hold after start, in any order:
	// one line per registry write the test made or attempted; mayAudit
	// what it may hold besides (a create refused as a conflict: the node
	// asked refuses at once, unrecorded, when its replica holds the row
	// already; the registry records the ones it refuses itself).
	audit, mayAudit []string
	// start is the log index the audit expectations begin after.
	start uint64
	// race is the SP concurrentCreates made, with the secret its one
	// successful create handed out.
	race sp
}

// credential is a credential the test acts with: its id, role and
// operator (as audit entries name their author) and its bearer token.
type credential struct {
	id, token string
	role      registry.Role
	operator  string
}

// nodeToken is n's --admin-token as a credential: operator admin of n's
// operator (n joined with a token saying so).
func nodeToken(n *node) credential {
	return credential{id: "admin:" + n.id, token: n.adminToken, role: registry.RoleOperatorAdmin, operator: n.op.ID}
}

func startTrustFed(t *testing.T) *trustFed {
	f := newFederation(t, withTLS(), withOwnAdminTokens()).start(ukDemo, deDemo, frDemo)
	tf := &trustFed{federation: f, a: f.nodes[0], b: f.nodes[1], c: f.nodes[2]}
	bootstrap := nodeToken(tf.a)
	bootstrap.role, bootstrap.operator = registry.RoleFederationAdmin, ""
	tf.fed = tf.issue(tf.a, bootstrap, registry.RoleFederationAdmin, "")
	tf.opA = tf.issue(tf.a, tf.fed, registry.RoleOperatorAdmin, ukDemo.ID)
	tf.opB = tf.issue(tf.a, tf.fed, registry.RoleOperatorAdmin, deDemo.ID)
	f.registerSP()
	tf.start = tf.settle()
	return tf
}

// issue has by, on node n, issue a credential of role (for operator).
func (tf *trustFed) issue(n *node, by credential, role registry.Role, operator string) credential {
	tf.t.Helper()
	var out struct{ ID, Token string }
	if err := n.as(by.token, "POST", "/v1/credentials", map[string]any{"role": role, "operator": operator, "name": "e2e " + string(role) + " " + operator}, &out); err != nil {
		tf.t.Fatalf("issuing a %s credential: %v", role, err)
	}
	return credential{id: out.ID, token: out.Token, role: role, operator: operator}
}

// expect notes that the audit log must hold an entry by who with outcome
// (and refusal code) for the command named command.
func (tf *trustFed) expect(command string, who credential, outcome string, code registry.Code) {
	tf.audit = append(tf.audit, auditLine(command, who.id, who.role, who.operator, outcome, code))
}

func auditLine(command, credential string, role registry.Role, operator, outcome string, code registry.Code) string {
	return fmt.Sprintf("%s by %s (%s of %q): %s %s", command, credential, role, operator, outcome, code)
}

func (e auditEntry) line() string {
	return auditLine(e.Command, e.Author.Credential, e.Author.Role, e.Author.Operator, e.Outcome, e.Code)
}

// settle waits until every node has applied what the leader had applied
// when asked, and returns that index.
func (tf *trustFed) settle() uint64 {
	tf.t.Helper()
	st, err := tf.leader().status()
	if err != nil {
		tf.t.Fatal(err)
	}
	idx := st.Registry.AppliedIndex
	for _, n := range tf.live() {
		err := poll(replicaTimeout, func() (bool, error) {
			st, err := n.status()
			return err == nil && st.Registry.AppliedIndex >= idx, err
		})
		if err != nil {
			tf.t.Fatalf("%s never applied index %d: %v", n.id, idx, err)
		}
	}
	return idx
}

// replicaView is what node n's replica holds, read through its admin API
// (local reads, no Raft), but for the audit log and the disputes: the
// operators, numbering, SPs and their policies, credentials, port
// requests, the count of ported numbers and the Raft configuration. Two
// replicas in one state give the same view.
func (tf *trustFed) replicaView(n *node) string {
	tf.t.Helper()
	var b strings.Builder
	paths := []string{"/v1/operators", "/v1/ranges", "/v1/ip-ranges", "/v1/service-providers", "/v1/scopes",
		"/v1/credentials", "/v1/port-requests"}
	for _, op := range []demoOperator{ukDemo, deDemo, frDemo} {
		paths = append(paths, "/v1/operators/"+op.ID+"/sp-policies")
	}
	for _, p := range paths {
		var raw json.RawMessage
		if err := n.as(tf.fed.token, "GET", p+"?limit=1000", nil, &raw); err != nil {
			tf.t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s %s\n", p, raw)
	}
	var st struct {
		Raft struct {
			Members []struct {
				ID, Addr string
				Voter    bool
			} `json:"members"`
		} `json:"raft"`
		Registry struct {
			PortedNumbers int `json:"ported_numbers"`
		} `json:"registry"`
	}
	if err := n.as(tf.fed.token, "GET", "/v1/cluster/status", nil, &st); err != nil {
		tf.t.Fatal(err)
	}
	sort.Slice(st.Raft.Members, func(i, j int) bool { return st.Raft.Members[i].ID < st.Raft.Members[j].ID })
	fmt.Fprintf(&b, "members %+v\nported %d\n", st.Raft.Members, st.Registry.PortedNumbers)
	return b.String()
}

// views settles the federation and returns each node's replicaView; they
// must agree.
func (tf *trustFed) views() []string {
	tf.t.Helper()
	tf.settle()
	var out []string
	for _, n := range tf.nodes {
		out = append(out, tf.replicaView(n))
		if out[len(out)-1] != out[0] {
			tf.t.Fatalf("%s's replica differs from %s's at one applied index:\n%s\n---\n%s", n.id, tf.nodes[0].id, out[len(out)-1], out[0])
		}
	}
	return out
}

// unchanged fails the test where a replica's view differs from before.
func (tf *trustFed) unchanged(what string, before []string) {
	tf.t.Helper()
	for i, v := range tf.views() {
		if v != before[i] {
			tf.t.Errorf("%s changed %s's replica:\nbefore:\n%s\nafter:\n%s", what, tf.nodes[i].id, before[i], v)
		}
	}
}

// wantProblem fails the test unless err is an answer of status with an
// RFC 9457 body whose type ends in kind (and whose detail holds detail).
func wantProblem(t *testing.T, what string, err error, status int, kind, detail string) {
	t.Helper()
	e, ok := err.(*apiError)
	if !ok {
		t.Errorf("%s: got %v, want %d problem+json", what, err, status)
		return
	}
	var p struct{ Type, Detail string }
	_ = json.Unmarshal([]byte(e.Body), &p)
	if e.Status != status || e.ContentType != "application/problem+json" || !strings.HasSuffix(p.Type, "/"+kind) ||
		!strings.Contains(p.Detail, detail) {
		t.Errorf("%s: got %d %s %s, want %d problem+json of type %s", what, e.Status, e.ContentType, e.Body, status, kind)
	}
}

// TestTrustBetweenOperatorProcesses: issue 14's "must show", but for the
// SP secret's (a secret seen at one operator's /token useless elsewhere,
// which another change brings). Operator b, with every credential it
// holds, is refused every write on a's and c's data, nothing changes in
// any replica, and each attempt is in the audit log; a's own writes and
// the federation's acts succeed; ports move only by the donor's accept or
// the porting authority's import; replayed, misused and forged joins
// leave the cluster's configuration as it was; concurrent creates of one
// SP give one 201; and the audit log names every change and refusal.
func TestTrustBetweenOperatorProcesses(t *testing.T) {
	tf := startTrustFed(t)
	tf.bIsRefused()
	tf.bNodeIsRefused()
	tf.rightfulWritesSucceed()
	tf.portingIsADecision()
	tf.joinsAreNotReplayed()
	tf.concurrentCreates()
	tf.spSecretsStayWithTheirOperator()
	tf.auditNamesEverything()
}

// bIsRefused: b's admin, with its node's admin token on its node and with
// its issued operator-admin credential on a's node, tries every write the
// issue lists against a and c.
func (tf *trustFed) bIsRefused() {
	t := tf.t
	var rec map[string]any
	tf.a.mustAdmin("GET", "/v1/operators/"+ukDemo.ID, nil, &rec)
	var bRec operatorRecord
	tf.b.mustAdmin("GET", "/v1/operators/"+deDemo.ID, nil, &bRec)
	// a's record as b would have it: b's issuer and sealing key, so that
	// discovery would send a's subscribers to b.
	delete(rec, "meta")
	delete(rec, "slot")
	rec["issuer"], rec["sealing_key"] = bRec.Issuer, bRec.SealingKey
	evilSP := map[string]any{"name": "Corner Shop", "scopes": spScopes, "redirect_uris": []string{spRedirect, "https://evil.example/steal"}}
	aRange, aNumber := ukDemo.Ranges[0], ukDemo.Number
	attempts := []struct {
		name, command, method, path string
		body                        any
		// disputed: a claim, refused as a conflict naming the dispute it
		// opened rather than as forbidden.
		disputed bool
	}{
		{"rewrite a's record", "put_operator", "PUT", "/v1/operators/" + ukDemo.ID, rec, false},
		{"suspend c", "update_operator", "POST", "/v1/operators/" + frDemo.ID + "/suspend", nil, false},
		{"delete a's range", "delete_ranges", "DELETE", "/v1/ranges/" + aRange, nil, false},
		{"take a's range", "put_ranges", "PUT", "/v1/ranges/" + aRange, map[string]string{"operator": deDemo.ID}, true},
		{"port a's number to itself", "port_numbers", "PUT", "/v1/ported/" + aNumber, map[string]string{"operator": deDemo.ID}, false},
		{"decline the SP for c", "put_sp_policy", "PUT", "/v1/operators/" + frDemo.ID + "/sp-policies/e2e-shop", map[string]bool{"declined": true}, false},
		{"add a redirect URI to the SP", "put_sp", "PUT", "/v1/service-providers/e2e-shop", evilSP, false},
		{"issue a join token", "put_join_token", "POST", "/v1/cluster/join-tokens", map[string]string{"node_id": "node-b2", "operator": deDemo.ID}, false},
		{"remove a's node", "delete_node", "DELETE", "/v1/cluster/nodes/" + tf.a.id, nil, false},
		{"make c leave", "remove_operator", "POST", "/v1/operators/" + frDemo.ID + "/leave", nil, false},
		{"issue itself a federation-admin credential", "put_credentials", "POST", "/v1/credentials", map[string]string{"role": string(registry.RoleFederationAdmin)}, false},
	}
	before := tf.views()
	for _, as := range []struct {
		cred credential
		via  *node
	}{{nodeToken(tf.b), tf.b}, {tf.opB, tf.a}} {
		for _, at := range attempts {
			what := fmt.Sprintf("b (%s via %s) tries to %s", as.cred.id, as.via.id, at.name)
			err := as.via.as(as.cred.token, at.method, at.path, at.body, nil)
			if at.disputed {
				wantProblem(t, what, err, 409, "conflict", "dispute ")
				tf.expect(at.command, as.cred, registry.OutcomeRefused, registry.CodeConflict)
				continue
			}
			wantProblem(t, what, err, 403, "forbidden", "")
			tf.expect(at.command, as.cred, registry.OutcomeRefused, registry.CodeForbidden)
		}
	}
	tf.unchanged("b's refused writes", before)
	// The claim is a dispute for the federation admin, a keeps the range.
	for _, n := range tf.nodes {
		var page struct{ Items []json.RawMessage }
		if err := n.as(tf.fed.token, "GET", "/v1/disputes", nil, &page); err != nil {
			t.Fatal(err)
		}
		if len(page.Items) != 1 {
			t.Errorf("%s lists %d disputes after b's claims on %s, want one: %s", n.id, len(page.Items), aRange, page.Items)
		}
		if got, err := n.resolve(aNumber); got != ukDemo.ID || err != nil {
			t.Errorf("%s resolves a's %s to %q (%v)", n.id, aNumber, got, err)
		}
	}
}

// auditEntry is the part of an audit entry the test reads.
type auditEntry struct {
	Index  uint64 `json:"index"`
	Author struct {
		Credential string        `json:"credential"`
		Role       registry.Role `json:"role"`
		Operator   string        `json:"operator"`
		Node       string        `json:"node"`
	} `json:"author"`
	Command   string        `json:"command"`
	Keys      []string      `json:"keys"`
	Operators []string      `json:"operators"`
	Outcome   string        `json:"outcome"`
	Code      registry.Code `json:"code"`
}

// auditNamesEverything: the audit log, as the federation admin reads it
// on each node and exports it as JSON lines, holds one entry for every
// write the test made or attempted since the federation started, each
// with its author's credential, role and operator, and nothing else; its
// filters find them by key and by operator, and a's admin reads b's
// refused writes on a's data among the entries that concern a.
func (tf *trustFed) auditNamesEverything() {
	t := tf.t
	tf.settle()
	after := fmt.Sprintf("after=%d", tf.start)
	var want []string
	for i, n := range tf.nodes {
		var page struct{ Items []auditEntry }
		n.mustAs(tf.fed, "GET", "/v1/audit?limit=1000&"+after, nil, &page)
		got := sortedLines(page.Items)
		if i == 0 {
			want = tf.expected(got)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s's audit log after the start:\n%s\nwant:\n%s", n.id, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}

	// The export: the same entries, one JSON object a line.
	req, err := http.NewRequest("GET", tf.c.adminURL()+"/v1/audit?"+after, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tf.fed.token)
	req.Header.Set("Accept", "application/x-ndjson")
	resp, err := tf.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var exported []auditEntry
	dec := json.NewDecoder(resp.Body)
	for dec.More() {
		var e auditEntry
		if err := dec.Decode(&e); err != nil {
			t.Fatalf("the JSON-lines export: %v", err)
		}
		exported = append(exported, e)
	}
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || !strings.HasPrefix(ct, "application/x-ndjson") ||
		!slices.Equal(sortedLines(exported), want) {
		t.Errorf("the JSON-lines export: %d %s, %d entries, want the %d of the log", resp.StatusCode, ct, len(exported), len(want))
	}

	// By key: the shop's three writes (b's two refused, the federation's).
	var byKey struct{ Items []auditEntry }
	tf.a.mustAs(tf.fed, "GET", "/v1/audit?key=e2e-shop&"+after, nil, &byKey)
	shop := []string{
		auditLine("put_sp", nodeToken(tf.b).id, registry.RoleOperatorAdmin, deDemo.ID, registry.OutcomeRefused, registry.CodeForbidden),
		auditLine("put_sp", tf.opB.id, registry.RoleOperatorAdmin, deDemo.ID, registry.OutcomeRefused, registry.CodeForbidden),
		auditLine("put_sp", tf.fed.id, registry.RoleFederationAdmin, "", registry.OutcomeApplied, ""),
	}
	slices.Sort(shop)
	if got := sortedLines(byKey.Items); !slices.Equal(got, shop) {
		t.Errorf("the audit entries of the SP e2e-shop:\n%s", strings.Join(got, "\n"))
	}

	// a's admin reads what concerns a, and b's refused writes on a's data
	// are there: its record, its range (deleted, claimed), its number, its
	// node's removal, in b's two credentials' names; b's node's rewrite of
	// a's record; b's accept of its own request for a's number.
	var mine struct{ Items []auditEntry }
	tf.c.mustAs(tf.opA, "GET", "/v1/audit?limit=1000&"+after, nil, &mine)
	fromB := 0
	for _, e := range mine.Items {
		if !slices.Contains(e.Operators, ukDemo.ID) {
			t.Errorf("a's admin reads an entry that does not concern a: %s", e.line())
		}
		if e.Author.Operator == deDemo.ID && e.Outcome == registry.OutcomeRefused {
			fromB++
		}
	}
	if fromB != 12 {
		t.Errorf("a's admin reads %d of b's refused writes concerning a, want 12", fromB)
	}
	err = tf.c.as(tf.opB.token, "GET", "/v1/audit?operator="+ukDemo.ID, nil, nil)
	wantProblem(t, "b's admin reads a's audit entries", err, 403, "forbidden", "")
}

// expected is what the audit log must hold: every line of tf.audit, and
// those of tf.mayAudit that got (the first node's log) holds; sorted.
func (tf *trustFed) expected(got []string) []string {
	want := slices.Clone(tf.audit)
	left := slices.Clone(got)
	for _, l := range want {
		if i := slices.Index(left, l); i >= 0 {
			left = slices.Delete(left, i, i+1)
		}
	}
	for _, l := range tf.mayAudit {
		if i := slices.Index(left, l); i >= 0 {
			left = slices.Delete(left, i, i+1)
			want = append(want, l)
		}
	}
	slices.Sort(want)
	return want
}

func sortedLines(entries []auditEntry) []string {
	var out []string
	for _, e := range entries {
		out = append(out, e.line())
	}
	slices.Sort(out)
	return out
}
