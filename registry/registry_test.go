package registry

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/mcfed/mcfed/internal/e164"
)

// fixture applies commands to a registry with increasing log indexes, as the
// Raft FSM would.
type fixture struct {
	t     *testing.T
	r     *Registry
	index uint64
}

func newFixture(t *testing.T) *fixture { return &fixture{t: t, r: New()} }

func (f *fixture) apply(typ CommandType, v any) error {
	f.t.Helper()
	f.index++
	return f.r.Apply(f.index, MustEncode(typ, v))
}

func (f *fixture) must(typ CommandType, v any) {
	f.t.Helper()
	if err := f.apply(typ, v); err != nil {
		f.t.Fatalf("command %d: %v", typ, err)
	}
}

func (f *fixture) ports(ps ...Port) error {
	f.t.Helper()
	cmd, err := EncodePorts(ps)
	if err != nil {
		f.t.Fatal(err)
	}
	f.index++
	return f.r.Apply(f.index, cmd)
}

func op(id, network string) Operator {
	return Operator{ID: id, Name: "Operator " + id, Country: "GB", Currency: "GBP",
		Networks: []string{network}, Issuer: "https://" + id + ".example/", Status: StatusActive}
}

func mustNumber(t *testing.T, s string) uint64 {
	t.Helper()
	n, err := e164.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func wantCode(t *testing.T, err error, code Code, contains string) {
	t.Helper()
	if CodeOf(err) != code {
		t.Fatalf("got %v, want a %s refusal", err, code)
	}
	if !strings.Contains(err.Error(), contains) {
		t.Fatalf("refusal %q does not say %q", err, contains)
	}
}

func TestResolveLongestPrefixThenPorted(t *testing.T) {
	f := newFixture(t)
	f.must(CmdPutOperator, op("red", "234_10"))
	f.must(CmdPutOperator, op("blue", "234_20"))
	f.must(CmdPutOperator, op("green", "234_30"))
	f.must(CmdPutRanges, RangeBatch{Ranges: []Range{{Prefix: "+44791", Operator: "red"}, {Prefix: "447911", Operator: "blue"}}})

	resolve := func(s string) string {
		res, ok := f.r.Resolve(mustNumber(t, s))
		if !ok {
			return ""
		}
		if res.Ported {
			return res.Operator.ID + " (ported)"
		}
		return res.Operator.ID
	}
	for num, want := range map[string]string{
		"+447912123456": "red",  // only the short prefix matches
		"+447911123456": "blue", // the longer, nested prefix wins
		"+447800123456": "",     // no range
	} {
		if got := resolve(num); got != want {
			t.Errorf("Resolve(%s) = %q, want %q", num, got, want)
		}
	}

	n := mustNumber(t, "+447911123456")
	if err := f.ports(Port{Number: n, Operator: "green"}); err != nil {
		t.Fatal(err)
	}
	if got := resolve("+447911123456"); got != "green (ported)" {
		t.Fatalf("a ported number resolves to %q, want green (ported)", got)
	}
	if got := resolve("+447911123457"); got != "blue" {
		t.Fatalf("porting one number moved its neighbour: %q", got)
	}
	if err := f.ports(Port{Number: n}); err != nil {
		t.Fatal(err)
	}
	if got := resolve("+447911123456"); got != "blue" {
		t.Fatalf("an un-ported number resolves to %q, want its range holder blue", got)
	}

	f.must(CmdDeleteRanges, Keys{Keys: []string{"+447911"}})
	if got := resolve("+447911123456"); got != "red" {
		t.Fatalf("after deleting the nested range: %q, want red", got)
	}
}

func TestRangeConflictsAreRefusedWhole(t *testing.T) {
	f := newFixture(t)
	f.must(CmdPutOperator, op("red", "234_10"))
	f.must(CmdPutOperator, op("blue", "234_20"))
	f.must(CmdPutRanges, RangeBatch{Ranges: []Range{{Prefix: "+44791", Operator: "red"}}})

	err := f.apply(CmdPutRanges, RangeBatch{Ranges: []Range{
		{Prefix: "+44792", Operator: "blue"}, {Prefix: "+44791", Operator: "blue"},
	}})
	wantCode(t, err, CodeConflict, "+44791 already belongs to operator red")
	if f.r.Range("+44792") != nil {
		t.Fatal("a refused batch left its first range behind")
	}
	wantCode(t, f.apply(CmdPutRanges, RangeBatch{Ranges: []Range{{Prefix: "+44793", Operator: "nobody"}}}), CodeNotFound, `"nobody" does not exist`)
	wantCode(t, f.apply(CmdPutRanges, RangeBatch{Ranges: []Range{{Prefix: "+99912", Operator: "red"}}}), CodeInvalid, "range 1")
	wantCode(t, f.apply(CmdPutRanges, RangeBatch{Ranges: []Range{{Prefix: "+44794", Operator: "red"}, {Prefix: "+44794", Operator: "blue"}}}), CodeConflict, "two operators")

	// The same range for the same operator again is not an error.
	f.must(CmdPutRanges, RangeBatch{Ranges: []Range{{Prefix: "44791", Operator: "red"}}})
	if got := f.r.Ranges("", "", 10); len(got.Items) != 1 || *got.Items[0] != (Range{Prefix: "+44791", Operator: "red"}) {
		t.Fatalf("ranges after re-putting one: %v", got.Items)
	}
}

func TestOperatorStillReferencedCannotBeDeleted(t *testing.T) {
	f := newFixture(t)
	f.must(CmdPutOperator, op("red", "234_10"))
	f.must(CmdPutOperator, op("blue", "234_20"))
	f.must(CmdPutRanges, RangeBatch{Ranges: []Range{{Prefix: "+44791", Operator: "red"}}})
	if err := f.ports(Port{Number: mustNumber(t, "+447911123456"), Operator: "blue"}); err != nil {
		t.Fatal(err)
	}
	wantCode(t, f.apply(CmdDeleteOperator, Key{Key: "red"}), CodeConflict, "1 number ranges")
	wantCode(t, f.apply(CmdDeleteOperator, Key{Key: "blue"}), CodeConflict, "1 ported numbers")
	if f.r.Operator("blue") == nil {
		t.Fatal("a refused delete removed the operator")
	}
	f.must(CmdDeleteRanges, Keys{Keys: []string{"+44791"}})
	f.must(CmdDeleteOperator, Key{Key: "red"})
	if f.r.Operator("red") != nil {
		t.Fatal("delete did not remove the operator")
	}
	wantCode(t, f.apply(CmdDeleteOperator, Key{Key: "red"}), CodeNotFound, "does not exist")
	// The freed slot is reused, and the new operator gets what its ranges
	// resolve to, not the old one's.
	f.must(CmdPutOperator, op("green", "234_30"))
	if got := f.r.Operator("green").Slot; got != 1 {
		t.Fatalf("new operator got slot %d, want the freed slot 1", got)
	}
}

func TestOperatorValidation(t *testing.T) {
	f := newFixture(t)
	f.must(CmdPutOperator, op("red", "234_10"))
	for _, tc := range []struct {
		change func(*Operator)
		want   string
	}{
		{func(o *Operator) { o.ID = "Red Mobile" }, "operator id"},
		{func(o *Operator) { o.Country = "GBR" }, "country"},
		{func(o *Operator) { o.Currency = "£" }, "currency"},
		{func(o *Operator) { o.Networks = []string{"23410"} }, "MCC_MNC"},
		{func(o *Operator) { o.Issuer = "not a url" }, "issuer"},
		{func(o *Operator) { o.Endpoints.Token = "ftp://x/token" }, "token endpoint"},
		{func(o *Operator) { o.SealingKey = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n" }, "sealing_key"},
		{func(o *Operator) {
			o.JWKS = json.RawMessage(`{"keys":[{"kty":"RSA","kid":"1","n":"x","e":"AQAB","d":"secret"}]}`)
		}, "private key material"},
		{func(o *Operator) { o.Status = "sleeping" }, "status"},
	} {
		o := op("blue", "234_20")
		tc.change(&o)
		wantCode(t, f.apply(CmdPutOperator, o), CodeInvalid, tc.want)
	}
	wantCode(t, f.apply(CmdPutOperator, op("blue", "234_10")), CodeConflict, "network 234_10 already belongs to operator red")

	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	o := op("blue", "234_20")
	o.SealingKey = string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	o.JWKS = json.RawMessage(`{"keys":[{"kty":"EC","kid":"k1","crv":"P-256","x":"a","y":"b"}]}`)
	f.must(CmdPutOperator, o)
	if got := f.r.OperatorByNetwork("234", "20"); got == nil || got.ID != "blue" {
		t.Fatalf("OperatorByNetwork(234, 20) = %v, want blue", got)
	}
}

func TestIPRanges(t *testing.T) {
	f := newFixture(t)
	f.must(CmdPutOperator, op("red", "234_10"))
	f.must(CmdPutOperator, op("blue", "234_20"))
	f.must(CmdPutIPRange, IPRange{CIDR: "203.0.113.0/24", Operator: "red"})
	f.must(CmdPutIPRange, IPRange{CIDR: "203.0.113.128/25", Operator: "blue"})
	f.must(CmdPutIPRange, IPRange{CIDR: "2001:db8::/32", Operator: "blue"})
	for ip, want := range map[string]string{
		"203.0.113.5": "red", "203.0.113.200": "blue", "::ffff:203.0.113.5": "red",
		"2001:db8::1": "blue", "198.51.100.1": "",
	} {
		got := ""
		if o := f.r.OperatorByIP(netip.MustParseAddr(ip)); o != nil {
			got = o.ID
		}
		if got != want {
			t.Errorf("OperatorByIP(%s) = %q, want %q", ip, got, want)
		}
	}
	// A CIDR is stored in canonical form, so the same block written
	// differently conflicts.
	wantCode(t, f.apply(CmdPutIPRange, IPRange{CIDR: "203.0.113.7/24", Operator: "blue"}), CodeConflict, "203.0.113.0/24")
	wantCode(t, f.apply(CmdPutIPRange, IPRange{CIDR: "203.0.113.0/33", Operator: "blue"}), CodeInvalid, "cidr")
	f.must(CmdDeleteIPRange, Key{Key: "203.0.113.128/25"})
	if o := f.r.OperatorByIP(netip.MustParseAddr("203.0.113.200")); o == nil || o.ID != "red" {
		t.Fatalf("after deleting the /25: %v, want red", o)
	}
}

func TestServiceProvidersAndCatalogue(t *testing.T) {
	f := newFixture(t)
	f.must(CmdPutOperator, op("red", "234_10"))
	f.must(CmdPutScope, Scope{Name: "openid"})
	f.must(CmdPutScope, Scope{Name: "mc_authn"})
	sp := ServiceProvider{ClientID: "shop", Name: "Shop", SecretHash: HashSecret(strings.Repeat("s", 40)),
		RedirectURIs: []string{"https://shop.example/cb", "com.shop.app:/cb"}, Scopes: []string{"openid", "mc_authn"},
		Operators: []string{"red"}, Status: StatusActive}
	f.must(CmdPutSP, sp)
	got := f.r.ServiceProvider("shop")
	if !got.CheckSecret(strings.Repeat("s", 40)) || got.CheckSecret(strings.Repeat("s", 39)) {
		t.Fatal("CheckSecret does not tell the right secret from a wrong one")
	}
	if !got.Accepts("red") || got.Accepts("blue") {
		t.Fatal("Accepts does not follow the SP's operator list")
	}

	bad := sp
	bad.Scopes = []string{"openid", "mc_nope"}
	wantCode(t, f.apply(CmdPutSP, bad), CodeNotFound, `"mc_nope" is not in the catalogue`)
	bad = sp
	bad.RedirectURIs = []string{"https://shop.example/cb#frag"}
	wantCode(t, f.apply(CmdPutSP, bad), CodeInvalid, "fragment")
	bad = sp
	bad.SecretHash = "plaintext"
	wantCode(t, f.apply(CmdPutSP, bad), CodeInvalid, "secret_hash")

	f.must(CmdPutProduct, Product{ID: "authenticate", Name: "Authenticate", Scopes: []string{"openid", "mc_authn"}, MinLoA: 2})
	wantCode(t, f.apply(CmdPutProduct, Product{ID: "x", Name: "X", Scopes: []string{"openid"}, MinLoA: 5}), CodeInvalid, "min_loa")
	wantCode(t, f.apply(CmdDeleteScope, Key{Key: "mc_authn"}), CodeConflict, "part of 1 products")
	f.must(CmdDeleteProduct, Key{Key: "authenticate"})
	wantCode(t, f.apply(CmdDeleteScope, Key{Key: "mc_authn"}), CodeConflict, "allowed to 1 service providers")
	wantCode(t, f.apply(CmdDeleteOperator, Key{Key: "red"}), CodeConflict, "service providers")
	f.must(CmdDeleteSP, Key{Key: "shop"})
	f.must(CmdDeleteScope, Key{Key: "mc_authn"})
}

// TestJoinTokensAreSingleUseForTheirNodeAndExpire: a join token admits
// the node it names, once, before it expires, and never over a member; the
// leader's prune removes the expired ones.
func TestJoinTokensAreSingleUseForTheirNodeAndExpire(t *testing.T) {
	f := newFixture(t)
	h := HashSecret("token-1")
	wantCode(t, f.apply(CmdPutJoinToken, JoinToken{Hash: h, ExpiresAt: 1000}), CodeInvalid, "node_id")
	wantCode(t, f.apply(CmdPutJoinToken, JoinToken{Hash: h, ExpiresAt: 1000, Node: "n2", Operator: "red", FederationAdmin: true}), CodeInvalid, "not both")
	f.must(CmdPutJoinToken, JoinToken{Hash: h, ExpiresAt: 1000, Node: "n2"})
	rec := func(id, addr string) *Node { return &Node{ID: id, RaftAddr: addr, AdminURL: "http://127.0.0.1:9"} }
	wantCode(t, f.apply(CmdUseJoinToken, UseJoinToken{Hash: HashSecret("wrong"), Node: "n2", Now: 10}), CodeForbidden, "not valid")
	wantCode(t, f.apply(CmdUseJoinToken, UseJoinToken{Hash: h, Node: "n3", Now: 10, Record: rec("n3", "127.0.0.1:3")}), CodeForbidden, "another node")
	f.must(CmdUseJoinToken, UseJoinToken{Hash: h, Node: "n2", Now: 10, Record: rec("n2", "127.0.0.1:2")})
	wantCode(t, f.apply(CmdUseJoinToken, UseJoinToken{Hash: h, Node: "n2", Now: 11, Record: rec("n2", "127.0.0.1:7")}), CodeForbidden, "already used")
	if n := f.r.Node("n2"); n.RaftAddr != "127.0.0.1:2" {
		t.Fatalf("a replayed join moved the member to %s", n.RaftAddr)
	}
	wantCode(t, f.apply(CmdPutJoinToken, JoinToken{Hash: HashSecret("token-2"), ExpiresAt: 1000, Node: "n2"}), CodeConflict, "is a member")
	f.must(CmdPutJoinToken, JoinToken{Hash: HashSecret("token-2"), ExpiresAt: 1000, Node: "n3"})
	wantCode(t, f.apply(CmdUseJoinToken, UseJoinToken{Hash: HashSecret("token-2"), Node: "n3", Now: 1000, Record: rec("n3", "127.0.0.1:3")}), CodeForbidden, "expired")
	f.must(CmdPutJoinToken, JoinToken{Hash: HashSecret("token-3"), ExpiresAt: 2000, Node: "n4"})
	wantCode(t, f.apply(CmdUseJoinToken, UseJoinToken{Hash: HashSecret("token-3"), Node: "n4", Now: 10, Record: rec("n4", "127.0.0.1:2")}), CodeConflict, "member n2's")

	if got := f.r.ExpiredJoinTokens(1000); got != 2 {
		t.Fatalf("%d tokens expired at 1000, want 2", got)
	}
	f.must(CmdPruneJoinTokens, PruneJoinTokens{Now: 1000})
	if f.r.JoinToken(h) != nil || f.r.JoinToken(HashSecret("token-2")) != nil || f.r.JoinToken(HashSecret("token-3")) == nil {
		t.Fatal("the prune at 1000 did not remove exactly the tokens expired then")
	}
}

func TestCommandsThisBuildCannotReadAreNotRefusals(t *testing.T) {
	f := newFixture(t)
	f.must(CmdPutOperator, op("red", "234_10"))
	applied := f.r.AppliedIndex()
	// Interpretable, the leader's check before it proposes, finds every one
	// of them, broken bodies of known types included, and changes nothing.
	for name, tc := range map[string]struct {
		cmd []byte
	}{
		"empty":           {nil},
		"unknown type":    {[]byte{99, commandVersion, '{', '}'}},
		"newer version":   {[]byte{byte(CmdPutScope), commandVersion + 1, '{', '}'}},
		"bad json":        {[]byte{byte(CmdPutScope), commandVersion, '{'}},
		"wrong json type": {[]byte{byte(CmdPutScope), commandVersion, '[', ']'}},
		"short ports":     {[]byte{byte(CmdPortNumbers), commandVersion, 1, 5, 'a'}},
		// The bit covers what this build does not know, not a body it
		// knows and cannot decode.
		"bad body of a skippable type": {[]byte{byte(CmdPutScope | SkipIfUnknown), commandVersion, '{'}},
	} {
		cmd := tc.cmd
		var checked *UninterpretableError
		if err := f.r.Interpretable(cmd); !errors.As(err, &checked) {
			t.Errorf("%s: Interpretable gave %v, want an UninterpretableError", name, err)
		}
		if f.r.AppliedIndex() != applied {
			t.Fatalf("%s: Interpretable moved the applied index", name)
		}
		err := f.r.Apply(applied+1, cmd)
		var ue *UninterpretableError
		if !errors.As(err, &ue) || CodeOf(err) != "" {
			t.Errorf("%s: got %v, want an UninterpretableError and no refusal", name, err)
		}
		if name == "unknown type" && (ue == nil || ue.Type != 99 || !strings.Contains(err.Error(), "unknown command type 99")) {
			t.Errorf("unknown type: the error %v does not name the type", err)
		}
		if f.r.AppliedIndex() != applied {
			t.Fatalf("%s: the applied index moved to %d, want it left at %d", name, f.r.AppliedIndex(), applied)
		}
	}
	if f.r.Operator("red") == nil {
		t.Fatal("an uninterpretable command changed the registry")
	}
}

func TestRefusalsStillAdvanceTheAppliedIndex(t *testing.T) {
	r := New()
	err := r.Apply(7, MustEncode(CmdDeleteScope, Key{Key: "missing"}))
	if CodeOf(err) != CodeNotFound {
		t.Fatalf("got %v, want a not_found refusal", err)
	}
	if r.AppliedIndex() != 7 {
		t.Fatalf("a refused command must still advance the applied index, got %d", r.AppliedIndex())
	}
}

func TestUnknownSkippableCommandIsSkipped(t *testing.T) {
	f := newFixture(t)
	for typ := range f.r.apply {
		if typ&SkipIfUnknown != 0 {
			t.Fatalf("command type %d collides with the SkipIfUnknown bit", typ)
		}
	}
	f.must(CmdPutOperator, op("red", "234_10"))
	before := f.r.AppliedIndex()
	if err := f.r.Apply(before+1, []byte{byte(99 | SkipIfUnknown), commandVersion, 'x'}); err != nil {
		t.Fatalf("an unknown type marked SkipIfUnknown gave %v, want it skipped", err)
	}
	if f.r.AppliedIndex() != before+1 {
		t.Fatalf("a skipped command must count as applied: applied index %d, want %d", f.r.AppliedIndex(), before+1)
	}
	// So is a version this build does not know of a type marked so.
	if err := f.r.Apply(before+2, []byte{byte(CmdPutScope | SkipIfUnknown), commandVersion + 1, 'x'}); err != nil || f.r.AppliedIndex() != before+2 {
		t.Fatalf("an unknown version marked SkipIfUnknown gave %v (applied index %d), want it skipped", err, f.r.AppliedIndex())
	}
	// A known type with the bit set is applied as if it were clear.
	cmd := MustEncode(CmdPutScope, Scope{Name: "openid"})
	cmd[0] |= byte(SkipIfUnknown)
	if err := f.r.Apply(before+3, cmd); err != nil || f.r.Scope("openid") == nil {
		t.Fatalf("a known type with SkipIfUnknown set was not applied: %v", err)
	}
}

func TestRangesListInPrefixOrder(t *testing.T) {
	f := newFixture(t)
	f.must(CmdPutOperator, op("red", "234_10"))
	f.must(CmdPutOperator, op("blue", "234_20"))
	in := []string{"+4480", "+44790", "+4479", "+447", "+44791", "+33612", "+4479123"}
	var rs []Range
	for i, p := range in {
		rs = append(rs, Range{Prefix: p, Operator: []string{"red", "blue"}[i%2]})
	}
	f.must(CmdPutRanges, RangeBatch{Ranges: rs})
	var got []string
	after := ""
	for {
		p := f.r.Ranges("", after, 3)
		for _, r := range p.Items {
			got = append(got, r.Prefix)
		}
		if p.Next == "" {
			break
		}
		after = p.Next
	}
	if want := "+33612 +447 +4479 +44790 +44791 +4479123 +4480"; strings.Join(got, " ") != want {
		t.Fatalf("ranges listed as %v, want %s", got, want)
	}
	blue := f.r.Ranges("blue", "", 100)
	if len(blue.Items) != 3 {
		t.Fatalf("blue's ranges: %v", blue.Items)
	}
	// A write after a listing shows in the next listing.
	f.must(CmdDeleteRanges, Keys{Keys: []string{"+447"}})
	if p := f.r.Ranges("", "", 100); len(p.Items) != len(in)-1 {
		t.Fatalf("after a delete, %d ranges listed", len(p.Items))
	}
}

func TestListingPages(t *testing.T) {
	f := newFixture(t)
	for _, id := range []string{"a", "b", "c", "d", "e"} {
		f.must(CmdPutScope, Scope{Name: id})
	}
	var seen []string
	after := ""
	for {
		p := f.r.Scopes(after, 2)
		for _, s := range p.Items {
			seen = append(seen, s.Name)
		}
		if p.Next == "" {
			break
		}
		after = p.Next
	}
	if strings.Join(seen, ",") != "a,b,c,d,e" {
		t.Fatalf("paging 2 at a time saw %v", seen)
	}
}

func TestOperatorURLsDefaultFromIssuer(t *testing.T) {
	o := op("red", "234_10")
	o.Issuer = "https://red.example/mc/"
	o.Endpoints.Token = "https://token.red.example/t"
	u := o.URLs()
	if u.Authorization != "https://red.example/mc/authorize" || u.Token != "https://token.red.example/t" ||
		u.OpenIDConfiguration != "https://red.example/mc/.well-known/openid-configuration" {
		t.Fatalf("URLs() = %+v", u)
	}
}
