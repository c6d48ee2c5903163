package discovery

import (
	"strings"
	"sync/atomic"
	"testing"
)

type switchReadiness struct{ ready atomic.Bool }

func (r *switchReadiness) CaughtUp() bool { return r.ready.Load() }

// Until the node says its replica has caught up, discovery answers 503 in
// the error body every SDK reads, with a Retry-After, and reads nothing from
// the replica; once it is ready the same request is answered.
func TestNotReadyNodeAnswers503(t *testing.T) {
	ready := &switchReadiness{}
	reg := &countingRegistry{Registry: testRegistry(t)}
	s := startServerWith(t, reg, ready)
	for _, c := range allSDKs {
		t.Run(c.name, func(t *testing.T) {
			corr := correlationFor(c)
			r := s.raw(t, c.request(s, call{redirect: shopRedirect, msisdn: numRed, correlation: corr})...)
			if c.name == "wso2" { // it branches on 400, 401 and 404 only: a 503 is an error to it
				if r.status != 503 {
					t.Fatalf("wso2: status %d, want 503", r.status)
				}
				return
			}
			code, desc := c.readError(t, r, corr, 503)
			if code != codeTemporarilyUnavailable || !strings.Contains(desc, "catching up") {
				t.Errorf("error %q, %q", code, desc)
			}
			if r.header.Get("Retry-After") != retryAfterSeconds {
				t.Errorf("Retry-After %q, want %q", r.header.Get("Retry-After"), retryAfterSeconds)
			}
			if got := s.metrics.last(); got != OutcomeUnavailable {
				t.Errorf("metrics outcome %q, want %q", got, OutcomeUnavailable)
			}
		})
	}
	tf := s.raw(t, withBody([]string{"POST /telco-finder/v1/search HTTP/1.1", "Host: x", "Authorization: " + basic(shopID, shopSecret),
		"Content-Type: application/json"}, `{"target":{"phoneNumber":"+447911123456"}}`)...)
	if m := tf.object(t); tf.status != 503 || m["code"] != "UNAVAILABLE" || tf.header.Get("Retry-After") != retryAfterSeconds {
		t.Errorf("Telco Finder answered %d %s (Retry-After %q), want 503 UNAVAILABLE", tf.status, tf.body, tf.header.Get("Retry-After"))
	}
	reg.mu.Lock()
	calls := len(reg.calls)
	reg.mu.Unlock()
	if calls != 0 {
		t.Errorf("a node that is not ready read its replica: %v", reg.calls)
	}

	ready.ready.Store(true)
	r := s.raw(t, javaSDK.request(s, call{redirect: shopRedirect, msisdn: numRed, correlation: testCorrelation})...)
	if d := javaSDK.read200(t, r, testCorrelation); d.operator != "Red Mobile" {
		t.Errorf("once ready, discovery found %q", d.operator)
	}
}
