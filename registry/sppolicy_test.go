package registry

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

func spFixture(t *testing.T) *fixture {
	f := newFixture(t)
	f.must(CmdPutOperator, op("red", "234_10"))
	f.must(CmdPutOperator, op("blue", "234_20"))
	for _, s := range []string{"openid", "mc_authn", "profile", "phone"} {
		f.must(CmdPutScope, Scope{Name: s})
	}
	f.must(CmdPutSP, ServiceProvider{ClientID: "shop", Name: "Shop", SecretHash: HashSecret(strings.Repeat("s", 40)),
		RedirectURIs: []string{"https://shop.example/cb"}, Scopes: []string{"openid", "mc_authn", "profile"},
		Operators: []string{AllOperators}, Status: StatusActive})
	return f
}

func TestOperatorDeclinesOrLimitsAnSP(t *testing.T) {
	f := spFixture(t)
	if sp := f.r.ServiceProviderAt("red", "shop"); sp == nil || len(sp.Scopes) != 3 {
		t.Fatalf("with no policy the operator sees the SP as registered, got %+v", sp)
	}

	f.must(CmdPutSPPolicy, SPPolicy{Operator: "red", ClientID: "shop", Declined: true})
	if f.r.ServiceProviderAt("red", "shop") != nil || f.r.AcceptedBy("red", f.r.ServiceProvider("shop")) {
		t.Fatal("a declining operator still sees the SP")
	}
	if f.r.ServiceProviderAt("blue", "shop") == nil || !f.r.AcceptedBy("blue", f.r.ServiceProvider("shop")) {
		t.Fatal("one operator's decline reached another operator")
	}

	// phone is in the catalogue but not the SP's: a limit never widens.
	f.must(CmdPutSPPolicy, SPPolicy{Operator: "red", ClientID: "shop", Scopes: []string{"openid", "mc_authn", "phone"}})
	sp := f.r.ServiceProviderAt("red", "shop")
	if sp == nil || !slices.Equal(sp.Scopes, []string{"openid", "mc_authn"}) {
		t.Fatalf("limited SP at red = %+v, want scopes openid mc_authn", sp)
	}
	if got := f.r.ServiceProvider("shop").Scopes; len(got) != 3 {
		t.Fatalf("narrowing changed the SP's own record: %v", got)
	}
	if p := f.r.SPPolicies("red", "", 10); len(p.Items) != 1 || p.Items[0].ClientID != "shop" {
		t.Fatalf("red's policies = %+v", p.Items)
	}
	if p := f.r.SPPolicies("blue", "", 10); len(p.Items) != 0 {
		t.Fatalf("blue lists red's policy: %+v", p.Items)
	}

	wantCode(t, f.apply(CmdPutSPPolicy, SPPolicy{Operator: "red", ClientID: "shop"}), CodeInvalid, "delete the policy")
	wantCode(t, f.apply(CmdPutSPPolicy, SPPolicy{Operator: "red", ClientID: "shop", Declined: true, Scopes: []string{"openid"}}), CodeInvalid, "not both")
	wantCode(t, f.apply(CmdPutSPPolicy, SPPolicy{Operator: "green", ClientID: "shop", Declined: true}), CodeNotFound, "operator")
	wantCode(t, f.apply(CmdPutSPPolicy, SPPolicy{Operator: "red", ClientID: "nope", Declined: true}), CodeNotFound, "service provider")
	wantCode(t, f.apply(CmdPutSPPolicy, SPPolicy{Operator: "red", ClientID: "shop", Scopes: []string{"mc_nope"}}), CodeNotFound, "catalogue")
	wantCode(t, f.apply(CmdDeleteOperator, Key{Key: "red"}), CodeConflict, "SP policies")

	// The policy survives a snapshot.
	var buf bytes.Buffer
	if _, err := f.r.Snapshot().WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	restored, err := Restore(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if sp := restored.ServiceProviderAt("red", "shop"); sp == nil || len(sp.Scopes) != 2 {
		t.Fatalf("after restore red sees %+v", sp)
	}

	f.must(CmdDeleteSPPolicy, PolicyKey{Operator: "red", ClientID: "shop"})
	if sp := f.r.ServiceProviderAt("red", "shop"); sp == nil || len(sp.Scopes) != 3 {
		t.Fatalf("after deleting the policy red sees %+v", sp)
	}
	wantCode(t, f.apply(CmdDeleteSPPolicy, PolicyKey{Operator: "red", ClientID: "shop"}), CodeNotFound, "no policy")

	// Deleting the SP takes operators' policies with it.
	f.must(CmdPutSPPolicy, SPPolicy{Operator: "blue", ClientID: "shop", Declined: true})
	f.must(CmdDeleteSP, Key{Key: "shop"})
	if f.r.SPPolicy("blue", "shop") != nil {
		t.Fatal("the deleted SP's policy is still there")
	}
}

func TestOperatorLeavesWithEverythingThatNamesIt(t *testing.T) {
	f := spFixture(t)
	f.must(CmdPutSP, ServiceProvider{ClientID: "bank", Name: "Bank", SecretHash: HashSecret(strings.Repeat("b", 40)),
		RedirectURIs: []string{"https://bank.example/cb"}, Scopes: []string{"openid"},
		Operators: []string{"red", "blue"}, Status: StatusActive})
	f.must(CmdPutRanges, RangeBatch{Ranges: []Range{{"+447400", "red"}, {"+4474001", "red"}, {"+447401", "blue"}}})
	f.must(CmdPutIPRange, IPRange{CIDR: "10.1.0.0/16", Operator: "red"})
	f.must(CmdPutNode, Node{ID: "node-red", RaftAddr: "10.0.0.1:7000", AdminURL: "http://10.0.0.1:7001", Operator: "red"})
	f.must(CmdPutSPPolicy, SPPolicy{Operator: "red", ClientID: "shop", Scopes: []string{"openid"}})
	inBlue := mustNumber(t, "+447401000001")
	inRed := mustNumber(t, "+447400000001")
	if err := f.ports(Port{Number: inBlue, Operator: "red"}, Port{Number: inRed, Operator: "blue"}); err != nil {
		t.Fatal(err)
	}

	wantCode(t, f.apply(CmdDeleteOperator, Key{Key: "red"}), CodeConflict, "still has")
	f.must(CmdRemoveOperator, Key{Key: "red"})

	if f.r.Operator("red") != nil {
		t.Fatal("the operator record stayed")
	}
	if res, ok := f.r.Resolve(mustNumber(t, "+447400123456")); ok {
		t.Fatalf("red's range still resolves, to %s", res.Operator.ID)
	}
	if res, ok := f.r.Resolve(inBlue); !ok || res.Operator.ID != "blue" || res.Ported {
		t.Fatalf("a number ported to red should return to its range's holder blue, got %+v %v", res, ok)
	}
	if res, ok := f.r.Resolve(inRed); !ok || res.Operator.ID != "blue" || !res.Ported {
		t.Fatalf("a number ported away from red must stay with blue, got %+v %v", res, ok)
	}
	if f.r.IPRange("10.1.0.0/16") != nil || f.r.Node("node-red") != nil || f.r.SPPolicy("red", "shop") != nil {
		t.Fatal("an IP range, node record or policy of red stayed")
	}
	if got := f.r.ServiceProvider("bank").Operators; !slices.Equal(got, []string{"blue"}) {
		t.Fatalf("bank's operators = %v, want [blue]", got)
	}
	if p := f.r.Ranges("", "", 10); len(p.Items) != 1 || p.Items[0].Prefix != "+447401" {
		t.Fatalf("ranges left: %+v", p.Items)
	}
	// The slot is free again and a new operator in it starts clean.
	f.must(CmdPutOperator, op("green", "234_30"))
	if res, ok := f.r.Resolve(mustNumber(t, "+447400123456")); ok {
		t.Fatalf("a new operator inherited red's range: %s", res.Operator.ID)
	}
	wantCode(t, f.apply(CmdRemoveOperator, Key{Key: "red"}), CodeNotFound, "does not exist")
}

// TestConditionalOperatorUpdate: an update applies only to the record its
// writer read, so a suspension committed in between is not undone.
func TestConditionalOperatorUpdate(t *testing.T) {
	f := newFixture(t)
	red := op("red", "234_10")
	wantCode(t, f.apply(CmdUpdateOperator, OperatorUpdate{Operator: red, IfIndex: 7}), CodeStale, "changed since")
	f.must(CmdUpdateOperator, OperatorUpdate{Operator: red}) // 0: create
	read := f.r.Operator("red").ModifyIndex

	suspended := *f.r.Operator("red")
	suspended.Status = StatusSuspended
	f.must(CmdPutOperator, suspended) // the federation suspends red meanwhile

	rekeyed := red
	rekeyed.Issuer = "https://red.example/new"
	wantCode(t, f.apply(CmdUpdateOperator, OperatorUpdate{Operator: rekeyed, IfIndex: read}), CodeStale, "read it again")
	if o := f.r.Operator("red"); o.Status != StatusSuspended || o.Issuer == rekeyed.Issuer {
		t.Fatalf("a stale update changed the record: %+v", o)
	}
	wantCode(t, f.apply(CmdUpdateOperator, OperatorUpdate{Operator: red}), CodeStale, "changed since")
	rekeyed.Status = StatusSuspended
	f.must(CmdUpdateOperator, OperatorUpdate{Operator: rekeyed, IfIndex: f.r.Operator("red").ModifyIndex})
	if o := f.r.Operator("red"); o.Issuer != rekeyed.Issuer || o.Status != StatusSuspended {
		t.Fatalf("a current update did not apply: %+v", o)
	}
}
