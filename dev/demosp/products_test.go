package demosp_test

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/mcfed/mcfed/client"
	"github.com/mcfed/mcfed/dev"
)

var (
	continueLink  = regexp.MustCompile(`<a class="button" href="([^"]+)"`)
	hiddenSession = regexp.MustCompile(`name="session_id" value="([^"]+)"`)
	anyFormAction = regexp.MustCompile(`<form method="post" action="([^"]+)"`)
)

// continueLogin taps the SMS link on the handset and presses Continue on
// the code page whose form posts to action; it returns the SP's page.
func continueLogin(t *testing.T, b *browser, info client.DevInfo, number, action string) string {
	t.Helper()
	tapSMS(t, info, number)
	at, status, page := b.page("POST", action, url.Values{"otp": {""}})
	if status != 200 || at.Scheme+"://"+at.Host+at.Path != info.SP.RedirectURI || !strings.Contains(page, "Logged in with Mobile Connect") {
		t.Fatalf("after Continue the browser is at %s (%d):\n%s", at, status, page)
	}
	return page
}

// TestDemoSPProducts: the demo SP logs in without a number, through the
// operator selection page, and asks for each kind of product: an identity
// product and a KYC match (answers on premiuminfo), an authorisation, and
// a level of assurance the subscriber cannot reach (a friendly refusal).
func TestDemoSPProducts(t *testing.T) {
	d, err := dev.Start(context.Background(), dev.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	info := d.Info()
	uk, de := info.Operators[0], info.Operators[1]

	t.Run("operator selection", func(t *testing.T) {
		b := newBrowser(t)
		at, status, page := b.page("POST", info.SP.PageURL+"login", url.Values{"msisdn": {""}})
		session := hiddenSession.FindStringSubmatch(page)
		if status != 200 || !strings.Contains(at.Path, "/operator-selection") || session == nil {
			t.Fatalf("without a number the browser is at %s (%d), not the selection page:\n%s", at, status, page)
		}
		action := html.UnescapeString(anyFormAction.FindStringSubmatch(page)[1])

		// An operator picked without a number: the SP asks for the number.
		at, status, page = b.page("POST", action, url.Values{"session_id": {html.UnescapeString(session[1])}, "operator": {de.ID}})
		if status != 200 || at.Path != "/callback" || !strings.Contains(page, de.Name+" needs your mobile number") {
			t.Fatalf("an operator picked: at %s (%d):\n%s", at, status, page)
		}

		// The number typed on the selection page: the callback's
		// subscriber_id is the login hint, and the login completes.
		b = newBrowser(t)
		_, _, page = b.page("POST", info.SP.PageURL+"login", url.Values{"msisdn": {""}, "product": {"signup"}})
		session = hiddenSession.FindStringSubmatch(page)
		action = html.UnescapeString(anyFormAction.FindStringSubmatch(page)[1]) // another node's, maybe
		number := uk.DemoNumbers[0]
		at, status, page = b.page("POST", action, url.Values{"session_id": {html.UnescapeString(session[1])}, "msisdn": {number}})
		if status != 200 || !strings.HasPrefix(at.String(), uk.PublicURL+"/sms/otp") {
			t.Fatalf("a number typed on the selection page: at %s (%d):\n%s", at, status, page)
		}
		page = continueLogin(t, b, info, number, html.UnescapeString(formAction.FindStringSubmatch(page)[1]))
		premium := table(t, page, "premiuminfo")
		if premium["given_name"] != "Demo" || premium["postal_code"] != "SW1A 1AA" {
			t.Fatalf("premiuminfo of the sign-up product: %v", premium)
		}
	})

	t.Run("KYC match", func(t *testing.T) {
		b := newBrowser(t)
		number := de.DemoNumbers[0]
		form := url.Values{"msisdn": {number}, "product": {"kyc"}, "kyc_given_name": {"demo"},
			"kyc_family_name": {"Subscriber DE"}, "kyc_birthdate": {"1990-01-01"}, "kyc_postal_code": {"99999"}}
		at, status, page := b.page("POST", info.SP.PageURL+"login", form)
		if status != 200 || !strings.HasPrefix(at.String(), de.PublicURL+"/sms/otp") {
			t.Fatalf("KYC: at %s (%d):\n%s", at, status, page)
		}
		page = continueLogin(t, b, info, number, html.UnescapeString(formAction.FindStringSubmatch(page)[1]))
		premium := table(t, page, "premiuminfo")
		if premium["given_name_match"] != "true" || premium["family_name_match"] != "true" ||
			premium["postal_code_match"] != "false" || premium["given_name"] != "" {
			t.Fatalf("KYC answers: %v", premium)
		}
	})

	t.Run("authorisation", func(t *testing.T) {
		b := newBrowser(t)
		number := de.DemoNumbers[1]
		form := url.Values{"msisdn": {number}, "product": {"authz"}, "context": {"Pay 5 EUR"}, "binding_message": {"CAFE 42"}}
		at, status, page := b.page("POST", info.SP.PageURL+"login", form)
		if status != 200 || !strings.HasPrefix(at.String(), de.PublicURL+"/sms/otp") {
			t.Fatalf("authz: at %s (%d):\n%s", at, status, page)
		}
		page = continueLogin(t, b, info, number, html.UnescapeString(formAction.FindStringSubmatch(page)[1]))
		if claims := table(t, page, "id-token"); claims["sub"] == "" {
			t.Fatalf("authz ID token: %v", claims)
		}
	})

	t.Run("level 3 through the SIM's PIN", func(t *testing.T) {
		// The demo subscribers have a SIM applet: acr 3 reaches its PIN
		// prompt on the handset (the SP's name on it); the PIN entered,
		// the waiting page's Continue ends at the SP with acr 3.
		b := newBrowser(t)
		number := uk.DemoNumbers[1]
		at, status, page := b.page("POST", info.SP.PageURL+"login", url.Values{"msisdn": {number}, "acr": {"3"}})
		next := continueLink.FindStringSubmatch(page)
		if status != 200 || !strings.HasPrefix(at.String(), uk.PublicURL+"/authorize") || next == nil {
			t.Fatalf("acr 3: at %s (%d):\n%s", at, status, page)
		}
		simAPI := strings.TrimSuffix(info.Handset.MessagesURL(number), "/messages") + "/sim"
		var prompt struct {
			Prompt *struct {
				SPName string `json:"sp_name"`
				PIN    bool   `json:"pin"`
			} `json:"prompt"`
		}
		req, _ := http.NewRequest("GET", simAPI, nil)
		getJSON(t, http.DefaultClient, req, 200, &prompt)
		if prompt.Prompt == nil || !prompt.Prompt.PIN || prompt.Prompt.SPName != "Demo Shop" {
			t.Fatalf("the SIM's prompt: %+v", prompt.Prompt)
		}
		req, _ = http.NewRequest("POST", simAPI, strings.NewReader(`{"action": "pin", "pin": "1234"}`))
		req.Header.Set("Content-Type", "application/json")
		var res struct{ Status string }
		getJSON(t, http.DefaultClient, req, 200, &res)
		if res.Status != "signed" {
			t.Fatalf("the PIN: %+v", res)
		}
		cont, err := at.Parse(html.UnescapeString(next[1]))
		if err != nil {
			t.Fatal(err)
		}
		at, status, page = b.page("GET", cont.String(), nil)
		if status != 200 || at.Scheme+"://"+at.Host+at.Path != info.SP.RedirectURI || !strings.Contains(page, "SIM_PIN") {
			t.Fatalf("after the PIN the browser is at %s (%d):\n%s", at, status, page)
		}
	})

	t.Run("choices the person must fix", func(t *testing.T) {
		for _, form := range []url.Values{
			{"msisdn": {uk.DemoNumbers[2]}, "product": {"nonsense"}},
			{"msisdn": {uk.DemoNumbers[2]}, "acr": {"9"}},
			{"msisdn": {uk.DemoNumbers[2]}, "product": {"authz"}, "context": {""}},
		} {
			if _, status, page := newBrowser(t).page("POST", info.SP.PageURL+"login", form); status != 400 || !strings.Contains(page, `role="alert"`) {
				t.Errorf("%v: %d\n%s", form, status, page)
			}
		}
	})
}
