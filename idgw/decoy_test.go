package idgw

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"
)

// decoyPhone is the test phone with a code page that can also run decoys.
type decoyPhone struct {
	*phoneAuthenticator
	decoys int
}

func (p *decoyPhone) StartDecoy(_ context.Context, ch Challenge) (Started, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.decoys++
	return Started{State: []byte("decoy"), RedirectURL: p.page + "?return=" + url.QueryEscape(ch.ReturnURL)}, nil
}

func (p *decoyPhone) Check(ctx context.Context, state []byte, answer url.Values) (Outcome, error) {
	if string(state) == "decoy" {
		return Outcome{Status: Failed, Reason: "wrong code"}, nil
	}
	return p.phoneAuthenticator.Check(ctx, state, answer)
}

// TestUnusableNumbersLookLikeSubscribers: until possession is proven, a
// number that is not a subscriber, a suspended subscriber and one
// challenged too often get what a subscriber gets: the code page, and for
// a wrong code the same error at the SP; no message is sent for them.
func TestUnusableNumbersLookLikeSubscribers(t *testing.T) {
	phone := &decoyPhone{phoneAuthenticator: newPhone()}
	phone.page = "https://red.example/sms/otp"
	subs := subscriberMap{red(t): {MSISDN: red(t), Active: true}}
	_, app := flowGateway(t, subs, Registration{AuthenticatorInfo{Name: "sms", LoA: 2}, phone})
	answers := map[string]string{}
	for _, c := range []string{"subscriber", "unknown", "suspended", "limited"} {
		delete(subs, red(t))
		phone.startErr = nil
		switch c {
		case "subscriber":
			subs[red(t)] = Subscriber{MSISDN: red(t), Active: true}
		case "suspended":
			subs[red(t)] = Subscriber{MSISDN: red(t)}
		case "limited":
			subs[red(t)] = Subscriber{MSISDN: red(t), Active: true}
			phone.startErr = fmt.Errorf("sms: sending limit: %w (%w)",
				&LimitError{Limit: 5, Window: 15 * time.Minute, RetryAt: time.Now().Add(time.Minute)}, ErrUnavailable)
		}
		status, loc, _ := do(t, app, "GET", authorizeURL("state", c), nil)
		page, ret, _ := strings.Cut(loc, "?return=")
		if status != 302 || page != phone.page {
			t.Fatalf("%s: /authorize answered %d %q", c, status, loc)
		}
		cont, _ := url.QueryUnescape(ret)
		status, loc, _ = do(t, app, "POST", cont, url.Values{"otp": {"000000"}})
		q := redirectParams(t, loc)
		if status != 302 || q.Get("state") != c {
			t.Fatalf("%s: a wrong code answered %d %q", c, status, loc)
		}
		q.Del("state")
		answers[c] = q.Encode()
	}
	for _, c := range []string{"unknown", "suspended", "limited"} {
		if answers[c] != answers["subscriber"] {
			t.Errorf("%s: the SP got %q, a subscriber's wrong code %q", c, answers[c], answers["subscriber"])
		}
	}
	if phone.started != 2 || phone.decoys != 3 {
		t.Fatalf("started %d real challenges and %d decoys; want 2 (the subscriber, the limited one's refused start) and 3", phone.started, phone.decoys)
	}
}
