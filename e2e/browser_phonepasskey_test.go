package e2e

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserPasskeyOnThePhone walks a person to level of assurance 3
// with FIDO on the phone in a real Chromium, on `mcfed dev`, where each
// operator's first demo number has a passkey enrolled at start in the
// simulated handset's software authenticator: the SP asks for level 3;
// the gateway pushes the login to the phone and the laptop's page says
// so and waits; the phone's page shows the request naming the SP; the
// person confirms with the (simulated) fingerprint, the phone signs a
// WebAuthn assertion for the gateway, which verifies it; the laptop moves
// on by itself and the SP shows a verified ID token with acr 3, amr FIDO.
func TestBrowserPasskeyOnThePhone(t *testing.T) {
	browser := startChromium(t)
	dev := startDev(t)
	number := dev.info.Operators[0].DemoNumbers[0]
	op := dev.operatorOf(t, number)

	w := newWalk(t, browser)
	laptop, phone := w.device("laptop"), w.device("phone", phoneScreen)
	laptop.step("shop", chromedp.Navigate(dev.info.SP.PageURL), chromedp.WaitVisible(chromedp.ID("msisdn")))
	laptop.step("number typed", chromedp.SendKeys(chromedp.ID("msisdn"), number), chromedp.Click(chromedp.ID("acr-3")))
	laptop.step("level 3 asked", chromedp.Click(chromedp.CSS(`button[type="submit"]`)), chromedp.WaitVisible(chromedp.ID("fido-phone")))
	if at := read(laptop, "the address", chromedp.Location()); !strings.HasPrefix(at, op.PublicURL+"/fido/login") {
		t.Fatalf("level 3 is at %s, not on %s's passkey page", at, op.ID)
	}
	if page := mainText(laptop); !strings.Contains(page, "we sent a request to your phone") || !strings.Contains(page, dev.info.SP.Name) {
		t.Fatalf("the laptop's page does not say it waits for the phone:\n%s", page)
	}

	phone.step("passkey request", chromedp.Navigate(dev.inboxURL(number)), chromedp.WaitVisible(chromedp.ID("fido-prompt")))
	prompt := read(phone, "the phone's request", chromedp.Text(chromedp.ID("fido-prompt")))
	if !strings.Contains(prompt, dev.info.SP.Name) || !strings.Contains(prompt, "fingerprint") {
		t.Fatalf("the phone's request does not name the SP and ask for the fingerprint: %q", prompt)
	}
	phone.step("fingerprint", chromedp.Click(chromedp.ID("fido-confirm")), chromedp.WaitVisible(chromedp.ID("fido-result")))
	if told := read(phone, "what the phone says", chromedp.Text(chromedp.ID("fido-result"))); !strings.Contains(told, "accepted") {
		t.Fatalf("after the fingerprint the phone says %q", told)
	}

	laptop.step("moved on", until(`!!document.getElementById("id-token") || !!document.querySelector('button[value="allow"]')`))
	if read(laptop, "a consent asked", chromedp.Evaluate[bool](`!!document.querySelector('button[value="allow"]')`)) {
		allow(laptop)
	}
	checkLoggedIn(t, dev, laptop, number, "FIDO")
	claims := read(laptop, "the ID token's claims", chromedp.Evaluate[map[string]string](fmt.Sprintf(rowsJS, "#id-token tr")))
	if claims["acr"] != "3" || !strings.Contains(claims["amr"], "FIDO") || strings.Contains(claims["amr"], "SIM") ||
		strings.Contains(claims["amr"], "OTP") {
		t.Fatalf("the ID token after the passkey on the phone: acr %q amr %q, want 3 and FIDO; claims shown: %v", claims["acr"], claims["amr"], claims)
	}
}
