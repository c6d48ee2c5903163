package registry

import (
	"bytes"
	"fmt"
	"reflect"
	"testing"
)

// tryOf wraps cmd as the leader does for one try of the write id, by cred
// at time.
func tryOf(t *testing.T, cred, writeID string, time int64, cmd []byte) []byte {
	t.Helper()
	b, err := EncodeAuthored(Header{Author: Author{Credential: cred}, Time: time, RequestID: "req-" + cred, WriteID: writeID}, cmd)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// try applies one try of a write at the fixture's next index, a second
// after the last, and returns the index it took effect at.
func (f *fixture) try(cred, writeID string, cmd []byte) (uint64, error) {
	f.t.Helper()
	f.index++
	return f.r.ApplyWrite(f.index, tryOf(f.t, cred, writeID, 1_700_000_000_000+int64(f.index)*1000, cmd))
}

// TestRepeatedWriteAnswersTheFirstOutcome: a second try of a write the
// registry already applied (its answer was lost on the way back) is not
// applied or audited again: a create answers success, not a conflict; a
// delete success, not not-found; a refused write the same refusal. Each
// answers the first try's index.
func TestRepeatedWriteAnswersTheFirstOutcome(t *testing.T) {
	f := trustFixture(t)
	audited := len(auditOf(f.r))
	for _, c := range []struct {
		name string
		cred string
		cmd  []byte
		code Code
	}{
		{"create", credFed, Create(MustEncode(CmdPutSP, testSP("bank"))), ""},
		{"delete", credFed, MustEncode(CmdDeleteSP, Key{Key: "bank"}), ""},
		{"refused", credB, MustEncode(CmdDeleteRanges, Keys{Keys: []string{"+447911"}}), CodeForbidden},
	} {
		id := "write-" + c.name
		first, err := f.try(c.cred, id, c.cmd)
		if CodeOf(err) != c.code || first != f.index {
			t.Fatalf("%s: first try answered %v at %d (index %d)", c.name, err, first, f.index)
		}
		again, err2 := f.try(c.cred, id, c.cmd)
		if again != first || CodeOf(err2) != c.code || (err != nil && err2.Error() != err.Error()) {
			t.Fatalf("%s: the repeat answered %v at %d, want %v at %d", c.name, err2, again, err, first)
		}
		if f.r.AppliedIndex() != f.index {
			t.Fatalf("%s: the repeat did not count as applied", c.name)
		}
		audited++
		if got := auditOf(f.r); len(got) != audited || got[len(got)-1].Index != first {
			t.Fatalf("%s: the audit log holds %d entries, the last at %d; want %d, the last at %d", c.name, len(got), got[len(got)-1].Index, audited, first)
		}
	}
	if f.r.ServiceProvider("bank") != nil {
		t.Fatal("the repeat of the create brought back the deleted SP")
	}
	// Without a write id, the same command twice is two writes, as before.
	f.mustAs(credFed, Create(MustEncode(CmdPutSP, testSP("bank"))))
	wantCode(t, f.as(credFed, Create(MustEncode(CmdPutSP, testSP("bank")))), CodeConflict, "already exists")
}

// TestWriteIDIsItsAuthors: a command of another credential reusing a
// write id is refused and audited, and does not take over the first's
// outcome.
func TestWriteIDIsItsAuthors(t *testing.T) {
	f := trustFixture(t)
	if _, err := f.try(credFed, "w1", MustEncode(CmdPutScope, Scope{Name: "profile"})); err != nil {
		t.Fatal(err)
	}
	_, err := f.try(credA, "w1", MustEncode(CmdPutSPPolicy, SPPolicy{Operator: "a", ClientID: "shop", Declined: true}))
	wantCode(t, err, CodeInvalid, "another credential's write")
	if got := auditOf(f.r); got[len(got)-1].Outcome != OutcomeRefused || f.r.SPPolicy("a", "shop") != nil {
		t.Fatalf("the reuse was not refused as audited: %+v", got[len(got)-1])
	}
	// The first author's repeat is still recognised.
	if idx, err := f.try(credFed, "w1", MustEncode(CmdPutScope, Scope{Name: "profile"})); err != nil || idx != f.index-2 {
		t.Fatalf("the repeat answered %v at %d", err, idx)
	}
}

// TestWriteIDsArePrunedByTheLeadersTime: a write id is forgotten once a
// command's header is WriteIDRetention past it, not before: a try after
// that is a new write.
func TestWriteIDsArePrunedByTheLeadersTime(t *testing.T) {
	f := trustFixture(t)
	const t0 = 1_800_000_000_000
	create := Create(MustEncode(CmdPutScope, Scope{Name: "profile"}))
	apply := func(cred, id string, time int64, cmd []byte) error {
		f.index++
		return f.r.Apply(f.index, tryOf(t, cred, id, time, cmd))
	}
	if err := apply(credFed, "old", t0, create); err != nil {
		t.Fatal(err)
	}
	if err := apply(credFed, "other", t0+WriteIDRetention, MustEncode(CmdPutScope, Scope{Name: "email"})); err != nil {
		t.Fatal(err)
	}
	if err := apply(credFed, "old", t0+WriteIDRetention, create); err != nil {
		t.Fatalf("a repeat within retention: %v", err)
	}
	if err := apply(credFed, "later", t0+WriteIDRetention+1, MustEncode(CmdPutScope, Scope{Name: "phone"})); err != nil {
		t.Fatal(err)
	}
	if len(writesOf(f.r)) != 2 {
		t.Fatalf("write ids kept: %v, want other and later", writesOf(f.r))
	}
	wantCode(t, apply(credFed, "old", t0+WriteIDRetention+2, create), CodeConflict, "already exists")
}

func writesOf(r *Registry) []string {
	var ids []string
	it, err := r.db.Txn(false).Get(tableWrites, "time")
	if err != nil {
		panic(err)
	}
	for o := it.Next(); o != nil; o = it.Next() {
		ids = append(ids, o.(*writeOutcome).ID)
	}
	return ids
}

// TestSnapshotKeepsWriteIDs: a replica restored from a snapshot answers a
// repeat as the original does; a format 6 snapshot (none kept) restores.
func TestSnapshotKeepsWriteIDs(t *testing.T) {
	f := trustFixture(t)
	create := Create(MustEncode(CmdPutScope, Scope{Name: "profile"}))
	first, err := f.try(credFed, "w1", create)
	if err != nil {
		t.Fatal(err)
	}
	refused := MustEncode(CmdDeleteRanges, Keys{Keys: []string{"+447911"}})
	_, refusal := f.try(credB, "w2", refused)
	for version, want := range map[int][]string{7: {"w1", "w2"}, 6: nil} {
		var buf bytes.Buffer
		if _, err := f.r.Snapshot().writeVersion(&buf, version); err != nil {
			t.Fatal(err)
		}
		r2, err := Restore(&buf)
		if err != nil {
			t.Fatalf("format %d: %v", version, err)
		}
		if !reflect.DeepEqual(writesOf(r2), want) || !reflect.DeepEqual(dumpOf(r2), dumpOf(f.r)) {
			t.Fatalf("format %d restored write ids %v, want %v", version, writesOf(r2), want)
		}
		if version < 7 {
			continue
		}
		idx, err := r2.ApplyWrite(f.index+1, tryOf(t, credFed, "w1", 1_700_000_000_000+int64(f.index+1)*1000, create))
		if err != nil || idx != first {
			t.Fatalf("the restored replica answered the repeat with %v at %d", err, idx)
		}
		_, err = r2.ApplyWrite(f.index+2, tryOf(t, credB, "w2", 1_700_000_000_000+int64(f.index+2)*1000, refused))
		if err == nil || err.Error() != refusal.Error() || CodeOf(err) != CodeOf(refusal) {
			t.Fatalf("the restored replica answered the refused repeat with %v, want %v", err, refusal)
		}
	}
}

// TestAuthoredVersion1IgnoresWriteIDs: an envelope of version 1 (an older
// leader's) is read as an older build reads it, without a write id, even
// if its header names one: every replica treats it alike.
func TestAuthoredVersion1IgnoresWriteIDs(t *testing.T) {
	f := trustFixture(t)
	create := Create(MustEncode(CmdPutScope, Scope{Name: "profile"}))
	v1 := tryOf(t, credFed, "w1", 1_700_000_000_000, create)
	if v1[1] != authoredWriteIDVersion {
		t.Fatalf("an envelope with a write id is version %d", v1[1])
	}
	v1[1] = authoredVersion
	f.index++
	if err := f.r.Apply(f.index, v1); err != nil {
		t.Fatal(err)
	}
	f.index++
	wantCode(t, f.r.Apply(f.index, v1), CodeConflict, "already exists")
	if len(writesOf(f.r)) != 0 {
		t.Fatalf("a version 1 envelope's write id was kept: %v", writesOf(f.r))
	}
}

// BenchmarkWriteIDs: a federation admin's SP write without a write id, with
// a new one each time (a clock a second on per write, so the table holds
// 15 minutes of them and prunes as it goes), and a repeat of one write:
// what exactly-once writes add to the FSM's work per write.
func BenchmarkWriteIDs(b *testing.B) {
	for _, mode := range []string{"none", "new", "repeat"} {
		b.Run(mode, func(b *testing.B) {
			f := approvalReplicas(b, 1)
			r := f.rs[0]
			for i := 0; b.Loop(); i++ {
				f.index++
				f.now += 1000
				id := ""
				switch mode {
				case "new":
					id = fmt.Sprintf("%032x", i)
				case "repeat":
					id = "the-one-write"
				}
				cmd, err := EncodeAuthored(Header{Author: Author{Credential: credFed}, Time: f.now, WriteID: id}, MustEncode(CmdPutSP, testSP("shop")))
				if err != nil {
					b.Fatal(err)
				}
				if err := r.Apply(f.index, cmd); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
