package registry

import (
	"slices"
	"testing"
)

// TestVoterRules: the federation admin names the voters and the standby;
// a node (the leader, on its own) promotes only a standby in place of a
// voter of the rules and not twice within their interval; an operator
// admin promotes nobody; a removed node leaves the rules.
func TestVoterRules(t *testing.T) {
	f := trustFixture(t)
	f.must(CmdPutNode, Node{ID: "nc", RaftAddr: "127.0.0.1:3", AdminURL: "http://127.0.0.1:4"})
	put := func(cred string, v VoterRules) error { return f.as(cred, MustEncode(CmdPutVoterRules, v)) }
	promote := func(cred string, p Promotion) error { return f.as(cred, MustEncode(CmdPromoteNode, p)) }

	wantCode(t, put(credFed, VoterRules{}), CodeInvalid, "voters must name")
	wantCode(t, put(credFed, VoterRules{Voters: []string{"na", "nb"}, Standby: []string{"na"}}), CodeInvalid, "named twice")
	wantCode(t, put(credFed, VoterRules{Voters: []string{"na"}, PromoteAfterSeconds: -1}), CodeInvalid, "promote_after_seconds")
	wantCode(t, put(credA, VoterRules{Voters: []string{"na"}}), CodeForbidden, "may not")
	if f.r.VoterRules() != nil {
		t.Fatal("refused rules were stored")
	}
	// Without rules a node promotes nobody.
	wantCode(t, promote(credNodeA, Promotion{Node: "nc", Replaces: "nb", Now: 100}), CodeForbidden, "no voters")

	f.mustAs(credFed, MustEncode(CmdPutVoterRules, VoterRules{Voters: []string{"na", "nb"}, Standby: []string{"nc"}, PromoteAfterSeconds: 10}))
	if r := f.r.VoterRules(); r == nil || r.PromoteAfterSeconds != 10 || !slices.Equal(r.Standby, []string{"nc"}) {
		t.Fatalf("rules: %+v", r)
	}
	wantCode(t, promote(credA, Promotion{Node: "nc", Replaces: "nb", Now: 100}), CodeForbidden, "federation admin")
	wantCode(t, promote(credNodeA, Promotion{Node: "nc", Now: 100}), CodeForbidden, "in place of a voter")
	wantCode(t, promote(credNodeA, Promotion{Node: "na", Replaces: "nb", Now: 100}), CodeForbidden, "not a standby")
	wantCode(t, promote(credFed, Promotion{Node: "nz", Now: 100}), CodeNotFound, "not a member")

	f.mustAs(credNodeA, MustEncode(CmdPromoteNode, Promotion{Node: "nc", Replaces: "nb", Now: 100}))
	r := f.r.VoterRules()
	if !slices.Equal(r.Voters, []string{"na", "nc"}) || !slices.Equal(r.Standby, []string{"nb"}) || r.LastPromotion != 100 {
		t.Fatalf("after the promotion: %+v", r)
	}
	// No flapping: the lost voter, back as a standby, is not promoted
	// back within the interval.
	wantCode(t, promote(credNodeA, Promotion{Node: "nb", Replaces: "nc", Now: 105}), CodeForbidden, "within 10 s")
	f.mustAs(credNodeA, MustEncode(CmdPromoteNode, Promotion{Node: "nb", Replaces: "nc", Now: 110}))
	// The federation admin promotes any member, at any time; the rules
	// keep the interval and the lists.
	f.mustAs(credFed, MustEncode(CmdPromoteNode, Promotion{Node: "nc", Now: 111}))
	if r := f.r.VoterRules(); !slices.Equal(r.Voters, []string{"na", "nb", "nc"}) || len(r.Standby) != 0 {
		t.Fatalf("after the admin's promotion: %+v", r)
	}
	f.mustAs(credFed, MustEncode(CmdDeleteNode, Key{Key: "nb"}))
	if r := f.r.VoterRules(); !slices.Equal(r.Voters, []string{"na", "nc"}) {
		t.Fatalf("a removed node stays in the rules: %+v", r)
	}
	// Every promotion is in the audit log, with its author.
	var promotions int
	for _, e := range f.r.Audit(AuditQuery{}).Items {
		if e.Command == "promote_node" && e.Outcome == "applied" {
			promotions++
		}
	}
	if promotions != 3 {
		t.Fatalf("%d promotions applied in the audit log, want 3", promotions)
	}
}
