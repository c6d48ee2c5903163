package idgw

import (
	"slices"
	"sync"
	"testing"

	"github.com/gofiber/fiber/v2"
)

// recordingObserver keeps what the gateway reports.
type recordingObserver struct {
	mu  sync.Mutex
	got []Observation
}

func (o *recordingObserver) ObserveOAuth(ob Observation) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.got = append(o.got, ob)
}

func (o *recordingObserver) take() []Observation {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := o.got
	o.got = nil
	return out
}

// TestEndpointsReportTheirOutcome: each answer of an OAuth endpoint
// reaches the observer once, with the endpoint, the grant type at the
// token endpoint, the status sent and the OAuth error code, whichever way
// the error was answered (redirect, page, JSON, challenge).
func TestEndpointsReportTheirOutcome(t *testing.T) {
	f := newTokenFixture(t)
	obs := &recordingObserver{}
	f.g.cfg.Observer = obs
	f.app = fiber.New()
	if err := f.g.Mount(f.app); err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		name string
		run  func()
		want []Observation
	}{
		{"a headless login", func() { f.code() }, []Observation{
			{Endpoint: "authorize", Status: 200}, // the waiting page
			{Endpoint: "authorize", Status: 302}, // the code
		}},
		{"a redeemed code", func() { f.redeem("shop:"+shopSecret, codeForm(f.code("state", "st-2"))) }, []Observation{
			{Endpoint: "authorize", Status: 200}, {Endpoint: "authorize", Status: 302},
			{Endpoint: "token", GrantType: "authorization_code", Status: 200},
		}},
		{"an unknown client at authorize", func() { do(t, f.app, "GET", authorizeURL("client_id", "nobody"), nil) }, []Observation{
			{Endpoint: "authorize", Status: 400, Error: CodeInvalidRequest}, // the error page
		}},
		{"a refused scope", func() { do(t, f.app, "GET", authorizeURL("scope", "openid mc_atp"), nil) }, []Observation{
			{Endpoint: "authorize", Status: 302, Error: CodeAccessDenied}, // redirected
		}},
		{"a grant the gateway does not take", func() { f.redeem("shop:"+shopSecret, codeForm("x", "grant_type", "password")) }, []Observation{
			{Endpoint: "token", GrantType: "other", Status: 400, Error: CodeUnsupportedGrantType},
		}},
		{"a wrong secret", func() { f.redeem("shop:wrong", codeForm("x", "grant_type", "")) }, []Observation{
			{Endpoint: "token", GrantType: "none", Status: 401, Error: CodeInvalidClient},
		}},
		{"userinfo without a token", func() { f.get("/userinfo", "") }, []Observation{
			{Endpoint: "userinfo", Status: 401, Error: CodeInvalidRequest},
		}},
		{"premiuminfo with a bad token", func() { f.get("/premiuminfo", "Bearer nope") }, []Observation{
			{Endpoint: "premiuminfo", Status: 401, Error: CodeInvalidToken},
		}},
		{"revocation of an unknown token", func() { f.postTo("/revoke", "shop:"+shopSecret, map[string][]string{"token": {"nope"}}) }, []Observation{
			{Endpoint: "revoke", Status: 200},
		}},
	} {
		step.run()
		if got := obs.take(); !slices.Equal(got, step.want) {
			t.Errorf("%s: observed %+v, want %+v", step.name, got, step.want)
		}
	}
}
