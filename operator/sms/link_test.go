package sms_test

import (
	"context"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/mcfed/mcfed/idgw"
	"github.com/mcfed/mcfed/operator/sms"
)

func postForm(t *testing.T, u string, form url.Values) (int, string) {
	t.Helper()
	resp, err := http.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, html.UnescapeString(string(b))
}

var pickButtons = regexp.MustCompile(`name="pick" value="([0-9]{2})"`)

// TestLinkAsksTheOnePhoneBeforeApproving: opening the SMS's link (as a
// link preview would) approves nothing; the page says who asks, for which
// SP and number, with the SP's binding message labelled as its words; a
// headless login (no browser page) is approved by the confirm button, and
// "not me" ends it.
func TestLinkAsksTheOnePhoneBeforeApproving(t *testing.T) {
	r := newRig(t)
	a := r.auth(t, sms.Config{Mode: sms.ModeURL})
	for i, decision := range []string{"approve", "deny"} {
		ch := r.personal("en")
		ch.BindingMessage = "Pay EUR 42.00 to Shop"
		st, err := a.Start(context.Background(), ch)
		if err != nil || st.Match != "" {
			t.Fatalf("start: %v, match %q for a login with no browser page", err, st.Match)
		}
		link := r.waitSMS(t, msisdn, i).Links[0]
		status, body, hdr := get(t, link)
		body = html.UnescapeString(body)
		if hdr.Get("Referrer-Policy") != "no-referrer" || !strings.Contains(hdr.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
			t.Fatalf("the link's page may leak its token or be framed: %v", hdr)
		}
		for _, want := range []string{"Demo Mobil DE", spName, "+49 ••••• ••5678", "asks you to approve, in its own words",
			"Pay EUR 42.00 to Shop", `value="approve"`, `value="deny"`} {
			if status != 200 || !strings.Contains(body, want) {
				t.Fatalf("the link's page %d lacks %q:\n%s", status, want, body)
			}
		}
		if out := check(t, a, st.State, nil); out.Status != idgw.Pending {
			t.Fatalf("opening the link decided the challenge: %+v", out)
		}
		status, body = postForm(t, link, url.Values{"decision": {decision}})
		out := check(t, a, st.State, nil)
		switch decision {
		case "approve":
			if status != 200 || !strings.Contains(body, "You are signed in") || out.Status != idgw.Succeeded {
				t.Fatalf("confirmed: %d %+v\n%s", status, out, body)
			}
		case "deny":
			if status != 200 || !strings.Contains(body, "Sign-in stopped") || out.Status != idgw.Failed || out.Failure != idgw.FailureRefused {
				t.Fatalf("not me: %d %+v\n%s", status, out, body)
			}
			if s, _, _ := get(t, link); s != http.StatusGone {
				t.Fatalf("the link of a refused sign-in answers %d", s)
			}
		}
	}
}

// TestLinkNumberMatching: a login started in a browser shows a 2-digit
// number there (Started.Match); the phone's page offers three numbers, the
// same on every load; only the right one approves, a confirm without a
// number does not, and a wrong pick ends the challenge.
func TestLinkNumberMatching(t *testing.T) {
	r := newRig(t)
	a := r.auth(t, sms.Config{Mode: sms.ModeURL})
	start := func(i int) (idgw.Started, string, []string) {
		ch := r.challenge()
		ch.Browser = true
		st, err := a.Start(context.Background(), ch)
		if err != nil || len(st.Match) != 2 {
			t.Fatalf("start: %v, match %q", err, st.Match)
		}
		link := r.waitSMS(t, msisdn, i).Links[0]
		_, body, _ := get(t, link)
		var picks []string
		for _, m := range pickButtons.FindAllStringSubmatch(body, -1) {
			picks = append(picks, m[1])
		}
		if len(picks) != 3 || strings.Contains(body, `value="approve"`) {
			t.Fatalf("the phone's page offers %v:\n%s", picks, body)
		}
		if _, again, _ := get(t, link); strings.Join(pickButtons.FindAllString(again, -1), " ") != strings.Join(pickButtons.FindAllString(body, -1), " ") {
			t.Fatal("reloading the page changed the numbers offered")
		}
		return st, link, picks
	}

	st, link, picks := start(0)
	found := false
	for _, p := range picks {
		found = found || p == st.Match
	}
	if !found {
		t.Fatalf("the page offers %v, not the browser's %s", picks, st.Match)
	}
	if s, _ := postForm(t, link, url.Values{"decision": {"approve"}}); s != 400 || check(t, a, st.State, nil).Status != idgw.Pending {
		t.Fatalf("a confirm without the number: %d", s)
	}
	if s, body := postForm(t, link, url.Values{"pick": {st.Match}}); s != 200 || !strings.Contains(body, "You are signed in") {
		t.Fatalf("the right number: %d\n%s", s, body)
	}
	if out := check(t, a, st.State, nil); out.Status != idgw.Succeeded || out.AMR[0] != "SMS_URL_OK" {
		t.Fatalf("after the right number: %+v", out)
	}

	st, link, picks = start(1)
	wrong := picks[0]
	if wrong == st.Match {
		wrong = picks[1]
	}
	if s, body := postForm(t, link, url.Values{"pick": {wrong}}); s != 200 || !strings.Contains(body, "not the number") {
		t.Fatalf("a wrong number: %d\n%s", s, body)
	}
	if out := check(t, a, st.State, nil); out.Status != idgw.Failed || out.Failure != idgw.FailureRefused {
		t.Fatalf("after a wrong number: %+v", out)
	}
	if s, _ := postForm(t, link, url.Values{"pick": {st.Match}}); s != http.StatusGone {
		t.Fatalf("the right number after a wrong one: %d", s)
	}
}

// TestCodePageShowsTheNumberToPick: in OTP+URL mode the browser's page is
// the code page: it shows the number to pick when the link is used.
func TestCodePageShowsTheNumberToPick(t *testing.T) {
	r := newRig(t)
	a := r.auth(t, sms.Config{Mode: sms.ModeOTPURL})
	ch := r.challenge()
	ch.Browser = true
	st, err := a.Start(context.Background(), ch)
	if err != nil || len(st.Match) != 2 {
		t.Fatalf("start: %v, match %q", err, st.Match)
	}
	if _, body, _ := get(t, st.RedirectURL); !strings.Contains(body, `<strong id="match">`+st.Match+`</strong>`) {
		t.Fatalf("the code page does not show %s:\n%s", st.Match, body)
	}
}
