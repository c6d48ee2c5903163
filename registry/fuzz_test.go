package registry

import (
	"errors"
	"testing"
)

// FuzzApply: any bytes handed to Apply as a command, authored or not, are
// applied, refused or found uninterpretable, never a panic; a refusal
// leaves the registry as it was but for the audit entry of an authored
// command, and an uninterpretable command leaves its applied index and the
// audit log too.
func FuzzApply(f *testing.F) {
	f.Add(MustEncode(CmdPutOperator, op("red", "234_10")))
	f.Add(MustEncode(CmdPutRanges, RangeBatch{Ranges: []Range{{Prefix: "+447400", Operator: "red"}}}))
	ports, _ := EncodePorts([]Port{{Number: 447400123456, Operator: "red"}, {Number: 447400123457}})
	f.Add(ports)
	f.Add(MustEncode(CmdPutIPRange, IPRange{CIDR: "10.0.0.0/8", Operator: "red"}))
	f.Add(MustEncode(CmdDeleteOperator, Key{Key: "red"}))
	f.Add(authored(f, "fedadmin1", 1, MustEncode(CmdPutScope, Scope{Name: "openid"})))
	f.Add(authored(f, "redadmin1", 1, ports))
	f.Add(authored(f, "redadmin1", 1, Create(MustEncode(CmdPutRanges, RangeBatch{Ranges: []Range{{Prefix: "+447400", Operator: "red"}}}))))
	f.Add(authored(f, "fedadmin1", 1, MustEncode(CmdRemoveOperator, Key{Key: "red"})))
	f.Add(authored(f, "fedadmin1", 1, MustEncode(CmdPutApprovalRules, ApprovalRules{Required: 2})))
	f.Add(authored(f, "fedadmin1", 1, MustEncode(CmdDecideProposal, ProposalDecision{ID: "3", Decision: DecideApprove})))
	f.Add(authored(f, "fedadmin1", 1, MustEncode(CmdPutAuditRules, AuditRules{RetentionDays: 120})))
	f.Fuzz(func(t *testing.T, cmd []byte) {
		r := New()
		if err := r.Apply(1, MustEncode(CmdPutOperator, op("red", "234_10"))); err != nil {
			t.Fatal(err)
		}
		creds := CredentialBatch{Credentials: []Credential{
			{ID: "fedadmin1", Kind: KindAdmin, Role: RoleFederationAdmin, Verifier: HashSecret("f")},
			{ID: "redadmin1", Kind: KindAdmin, Role: RoleOperatorAdmin, Operator: "red", Verifier: HashSecret("r")},
		}}
		if err := r.Apply(2, MustEncode(CmdPutCredentials, creds)); err != nil {
			t.Fatal(err)
		}
		if err := r.Apply(3, MustEncode(CmdPutRanges, RangeBatch{Ranges: []Range{{Prefix: "+447400", Operator: "red"}}})); err != nil {
			t.Fatal(err)
		}
		before := r.Snapshot()
		if err := r.Apply(4, cmd); err != nil {
			var ue *UninterpretableError
			uninterpretable := errors.As(err, &ue)
			if CodeOf(err) == "" && !uninterpretable {
				t.Fatalf("Apply returned %v, neither a registry refusal nor an UninterpretableError", err)
			}
			if uninterpretable && r.AppliedIndex() != 3 {
				t.Fatalf("an uninterpretable command moved the applied index to %d", r.AppliedIndex())
			}
			wantAudit := 0
			if !uninterpretable && CommandType(cmd[0]) == CmdAuthored {
				wantAudit = 1 // a refusal of an authored command is recorded
			}
			if n := len(r.Audit(AuditQuery{}).Items); n != wantAudit {
				t.Fatalf("%d audit entries after %v, want %d", n, err, wantAudit)
			}
			after := r.Snapshot()
			if len(after.ranges) != len(before.ranges) || after.ported.Len() != before.ported.Len() ||
				r.Operator("red") == nil || r.PortedCount() != 0 {
				t.Fatal("a refused or uninterpretable command changed the registry")
			}
		}
	})
}
