package registry

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

// dump is everything a registry holds, in a comparable form.
type dump struct {
	Operators []*Operator
	Ranges    []*Range
	IPRanges  []*IPRange
	SPs       []*ServiceProvider
	Scopes    []*Scope
	Products  []*Product
	Nodes     []*Node
	Creds     []*Credential
	Ported    map[uint64]Slot
	Applied   uint64
}

func all[T any](page func(after string, limit int) Page[T], key func(*T) string) []*T {
	var out []*T
	after := ""
	for {
		p := page(after, 1000)
		out = append(out, p.Items...)
		if p.Next == "" {
			return out
		}
		after = p.Next
	}
}

func dumpOf(r *Registry) dump {
	d := dump{Ported: map[uint64]Slot{}, Applied: r.AppliedIndex()}
	d.Operators = all(r.Operators, func(o *Operator) string { return o.ID })
	d.Ranges = all(func(a string, l int) Page[Range] { return r.Ranges("", a, l) }, func(x *Range) string { return x.Prefix })
	d.IPRanges = all(func(a string, l int) Page[IPRange] { return r.IPRanges("", a, l) }, func(x *IPRange) string { return x.CIDR })
	d.SPs = all(r.ServiceProviders, func(x *ServiceProvider) string { return x.ClientID })
	d.Scopes = all(r.Scopes, func(x *Scope) string { return x.Name })
	d.Products = all(r.Products, func(x *Product) string { return x.ID })
	d.Nodes = all(r.Nodes, func(x *Node) string { return x.ID })
	d.Creds = all(r.Credentials, func(x *Credential) string { return x.ID })
	r.ported.Snapshot().Range(func(n uint64, s Slot) bool { d.Ported[n] = s; return true })
	return d
}

// randomRegistry fills a registry with random operators, ranges (nested),
// IP ranges, catalogue, SPs, nodes, join tokens and ported numbers, with
// deletions among the writes.
func randomRegistry(t *testing.T, seed uint64) *fixture {
	rng := rand.New(rand.NewPCG(seed, 1))
	f := newFixture(t)
	nOps := 3 + rng.IntN(20) // more than 15 exercises the wide ported form
	for i := range nOps {
		f.must(CmdPutOperator, op(fmt.Sprintf("op%02d", i), fmt.Sprintf("234_%02d", 10+i)))
	}
	opID := func() string { return fmt.Sprintf("op%02d", rng.IntN(nOps)) }
	var ranges []Range
	for i := range 300 {
		ranges = append(ranges, Range{Prefix: fmt.Sprintf("+447%d", 100+i), Operator: opID()})
		if i%3 == 0 {
			ranges = append(ranges, Range{Prefix: fmt.Sprintf("+447%d%d", 100+i, rng.IntN(10)), Operator: opID()})
		}
	}
	f.must(CmdPutRanges, RangeBatch{Ranges: ranges})
	f.must(CmdDeleteRanges, Keys{Keys: []string{ranges[0].Prefix, ranges[5].Prefix}})
	for i := range 20 {
		f.must(CmdPutIPRange, IPRange{CIDR: fmt.Sprintf("10.%d.0.0/16", i), Operator: opID()})
	}
	f.must(CmdPutIPRange, IPRange{CIDR: "2001:db8::/48", Operator: opID()})
	for _, s := range []string{"openid", "mc_authn", "mc_authz", "profile"} {
		f.must(CmdPutScope, Scope{Name: s, Claims: []string{"c_" + s}})
	}
	f.must(CmdPutProduct, Product{ID: "authz", Name: "Authorise", Scopes: []string{"openid", "mc_authz"}, MinLoA: 3})
	for i := range 10 {
		f.must(CmdPutSP, ServiceProvider{ClientID: fmt.Sprintf("sp%d", i), Name: "SP", SecretHash: HashSecret(fmt.Sprint(i)),
			RedirectURIs: []string{"https://sp.example/cb"}, Scopes: []string{"openid"}, Operators: []string{AllOperators}, Status: StatusActive})
	}
	f.must(CmdPutNode, Node{ID: "n1", RaftAddr: "127.0.0.1:7000", AdminURL: "http://127.0.0.1:7001", Operator: "op00"})
	f.must(CmdPutJoinToken, JoinToken{Hash: HashSecret("t"), ExpiresAt: 99, Node: "n9"})
	for range 5 {
		var ps []Port
		for range 2000 {
			n := uint64(447100000000) + rng.Uint64N(30000000000)%300_000_000
			o := opID()
			if rng.IntN(10) == 0 {
				o = ""
			}
			ps = append(ps, Port{Number: n, Operator: o})
		}
		if err := f.ports(ps...); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func TestSnapshotRestoreIsIdentical(t *testing.T) {
	for seed := range uint64(3) {
		f := randomRegistry(t, seed)
		snap := f.r.Snapshot()
		// Writes after the snapshot must not leak into it.
		f.must(CmdPutScope, Scope{Name: "late"})
		if err := f.ports(Port{Number: 447100000001, Operator: "op00"}); err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if _, err := snap.WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
		r2, err := Restore(&buf)
		if err != nil {
			t.Fatal(err)
		}
		// Undo the late writes on a registry that never saw them, for the
		// comparison: rebuild from the same seed.
		want := dumpOf(randomRegistry(t, seed).r)
		got := dumpOf(r2)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("seed %d: restored registry differs from the original", seed)
		}
		if r2.JoinToken(HashSecret("t")) == nil {
			t.Fatal("join tokens were not restored")
		}
		// The rebuilt lookup indexes answer as the original's do.
		orig := randomRegistry(t, seed).r
		rng := rand.New(rand.NewPCG(seed, 2))
		for range 20000 {
			n := uint64(447100000000) + rng.Uint64N(300_000_000)
			a, okA := orig.Resolve(n)
			b, okB := r2.Resolve(n)
			if okA != okB || (okA && (a.Operator.ID != b.Operator.ID || a.Ported != b.Ported)) {
				t.Fatalf("seed %d: Resolve(%d) differs after restore", seed, n)
			}
		}
		for i := range 20 {
			ip := netip.MustParseAddr(fmt.Sprintf("10.%d.1.1", i))
			if orig.OperatorByIP(ip).ID != r2.OperatorByIP(ip).ID {
				t.Fatalf("OperatorByIP(%s) differs after restore", ip)
			}
		}
		// The restored registry keeps taking writes.
		if err := r2.Apply(r2.AppliedIndex()+1, MustEncode(CmdPutOperator, op("new", "234_99"))); err != nil {
			t.Fatal(err)
		}
		if r2.Operator("new").Slot == 0 {
			t.Fatal("no slot for an operator created after restore")
		}
	}
}

func TestRestoreRefusesDamagedSnapshots(t *testing.T) {
	f := randomRegistry(t, 7)
	var buf bytes.Buffer
	if _, err := f.r.Snapshot().WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	for _, cut := range []int{0, 10, len(data) / 3, len(data) - 5} {
		if _, err := Restore(bytes.NewReader(data[:cut])); err == nil {
			t.Fatalf("a snapshot cut at %d of %d bytes was restored", cut, len(data))
		}
	}
	flipped := bytes.Clone(data)
	flipped[len(flipped)-20] ^= 0xff
	if _, err := Restore(bytes.NewReader(flipped)); err == nil {
		t.Fatal("a snapshot with a flipped byte in its ported section was restored")
	}
}

// TestSnapshotHoldsNoSecrets: SP secrets are stored hashed, and the
// registry has no field for subscriber data or private keys; the snapshot
// must not contain a secret given to HashSecret.
func TestSnapshotHoldsNoSecrets(t *testing.T) {
	f := newFixture(t)
	f.must(CmdPutScope, Scope{Name: "openid"})
	secret := "correct-horse-battery-staple-0123456789"
	f.must(CmdPutSP, ServiceProvider{ClientID: "sp", Name: "SP", SecretHash: HashSecret(secret),
		RedirectURIs: []string{"https://sp.example/cb"}, Scopes: []string{"openid"}, Operators: []string{AllOperators}, Status: StatusActive})
	var buf bytes.Buffer
	if _, err := f.r.Snapshot().WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(buf.Bytes(), []byte(secret)) {
		t.Fatal("the snapshot holds an SP's plaintext secret")
	}
}

// auditOf is the whole audit log.
func auditOf(r *Registry) []*AuditEntry {
	var out []*AuditEntry
	for q := (AuditQuery{Limit: 1000}); ; {
		p := r.Audit(q)
		out = append(out, p.Items...)
		if p.Next == "" {
			return out
		}
		q.After = p.Items[len(p.Items)-1].Index
	}
}

// TestSnapshotKeepsCredentialsAndTheAuditLog: credentials and the audit
// log, applied and refused entries, survive a snapshot, and a restored
// registry goes on judging and auditing as the original does.
func TestSnapshotKeepsCredentialsAndTheAuditLog(t *testing.T) {
	f := trustFixture(t)
	f.mustAs(credA, MustEncode(CmdPutSPPolicy, SPPolicy{Operator: "a", ClientID: "shop", Declined: true}))
	wantCode(t, f.as(credB, MustEncode(CmdDeleteRanges, Keys{Keys: []string{"+447911"}})), CodeForbidden, "may not")
	f.mustAs(credFed, MustEncode(CmdRevokeCredential, Key{Key: credB}))
	var buf bytes.Buffer
	if _, err := f.r.Snapshot().WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	r2, err := Restore(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(dumpOf(r2), dumpOf(f.r)) || !reflect.DeepEqual(auditOf(r2), auditOf(f.r)) || len(auditOf(r2)) != 3 {
		t.Fatal("the restored registry's credentials or audit log differ")
	}
	cmd := authored(t, credB, 1_700_000_100_000, MustEncode(CmdPutSPPolicy, SPPolicy{Operator: "b", ClientID: "shop", Declined: true}))
	wantCode(t, r2.Apply(r2.AppliedIndex()+1, cmd), CodeForbidden, "revoked")
	if got := auditOf(r2); len(got) != 4 || got[3].Outcome != OutcomeRefused {
		t.Fatalf("the restored registry does not audit: %+v", got)
	}
}

// TestRestoreReadsVersion2Snapshots: a node upgraded with a snapshot of
// the previous format on disk restores it (no credentials, no audit log).
func TestRestoreReadsVersion2Snapshots(t *testing.T) {
	f := randomRegistry(t, 1)
	snap := f.r.Snapshot()
	var buf bytes.Buffer
	if _, err := snap.writeVersion(&buf, 2); err != nil {
		t.Fatal(err)
	}
	r2, err := Restore(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(dumpOf(r2), dumpOf(f.r)) {
		t.Fatal("a version 2 snapshot restored differently")
	}
}

// TestSnapshotFormatsHoldTheirTables pins which tables each format version
// adds after version 2: the writer of an old format (used to test reading
// it) and Restore both follow laterTables, so a table moved to another
// version would go unnoticed by a round trip alone.
func TestSnapshotFormatsHoldTheirTables(t *testing.T) {
	want := map[int][]string{
		3: {tableCredentials, tableAudit},
		4: {tablePortRequests, tablePortingRules},
		5: {tableDisputes},
		6: {tableApprovalRules, tableProposals},
		7: {tableWrites, tableAuditRules},
		8: {tableVoterRules},
		9: {tableDevelopers, tableAPIs},
	}
	got := map[int][]string{}
	for _, tb := range laterTables() {
		got[tb.since] = append(got[tb.since], tb.name)
	}
	if !reflect.DeepEqual(got, want) || snapshotVersion != 9 {
		t.Fatalf("tables by format version: %v (current %d), want %v (current 9)", got, snapshotVersion, want)
	}
}

// TestRestoreRefusesFormatsItCannotRead: a newer format, an older one than
// this build reads, or no snapshot at all is refused, saying which.
func TestRestoreRefusesFormatsItCannotRead(t *testing.T) {
	for in, want := range map[string]string{
		snapshotPrefix + ":":    "this build reads 2 to 9", // format 10
		snapshotPrefix + "1":    "this build reads 2 to 9",
		"not a snapshot at all": "not a registry snapshot",
	} {
		if _, err := Restore(strings.NewReader(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want an error saying %q", in, err, want)
		}
	}
}
