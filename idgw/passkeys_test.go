package idgw

import (
	"context"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// enrollingPhone is an authenticator that enrols passkeys: it records
// whom the gateway vouched for and answers its page's URL.
type enrollingPhone struct {
	*phoneAuthenticator
	mu  sync.Mutex
	got []Challenge
}

func (e *enrollingPhone) Enrol(_ context.Context, ch Challenge) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.got = append(e.got, ch)
	return "https://red.example/fido/passkeys?t=ticket", nil
}

// TestServicesOffersPasskeys: the connected-services page offers to add
// and manage passkeys only when the gateway runs an authenticator that
// enrols them (found through a wrapper); the button, with the page's
// token and a fresh session, vouches for the session's number and sends
// the browser to the enroller's page, which comes back to the services
// page; in the person's language.
func TestServicesOffersPasskeys(t *testing.T) {
	f := newSSOFixture(t, "https://red.example/")
	_, _, _, session := f.pageLogin(nil, "state", "sp")
	if _, body := f.nav("/services", nil, session); !strings.Contains(body, "SP shop") || strings.Contains(body, "passkey") {
		t.Fatalf("without FIDO the page offers passkeys: %s", body)
	}
	if resp, _ := f.nav("/services", url.Values{"action": {"passkeys"}, "csrf": {servicesCSRF(session.Value)}}, session); resp.StatusCode != 400 {
		t.Fatalf("the passkeys button without FIDO: %d", resp.StatusCode)
	}

	enroller := &enrollingPhone{phoneAuthenticator: f.phone}
	router, err := NewRouter(Registration{AuthenticatorInfo{Name: "sms", LoA: 2, AMR: []string{"OTP_OK"}}, f.phone},
		Registration{AuthenticatorInfo{Name: "fido", LoA: 3, AMR: []string{"FIDO"}, Enrolment: "fido"}, wrapped{enroller}})
	if err != nil {
		t.Fatal(err)
	}
	f.g.cfg.Router = router
	_, body := f.nav("/services?ui_locales=fr", nil, session)
	if !strings.Contains(body, "Ajouter une clé d’accès") || !strings.Contains(body, "Gérer vos clés d’accès") {
		t.Fatalf("the page in French: %s", body)
	}
	_, body = f.nav("/services", nil, session)
	csrf := regexpValue(body, `name="csrf" value="([^"]+)"`)
	if !strings.Contains(body, "Add a passkey") || !strings.Contains(body, `name="action" value="passkeys"`) || csrf == "" {
		t.Fatalf("the page with FIDO: %s", body)
	}
	if resp, _ := f.nav("/services", url.Values{"action": {"passkeys"}, "csrf": {"forged"}}, session); resp.StatusCode != 400 || len(enroller.got) != 0 {
		t.Fatalf("without the page's token: %d, %d enrolments", resp.StatusCode, len(enroller.got))
	}
	if _, body := f.nav("/services", url.Values{"action": {"passkeys"}, "csrf": {csrf}}); !strings.Contains(body, `name="number"`) || len(enroller.got) != 0 {
		t.Fatalf("without a session: %s", body)
	}
	resp, _ := f.nav("/services?ui_locales=de", url.Values{"action": {"passkeys"}, "csrf": {csrf}}, session)
	if resp.StatusCode/100 != 3 || resp.Header.Get("Location") != "https://red.example/fido/passkeys?t=ticket" || len(enroller.got) != 1 {
		t.Fatalf("the button: %d %q, %d enrolments", resp.StatusCode, resp.Header.Get("Location"), len(enroller.got))
	}
	ch := enroller.got[0]
	if ch.MSISDN != authTestMSISDN(t, redNumber) || ch.ReturnURL != f.g.paths.services || ch.Language != "de" || ch.Number != MaskNumber(ch.MSISDN) || !ch.Browser {
		t.Fatalf("the enrolment's challenge: %+v", ch)
	}
}
