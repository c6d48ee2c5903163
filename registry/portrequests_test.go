package registry

import (
	"bytes"
	"reflect"
	"testing"
)

const credC = "opcadmin1"

// portFixture: the trust fixture, an admin of operator c, and the numbers
// +447911000001..3 of a's range.
func portFixture(t *testing.T) *fixture {
	f := trustFixture(t)
	f.mustAs(credFed, MustEncode(CmdPutCredentials, CredentialBatch{Credentials: []Credential{
		cred(credC, KindAdmin, RoleOperatorAdmin, "c", ""),
	}}))
	return f
}

const numA1, numA2, numB1 = uint64(447911000001), uint64(447911000002), uint64(447922000001)

// at applies cmd authored by cred with the leader's clock at time.
func (f *fixture) at(cred string, time int64, cmd []byte) error {
	f.t.Helper()
	f.index++
	return f.r.Apply(f.index, authored(f.t, cred, time, cmd))
}

func fileCmd(recipient string, hours float64, nums ...uint64) []byte {
	return MustEncode(CmdFilePortRequest, PortRequestFiling{Recipient: recipient, Numbers: nums, DeadlineHours: hours})
}

func decideCmd(id, decision string) []byte {
	return MustEncode(CmdDecidePortRequest, PortDecision{ID: id, Decision: decision})
}

func servedBy(t *testing.T, r *Registry, n uint64) string {
	t.Helper()
	res, ok := r.Resolve(n)
	if !ok {
		t.Fatalf("%d resolves to no operator", n)
	}
	return res.Operator.ID
}

// file has b file a request and returns its id.
func (f *fixture) file(cred, recipient string, hours float64, nums ...uint64) string {
	f.t.Helper()
	f.mustAs(cred, fileCmd(recipient, hours, nums...))
	return PortRequestID(f.index)
}

// TestPortRequestRules: who may file, decide, withdraw and cancel, and
// what each decision does to the numbers.
func TestPortRequestRules(t *testing.T) {
	t.Run("not effective until the donor accepts", func(t *testing.T) {
		f := portFixture(t)
		id := f.file(credB, "b", 0, numA1, numA2)
		req := f.r.PortRequest(id)
		if req == nil || req.Donor != "a" || req.Recipient != "b" || req.Status != PortPending || req.Deadline != 0 {
			t.Fatalf("filed request: %+v", req)
		}
		if servedBy(t, f.r, numA1) != "a" {
			t.Fatal("a pending request moved the number")
		}
		// C cannot accept for A, B cannot accept its own request, nor the
		// federation admin on A's behalf.
		for _, c := range []string{credC, credB, credFed, credPorting, credNodeB} {
			wantCode(t, f.as(c, decideCmd(id, DecideAccept)), CodeForbidden, "donor")
		}
		if servedBy(t, f.r, numA1) != "a" || f.r.PortRequest(id).Status != PortPending {
			t.Fatal("a refused accept changed something")
		}
		f.mustAs(credA, decideCmd(id, DecideAccept))
		if servedBy(t, f.r, numA1) != "b" || servedBy(t, f.r, numA2) != "b" {
			t.Fatal("the accepted request did not port the numbers")
		}
		if req := f.r.PortRequest(id); req.Status != PortAccepted || req.DecidedAt == 0 {
			t.Fatalf("accepted request: %+v", req)
		}
		wantCode(t, f.as(credA, decideCmd(id, DecideDecline)), CodeConflict, "not pending")
	})
	t.Run("declined: nothing changes", func(t *testing.T) {
		f := portFixture(t)
		id := f.file(credB, "b", 0, numA1)
		f.mustAs(credA, decideCmd(id, DecideDecline))
		if servedBy(t, f.r, numA1) != "a" || f.r.PortRequest(id).Status != PortDeclined {
			t.Fatal("a declined request changed the number")
		}
	})
	t.Run("the recipient withdraws, the federation cancels", func(t *testing.T) {
		f := portFixture(t)
		id := f.file(credB, "b", 0, numA1)
		wantCode(t, f.as(credA, decideCmd(id, DecideWithdraw)), CodeForbidden, "filed it")
		wantCode(t, f.as(credB, decideCmd(id, DecideCancel)), CodeForbidden, "federation")
		f.mustAs(credB, decideCmd(id, DecideWithdraw))
		id = f.file(credB, "b", 0, numA1)
		f.mustAs(credFed, decideCmd(id, DecideCancel))
		if servedBy(t, f.r, numA1) != "a" || f.r.PortRequest(id).Status != PortCancelled {
			t.Fatal("a cancelled request changed the number")
		}
	})
	t.Run("filing", func(t *testing.T) {
		f := portFixture(t)
		// Only the recipient's admin (or node) files, for itself.
		wantCode(t, f.as(credC, fileCmd("b", 0, numA1)), CodeForbidden, "recipient")
		wantCode(t, f.as(credFed, fileCmd("b", 0, numA1)), CodeForbidden, "recipient")
		wantCode(t, f.as(credPorting, fileCmd("b", 0, numA1)), CodeForbidden, "recipient")
		wantCode(t, f.as(credB, fileCmd("b", 0, numA1, numB1)), CodeInvalid, "one request per donor")
		wantCode(t, f.as(credB, fileCmd("b", 0, numB1)), CodeInvalid, "already serves")
		wantCode(t, f.as(credB, fileCmd("b", 0, 449999000001)), CodeNotFound, "no operator's range")
		wantCode(t, f.as(credB, fileCmd("b", 2, numA1)), CodeInvalid, "no deadline")
		f.mustAs(credNodeB, fileCmd("b", 0, numA1))
		wantCode(t, f.as(credC, fileCmd("c", 0, numA1, numA2)), CodeConflict, "pending port request")
	})
	t.Run("porting rules are the federation's", func(t *testing.T) {
		f := portFixture(t)
		rules := MustEncode(CmdPutPortingRules, PortingRules{MaxDeadlineHours: 24, OnDeadline: OnDeadlineAccept})
		wantCode(t, f.as(credA, rules), CodeForbidden, "federation")
		f.mustAs(credFed, rules)
		wantCode(t, f.as(credB, fileCmd("b", 25, numA1)), CodeInvalid, "over the federation's")
		id := f.file(credB, "b", 0, numA1)
		if req := f.r.PortRequest(id); req.Deadline != req.FiledAt+24*3600*1000 {
			t.Fatalf("a request without deadline_hours takes the rules': %+v", req)
		}
	})
}

// TestPortRequestDeadline: the deadline is applied by a node, by the
// leader's clock in the command's header, never before it passes; the
// rules say whether the numbers then port or the request expires.
func TestPortRequestDeadline(t *testing.T) {
	for _, on := range []string{OnDeadlineAccept, OnDeadlineExpire} {
		t.Run(on, func(t *testing.T) {
			f := portFixture(t)
			f.mustAs(credFed, MustEncode(CmdPutPortingRules, PortingRules{MaxDeadlineHours: 48, OnDeadline: on}))
			const filed = int64(1_800_000_000_000)
			if err := f.at(credB, filed, fileCmd("b", 1, numA1)); err != nil {
				t.Fatal(err)
			}
			id := PortRequestID(f.index)
			deadline := filed + 3600*1000
			if due := f.r.DuePortRequests(deadline - 1); len(due) != 0 {
				t.Fatalf("due before its deadline: %+v", due)
			}
			wantCode(t, f.at(credNodeA, deadline-1, decideCmd(id, DecideDeadline)), CodeConflict, "not reached")
			wantCode(t, f.at(credB, deadline, decideCmd(id, DecideDeadline)), CodeForbidden, "leader")
			if due := f.r.DuePortRequests(deadline); len(due) != 1 || due[0].ID != id {
				t.Fatalf("due at its deadline: %+v", due)
			}
			if err := f.at(credNodeA, deadline, decideCmd(id, DecideDeadline)); err != nil {
				t.Fatal(err)
			}
			want, status := "b", PortAccepted
			if on == OnDeadlineExpire {
				want, status = "a", PortExpired
			}
			if req := f.r.PortRequest(id); servedBy(t, f.r, numA1) != want || req.Status != status || req.DecidedBy != "deadline" {
				t.Fatalf("after the deadline: %s serves it, request %+v", servedBy(t, f.r, numA1), req)
			}
		})
	}
}

// TestPortRequestVoid: numbers the porting authority moved while a
// request was pending are not taken again by its acceptance.
func TestPortRequestVoid(t *testing.T) {
	f := portFixture(t)
	id := f.file(credB, "b", 0, numA1)
	f.mustAs(credPorting, ports(t, Port{Number: numA1, Operator: "c"}))
	f.mustAs(credA, decideCmd(id, DecideAccept))
	if req := f.r.PortRequest(id); req.Status != PortVoid || servedBy(t, f.r, numA1) != "c" {
		t.Fatalf("request %+v, served by %s", req, servedBy(t, f.r, numA1))
	}
}

// TestPortRequestsAudited: every filing, decision and refusal is in the
// audit log, under the request's id and its numbers, for both operators.
func TestPortRequestsAudited(t *testing.T) {
	f := portFixture(t)
	id := f.file(credB, "b", 0, numA1)
	wantCode(t, f.as(credC, decideCmd(id, DecideAccept)), CodeForbidden, "donor")
	f.mustAs(credA, decideCmd(id, DecideAccept))
	var got []string
	for _, e := range f.r.Audit(AuditQuery{Key: id}).Items {
		got = append(got, e.Command+" "+e.Outcome+" "+e.Author.Credential)
		if len(f.r.Audit(AuditQuery{Key: "+447911000001", Operator: "a", After: e.Index - 1, Limit: 1}).Items) != 1 {
			t.Errorf("entry %d is not found by the number for operator a", e.Index)
		}
	}
	want := []string{"file_port_request applied " + credB, "accept_port_request refused " + credC, "accept_port_request applied " + credA}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("audit entries for request %s: %q, want %q", id, got, want)
	}
}

// TestPortRequestsListed: an operator's requests as donor and recipient.
func TestPortRequestsListed(t *testing.T) {
	f := portFixture(t)
	ab := f.file(credB, "b", 0, numA1)
	ba := f.file(credA, "a", 0, numB1)
	f.file(credC, "c", 0, numA2)
	ids := func(q PortRequestQuery) (out []string) {
		for _, r := range f.r.PortRequests(q).Items {
			out = append(out, r.ID)
		}
		return out
	}
	if got := ids(PortRequestQuery{Donor: "a", Recipient: "b"}); !reflect.DeepEqual(got, []string{ab}) {
		t.Fatalf("donor a, recipient b: %v", got)
	}
	if got := ids(PortRequestQuery{Operator: "b", Status: PortPending}); !reflect.DeepEqual(got, []string{ab, ba}) {
		t.Fatalf("b's pending: %v", got)
	}
	page := f.r.PortRequests(PortRequestQuery{Limit: 2})
	if len(page.Items) != 2 || page.Next != ba || len(f.r.PortRequests(PortRequestQuery{After: page.Next}).Items) != 1 {
		t.Fatalf("pages: %+v", page)
	}
}

// TestSnapshotKeepsPortRequests: port requests and the porting rules
// survive a snapshot; a version 3 snapshot (before them) still restores.
func TestSnapshotKeepsPortRequests(t *testing.T) {
	f := portFixture(t)
	f.mustAs(credFed, MustEncode(CmdPutPortingRules, PortingRules{MaxDeadlineHours: 24, OnDeadline: OnDeadlineExpire}))
	id := f.file(credB, "b", 0, numA1)
	var buf bytes.Buffer
	if _, err := f.r.Snapshot().WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	r2, err := Restore(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(r2.PortRequest(id), f.r.PortRequest(id)) || r2.PortingRules() != f.r.PortingRules() {
		t.Fatal("the restored registry's port requests or rules differ")
	}

	// Version 3: the same tables as version 4 up to the audit log.
	snap := f.r.Snapshot()
	buf.Reset()
	if _, err := snap.writeVersion(&buf, 3); err != nil {
		t.Fatal(err)
	}
	r3, err := Restore(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if r3.PortRequest(id) != nil || !reflect.DeepEqual(auditOf(r3), auditOf(f.r)) || servedBy(t, r3, numA1) != "a" {
		t.Fatal("a version 3 snapshot restored differently")
	}
}
