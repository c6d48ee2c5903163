package registry

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// Credentials of the authorization fixture: the consortium, the admins of
// operators a and b, the porting authority, and the nodes of a and b.
const (
	credFed     = "fedadmin1"
	credA       = "opaadmin1"
	credB       = "opbadmin1"
	credPorting = "porting01"
	credNodeA   = "node:na"
	credNodeB   = "node:nb"
)

// authored wraps cmd as the leader would, by credential id: the registry
// resolves the rest of the author from the credential's row.
func authored(t testing.TB, cred string, time int64, cmd []byte) []byte {
	t.Helper()
	b, err := EncodeAuthored(Header{Author: Author{Credential: cred}, Time: time, RequestID: "req-" + cred}, cmd)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// asAuthor applies cmd with the author the leader stated in full (the
// registry trusts it only for the bootstrap of an empty credentials table).
func (f *fixture) asAuthor(a Author, cmd []byte) error {
	f.t.Helper()
	f.index++
	b, err := EncodeAuthored(Header{Author: a, Time: 1_700_000_000_000 + int64(f.index)*1000}, cmd)
	if err != nil {
		f.t.Fatal(err)
	}
	return f.r.Apply(f.index, b)
}

// as applies cmd authored by cred, at the next index and a clock one
// second on.
func (f *fixture) as(cred string, cmd []byte) error {
	f.t.Helper()
	f.index++
	return f.r.Apply(f.index, authored(f.t, cred, 1_700_000_000_000+int64(f.index)*1000, cmd))
}

func (f *fixture) mustAs(cred string, cmd []byte) {
	f.t.Helper()
	if err := f.as(cred, cmd); err != nil {
		f.t.Fatalf("as %s: %v", cred, err)
	}
}

func cred(id string, kind CredentialKind, role Role, operator, node string) Credential {
	return Credential{ID: id, Kind: kind, Role: role, Operator: operator, Node: node, Verifier: HashSecret("secret of " + id)}
}

func nodeCred(node, operator string) Credential {
	return cred(NodeCredentialID(node), KindNode, "", operator, node)
}

// trustFixture: operators a, b and c; a holds +447911 and 10.0.0.0/8, b
// holds +447922; an SP shop accepted everywhere; nodes na (a's) and nb
// (b's); and the credentials above. It is built from plain commands, as
// an upgraded registry's older log would have.
func trustFixture(t *testing.T) *fixture {
	f := newFixture(t)
	for _, o := range []Operator{op("a", "234_10"), op("b", "234_20"), op("c", "234_30")} {
		f.must(CmdPutOperator, o)
	}
	f.must(CmdPutRanges, RangeBatch{Ranges: []Range{{Prefix: "+447911", Operator: "a"}, {Prefix: "+447922", Operator: "b"}}})
	f.must(CmdPutIPRange, IPRange{CIDR: "10.0.0.0/8", Operator: "a"})
	f.must(CmdPutScope, Scope{Name: "openid"})
	f.must(CmdPutSP, testSP("shop"))
	for _, n := range []Node{{ID: "na", Operator: "a"}, {ID: "nb", Operator: "b"}} {
		n.RaftAddr, n.AdminURL = "127.0.0.1:1", "http://127.0.0.1:2"
		f.must(CmdPutNode, n)
	}
	f.must(CmdPutCredentials, CredentialBatch{Credentials: []Credential{
		cred(credFed, KindAdmin, RoleFederationAdmin, "", ""),
		cred(credA, KindAdmin, RoleOperatorAdmin, "a", ""),
		cred(credB, KindAdmin, RoleOperatorAdmin, "b", ""),
		cred(credPorting, KindAdmin, RolePortingAuthority, "", ""),
		nodeCred("na", "a"), nodeCred("nb", "b"),
	}})
	f.must(CmdPutJoinToken, JoinToken{Hash: HashSecret("join"), ExpiresAt: 2_000_000_000, Node: "n9"})
	return f
}

func testSP(id string) ServiceProvider {
	return ServiceProvider{ClientID: id, Name: "SP " + id, SecretHash: HashSecret(strings.Repeat("s", 40)),
		RedirectURIs: []string{"https://" + id + ".example/cb"}, Scopes: []string{"openid"},
		Operators: []string{AllOperators}, Status: StatusActive}
}

func ports(t testing.TB, ps ...Port) []byte {
	t.Helper()
	b, err := EncodePorts(ps)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAuthorization: each role against each kind of write, on its own
// data and on another operator's. A refusal is CodeForbidden; anything
// else (success, or a refusal for another reason) means the policy let
// the command through.
func TestAuthorization(t *testing.T) {
	withIssuer := func(id, issuer string) Operator {
		o := op(id, map[string]string{"a": "234_10", "b": "234_20", "c": "234_30", "d": "234_40"}[id])
		o.Issuer = issuer
		return o
	}
	suspended := func(id string) OperatorUpdate {
		o := op(id, map[string]string{"a": "234_10", "b": "234_20", "c": "234_30"}[id])
		o.Status = StatusSuspended
		return OperatorUpdate{Operator: o, IfIndex: map[string]uint64{"a": 1, "b": 2, "c": 3}[id]}
	}
	redirected := testSP("shop")
	redirected.RedirectURIs = append(redirected.RedirectURIs, "https://evil.example/steal")
	spWith := func(id string) []byte { return MustEncode(CmdPutSP, testSP(id)) }
	n447911 := uint64(447911000001)

	for _, tc := range []struct {
		name    string
		cred    string
		cmd     []byte
		allowed bool
	}{
		// Operator records.
		{"B rewrites A's record", credB, MustEncode(CmdPutOperator, withIssuer("a", "https://b.example/")), false},
		{"B's node rewrites A's record", credNodeB, MustEncode(CmdPutOperator, withIssuer("a", "https://b.example/")), false},
		{"A rewrites its own record", credA, MustEncode(CmdPutOperator, withIssuer("a", "https://a2.example/")), true},
		{"A's node rewrites A's record", credNodeA, MustEncode(CmdUpdateOperator, OperatorUpdate{Operator: withIssuer("a", "https://a2.example/"), IfIndex: 1}), true},
		{"federation rewrites A's record", credFed, MustEncode(CmdPutOperator, withIssuer("a", "https://a2.example/")), true},
		{"B suspends C", credB, MustEncode(CmdUpdateOperator, suspended("c")), false},
		{"A suspends itself", credA, MustEncode(CmdUpdateOperator, suspended("a")), false},
		{"federation suspends C", credFed, MustEncode(CmdUpdateOperator, suspended("c")), true},
		{"B creates operator d", credB, MustEncode(CmdPutOperator, withIssuer("d", "https://d.example/")), false},
		{"B deletes A", credB, MustEncode(CmdDeleteOperator, Key{Key: "a"}), false},
		{"A removes itself", credA, MustEncode(CmdRemoveOperator, Key{Key: "a"}), false},
		{"federation removes C", credFed, MustEncode(CmdRemoveOperator, Key{Key: "c"}), true},
		{"porting authority rewrites A", credPorting, MustEncode(CmdPutOperator, withIssuer("a", "https://p.example/")), false},
		// Number ranges (a claim on another operator's range is a
		// dispute: TestClaimsOnAnotherOperatorsRangesAreDisputes).
		{"B deletes A's range", credB, MustEncode(CmdDeleteRanges, Keys{Keys: []string{"+447911"}}), false},
		{"B gives a new range to A", credB, MustEncode(CmdPutRanges, RangeBatch{Ranges: []Range{{Prefix: "+447955", Operator: "a"}}}), false},
		{"B adds a free range", credB, MustEncode(CmdPutRanges, RangeBatch{Ranges: []Range{{Prefix: "+447955", Operator: "b"}}}), true},
		{"B's node adds a free range", credNodeB, MustEncode(CmdPutRanges, RangeBatch{Ranges: []Range{{Prefix: "+447955", Operator: "b"}}}), true},
		{"A deletes its own range", credA, MustEncode(CmdDeleteRanges, Keys{Keys: []string{"+447911"}}), true},
		{"A adds a sub-range of its own", credA, MustEncode(CmdPutRanges, RangeBatch{Ranges: []Range{{Prefix: "+4479119", Operator: "a"}}}), true},
		{"federation records a sub-allocation", credFed, MustEncode(CmdPutRanges, RangeBatch{Ranges: []Range{{Prefix: "+4479119", Operator: "b"}}}), true},
		// Ported numbers.
		{"B ports A's number", credB, ports(t, Port{Number: n447911, Operator: "b"}), false},
		{"B's node ports A's number", credNodeB, ports(t, Port{Number: n447911, Operator: "b"}), false},
		{"A ports a number to itself", credA, ports(t, Port{Number: 447922000001, Operator: "a"}), false},
		{"porting authority ports", credPorting, ports(t, Port{Number: n447911, Operator: "b"}), true},
		{"federation ports", credFed, ports(t, Port{Number: n447911, Operator: "b"}), true},
		// IP ranges (claims: TestClaimsOnAnotherOperatorsRangesAreDisputes).
		{"B deletes A's IP range", credB, MustEncode(CmdDeleteIPRange, Key{Key: "10.0.0.0/8"}), false},
		{"B adds a free IP range", credB, MustEncode(CmdPutIPRange, IPRange{CIDR: "192.0.2.0/24", Operator: "b"}), true},
		{"A adds inside its own IP range", credA, MustEncode(CmdPutIPRange, IPRange{CIDR: "10.1.0.0/16", Operator: "a"}), true},
		{"A deletes its IP range", credA, MustEncode(CmdDeleteIPRange, Key{Key: "10.0.0.0/8"}), true},
		// Service providers, policies and the catalogue.
		{"B adds a redirect URI to an SP", credB, MustEncode(CmdPutSP, redirected), false},
		{"B registers an SP", credB, spWith("new"), false},
		{"B deletes an SP", credB, MustEncode(CmdDeleteSP, Key{Key: "shop"}), false},
		{"federation changes an SP", credFed, MustEncode(CmdPutSP, redirected), true},
		{"B declines an SP for C", credB, MustEncode(CmdPutSPPolicy, SPPolicy{Operator: "c", ClientID: "shop", Declined: true}), false},
		{"B deletes A's policy", credB, MustEncode(CmdDeleteSPPolicy, PolicyKey{Operator: "a", ClientID: "shop"}), false},
		{"B declines an SP for itself", credB, MustEncode(CmdPutSPPolicy, SPPolicy{Operator: "b", ClientID: "shop", Declined: true}), true},
		{"B's node declines an SP for B", credNodeB, MustEncode(CmdPutSPPolicy, SPPolicy{Operator: "b", ClientID: "shop", Declined: true}), true},
		{"A adds a scope", credA, MustEncode(CmdPutScope, Scope{Name: "profile"}), false},
		{"A deletes a product", credA, MustEncode(CmdDeleteProduct, Key{Key: "p"}), false},
		{"federation adds a scope", credFed, MustEncode(CmdPutScope, Scope{Name: "profile"}), true},
		// Nodes and join tokens.
		{"B issues a join token", credB, MustEncode(CmdPutJoinToken, JoinToken{Hash: HashSecret("x"), ExpiresAt: 2_000_000_000, Node: "nx"}), false},
		{"federation issues a join token", credFed, MustEncode(CmdPutJoinToken, JoinToken{Hash: HashSecret("x"), ExpiresAt: 2_000_000_000, Node: "nx"}), true},
		{"B removes A's node", credB, MustEncode(CmdDeleteNode, Key{Key: "na"}), false},
		{"B's node removes A's node", credNodeB, MustEncode(CmdDeleteNode, Key{Key: "na"}), false},
		{"federation removes a node", credFed, MustEncode(CmdDeleteNode, Key{Key: "na"}), true},
		{"B's node rewrites A's node record", credNodeB, MustEncode(CmdPutNode, Node{ID: "na", RaftAddr: "x:1", AdminURL: "http://x/"}), false},
		{"B's node claims A", credNodeB, MustEncode(CmdPutNode, Node{ID: "nb", RaftAddr: "x:1", AdminURL: "http://x/", Operator: "a"}), false},
		{"B's node moves itself", credNodeB, MustEncode(CmdPutNode, Node{ID: "nb", RaftAddr: "x:1", AdminURL: "http://x/", Operator: "b"}), true},
		{"B's admin writes B's node record", credB, MustEncode(CmdPutNode, Node{ID: "nb", RaftAddr: "x:1", AdminURL: "http://x/", Operator: "b"}), false},
		{"federation spends a join token", credFed, MustEncode(CmdUseJoinToken, UseJoinToken{Hash: HashSecret("join"), Node: "n9", Now: 1}), false},
		{"B spends a join token", credB, MustEncode(CmdUseJoinToken, UseJoinToken{Hash: HashSecret("join"), Node: "n9", Now: 1}), false},
		{"a node spends a join token", credNodeA, MustEncode(CmdUseJoinToken, UseJoinToken{Hash: HashSecret("join"), Node: "n9", Now: 1}), true},
		{"B prunes join tokens", credB, MustEncode(CmdPruneJoinTokens, PruneJoinTokens{Now: 2_000_000_000}), false},
		{"a node prunes join tokens", credNodeA, MustEncode(CmdPruneJoinTokens, PruneJoinTokens{Now: 2_000_000_000}), true},
		{"B's node rebinds its certificate", credNodeB, MustEncode(CmdPutCredentials, CredentialBatch{Credentials: []Credential{
			{ID: "node:nb", Kind: KindNode, Operator: "b", Node: "nb", Verifier: HashSecret("new"), Certificate: HashSecret("another certificate")}}}), false},
		// Credentials.
		{"B issues itself federation admin", credB, MustEncode(CmdPutCredentials, CredentialBatch{Credentials: []Credential{cred("bfedadmin", KindAdmin, RoleFederationAdmin, "", "")}}), false},
		{"B's node issues an admin credential", credNodeB, MustEncode(CmdPutCredentials, CredentialBatch{Credentials: []Credential{cred("bfedadmin", KindAdmin, RoleOperatorAdmin, "b", "")}}), false},
		{"federation issues a credential", credFed, MustEncode(CmdPutCredentials, CredentialBatch{Credentials: []Credential{cred("newadmin1", KindAdmin, RoleOperatorAdmin, "c", "")}}), true},
		{"B's node replaces its verifier", credNodeB, MustEncode(CmdPutCredentials, CredentialBatch{Credentials: []Credential{
			{ID: "node:nb", Kind: KindNode, Operator: "b", Node: "nb", Verifier: HashSecret("new")}}}), true},
		{"B's node rebinds itself to A", credNodeB, MustEncode(CmdPutCredentials, CredentialBatch{Credentials: []Credential{
			{ID: "node:nb", Kind: KindNode, Operator: "a", Node: "nb", Verifier: HashSecret("new")}}}), false},
		{"B's node replaces A's node's verifier", credNodeB, MustEncode(CmdPutCredentials, CredentialBatch{Credentials: []Credential{
			{ID: "node:na", Kind: KindNode, Operator: "a", Node: "na", Verifier: HashSecret("new")}}}), false},
		{"B revokes A's credential", credB, MustEncode(CmdRevokeCredential, Key{Key: credA}), false},
		{"federation revokes A's credential", credFed, MustEncode(CmdRevokeCredential, Key{Key: credA}), true},
		// Creates are judged as the puts they wrap.
		{"B creates an SP", credB, Create(spWith("new")), false},
		{"federation creates an SP", credFed, Create(spWith("new")), true},
		{"B creates a free range", credB, Create(MustEncode(CmdPutRanges, RangeBatch{Ranges: []Range{{Prefix: "+447955", Operator: "b"}}})), true},
		// Unknown and revoked authors.
		{"an unregistered credential", "nobody123", MustEncode(CmdPutScope, Scope{Name: "profile"}), false},
		{"an unregistered node bootstraps a registry that has credentials", "node:nz", MustEncode(CmdPutCredentials, CredentialBatch{Credentials: []Credential{
			nodeCred("nz", ""), cred("admin:nz", KindAdmin, RoleFederationAdmin, "", "nz")}}), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := trustFixture(t)
			before := f.r.AppliedIndex()
			err := f.as(tc.cred, tc.cmd)
			if forbidden := CodeOf(err) == CodeForbidden; forbidden == tc.allowed {
				t.Fatalf("got %v, want allowed=%v", err, tc.allowed)
			}
			if tc.allowed && err != nil {
				t.Fatalf("allowed, but failed: %v", err)
			}
			if f.r.AppliedIndex() != before+1 {
				t.Fatalf("the applied index is %d, want %d", f.r.AppliedIndex(), before+1)
			}
			last := f.r.Audit(AuditQuery{After: before})
			if len(last.Items) != 1 {
				t.Fatalf("%d audit entries for one command", len(last.Items))
			}
			want := map[bool]string{true: OutcomeApplied, false: OutcomeRefused}[tc.allowed]
			if e := last.Items[0]; e.Outcome != want || e.Author.Credential != tc.cred {
				t.Fatalf("audit entry %+v, want outcome %s by %s", e, want, tc.cred)
			}
		})
	}
}

// TestRefusalChangesNothingButTheAuditLog: B's attempts on A's data leave
// every row as it was.
func TestRefusalChangesNothingButTheAuditLog(t *testing.T) {
	f := trustFixture(t)
	before := dumpOf(f.r)
	evil := op("a", "234_10")
	evil.Issuer = "https://b.example/"
	for _, cmd := range [][]byte{
		MustEncode(CmdPutOperator, evil),
		MustEncode(CmdDeleteRanges, Keys{Keys: []string{"+447911"}}),
		ports(t, Port{Number: 447911000001, Operator: "b"}),
		MustEncode(CmdRemoveOperator, Key{Key: "c"}),
	} {
		wantCode(t, f.as(credB, cmd), CodeForbidden, "credential "+credB)
	}
	after := dumpOf(f.r)
	after.Applied = before.Applied
	if !reflect.DeepEqual(before, after) {
		t.Fatal("refused commands changed the registry")
	}
	page := f.r.Audit(AuditQuery{Operator: "a"})
	if len(page.Items) != 3 {
		t.Fatalf("%d audit entries concern a, want the 3 attempts on it: %+v", len(page.Items), page.Items)
	}
	for _, e := range page.Items {
		if e.Outcome != OutcomeRefused || e.Code != CodeForbidden || !strings.Contains(e.Reason, "may not") {
			t.Fatalf("entry %+v is not a forbidden refusal", e)
		}
	}
}

// TestPlainCommandsApplyAsBefore: a log written before commands had
// authors applies unchanged, and leaves no audit entry.
func TestPlainCommandsApplyAsBefore(t *testing.T) {
	f := newFixture(t)
	f.must(CmdPutOperator, op("red", "234_10"))
	f.must(CmdRemoveOperator, Key{Key: "red"})
	if f.r.Operator("red") != nil || len(f.r.Audit(AuditQuery{}).Items) != 0 {
		t.Fatal("plain commands did not apply as before")
	}
}

// TestBootstrapRegistersTheFirstNode: with no credential in the registry,
// a node registers its own credential and admin token, and nothing else;
// after that, unregistered authors write nothing.
func TestBootstrapRegistersTheFirstNode(t *testing.T) {
	f := newFixture(t)
	self := CredentialBatch{Credentials: []Credential{nodeCred("n1", "red"), cred("admin:n1", KindAdmin, RoleFederationAdmin, "", "n1")}}
	n1 := Author{Credential: "node:n1", Kind: KindNode, Node: "n1", Operator: "red"}
	wantCode(t, f.asAuthor(n1, MustEncode(CmdPutScope, Scope{Name: "openid"})), CodeForbidden, "not registered")
	wantCode(t, f.asAuthor(n1, MustEncode(CmdPutCredentials, CredentialBatch{Credentials: []Credential{nodeCred("n2", "")}})),
		CodeForbidden, "only its own")
	claimsFed := Author{Credential: "admin:n1", Kind: KindAdmin, Role: RoleFederationAdmin, Node: "n1"}
	wantCode(t, f.asAuthor(claimsFed, MustEncode(CmdPutCredentials, self)), CodeForbidden, "only its own")
	if err := f.asAuthor(n1, MustEncode(CmdPutCredentials, self)); err != nil {
		t.Fatal(err)
	}
	f.mustAs("admin:n1", MustEncode(CmdPutScope, Scope{Name: "openid"}))
	n2 := Author{Credential: "node:n2", Kind: KindNode, Node: "n2"}
	wantCode(t, f.asAuthor(n2, MustEncode(CmdPutCredentials, CredentialBatch{Credentials: []Credential{nodeCred("n2", "")}})),
		CodeForbidden, "not registered")
	if c := f.r.Credential("admin:n1"); c == nil || c.Role != RoleFederationAdmin {
		t.Fatalf("admin:n1 is %+v", c)
	}
}

// TestRevokedCredentialWritesNothing.
func TestRevokedCredentialWritesNothing(t *testing.T) {
	f := trustFixture(t)
	f.mustAs(credFed, MustEncode(CmdRevokeCredential, Key{Key: credA}))
	wantCode(t, f.as(credA, MustEncode(CmdPutSPPolicy, SPPolicy{Operator: "a", ClientID: "shop", Declined: true})), CodeForbidden, "revoked")
	if c := f.r.Credential(credA); c == nil || !c.Revoked {
		t.Fatalf("the revoked credential is %+v, want kept and marked", c)
	}
}

// TestJoinRegistersTheNodesCredentials: a spent join token writes the
// node's record and credentials with the role the token grants, whatever
// the node asks for; a re-join with the same token replaces nothing; a
// second node cannot claim an operator another member serves.
func TestJoinRegistersTheNodesCredentials(t *testing.T) {
	f := trustFixture(t)
	f.mustAs(credFed, MustEncode(CmdPutJoinToken, JoinToken{Hash: HashSecret("join-c"), ExpiresAt: 2_000_000_000, Node: "nc", Operator: "c"}))
	rec := &Node{ID: "nc", RaftAddr: "127.0.0.1:3", AdminURL: "http://127.0.0.1:4"}
	use := UseJoinToken{Hash: HashSecret("join-c"), Node: "nc", Now: 1, Record: rec, Certificate: HashSecret("nc's certificate"),
		NodeVerifier: HashSecret("node secret"), AdminVerifier: HashSecret("admin token"), Operator: "c"}
	// The node says it serves b: the token admits it for c only.
	wrong := use
	wrong.Operator = "b"
	wantCode(t, f.as(credNodeA, MustEncode(CmdUseJoinToken, wrong)), CodeForbidden, "for operator \"c\"")
	f.mustAs(credNodeA, MustEncode(CmdUseJoinToken, use))
	if f.r.Node("nc") == nil {
		t.Fatal("the joining node has no record")
	}
	admin := f.r.Credential("admin:nc")
	if admin == nil || admin.Role != RoleOperatorAdmin || admin.Operator != "c" || !admin.CheckSecret("admin token") {
		t.Fatalf("admin:nc is %+v", admin)
	}
	if n := f.r.Credential("node:nc"); n == nil || n.Operator != "c" || !n.CheckSecret("node secret") || n.Certificate != HashSecret("nc's certificate") {
		t.Fatalf("node:nc is %+v", n)
	}
	// The same node again with the same token: refused, its verifier kept.
	again := use
	again.NodeVerifier, again.Certificate = HashSecret("new node secret"), HashSecret("another certificate")
	wantCode(t, f.as(credNodeA, MustEncode(CmdUseJoinToken, again)), CodeForbidden, "already used")
	if n := f.r.Credential("node:nc"); !n.CheckSecret("node secret") || n.Certificate != HashSecret("nc's certificate") {
		t.Fatalf("after a replayed join node:nc is %+v", n)
	}
	// A new token for a member is refused when issued.
	wantCode(t, f.as(credFed, MustEncode(CmdPutJoinToken, JoinToken{Hash: HashSecret("join-c2"), ExpiresAt: 2_000_000_000, Node: "nc"})), CodeConflict, "is a member")
	// Removed, the node writes nothing more; a new token admits it again,
	// with the role that token grants.
	f.mustAs(credFed, MustEncode(CmdDeleteNode, Key{Key: "nc"}))
	if n := f.r.Credential("node:nc"); n == nil || !n.Revoked {
		t.Fatalf("after its removal node:nc is %+v", n)
	}
	wantCode(t, f.as("node:nc", MustEncode(CmdPutSPPolicy, SPPolicy{Operator: "c", ClientID: "shop", Declined: true})), CodeForbidden, "revoked")
	f.mustAs(credFed, MustEncode(CmdPutJoinToken, JoinToken{Hash: HashSecret("join-c2"), ExpiresAt: 2_000_000_000, Node: "nc", FederationAdmin: true}))
	again.Hash, again.Operator = HashSecret("join-c2"), ""
	f.mustAs(credNodeA, MustEncode(CmdUseJoinToken, again))
	if n := f.r.Credential("node:nc"); n.Revoked || n.Operator != "" || !n.CheckSecret("new node secret") || f.r.Node("nc") == nil {
		t.Fatalf("after a new admission node:nc is %+v", n)
	}
	if a := f.r.Credential("admin:nc"); a.Role != RoleFederationAdmin || a.Operator != "" {
		t.Fatalf("after a new admission admin:nc is %+v", a)
	}
	// Another node claiming a's operator, served by na.
	f.mustAs(credFed, MustEncode(CmdPutJoinToken, JoinToken{Hash: HashSecret("join2"), ExpiresAt: 2_000_000_000, Node: "nd", Operator: "a"}))
	other := UseJoinToken{Hash: HashSecret("join2"), Node: "nd", Now: 1, Record: &Node{ID: "nd", RaftAddr: "127.0.0.1:5", AdminURL: "http://127.0.0.1:6"},
		NodeVerifier: HashSecret("d"), Operator: "a"}
	wantCode(t, f.as(credNodeA, MustEncode(CmdUseJoinToken, other)), CodeConflict, "served by node na")
	if f.r.Node("nd") != nil || f.r.JoinToken(HashSecret("join2")).UsedBy != "" {
		t.Fatal("a refused join left a trace")
	}
}

// TestCreatesAreCompareAndSet: a create of what exists is a conflict,
// decided in the FSM, so of two concurrent creates exactly one succeeds.
func TestCreatesAreCompareAndSet(t *testing.T) {
	f := trustFixture(t)
	for name, tc := range map[string]struct {
		cmd  []byte
		code Code
	}{
		"an SP":          {Create(MustEncode(CmdPutSP, testSP("shop"))), CodeConflict},
		"an operator":    {Create(MustEncode(CmdPutOperator, op("a", "234_10"))), CodeConflict},
		"a range":        {Create(MustEncode(CmdPutRanges, RangeBatch{Ranges: []Range{{Prefix: "+447955", Operator: "a"}, {Prefix: "+447911", Operator: "a"}}})), CodeConflict},
		"an IP range":    {Create(MustEncode(CmdPutIPRange, IPRange{CIDR: "10.0.0.1/8", Operator: "a"})), CodeConflict},
		"a scope":        {Create(MustEncode(CmdPutScope, Scope{Name: "openid"})), CodeConflict},
		"not a put":      {Create(MustEncode(CmdDeleteSP, Key{Key: "shop"})), CodeInvalid},
		"a new SP twice": {Create(MustEncode(CmdPutSP, testSP("new"))), ""},
	} {
		err := f.as(credFed, tc.cmd)
		if name == "a new SP twice" {
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			err = f.as(credFed, tc.cmd)
			tc.code = CodeConflict
		}
		if CodeOf(err) != tc.code {
			t.Errorf("create of %s: got %v, want %s", name, err, tc.code)
		}
	}
	if f.r.Range("+447955") != nil {
		t.Fatal("a refused create of a range batch applied part of it")
	}
	// A plain put still replaces.
	f.mustAs(credFed, MustEncode(CmdPutSP, testSP("shop")))
}

// TestAuditEntries: who, when, what, the request, and digests of the row
// before and after; filters by operator, key and time; pages.
func TestAuditEntries(t *testing.T) {
	f := trustFixture(t)
	beforeShop := f.r.ServiceProvider("shop")
	f.mustAs(credA, MustEncode(CmdPutSPPolicy, SPPolicy{Operator: "a", ClientID: "shop", Declined: true}))
	f.mustAs(credFed, MustEncode(CmdPutSP, testSP("other")))
	wantCode(t, f.as(credB, MustEncode(CmdPutSPPolicy, SPPolicy{Operator: "a", ClientID: "shop"})), CodeForbidden, "may not")
	_ = beforeShop

	all := f.r.Audit(AuditQuery{})
	if len(all.Items) != 3 {
		t.Fatalf("%d entries, want 3", len(all.Items))
	}
	pol, sp, refused := all.Items[0], all.Items[1], all.Items[2]
	if pol.Command != "put_sp_policy" || pol.Author.Role != RoleOperatorAdmin || pol.Author.Operator != "a" ||
		pol.RequestID != "req-"+credA || pol.Time == 0 || pol.Before != "" || pol.After == "" ||
		len(pol.Keys) != 1 || pol.Keys[0] != "a/shop" {
		t.Fatalf("policy entry %+v", pol)
	}
	if sp.Command != "put_sp" || sp.Keys[0] != "other" || sp.Outcome != OutcomeApplied || sp.Author.Role != RoleFederationAdmin {
		t.Fatalf("SP entry %+v", sp)
	}
	if refused.Outcome != OutcomeRefused || refused.After != "" || refused.Author.Operator != "b" {
		t.Fatalf("refused entry %+v", refused)
	}
	// Replacing a row: the before digest is the after digest of the write
	// that made it.
	f.mustAs(credFed, MustEncode(CmdPutSP, testSP("other")))
	if again := f.r.Audit(AuditQuery{Key: "other"}).Items; len(again) != 2 || again[1].Before != again[0].After || again[1].After == again[0].After {
		t.Fatalf("the digests do not chain: %+v", again)
	}

	byA := f.r.Audit(AuditQuery{Operator: "a"})
	if len(byA.Items) != 2 || byA.Items[0].Index != pol.Index || byA.Items[1].Index != refused.Index {
		t.Fatalf("entries concerning a: %+v", byA.Items)
	}
	if got := f.r.Audit(AuditQuery{Since: sp.Time, Until: sp.Time}).Items; len(got) != 1 || got[0].Index != sp.Index {
		t.Fatalf("entries at sp's time: %+v", got)
	}
	first := f.r.Audit(AuditQuery{Limit: 2})
	if len(first.Items) != 2 || first.Next == "" {
		t.Fatalf("first page %+v", first)
	}
	second := f.r.Audit(AuditQuery{After: first.Items[1].Index, Limit: 2})
	if len(second.Items) != 2 || second.Items[0].Index != refused.Index || second.Next != "" {
		t.Fatalf("second page %+v", second)
	}
}

// TestNodeRemovalConcernsItsOperator: an attempt to remove a's node is
// among the entries concerning a, so a's admin reads who tried.
func TestNodeRemovalConcernsItsOperator(t *testing.T) {
	f := trustFixture(t)
	wantCode(t, f.as(credB, MustEncode(CmdDeleteNode, Key{Key: "na"})), CodeForbidden, "may not")
	byA := f.r.Audit(AuditQuery{Operator: "a"}).Items
	if len(byA) != 1 || byA[0].Command != "delete_node" || byA[0].Author.Operator != "b" || !slices.Contains(byA[0].Operators, "b") {
		t.Fatalf("entries concerning a after b tried to remove a's node: %+v", byA)
	}
}

// TestAuditRetention: entries older than the retention, by the newest
// command's clock, are pruned as commands apply.
func TestAuditRetention(t *testing.T) {
	f := trustFixture(t)
	const AuditRetention = DefaultAuditRetentionDays * 24 * 3600 * 1000
	at := func(ms int64, cmd []byte) {
		f.index++
		if err := f.r.Apply(f.index, authored(t, credFed, ms, cmd)); err != nil {
			t.Fatal(err)
		}
	}
	at(1000, MustEncode(CmdPutScope, Scope{Name: "s1"}))
	at(2000, MustEncode(CmdPutScope, Scope{Name: "s2"}))
	at(1000+AuditRetention, MustEncode(CmdPutScope, Scope{Name: "s3"}))
	if got := f.r.Audit(AuditQuery{}).Items; len(got) != 3 {
		t.Fatalf("%d entries before any is due, want 3", len(got))
	}
	at(1001+AuditRetention, MustEncode(CmdPutScope, Scope{Name: "s4"}))
	got := f.r.Audit(AuditQuery{}).Items
	if len(got) != 3 || got[0].Keys[0] != "s2" {
		t.Fatalf("after the first entry is due: %+v", got)
	}
}

// TestAuditRetentionIsTheFederations: the federation admin sets the
// retention, within bounds that keep a quarter's evidence; no operator
// admin may shorten it; a shorter retention prunes what it lets go.
func TestAuditRetentionIsTheFederations(t *testing.T) {
	f := trustFixture(t)
	day := int64(24 * 3600 * 1000)
	at := func(ms int64, cred string, cmd []byte) error {
		f.index++
		return f.r.Apply(f.index, authored(t, cred, ms, cmd))
	}
	for _, days := range []int{0, MinAuditRetentionDays - 1, MaxAuditRetentionDays + 1} {
		wantCode(t, at(1, credFed, MustEncode(CmdPutAuditRules, AuditRules{RetentionDays: days})), CodeInvalid, "retention_days must be between")
	}
	wantCode(t, at(1, credA, MustEncode(CmdPutAuditRules, AuditRules{RetentionDays: MinAuditRetentionDays})), CodeForbidden, "may not")
	if got := f.r.AuditRules().RetentionDays; got != DefaultAuditRetentionDays {
		t.Fatalf("retention after refused writes: %d days, want the default %d", got, DefaultAuditRetentionDays)
	}
	if err := at(2, credFed, MustEncode(CmdPutScope, Scope{Name: "old"})); err != nil {
		t.Fatal(err)
	}
	if err := at(3, credFed, MustEncode(CmdPutAuditRules, AuditRules{RetentionDays: MinAuditRetentionDays})); err != nil {
		t.Fatal(err)
	}
	if got := f.r.AuditRules().RetentionDays; got != MinAuditRetentionDays {
		t.Fatalf("retention %d days, want %d", got, MinAuditRetentionDays)
	}
	// A write past the new retention, and before the default's end,
	// prunes every entry older than the new one.
	if err := at(3+MinAuditRetentionDays*day+1, credFed, MustEncode(CmdPutScope, Scope{Name: "new"})); err != nil {
		t.Fatal(err)
	}
	for _, e := range f.r.Audit(AuditQuery{}).Items {
		if e.Time <= 3 {
			t.Fatalf("an entry of time %d (%s) outlived a retention of %d days", e.Time, e.Command, MinAuditRetentionDays)
		}
	}
}

// TestAuthoredCommandsThisBuildCannotRead: an envelope this build cannot
// read (its header, a nested envelope, an unknown inner command) halts like
// any uninterpretable command, with no audit entry.
func TestAuthoredCommandsThisBuildCannotRead(t *testing.T) {
	f := trustFixture(t)
	applied := f.r.AppliedIndex()
	good := authored(t, credFed, 1, MustEncode(CmdPutScope, Scope{Name: "x"}))
	for name, cmd := range map[string][]byte{
		"newer version":              append([]byte{byte(CmdAuthored), authoredWriteIDVersion + 1}, good[2:]...),
		"bad header":                 {byte(CmdAuthored), commandVersion, 3, '{', '{', '{', byte(CmdPutScope), commandVersion, '{', '}'},
		"no inner":                   {byte(CmdAuthored), commandVersion, 2, '{', '}'},
		"nested":                     authored(t, credFed, 1, good),
		"unknown inner":              authored(t, credFed, 1, []byte{99, commandVersion, '{', '}'}),
		"create of an unknown inner": authored(t, credFed, 1, Create([]byte{99, commandVersion})),
	} {
		if err := f.r.Interpretable(cmd); err == nil {
			t.Errorf("%s: Interpretable accepted it", name)
		}
		err := f.r.Apply(applied+1, cmd)
		var ue *UninterpretableError
		if !errors.As(err, &ue) {
			t.Errorf("%s: got %v, want an UninterpretableError", name, err)
		}
		if f.r.AppliedIndex() != applied || len(f.r.Audit(AuditQuery{}).Items) != 0 {
			t.Fatalf("%s: the command left a trace", name)
		}
	}
}
