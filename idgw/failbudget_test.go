package idgw

import (
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/mcfed/mcfed/internal/clientaddr"
)

// postFrom posts form to path as client basic ("id:secret"), from the
// source address ip, and returns the status, the error and Retry-After.
func (f *tokenFixture) postFrom(ip, path, basic string, form url.Values) (int, string, string) {
	f.t.Helper()
	req := httptest.NewRequest("POST", path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-For", ip)
	if basic != "" {
		u, p, _ := strings.Cut(basic, ":")
		req.SetBasicAuth(u, p)
	}
	resp, err := f.app.Test(req, -1)
	if err != nil {
		f.t.Fatal(err)
	}
	var b strings.Builder
	buf := make([]byte, 1024)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp.StatusCode, b.String(), resp.Header.Get("Retry-After")
}

// TestClientAuthenticationFailureBudget: failed client authentications at
// /token, /introspect and /revoke spend a budget per client id and per
// source address; past it the answer is 429 with Retry-After and an OAuth
// JSON error, whatever the credentials (so guessing goes no faster), with
// a metric and one log line; successes spend nothing, and the budget comes
// back with time.
func TestClientAuthenticationFailureBudget(t *testing.T) {
	f := newTokenFixture(t)
	obs := &recordingObserver{}
	f.g.cfg.Observer = obs
	f.g.failures = newFailureBudgets(FailureBudget{
		PerClient: Throttle{Rate: 0.1, Burst: 3}, PerAddress: Throttle{Rate: 0.1, Burst: 5}}, f.g.now)
	// fiber's Test connects from 0.0.0.0: the test is the trusted proxy,
	// and each request's X-Forwarded-For its client's address.
	cfg := fiber.Config{}
	clientaddr.FiberConfig(&cfg, []string{"0.0.0.0/32"})
	f.app = fiber.New(cfg)
	if err := f.g.Mount(f.app); err != nil {
		t.Fatal(err)
	}
	log := f.logTo()
	f.addClient("other")
	access, _ := f.tokens("b1")
	intro := url.Values{"token": {access}}

	// Successes spend nothing.
	for range 10 {
		if s, body, _ := f.postFrom("192.0.2.1", "/introspect", "shop:"+shopSecret, intro); s != 200 {
			t.Fatalf("honest introspection: %d %s", s, body)
		}
	}
	// Three wrong secrets for shop, from three addresses, at three endpoints.
	for i, ep := range []string{"/token", "/introspect", "/revoke"} {
		if s, _, _ := f.postFrom("198.51.100."+string(rune('1'+i)), ep, "shop:wrong", intro); s != 401 {
			t.Fatalf("wrong secret %d at %s: %d", i+1, ep, s)
		}
	}
	s, body, retry := f.postFrom("192.0.2.9", "/introspect", "shop:"+shopSecret, intro)
	if s != 429 || retry == "" || retry == "0" || !strings.Contains(body, `"error":"slow_down"`) {
		t.Fatalf("shop over its budget: %d %s Retry-After %q", s, body, retry)
	}
	if !strings.Contains(log.String(), "client authentication failures over budget") || strings.Contains(log.String(), shopSecret) ||
		strings.Contains(log.String(), "wrong") {
		t.Fatalf("log: %s", log.String())
	}
	seen := false
	for _, o := range obs.take() {
		seen = seen || (o.Endpoint == endpointIntrospect && o.Status == 429 && o.Error == CodeSlowDown)
	}
	if !seen {
		t.Fatal("the observer did not see the 429")
	}
	// Another client from an address that did not fail is not affected.
	if s, _, _ := f.postFrom("192.0.2.9", "/introspect", "other:"+shopSecret, intro); s != 200 {
		t.Fatalf("another client: %d", s)
	}
	// One address guessing many client ids meets its own budget.
	for i := range 5 {
		if s, _, _ := f.postFrom("203.0.113.7", "/token", "guess"+string(rune('a'+i))+":x", intro); s != 401 {
			t.Fatalf("guess %d: %d", i+1, s)
		}
	}
	if s, _, retry := f.postFrom("203.0.113.7", "/token", "other:"+shopSecret, codeForm("x")); s != 429 || retry == "" {
		t.Fatalf("address over its budget: %d %q", s, retry)
	}
	// The budgets refill.
	f.clock.advance(time.Minute)
	if s, body, _ := f.postFrom("192.0.2.9", "/introspect", "shop:"+shopSecret, intro); s != 200 {
		t.Fatalf("a minute later: %d %s", s, body)
	}
}
