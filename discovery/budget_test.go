package discovery

import (
	"strings"
	"testing"
	"time"
)

func discoveryGET(auth string) []string {
	return []string{"GET /v2/discovery?Redirect_URL=" + shopRedirect + "&MSISDN=447911123456 HTTP/1.1", "Host: x", "Authorization: " + auth, "Connection: close", "", ""}
}

// TestDiscoveryThrottledPerSP: past its budget an SP gets 429 with
// Retry-After in the Discovery API's error body, another SP does not,
// and the budget refills.
func TestDiscoveryThrottledPerSP(t *testing.T) {
	s := startServerConfig(t, Config{Registry: testRegistry(t), Throttle: Throttle{Rate: 1, Burst: 3}})
	for i := range 3 {
		if r := s.raw(t, discoveryGET(basic(shopID, shopSecret))...); r.status != 200 {
			t.Fatalf("request %d within the budget: %d %s", i+1, r.status, r.body)
		}
	}
	r := s.raw(t, discoveryGET(basic(shopID, shopSecret))...)
	body := r.object(t)
	if r.status != 429 || r.header.Get("Retry-After") != "1" || body["error"] != "slow_down" ||
		!strings.Contains(body["error_description"].(string), "retry") || s.metrics.last() != OutcomeThrottled {
		t.Fatalf("over the budget: %d %v Retry-After %q, outcome %q", r.status, body, r.header.Get("Retry-After"), s.metrics.last())
	}
	if r := s.raw(t, discoveryGET(basic("everywhere", shopSecret))...); r.status != 200 {
		t.Fatalf("another SP: %d", r.status)
	}
	s.clock.advance(time.Second)
	if r := s.raw(t, discoveryGET(basic(shopID, shopSecret))...); r.status != 200 {
		t.Fatalf("a second later: %d", r.status)
	}
}

// TestDiscoveryAuthFailureBudget: failed SP authentications spend a
// budget per client id and per source address; past it, 429 before the
// credentials are looked at. Successes spend nothing.
func TestDiscoveryAuthFailureBudget(t *testing.T) {
	s := startServerConfig(t, Config{Registry: testRegistry(t),
		AuthFailures: FailureBudget{PerClient: Throttle{Rate: 0.1, Burst: 3}, PerAddress: Throttle{Rate: 0.1, Burst: 5}}})
	for range 10 {
		if r := s.raw(t, discoveryGET(basic("everywhere", shopSecret))...); r.status != 200 {
			t.Fatalf("honest: %d", r.status)
		}
	}
	for i := range 3 {
		if r := s.raw(t, discoveryGET(basic(shopID, "wrong-secret"))...); r.status != 401 {
			t.Fatalf("wrong secret %d: %d", i+1, r.status)
		}
	}
	r := s.raw(t, discoveryGET(basic(shopID, shopSecret))...)
	if r.status != 429 || r.header.Get("Retry-After") == "" || r.object(t)["error"] != "slow_down" {
		t.Fatalf("shop over its failure budget: %d %s", r.status, r.body)
	}
	if r := s.raw(t, discoveryGET(basic("everywhere", shopSecret))...); r.status != 200 {
		t.Fatalf("another SP from the same address, within its budget: %d", r.status)
	}
	for i := range 2 {
		if r := s.raw(t, discoveryGET(basic("nobody"+string(rune('a'+i)), "x-secret"))...); r.status != 401 {
			t.Fatalf("guess %d: %d", i+1, r.status)
		}
	}
	if r := s.raw(t, discoveryGET(basic("everywhere", shopSecret))...); r.status != 429 {
		t.Fatalf("the address over its failure budget: %d", r.status)
	}
	s.clock.advance(time.Minute)
	if r := s.raw(t, discoveryGET(basic(shopID, shopSecret))...); r.status != 200 {
		t.Fatalf("a minute later: %d %s", r.status, r.body)
	}
}
