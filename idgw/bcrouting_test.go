package idgw

import (
	"context"
	"net/url"
	"slices"
	"testing"
)

// fakeAuth is an authenticator for routing alone: never started.
type fakeAuth struct {
	headless *bool // nil: it says nothing
	prompts  bool
}

func (fakeAuth) Start(context.Context, Challenge) (Started, error) { return Started{}, nil }

func (fakeAuth) Check(context.Context, []byte, url.Values) (Outcome, error) { return Outcome{}, nil }

type headlessAuth struct{ fakeAuth }

func (a headlessAuth) Headless() bool { return *a.headless }

type promptAuth struct{ fakeAuth }

func (promptAuth) PromptsOnHandset() bool { return true }

// TestHeadlessRouting: a server-initiated login skips what needs a
// browser, and, among the authenticators that reach the same level the SP
// asked for, prompts on the handset (the SIM applet) before a link sent
// by SMS, whatever the operator's order; a level the SP prefers still
// comes first.
func TestHeadlessRouting(t *testing.T) {
	yes, no := true, false
	r, err := NewRouter(
		Registration{AuthenticatorInfo{Name: "sms", LoA: 2}, headlessAuth{fakeAuth{headless: &yes}}},
		Registration{AuthenticatorInfo{Name: "fido", LoA: 3}, headlessAuth{fakeAuth{headless: &no}}},
		Registration{AuthenticatorInfo{Name: "redirect", LoA: 3}, fakeAuth{}},
		Registration{AuthenticatorInfo{Name: "sim-ok", LoA: 2, Enrolment: "sim"}, promptAuth{}},
		Registration{AuthenticatorInfo{Name: "sim-pin", LoA: 3, Enrolment: "sim"}, promptAuth{}},
	)
	if err != nil {
		t.Fatal(err)
	}
	names := func(acr []int, enrolments ...string) []string {
		var out []string
		for _, a := range headlessOf(r.Candidates(acr, enrolments), acr) {
			out = append(out, a.Name)
		}
		return out
	}
	for _, c := range []struct {
		acr        []int
		enrolments []string
		want       []string
	}{
		{[]int{2}, []string{"sim"}, []string{"sim-ok", "sim-pin", "sms", "redirect"}},
		{[]int{2}, nil, []string{"sms", "redirect"}},
		{[]int{3}, []string{"sim"}, []string{"sim-pin", "redirect"}},
		{[]int{3, 2}, []string{"sim"}, []string{"sim-pin", "redirect", "sim-ok", "sms"}},
		{[]int{3, 2}, nil, []string{"redirect", "sms"}},
	} {
		if got := names(c.acr, c.enrolments...); !slices.Equal(got, c.want) {
			t.Errorf("acr %v, enrolments %v: %v, want %v", c.acr, c.enrolments, got, c.want)
		}
	}
}
