package sms_test

import (
	"context"
	"errors"
	"html"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mcfed/mcfed/idgw"
	"github.com/mcfed/mcfed/operator/sms"
)

// personal is the rig's challenge as the gateway sends it: the operator's
// display name and look, the masked number, the person's language.
func (r *rig) personal(lang string) idgw.Challenge {
	ch := r.challenge()
	ch.Operator = idgw.Look{Name: "Demo Mobil DE", Color: "#c2185b"}
	ch.Number = "+49 ••••• ••5678"
	ch.Language = lang
	return ch
}

func TestSMSInThePersonsLanguage(t *testing.T) {
	r := newRig(t)
	a := r.auth(t, sms.Config{Mode: sms.ModeOTPURL})
	for i, c := range []struct{ lang, code, valid string }{
		{"de", "Ihr Code zur Anmeldung bei \"" + spName + "\": ", "5 Min. gültig. Niemals weitergeben. Demo Mobil DE"},
		{"fr", "Votre code pour vous connecter à \"" + spName + "\" : ", "Valable 5 min. Ne le partagez jamais. Demo Mobil DE"},
		{"en", "Your code to sign in to \"" + spName + "\": ", "Valid 5 min. Never share it. Demo Mobil DE"},
	} {
		if _, err := a.Start(context.Background(), r.personal(c.lang)); err != nil {
			t.Fatal(err)
		}
		m := r.waitSMS(t, msisdn, i)
		if !strings.Contains(m.Text, c.code) || !strings.HasSuffix(m.Text, c.valid) || len(m.Links) != 1 {
			t.Errorf("%s SMS: %q", c.lang, m.Text)
		}
	}
}

// TestCodePageSaysWhatHappened: the code page names the operator, the SP
// and the masked number, and after a wrong code how many tries are left.
func TestCodePageSaysWhatHappened(t *testing.T) {
	r := newRig(t)
	a := r.auth(t, sms.Config{Mode: sms.ModeOTP})
	st, err := a.Start(context.Background(), r.personal("en"))
	if err != nil {
		t.Fatal(err)
	}
	status, body, hdr := get(t, st.RedirectURL)
	body = html.UnescapeString(body)
	for _, want := range []string{"Demo Mobil DE", spName, "+49 ••••• ••5678", "--brand:#c2185b", `href="/assets/gateway.css"`} {
		if status != 200 || !strings.Contains(body, want) {
			t.Fatalf("code page %d lacks %q:\n%s", status, want, body)
		}
	}
	if strings.Contains(body, "data-watch") {
		t.Fatal("a code-only page watches for a link")
	}
	if csp := hdr.Get("Content-Security-Policy"); !strings.Contains(csp, "style-src 'self' 'sha256-") || strings.Contains(csp, "unsafe-inline") {
		t.Fatalf("code page policy %q", csp)
	}
	out := check(t, a, st.State, url.Values{"otp": {"000000x"}})
	wantStatus(t, out, idgw.Pending, "wrong code")
	if _, body, _ = get(t, out.RedirectURL); !strings.Contains(body, "That code was wrong. You have 2 attempts left.") {
		t.Fatalf("the page after a wrong code:\n%s", body)
	}
	out = check(t, a, out.State, url.Values{"otp": {"000000x"}})
	if _, body, _ = get(t, out.RedirectURL); !strings.Contains(body, "You have 1 attempt left.") {
		t.Fatalf("the page after two wrong codes:\n%s", body)
	}
	out = check(t, a, out.State, url.Values{"otp": {"000000x"}})
	if out.Status != idgw.Failed || out.Failure != idgw.FailureTooManyAttempts {
		t.Fatalf("third wrong code: %+v", out)
	}
}

// TestCodePageWatchesTheLink: with a link in the SMS, the code page polls
// a status that turns once the link is tapped, then goes back to the
// gateway.
func TestCodePageWatchesTheLink(t *testing.T) {
	r := newRig(t)
	a := r.auth(t, sms.Config{Mode: sms.ModeOTPURL})
	ch := r.personal("en")
	st, err := a.Start(context.Background(), ch)
	if err != nil {
		t.Fatal(err)
	}
	_, body, _ := get(t, st.RedirectURL)
	m := regexp.MustCompile(`data-watch="([^"]+)" data-next="([^"]+)"`).FindStringSubmatch(body)
	if m == nil || html.UnescapeString(m[2]) != ch.ReturnURL || !strings.Contains(body, `<script src="/assets/wait.js" defer>`) {
		t.Fatalf("the code page does not watch the link:\n%s", body)
	}
	status := func() string {
		_, b, _ := get(t, r.public+html.UnescapeString(m[1]))
		return b
	}
	if s := status(); s != `{"status":"pending"}` || a.Answered(st.State) {
		t.Fatalf("before the tap: %s", s)
	}
	if res := tap(t, r, r.waitSMS(t, msisdn, 0)); res.Status != 200 || !strings.Contains(res.Body, "You are signed in to "+spName) {
		t.Fatalf("tap: %d %s", res.Status, res.Body)
	}
	if s := status(); s != `{"status":"answered"}` || !a.Answered(st.State) {
		t.Fatalf("after the tap: %s", s)
	}
	if s, _, _ := get(t, r.public+"/assets/wait.js"); s != 200 {
		t.Fatalf("the script: %d", s)
	}
}

// TestSendLimitSaysWhen: past the limit, Start's error says the limit and
// when the next SMS may go.
func TestSendLimitSaysWhen(t *testing.T) {
	r := newRig(t)
	a := r.auth(t, sms.Config{Mode: sms.ModeOTP})
	first := r.clock.Now()
	for range 5 {
		if _, err := a.Start(context.Background(), r.challenge()); err != nil {
			t.Fatal(err)
		}
		r.clock.Add(time.Minute)
	}
	_, err := a.Start(context.Background(), r.challenge())
	var le *idgw.LimitError
	if !errors.As(err, &le) || le.Limit != 5 || le.Window != 15*time.Minute || !le.RetryAt.Equal(first.Add(15*time.Minute)) {
		t.Fatalf("6th start: %v (%+v)", err, le)
	}
}
