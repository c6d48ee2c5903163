package idgw

import (
	"context"
	"errors"
	"testing"
)

// TestRoutingRuleOrdersAndNarrows: under a rule routing offers only the
// authenticators it names, in its order, of those that reach the level
// and that the subscriber is enrolled for.
func TestRoutingRuleOrdersAndNarrows(t *testing.T) {
	r := testRouter(t)
	for _, tc := range []struct {
		acr        []int
		enrolments []string
		rule       []string
		want       string
	}{
		// The rule's order, not the operator's.
		{[]int{2}, nil, []string{"sms-otp", "sms-url"}, "sms-otp sms-url"},
		// SIM only: no SMS, even where SMS would reach the level.
		{[]int{2}, []string{"sim-applet"}, []string{"sim-pin"}, "sim-pin"},
		// SIM only for a subscriber without a SIM: nothing.
		{[]int{2}, nil, []string{"sim-pin"}, ""},
		// A rule of LoA 2 authenticators cannot meet LoA 3.
		{[]int{3}, []string{"sim-applet"}, []string{"sms-otp"}, ""},
		// "3 2": the rule's LoA 3 first, then its LoA 2, each in its order.
		{[]int{3, 2}, []string{"sim-applet", "fido"}, []string{"sms-url", "fido", "sim-pin"}, "fido sim-pin sms-url"},
		// A name the router does not run (removed since) is skipped.
		{[]int{2}, nil, []string{"gone", "sms-url"}, "sms-url"},
	} {
		if got := names(r.candidatesIn(tc.acr, tc.enrolments, tc.rule)); got != tc.want {
			t.Errorf("acr %v, enrolments %v, rule %v: %q, want %q", tc.acr, tc.enrolments, tc.rule, got, tc.want)
		}
	}
}

// TestRoutingRulesStore: a rule names only authenticators the operator
// runs, each once; the SP's rule wins over the default, which wins over
// the configured order.
func TestRoutingRulesStore(t *testing.T) {
	rules := NewRoutingRules(newTestStore(t), testRouter(t))
	ctx := context.Background()
	var re *RuleError
	for _, bad := range [][]string{nil, {"fax"}, {"sms-otp", "sms-otp"}} {
		if _, err := rules.Put(ctx, RoutingRule{ClientID: "bank", Authenticators: bad}); !errors.As(err, &re) {
			t.Errorf("rule %v: %v", bad, err)
		}
	}
	if got, err := rules.ruleFor(ctx, "bank"); err != nil || got != nil {
		t.Fatalf("no rule: %v %v", got, err)
	}
	if _, err := rules.Put(ctx, RoutingRule{Authenticators: []string{"sms-url", "sim-pin"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := rules.Put(ctx, RoutingRule{ClientID: "bank", Authenticators: []string{"sim-pin"}}); err != nil {
		t.Fatal(err)
	}
	if got, _ := rules.ruleFor(ctx, "bank"); len(got) != 1 || got[0] != "sim-pin" {
		t.Fatalf("the SP's rule: %v", got)
	}
	if got, _ := rules.ruleFor(ctx, "shop"); len(got) != 2 || got[0] != "sms-url" {
		t.Fatalf("the default rule: %v", got)
	}
	if list, err := rules.List(ctx, "", 10); err != nil || len(list) != 1 || list[0].ClientID != "bank" {
		t.Fatalf("list: %+v %v", list, err)
	}
	if err := rules.Delete(ctx, "bank"); err != nil {
		t.Fatal(err)
	}
	if err := rules.Delete(ctx, "bank"); !errors.Is(err, ErrNoRule) {
		t.Fatalf("deleting twice: %v", err)
	}
}

// TestSessionUnderARule: single sign-on serves an SP with a rule only
// from a session one of its allowed authenticators gave.
func TestSessionUnderARule(t *testing.T) {
	r := testRouter(t)
	cands := r.candidatesIn([]int{2}, []string{"sim-applet"}, []string{"sim-pin"})
	ruled := &AuthRequest{OperatorRule: []string{"sim-pin"}}
	if allowsSession(ruled, []string{"OTP_OK"}, cands) {
		t.Error("an SMS session signs in to a SIM-only SP")
	}
	if !allowsSession(ruled, []string{"SIM_PIN"}, cands) {
		t.Error("a SIM PIN session does not sign in to a SIM-only SP")
	}
	if !allowsSession(&AuthRequest{}, []string{"OTP_OK"}, r.Candidates([]int{2}, nil)) {
		t.Error("without a rule a session at the level serves")
	}
}
