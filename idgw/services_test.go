package idgw

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestConnectedServices: the subscriber's page lists the SPs their number
// signed in to and what each was let have, once the browser holds a
// recent LoA 2 session, from an SP's login or from the page's own sign-in
// (the number, then the phone); withdrawing an SP there ends its tokens
// and its listing; the forms carry a token bound to the session, the page
// speaks the person's language, and an old session must sign in again.
func TestConnectedServices(t *testing.T) {
	f := newSSOFixture(t, "https://red.example/")
	f.addSP("bank")
	red2 := "MSISDN:" + strings.TrimPrefix(red2Number, "+")
	asked, binding, _, _ := f.pageLogin(nil, "login_hint", red2, "scope", "openid mc_authn mc_kyc_plain")
	loc, _ := f.allow(asked, binding)
	_, shopRefresh := f.redeemAt("shop", redirectParams(t, loc).Get("code"))
	_, _, loc, _ = f.pageLogin(nil, "login_hint", red2, "client_id", "bank", "state", "b")
	f.redeemAt("bank", redirectParams(t, loc).Get("code"))

	// A new browser: the sign-in form; a number of another operator is
	// refused there.
	resp, body := f.nav("/services", nil)
	if resp.StatusCode != 200 || !strings.Contains(body, `name="number"`) || strings.Contains(body, "SP shop") {
		t.Fatalf("without a session: %d %s", resp.StatusCode, body)
	}
	if _, body := f.nav("/services", url.Values{"action": {"signin"}, "number": {blueNum}}); !strings.Contains(body, "not a number of Operator red") {
		t.Fatalf("another operator's number: %s", body)
	}
	// The gateway's own sign-in: the waiting page, the phone, back here
	// with a session.
	started := f.started()
	resp, body = f.nav("/services", url.Values{"action": {"signin"}, "number": {red2Number}})
	m := continueLink.FindStringSubmatch(body)
	if resp.StatusCode != 200 || m == nil || f.started() != started+1 {
		t.Fatalf("sign-in: %d %s", resp.StatusCode, body)
	}
	resp, _ = f.nav(m[1], nil, cookieOf(resp, f.g.cookie.binding))
	session := sessionCookieOf(t, f.g, resp)
	if resp.StatusCode != 302 || resp.Header.Get("Location") != f.g.paths.services || session == nil {
		t.Fatalf("after the phone: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	_, body = f.nav("/services?ui_locales=de", nil, session)
	if !strings.Contains(body, "Verbundene Dienste") || !strings.Contains(body, "SP shop") || !strings.Contains(body, "SP bank") ||
		!strings.Contains(body, "SIM-Karte") || !strings.Contains(body, "keine persönlichen Angaben") {
		t.Fatalf("the list: %s", body)
	}
	csrf := regexpValue(body, `name="csrf" value="([^"]+)"`)
	if resp, _ := f.nav("/services", url.Values{"action": {"withdraw"}, "client_id": {"shop"}, "csrf": {"forged"}}, session); resp.StatusCode != 400 {
		t.Fatalf("a withdrawal without the page's token: %d", resp.StatusCode)
	}
	resp, body = f.nav("/services", url.Values{"action": {"withdraw"}, "client_id": {"shop"}, "csrf": {csrf}}, session)
	if resp.StatusCode != 200 || !strings.Contains(body, "Access withdrawn for SP shop") || strings.Contains(body, "<h2>SP shop") ||
		!strings.Contains(body, "<h2>SP bank") {
		t.Fatalf("withdrawn: %d %s", resp.StatusCode, body)
	}
	if f.refreshes("shop", shopRefresh) {
		t.Fatal("the withdrawn SP's refresh token still refreshes")
	}

	// An SP's login in this browser makes a session the page takes too;
	// after servicesFreshness it asks for the sign-in again.
	_, _, _, spSession := f.pageLogin(nil, "state", "sp")
	if _, body := f.nav("/services", nil, spSession); !strings.Contains(body, "SP shop") {
		t.Fatalf("an SP login's session: %s", body)
	}
	f.clock.advance(servicesFreshness + time.Minute)
	if _, body := f.nav("/services", nil, spSession); !strings.Contains(body, `name="number"`) {
		t.Fatalf("an old session: %s", body)
	}
}
