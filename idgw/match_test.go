package idgw

import (
	"bytes"
	"context"
	"net/http/httptest"
	"strings"
	"testing"
)

// matchingPhone is the test phone that asks for a number when the login
// has a browser page, as the SMS link does.
type matchingPhone struct {
	*phoneAuthenticator
	browser []bool
}

func (p *matchingPhone) Start(ctx context.Context, ch Challenge) (Started, error) {
	st, err := p.phoneAuthenticator.Start(ctx, ch)
	p.browser = append(p.browser, ch.Browser)
	if ch.Browser {
		st.Match = "47"
	}
	return st, err
}

// TestWaitingPageShowsTheNumberToPick: a login started by a person's
// browser tells the authenticator so, and its waiting page shows the
// number the person picks on the phone; a headless SDK's login does not.
func TestWaitingPageShowsTheNumberToPick(t *testing.T) {
	phone := &matchingPhone{phoneAuthenticator: newPhone()}
	subs := subscriberMap{red(t): {MSISDN: red(t), Active: true}}
	_, app := flowGateway(t, subs, Registration{AuthenticatorInfo{Name: "sms", LoA: 2}, phone})
	for _, browser := range []bool{true, false} {
		req := httptest.NewRequest("GET", authorizeURL("state", map[bool]string{true: "b", false: "h"}[browser]), nil)
		if browser {
			req.Header.Set("Sec-Fetch-Mode", "navigate")
		}
		resp, err := app.Test(req, -1)
		if err != nil {
			t.Fatal(err)
		}
		var body bytes.Buffer
		body.ReadFrom(resp.Body)
		shows := strings.Contains(body.String(), `id="match"`) && strings.Contains(body.String(), "<strong>47</strong>")
		if resp.StatusCode != 200 || shows != browser || phone.browser[len(phone.browser)-1] != browser {
			t.Fatalf("browser %v: %d, number shown %v, authenticator told %v:\n%s", browser, resp.StatusCode, shows, phone.browser, body.String())
		}
	}
}
