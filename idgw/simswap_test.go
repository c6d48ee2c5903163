package idgw

import (
	"testing"
	"time"
)

// swapSIM records a SIM change of subscriber n at at, as the operator's
// SIM-swap signal does.
func (l *liveSubscribers) swapSIM(n uint64, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.subs[n]
	s.SIMSwapAt = at
	l.subs[n] = s
}

// TestSIMChangeEndsTheLogin (issue 17, account takeover protection): once
// the subscriber's SIM changed, the tokens of a login authenticated before
// are refused for good (refresh invalid_grant, introspection inactive,
// userinfo 401), a refresh made after the change does not launder them,
// and the browser's session no longer signs in; a login after the change
// works.
func TestSIMChangeEndsTheLogin(t *testing.T) {
	f := newTokenFixture(t)
	subs := f.g.cfg.Subscribers.(subscriberMap)
	n := red(t)
	access, refresh := f.tokens("before-swap")
	f.clock.advance(time.Minute)
	status, access2, refresh2, _ := f.refreshWith(refresh)
	if status != 200 {
		t.Fatalf("refresh before the swap: %d", status)
	}
	f.clock.advance(time.Minute)
	subs[n] = Subscriber{MSISDN: n, Active: true, SIMSwapAt: f.clock.now()}
	f.clock.advance(time.Minute)
	f.refused("after the SIM changed", access2, refresh2)
	f.refused("the first pair, after the SIM changed", access, refresh)
	a3, _ := f.tokens("after-swap")
	if s, _, _, _ := f.get("/userinfo", "Bearer "+a3); s != 200 {
		t.Fatalf("a login after the SIM change: userinfo %d", s)
	}

	g := newSSOFixture(t, "https://red.example/")
	_, c := g.browserLogin(nil)
	if q := g.silent(c, "prompt", "none"); q.Get("code") == "" {
		t.Fatalf("the session before the swap does not sign in: %v", q)
	}
	g.clock.advance(time.Minute)
	g.subs.swapSIM(red(t), g.clock.now())
	if q := g.silent(c, "prompt", "none"); q.Get("error") != "login_required" {
		t.Fatalf("a session from before the SIM change signs in: %v", q)
	}
}
