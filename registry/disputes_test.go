package registry

import (
	"bytes"
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// claimOf applies cmd as cred and returns the ids of the disputes its
// refusal names: a claim on another operator's range is a conflict that
// changes no range, and records the claim.
func (f *fixture) claimOf(cred string, cmd []byte) []string {
	f.t.Helper()
	ranges := dumpOf(f.r)
	err := f.as(cred, cmd)
	wantCode(f.t, err, CodeConflict, "dispute ")
	after := dumpOf(f.r)
	after.Applied = ranges.Applied
	if !reflect.DeepEqual(ranges, after) {
		f.t.Fatal("a claim changed the registry")
	}
	var ids []string
	for _, d := range f.r.Disputes(DisputeQuery{}).Items {
		if strings.Contains(err.Error(), "dispute "+d.ID) {
			ids = append(ids, d.ID)
		}
	}
	return ids
}

func servedByIP(t *testing.T, r *Registry, addr string) string {
	t.Helper()
	if o := r.OperatorByIP(netip.MustParseAddr(addr)); o != nil {
		return o.ID
	}
	return ""
}

// TestClaimsOnAnotherOperatorsRangesAreDisputes: B's put of A's range, of
// a range inside A's, of A's IP range or one inside it, by B's admin or
// B's node, takes nothing: each is refused as a conflict naming a dispute,
// which is recorded with the refusal's audit entry. The same claim again
// names the same open dispute.
func TestClaimsOnAnotherOperatorsRangesAreDisputes(t *testing.T) {
	for _, tc := range []struct {
		name, cred                  string
		cmd                         []byte
		kind, rng, holderRange, num string
	}{
		{"B takes A's range", credB, MustEncode(CmdPutRanges, RangeBatch{Ranges: []Range{{Prefix: "+447911", Operator: "b"}}}), DisputeRange, "+447911", "+447911", "+447911000001"},
		{"B adds a range inside A's", credB, MustEncode(CmdPutRanges, RangeBatch{Ranges: []Range{{Prefix: "+4479119", Operator: "b"}}}), DisputeRange, "+4479119", "+447911", "+447911900001"},
		{"B's node adds a range inside A's", credNodeB, MustEncode(CmdPutRanges, RangeBatch{Ranges: []Range{{Prefix: "+4479119", Operator: "b"}}}), DisputeRange, "+4479119", "+447911", "+447911900001"},
		{"B creates a range inside A's", credB, Create(MustEncode(CmdPutRanges, RangeBatch{Ranges: []Range{{Prefix: "+4479119", Operator: "b"}}})), DisputeRange, "+4479119", "+447911", "+447911900001"},
		{"B takes A's IP range", credB, MustEncode(CmdPutIPRange, IPRange{CIDR: "10.0.0.0/8", Operator: "b"}), DisputeIPRange, "10.0.0.0/8", "10.0.0.0/8", "10.1.2.3"},
		{"B adds an IP range inside A's", credB, MustEncode(CmdPutIPRange, IPRange{CIDR: "10.1.0.0/16", Operator: "b"}), DisputeIPRange, "10.1.0.0/16", "10.0.0.0/8", "10.1.2.3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := trustFixture(t)
			ids := f.claimOf(tc.cred, tc.cmd)
			if len(ids) != 1 {
				t.Fatalf("the refusal names disputes %v, want one", ids)
			}
			d := f.r.Dispute(ids[0])
			want := &Dispute{ID: DisputeID(f.index, 1), Kind: tc.kind, Range: tc.rng, Claimant: "b", Holder: "a", HolderRange: tc.holderRange,
				Status: DisputeOpen, FiledAt: 1_700_000_000_000 + int64(f.index)*1000, Meta: Meta{CreateIndex: f.index, ModifyIndex: f.index}}
			if !reflect.DeepEqual(d, want) {
				t.Fatalf("dispute %+v, want %+v", d, want)
			}
			if tc.kind == DisputeRange && servedBy(t, f.r, numOf(t, tc.num)) != "a" || tc.kind == DisputeIPRange && servedByIP(t, f.r, tc.num) != "a" {
				t.Fatalf("%s is no longer a's", tc.num)
			}
			e := f.r.Audit(AuditQuery{After: f.index - 1}).Items
			if len(e) != 1 || e[0].Outcome != OutcomeRefused || e[0].Code != CodeConflict || !strings.Contains(e[0].Reason, "dispute "+d.ID) {
				t.Fatalf("audit %+v, want the refused claim naming dispute %s", e, d.ID)
			}
			if again := f.claimOf(tc.cred, tc.cmd); !reflect.DeepEqual(again, ids) {
				t.Fatalf("the same claim again names %v, want %v", again, ids)
			}
			if n := len(f.r.Disputes(DisputeQuery{}).Items); n != 1 {
				t.Fatalf("%d disputes after the same claim twice", n)
			}
		})
	}
}

// TestOnlyAnOperatorClaims: the porting authority, which acts for no
// operator, cannot claim a range: its put is forbidden and opens no
// dispute.
func TestOnlyAnOperatorClaims(t *testing.T) {
	f := trustFixture(t)
	wantCode(t, f.as(credPorting, MustEncode(CmdPutRanges, RangeBatch{Ranges: []Range{{Prefix: "+4479119"}}})), CodeForbidden, "may not take range")
	wantCode(t, f.as(credPorting, MustEncode(CmdPutIPRange, IPRange{CIDR: "10.1.0.0/16"})), CodeForbidden, "may not take IP range")
	if d := f.r.Disputes(DisputeQuery{}).Items; len(d) != 0 {
		t.Fatalf("disputes %+v opened by no operator", d)
	}
}

// TestClaimBatchTakesNothing: a batch mixing a free range with claims on
// A's is refused whole (the free range is not taken either) and opens a
// dispute per claimed range.
func TestClaimBatchTakesNothing(t *testing.T) {
	f := trustFixture(t)
	ids := f.claimOf(credB, MustEncode(CmdPutRanges, RangeBatch{Ranges: []Range{
		{Prefix: "+447955", Operator: "b"}, {Prefix: "+447911", Operator: "b"}, {Prefix: "+4479112", Operator: "b"}}}))
	if !reflect.DeepEqual(ids, []string{DisputeID(f.index, 1), DisputeID(f.index, 2)}) {
		t.Fatalf("disputes %v, want two of index %d", ids, f.index)
	}
	if f.r.Range("+447955") != nil {
		t.Fatal("the free range of a refused batch was taken")
	}
}

// TestWhoSettles: only the federation admin settles; not the parties, not
// a node, not the porting authority; a settled dispute is not settled
// again, and the award goes to a party.
func TestWhoSettles(t *testing.T) {
	f := trustFixture(t)
	id := f.claimOf(credB, MustEncode(CmdPutRanges, RangeBatch{Ranges: []Range{{Prefix: "+4479119", Operator: "b"}}}))[0]
	for _, cred := range []string{credA, credB, credNodeA, credNodeB, credPorting} {
		wantCode(t, f.as(cred, MustEncode(CmdSettleDispute, Settlement{ID: id, Award: "b"})), CodeForbidden, "federation admin's")
	}
	if d := f.r.Dispute(id); d.Status != DisputeOpen || servedBy(t, f.r, numOf(t, "+447911900001")) != "a" {
		t.Fatalf("refused settlements changed the dispute (%+v) or the range", d)
	}
	wantCode(t, f.as(credFed, MustEncode(CmdSettleDispute, Settlement{ID: id, Award: "c"})), CodeInvalid, "award it to one of them")
	wantCode(t, f.as(credFed, MustEncode(CmdSettleDispute, Settlement{ID: "999-1", Award: "b"})), CodeNotFound, "does not exist")
	f.mustAs(credFed, MustEncode(CmdSettleDispute, Settlement{ID: id, Award: "a"}))
	wantCode(t, f.as(credFed, MustEncode(CmdSettleDispute, Settlement{ID: id, Award: "b"})), CodeConflict, "not open")
	if d := f.r.Dispute(id); d.Status != DisputeSettled || d.Award != "a" || d.SettledAt != 1_700_000_000_000+int64(f.index-1)*1000 {
		t.Fatalf("dispute %+v, want settled on a", d)
	}
	if servedBy(t, f.r, numOf(t, "+447911900001")) != "a" || f.r.Range("+4479119") != nil {
		t.Fatal("awarded to its holder, the range moved")
	}
	var settles int
	for _, e := range f.r.Audit(AuditQuery{}).Items {
		if e.Command == "settle_dispute" {
			settles++
			if e.Keys[0] == id && !strings.Contains(strings.Join(e.Operators, ","), "a") || !strings.Contains(strings.Join(e.Operators, ","), "b") {
				t.Fatalf("settlement audit entry %+v does not concern both parties", e)
			}
		}
	}
	if settles != 9 {
		t.Fatalf("%d settlement attempts in the audit log, want 9", settles)
	}
}

// TestSettlementMovesTheRange: awarded to the claimant, the range is its
// in the settling command: a range inside the holder's becomes the
// claimant's sub-range, an exact one changes hands, and IP ranges alike.
func TestSettlementMovesTheRange(t *testing.T) {
	f := trustFixture(t)
	inside := f.claimOf(credB, MustEncode(CmdPutRanges, RangeBatch{Ranges: []Range{{Prefix: "+4479119", Operator: "b"}}}))[0]
	exact := f.claimOf(credB, MustEncode(CmdPutRanges, RangeBatch{Ranges: []Range{{Prefix: "+447911", Operator: "b"}}}))[0]
	ip := f.claimOf(credNodeB, MustEncode(CmdPutIPRange, IPRange{CIDR: "10.1.0.0/16", Operator: "b"}))[0]
	ipExact := f.claimOf(credB, MustEncode(CmdPutIPRange, IPRange{CIDR: "10.0.0.0/8", Operator: "b"}))[0]

	f.mustAs(credFed, MustEncode(CmdSettleDispute, Settlement{ID: inside, Award: "b"}))
	settledAt := f.index
	if servedBy(t, f.r, numOf(t, "+447911900001")) != "b" || servedBy(t, f.r, numOf(t, "+447911100001")) != "a" {
		t.Fatal("the sub-range did not move to b alone")
	}
	if rg := f.r.Range("+4479119"); rg == nil || rg.Operator != "b" || f.r.Dispute(inside).ModifyIndex != settledAt {
		t.Fatalf("range %+v and dispute were not written by the settling command %d", rg, settledAt)
	}
	f.mustAs(credFed, MustEncode(CmdSettleDispute, Settlement{ID: exact, Award: "b"}))
	if servedBy(t, f.r, numOf(t, "+447911100001")) != "b" || f.r.Range("+447911").Operator != "b" {
		t.Fatal("the exact range did not change hands")
	}
	f.mustAs(credFed, MustEncode(CmdSettleDispute, Settlement{ID: ip, Award: "b"}))
	if servedByIP(t, f.r, "10.1.2.3") != "b" || servedByIP(t, f.r, "10.2.0.1") != "a" {
		t.Fatal("the IP sub-range did not move to b alone")
	}
	f.mustAs(credFed, MustEncode(CmdSettleDispute, Settlement{ID: ipExact, Award: "b"}))
	if servedByIP(t, f.r, "10.2.0.1") != "b" {
		t.Fatal("the exact IP range did not change hands")
	}
	if open := f.r.Disputes(DisputeQuery{Status: DisputeOpen}).Items; len(open) != 0 {
		t.Fatalf("disputes still open: %+v", open)
	}
}

// TestSettlementThatCannotApplyChangesNothing: a settlement whose move
// fails (the claimant was removed meanwhile) leaves the dispute open and
// the ranges as they were: the range moves with the settlement or not at
// all.
func TestSettlementThatCannotApplyChangesNothing(t *testing.T) {
	f := trustFixture(t)
	id := f.claimOf(credB, MustEncode(CmdPutRanges, RangeBatch{Ranges: []Range{{Prefix: "+447911", Operator: "b"}}}))[0]
	f.mustAs(credFed, MustEncode(CmdRemoveOperator, Key{Key: "b"}))
	before := dumpOf(f.r)
	if err := f.as(credFed, MustEncode(CmdSettleDispute, Settlement{ID: id, Award: "b"})); CodeOf(err) != CodeNotFound {
		t.Fatalf("settling on a removed operator: %v, want not found", err)
	}
	after := dumpOf(f.r)
	after.Applied = before.Applied
	if !reflect.DeepEqual(before, after) || f.r.Dispute(id).Status != DisputeOpen {
		t.Fatal("a failed settlement changed the registry")
	}
}

// TestDisputeQueries: by status and by party.
func TestDisputeQueries(t *testing.T) {
	f := trustFixture(t)
	ab := f.claimOf(credB, MustEncode(CmdPutRanges, RangeBatch{Ranges: []Range{{Prefix: "+4479119", Operator: "b"}}}))[0]
	ba := f.claimOf(credA, MustEncode(CmdPutRanges, RangeBatch{Ranges: []Range{{Prefix: "+4479221", Operator: "a"}}}))[0]
	f.mustAs(credFed, MustEncode(CmdSettleDispute, Settlement{ID: ab, Award: "a"}))
	ids := func(q DisputeQuery) []string {
		var out []string
		for _, d := range f.r.Disputes(q).Items {
			out = append(out, d.ID)
		}
		return out
	}
	for _, tc := range []struct {
		q    DisputeQuery
		want []string
	}{
		{DisputeQuery{}, []string{ab, ba}},
		{DisputeQuery{Operator: "a"}, []string{ab, ba}},
		{DisputeQuery{Operator: "c"}, nil},
		{DisputeQuery{Status: DisputeOpen}, []string{ba}},
		{DisputeQuery{Status: DisputeSettled, Operator: "b"}, []string{ab}},
		{DisputeQuery{Limit: 1}, []string{ab}},
		{DisputeQuery{After: ab}, []string{ba}},
	} {
		if got := ids(tc.q); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%+v: %v, want %v", tc.q, got, tc.want)
		}
	}
}

// TestSnapshotKeepsDisputes: disputes survive a snapshot; a version 4
// snapshot (no disputes table) restores with none.
func TestSnapshotKeepsDisputes(t *testing.T) {
	f := trustFixture(t)
	id := f.claimOf(credB, MustEncode(CmdPutRanges, RangeBatch{Ranges: []Range{{Prefix: "+4479119", Operator: "b"}}}))[0]
	var buf bytes.Buffer
	if _, err := f.r.Snapshot().WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	r2, err := Restore(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(r2.Dispute(id), f.r.Dispute(id)) || r2.Dispute(id) == nil {
		t.Fatal("the restored registry's disputes differ")
	}

	snap := f.r.Snapshot()
	buf.Reset()
	if _, err := snap.writeVersion(&buf, 4); err != nil {
		t.Fatal(err)
	}
	r4, err := Restore(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if r4.Dispute(id) != nil || !reflect.DeepEqual(dumpOf(r4), dumpOf(f.r)) {
		t.Fatal("a version 4 snapshot restored differently")
	}
}

// numOf reads "+<digits>" without a national numbering plan's checks: the
// fixture's sub-ranges are not all allocated in the real plan.
func numOf(t *testing.T, s string) uint64 {
	t.Helper()
	n, err := strconv.ParseUint(strings.TrimPrefix(s, "+"), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
