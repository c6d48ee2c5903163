package registry

import (
	"bytes"
	"reflect"
	"strconv"
	"testing"
)

const (
	credFed2 = "fedadmin2"
	credFed3 = "fedadmin3"
	credNode = "node:na"
)

// replicas applies one log to several registries, as Raft does, at the
// leader's times that the test states.
type replicas struct {
	t     testing.TB
	rs    []*Registry
	index uint64
	now   int64
}

// approvalReplicas is three replicas holding operator a, the scope openid,
// three federation admins, a's admin, the porting authority and a node,
// with approvals_required k.
func approvalReplicas(t testing.TB, k int) *replicas {
	f := &replicas{t: t, rs: []*Registry{New(), New(), New()}, now: 1_700_000_000_000}
	f.plain(MustEncode(CmdPutOperator, op("a", "234_10")))
	f.plain(MustEncode(CmdPutScope, Scope{Name: "openid"}))
	f.plain(MustEncode(CmdPutCredentials, CredentialBatch{Credentials: []Credential{
		cred(credFed, KindAdmin, RoleFederationAdmin, "", ""),
		cred(credFed2, KindAdmin, RoleFederationAdmin, "", ""),
		cred(credFed3, KindAdmin, RoleFederationAdmin, "", ""),
		cred(credA, KindAdmin, RoleOperatorAdmin, "a", ""),
		cred(credPorting, KindAdmin, RolePortingAuthority, "", ""),
		nodeCred("na", "a"),
	}}))
	f.must(credFed, MustEncode(CmdPutApprovalRules, ApprovalRules{Required: k}))
	return f
}

func (f *replicas) plain(cmd []byte) {
	f.t.Helper()
	f.index++
	for _, r := range f.rs {
		if err := r.Apply(f.index, cmd); err != nil {
			f.t.Fatal(err)
		}
	}
}

// as applies cmd by cred to every replica a second after the last
// command, and returns the first replica's answer once all agree.
func (f *replicas) as(cred string, cmd []byte) error {
	f.t.Helper()
	f.index++
	f.now += 1000
	b := authored(f.t, cred, f.now, cmd)
	first := f.rs[0].Apply(f.index, b)
	for _, r := range f.rs[1:] {
		if err := r.Apply(f.index, b); CodeOf(err) != CodeOf(first) {
			f.t.Fatalf("replicas disagree: %v and %v", first, err)
		}
	}
	return first
}

func (f *replicas) must(cred string, cmd []byte) {
	f.t.Helper()
	if err := f.as(cred, cmd); err != nil {
		f.t.Fatalf("as %s: %v", cred, err)
	}
}

// proposed makes cmd by cred and returns the proposal it became.
func (f *replicas) proposed(cred string, cmd []byte) *Proposal {
	f.t.Helper()
	f.must(cred, cmd)
	p := f.rs[0].Proposal(strconv.FormatUint(f.index, 10))
	if p == nil || p.Status != ProposalPending || len(p.Approvals) != 1 || p.Approvals[0].Credential != cred {
		f.t.Fatalf("no pending proposal with %s's approval: %+v", cred, p)
	}
	return p
}

func (f *replicas) decide(cred, id, decision string) error {
	return f.as(cred, MustEncode(CmdDecideProposal, ProposalDecision{ID: id, Decision: decision}))
}

// same fails unless every replica holds the same registry, proposals and
// audit log.
func (f *replicas) same() {
	f.t.Helper()
	for _, r := range f.rs[1:] {
		if !reflect.DeepEqual(dumpOf(r), dumpOf(f.rs[0])) || !reflect.DeepEqual(auditOf(r), auditOf(f.rs[0])) ||
			!reflect.DeepEqual(r.Proposals(ProposalQuery{}), f.rs[0].Proposals(ProposalQuery{})) {
			f.t.Fatal("the replicas differ")
		}
	}
}

func createSP(id string) []byte { return Create(MustEncode(CmdPutSP, testSP(id))) }

// TestApprovalsTwoOfThree: with k=2 a federation admin's SP create is a
// proposal, not an SP; its proposer approving again counts once; a second
// federation admin's approval creates it on every replica, as of then;
// the audit log names both.
func TestApprovalsTwoOfThree(t *testing.T) {
	f := approvalReplicas(t, 2)
	p := f.proposed(credFed, createSP("shop"))
	if f.rs[0].ServiceProvider("shop") != nil || p.What != "create_sp" || p.Keys[0] != "shop" ||
		p.ExpiresAt != p.ProposedAt+DefaultProposalHours*3600*1000 {
		t.Fatalf("proposal %+v, or the SP exists already", p)
	}
	wantCode(t, f.decide(credFed, p.ID, DecideApprove), CodeConflict, "already approved")
	if f.rs[0].ServiceProvider("shop") != nil {
		t.Fatal("the proposer's second approval counted")
	}
	f.must(credFed2, MustEncode(CmdDecideProposal, ProposalDecision{ID: p.ID, Decision: DecideApprove}))
	approvedAt := f.index
	f.same()
	for _, r := range f.rs {
		sp := r.ServiceProvider("shop")
		if sp == nil || sp.CreateIndex != approvedAt {
			t.Fatalf("the SP after the second approval: %+v, want it created at index %d", sp, approvedAt)
		}
		if got := r.Proposal(p.ID); got.Status != ProposalApplied || len(got.Approvals) != 2 || got.DecidedAt != f.now {
			t.Fatalf("proposal after approval: %+v", got)
		}
	}
	wantCode(t, f.decide(credFed3, p.ID, DecideApprove), CodeConflict, "already applied")

	var proposedBy, approvedBy string
	for _, e := range f.rs[0].Audit(AuditQuery{Key: "shop"}).Items {
		switch {
		case e.Outcome == OutcomeProposed && e.Command == "create_sp":
			proposedBy = e.Author.Credential
		case e.Outcome == OutcomeApplied && e.Command == "approve_proposal:create_sp":
			approvedBy = e.Author.Credential
		}
	}
	if proposedBy != credFed || approvedBy != credFed2 {
		t.Fatalf("the audit log says proposed by %q, approved by %q", proposedBy, approvedBy)
	}
}

// TestApprovalsLeaveOtherRolesAlone: with k=2 an operator admin's, the
// porting authority's and a node's writes apply at once, and so do the
// federation admin's acts that another role's rule permits it (none but
// the porting decisions: cancelling a port request is the federation's).
func TestApprovalsLeaveOtherRolesAlone(t *testing.T) {
	f := approvalReplicas(t, 2)
	f.plain(MustEncode(CmdPutSP, testSP("shop")))
	f.must(credA, MustEncode(CmdPutRanges, RangeBatch{Ranges: []Range{{Prefix: "+447911", Operator: "a"}}}))
	f.must(credA, MustEncode(CmdPutSPPolicy, SPPolicy{Operator: "a", ClientID: "shop", Declined: true}))
	f.must(credPorting, ports(t, Port{Number: 447911000001, Operator: "a"}))
	if f.rs[0].SPPolicy("a", "shop") == nil || len(f.rs[0].Proposals(ProposalQuery{}).Items) != 0 {
		t.Fatal("an operator admin's or the porting authority's write waited for approvals")
	}
	// The federation admin's write of a's range is a federation-admin act,
	// and so is setting the porting rules.
	p := f.proposed(credFed, MustEncode(CmdDeleteRanges, Keys{Keys: []string{"+447911"}}))
	if p.Operators[0] != "a" {
		t.Fatalf("the proposal does not name operator a: %+v", p)
	}
	f.proposed(credFed, MustEncode(CmdPutPortingRules, PortingRules{MaxDeadlineHours: 24, OnDeadline: OnDeadlineAccept}))
	// Cancelling a port request is judged by the port requests' own rule,
	// which lets the federation admin: no proposal.
	f.plain(MustEncode(CmdPutOperator, op("b", "234_20")))
	f.plain(MustEncode(CmdPutRanges, RangeBatch{Ranges: []Range{{Prefix: "+447922", Operator: "b"}}}))
	f.must(credA, MustEncode(CmdFilePortRequest, PortRequestFiling{Recipient: "a", Numbers: []uint64{447922000001}}))
	filed := strconv.FormatUint(f.index, 10)
	f.must(credFed, MustEncode(CmdDecidePortRequest, PortDecision{ID: filed, Decision: DecideCancel}))
	if got := f.rs[0].PortRequest(filed).Status; got != PortCancelled {
		t.Fatalf("the federation admin's cancel: %s, want cancelled at once", got)
	}
}

// TestApprovalsJudgedAgainWhenApplied: a command that applied when
// proposed but no longer does when approved closes its proposal as
// refused, recorded with the reason; the approver gets the refusal.
func TestApprovalsJudgedAgainWhenApplied(t *testing.T) {
	f := approvalReplicas(t, 2)
	p1 := f.proposed(credFed, createSP("shop"))
	p2 := f.proposed(credFed3, createSP("shop"))
	f.must(credFed2, MustEncode(CmdDecideProposal, ProposalDecision{ID: p1.ID, Decision: DecideApprove}))
	wantCode(t, f.decide(credFed2, p2.ID, DecideApprove), CodeConflict, "already exists")
	f.same()
	got := f.rs[0].Proposal(p2.ID)
	if got.Status != ProposalRefused || got.Code != CodeConflict || len(got.Approvals) != 2 || got.DecidedAt == 0 {
		t.Fatalf("the refused proposal: %+v", got)
	}
	// A command refused already when proposed is no proposal at all.
	wantCode(t, f.as(credFed, createSP("shop")), CodeConflict, "already exists")
	if n := len(f.rs[0].Proposals(ProposalQuery{Status: ProposalPending}).Items); n != 0 {
		t.Fatalf("%d pending proposals, want none", n)
	}
}

// TestApprovalsRejectAndWithdraw: a rejection counts until k approvals
// are out of reach; the proposer's own rejection withdraws it; only
// federation admins vote.
func TestApprovalsRejectAndWithdraw(t *testing.T) {
	f := approvalReplicas(t, 2)
	p := f.proposed(credFed, createSP("shop"))
	wantCode(t, f.decide(credA, p.ID, DecideApprove), CodeForbidden, "federation admins decide")
	f.must(credFed2, MustEncode(CmdDecideProposal, ProposalDecision{ID: p.ID, Decision: DecideReject}))
	if got := f.rs[0].Proposal(p.ID).Status; got != ProposalPending {
		t.Fatalf("after one rejection of three admins with k=2: %s, want pending", got)
	}
	wantCode(t, f.decide(credFed2, p.ID, DecideApprove), CodeConflict, "already rejected")
	f.must(credFed3, MustEncode(CmdDecideProposal, ProposalDecision{ID: p.ID, Decision: DecideReject}))
	if got := f.rs[0].Proposal(p.ID).Status; got != ProposalRejected {
		t.Fatalf("after two rejections: %s, want rejected", got)
	}
	q := f.proposed(credFed, createSP("shop"))
	f.must(credFed, MustEncode(CmdDecideProposal, ProposalDecision{ID: q.ID, Decision: DecideReject}))
	if got := f.rs[0].Proposal(q.ID).Status; got != ProposalWithdrawn {
		t.Fatalf("the proposer's rejection: %s, want withdrawn", got)
	}
	wantCode(t, f.decide(credFed2, "999", DecideApprove), CodeNotFound, "does not exist")
	f.same()
}

// TestApprovalsExpire: past its expiry (by the leader's clock in the
// commands' headers) a proposal takes no approval; a node expires it,
// never before its time.
func TestApprovalsExpire(t *testing.T) {
	f := approvalReplicas(t, 2)
	f.must(credFed, MustEncode(CmdPutApprovalRules, ApprovalRules{Required: 2, ExpiryHours: 1}))
	if got := f.rs[0].Proposals(ProposalQuery{}).Items; len(got) != 1 {
		t.Fatalf("the change of the expiry is not a proposal: %+v", got)
	}
	f.must(credFed2, MustEncode(CmdDecideProposal, ProposalDecision{ID: f.rs[0].Proposals(ProposalQuery{}).Items[0].ID, Decision: DecideApprove}))
	if got := f.rs[0].ApprovalRules(); got.ExpiryHours != 1 {
		t.Fatalf("rules after approval: %+v", got)
	}
	p := f.proposed(credFed, createSP("shop"))
	if p.ExpiresAt != p.ProposedAt+3600*1000 {
		t.Fatalf("expires at %d, want an hour after %d", p.ExpiresAt, p.ProposedAt)
	}
	wantCode(t, f.decide(credNode, p.ID, DecideExpire), CodeConflict, "not before")
	wantCode(t, f.decide(credFed, p.ID, DecideExpire), CodeForbidden, "the leader does")
	f.now = p.ExpiresAt
	wantCode(t, f.decide(credFed2, p.ID, DecideApprove), CodeConflict, "expired")
	if due := f.rs[0].DueProposals(p.ExpiresAt); len(due) != 1 || due[0].ID != p.ID {
		t.Fatalf("due proposals: %+v", due)
	}
	f.must(credNode, MustEncode(CmdDecideProposal, ProposalDecision{ID: p.ID, Decision: DecideExpire}))
	f.same()
	if got := f.rs[0].Proposal(p.ID); got.Status != ProposalExpired || f.rs[0].ServiceProvider("shop") != nil {
		t.Fatalf("after expiry: %+v", got)
	}
	last := f.rs[0].Audit(AuditQuery{Key: p.ID}).Items
	if e := last[len(last)-1]; e.Command != "expire_proposal:create_sp" || e.Author.Credential != credNode {
		t.Fatalf("the expiry's audit entry: %+v", e)
	}
}

// TestApprovalsChangeOfKNeedsK: lowering k is itself a federation-admin
// act that needs the current k; k is never above the federation admins.
func TestApprovalsChangeOfKNeedsK(t *testing.T) {
	f := approvalReplicas(t, 3)
	if got := f.rs[0].ApprovalRules().Required; got != 3 {
		t.Fatalf("k = %d, want 3", got)
	}
	p := f.proposed(credFed, MustEncode(CmdPutApprovalRules, ApprovalRules{Required: 1}))
	f.must(credFed2, MustEncode(CmdDecideProposal, ProposalDecision{ID: p.ID, Decision: DecideApprove}))
	if got := f.rs[0].ApprovalRules().Required; got != 3 {
		t.Fatalf("k = %d after 2 of 3 approvals, want 3 still", got)
	}
	f.must(credFed3, MustEncode(CmdDecideProposal, ProposalDecision{ID: p.ID, Decision: DecideApprove}))
	if got := f.rs[0].ApprovalRules().Required; got != 1 {
		t.Fatalf("k = %d after 3 of 3 approvals, want 1", got)
	}
	wantCode(t, f.as(credFed, MustEncode(CmdPutApprovalRules, ApprovalRules{Required: 4})), CodeInvalid, "more than the 3 active federation admins")
	wantCode(t, f.as(credFed, MustEncode(CmdPutApprovalRules, ApprovalRules{Required: 0})), CodeInvalid, "at least 1")
	f.same()
}

// TestApprovalsKeepEnoughApprovers: with k > 1 no write leaves fewer
// federation admins than k, so the federation can always approve, the
// lowering of k included.
func TestApprovalsKeepEnoughApprovers(t *testing.T) {
	f := approvalReplicas(t, 3)
	// A revocation that would leave two of the three admins k=3 needs is
	// refused when proposed: it would not apply.
	wantCode(t, f.as(credFed, MustEncode(CmdRevokeCredential, Key{Key: credFed3})), CodeConflict, "lower approvals_required first")
	demoted := cred(credFed3, KindAdmin, RoleOperatorAdmin, "a", "")
	wantCode(t, f.as(credFed, MustEncode(CmdPutCredentials, CredentialBatch{Credentials: []Credential{demoted}})), CodeConflict, "lower approvals_required first")

	// With k=2 the first revocation goes through approvals; a second one,
	// proposed while there were three admins, is refused when approved.
	p := f.proposed(credFed, MustEncode(CmdPutApprovalRules, ApprovalRules{Required: 2}))
	f.must(credFed2, MustEncode(CmdDecideProposal, ProposalDecision{ID: p.ID, Decision: DecideApprove}))
	f.must(credFed3, MustEncode(CmdDecideProposal, ProposalDecision{ID: p.ID, Decision: DecideApprove}))
	r1 := f.proposed(credFed, MustEncode(CmdRevokeCredential, Key{Key: credFed3}))
	r2 := f.proposed(credFed, MustEncode(CmdRevokeCredential, Key{Key: credFed2}))
	f.must(credFed2, MustEncode(CmdDecideProposal, ProposalDecision{ID: r1.ID, Decision: DecideApprove}))
	if c := f.rs[0].Credential(credFed3); !c.Revoked {
		t.Fatal("the approved revocation did not apply")
	}
	wantCode(t, f.decide(credFed2, r2.ID, DecideApprove), CodeConflict, "lower approvals_required first")
	if f.rs[0].Credential(credFed2).Revoked || f.rs[0].Proposal(r2.ID).Status != ProposalRefused {
		t.Fatal("the federation revoked the admin it needs to approve anything")
	}
	f.same()
}

// TestApprovalsVotesOfRevokedAdminsDoNotCount: an approval counts while
// its credential is an active federation admin.
func TestApprovalsVotesOfRevokedAdminsDoNotCount(t *testing.T) {
	f := approvalReplicas(t, 2)
	f.plain(MustEncode(CmdPutCredentials, CredentialBatch{Credentials: []Credential{cred("fedadmin4", KindAdmin, RoleFederationAdmin, "", "")}}))
	p := f.proposed(credFed3, createSP("shop"))
	r := f.proposed(credFed, MustEncode(CmdRevokeCredential, Key{Key: credFed3}))
	f.must(credFed2, MustEncode(CmdDecideProposal, ProposalDecision{ID: r.ID, Decision: DecideApprove}))
	// fedadmin3's proposal has its author's approval, which counts no
	// more: one approval of two.
	f.must(credFed2, MustEncode(CmdDecideProposal, ProposalDecision{ID: p.ID, Decision: DecideApprove}))
	if got := f.rs[0].Proposal(p.ID).Status; got != ProposalPending {
		t.Fatalf("after a revoked admin's and one active admin's approvals: %s, want pending", got)
	}
	// The second active approval applies it as its author's, who is
	// revoked: refused.
	wantCode(t, f.decide(credFed, p.ID, DecideApprove), CodeForbidden, "revoked")
	if f.rs[0].ServiceProvider("shop") != nil {
		t.Fatal("a revoked admin's proposal applied")
	}
}

// TestSnapshotKeepsProposals: the approval rules and proposals survive a
// snapshot, and the restored registry goes on deciding them; a format 5
// snapshot holds neither.
func TestSnapshotKeepsProposals(t *testing.T) {
	f := approvalReplicas(t, 2)
	p := f.proposed(credFed, createSP("shop"))
	var buf bytes.Buffer
	if _, err := f.rs[0].Snapshot().WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	r2, err := Restore(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(r2.Proposal(p.ID), f.rs[0].Proposal(p.ID)) || r2.ApprovalRules() != f.rs[0].ApprovalRules() {
		t.Fatal("the restored registry's proposals or approval rules differ")
	}
	f.rs = append(f.rs, r2)
	f.must(credFed2, MustEncode(CmdDecideProposal, ProposalDecision{ID: p.ID, Decision: DecideApprove}))
	f.same()
	if r2.ServiceProvider("shop") == nil {
		t.Fatal("the restored registry did not apply the approved proposal")
	}

	buf.Reset()
	if _, err := f.rs[0].Snapshot().writeVersion(&buf, 5); err != nil {
		t.Fatal(err)
	}
	r5, err := Restore(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if r5.Proposal(p.ID) != nil || r5.ApprovalRules().Required != 1 || !reflect.DeepEqual(dumpOf(r5), dumpOf(f.rs[0])) {
		t.Fatal("a version 5 snapshot restored differently")
	}
}

// TestApprovalsJoinKeepsApprovers: a node admitted again with a token
// granting its admin token another role cannot take a federation admin
// the approvals need.
func TestApprovalsJoinKeepsApprovers(t *testing.T) {
	f := approvalReplicas(t, 2)
	f.plain(MustEncode(CmdPutCredentials, CredentialBatch{Credentials: []Credential{
		cred(AdminCredentialID("n9"), KindAdmin, RoleFederationAdmin, "", "n9")}}))
	p := f.proposed(credFed, MustEncode(CmdPutApprovalRules, ApprovalRules{Required: 4}))
	f.must(credFed2, MustEncode(CmdDecideProposal, ProposalDecision{ID: p.ID, Decision: DecideApprove}))
	if got := f.rs[0].ApprovalRules().Required; got != 4 {
		t.Fatalf("k = %d, want 4", got)
	}
	f.plain(MustEncode(CmdPutJoinToken, JoinToken{Hash: HashSecret("join"), ExpiresAt: 2_000_000_000, Node: "n9", Operator: "a"}))
	use := UseJoinToken{Hash: HashSecret("join"), Node: "n9", Now: 1_800_000_000, Operator: "a", AdminVerifier: HashSecret("n9's token")}
	wantCode(t, f.as(credNode, MustEncode(CmdUseJoinToken, use)), CodeConflict, "lower approvals_required first")
	if c := f.rs[0].Credential(AdminCredentialID("n9")); c.Role != RoleFederationAdmin {
		t.Fatalf("n9's admin token became %s", c.Role)
	}
}

// BenchmarkFederationAdminAct: a federation admin's SP write applied at
// once (k=1), and proposed then approved (k=2): what approvals add to the
// FSM's work per act.
func BenchmarkFederationAdminAct(b *testing.B) {
	for _, k := range []int{1, 2} {
		b.Run("k="+strconv.Itoa(k), func(b *testing.B) {
			f := approvalReplicas(b, k)
			f.rs = f.rs[:1]
			r := f.rs[0]
			for i := 0; b.Loop(); i++ {
				f.index++
				f.now += 1000
				if err := r.Apply(f.index, authored(b, credFed, f.now, MustEncode(CmdPutSP, testSP("shop")))); err != nil {
					b.Fatal(err)
				}
				if k == 1 {
					continue
				}
				id := strconv.FormatUint(f.index, 10)
				f.index++
				if err := r.Apply(f.index, authored(b, credFed2, f.now, MustEncode(CmdDecideProposal, ProposalDecision{ID: id, Decision: DecideApprove}))); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
