package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
)

// TestBrowserPasskeyLoA3 walks a person to level of assurance 3 with a
// passkey in a real Chromium, on `mcfed dev`, whose gateways run FIDO
// (their issuers are on localhost: a passkey's relying party is a name).
// The laptop has DevTools' virtual authenticator (a platform
// authenticator with user verification, as a phone's fingerprint): a
// login at level 2 by SMS at the demo SP; on the operator's
// connected-services page "Add a passkey", the passkeys page adds one;
// then the SP asks for level 3, the gateway sends the browser to its
// passkey page, which signs in by itself, and the SP shows a verified ID
// token with acr 3 and amr FIDO.
func TestBrowserPasskeyLoA3(t *testing.T) {
	browser := startChromium(t)
	dev := startDev(t)
	number := dev.info.Operators[1].DemoNumbers[2]
	op := dev.operatorOf(t, number)
	if !strings.HasPrefix(op.PublicURL, "http://localhost:") {
		t.Fatalf("the gateway's issuer %s is not on localhost: no browser runs WebAuthn on an IP address", op.PublicURL)
	}

	w := newWalk(t, browser)
	laptop, phone := w.device("laptop"), w.device("phone", phoneScreen)
	laptop.check("the virtual authenticator", laptop.run(func(ctx context.Context) error {
		if _, err := chromedp.Call(ctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
			return err
		}
		_, err := chromedp.Call(ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
			Options: &webauthn.VirtualAuthenticatorOptions{Protocol: webauthn.AuthenticatorProtocolCtap2,
				Transport: webauthn.AuthenticatorTransportInternal, HasResidentKey: true, HasUserVerification: true,
				IsUserVerified: true, AutomaticPresenceSimulation: true},
		})
		return err
	}))

	// Level 2 by SMS.
	startLogin(t, dev, laptop, number)
	laptop.step("code typed", chromedp.SendKeys(chromedp.ID("otp"), smsCode.FindString(readSMS(t, dev, phone, number))))
	laptop.step("continue", chromedp.Click(chromedp.CSS(`button[type="submit"]`)))
	allow(laptop)
	checkLoggedIn(t, dev, laptop, number, "OTP_OK")

	// The gateway's page: add a passkey.
	laptop.step("services", chromedp.Navigate(op.PublicURL+"/services"), chromedp.WaitVisible(chromedp.CSS(`section.passkeys`)))
	if page := mainText(laptop); !strings.Contains(page, "Add a passkey") || !strings.Contains(page, "Manage your passkeys") {
		t.Fatalf("the services page offers no passkey:\n%s", page)
	}
	laptop.step("passkeys page", chromedp.Click(chromedp.CSS(`section.passkeys button:not(.secondary)`)),
		chromedp.WaitVisible(chromedp.ID("no-passkeys")))
	laptop.step("passkey added", chromedp.Click(chromedp.ID("fido-start")), chromedp.WaitVisible(chromedp.ID("passkeys")))
	if page := mainText(laptop); !strings.Contains(page, "Your passkey was added") {
		t.Fatalf("after adding the passkey:\n%s", page)
	}

	// Level 3: the passkey, by itself, in the browser.
	laptop.step("shop", chromedp.Navigate(dev.info.SP.PageURL), chromedp.WaitVisible(chromedp.ID("msisdn")))
	laptop.step("number typed", chromedp.SendKeys(chromedp.ID("msisdn"), number), chromedp.Click(chromedp.ID("acr-3")))
	laptop.step("level 3 asked", chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
		until(`!!document.getElementById("id-token") || !!document.querySelector('button[value="allow"]')`))
	if read(laptop, "a consent asked", chromedp.Evaluate[bool](`!!document.querySelector('button[value="allow"]')`)) {
		allow(laptop)
	}
	checkLoggedIn(t, dev, laptop, number, "FIDO")
	claims := read(laptop, "the ID token's claims", chromedp.Evaluate[map[string]string](fmt.Sprintf(rowsJS, "#id-token tr")))
	if claims["acr"] != "3" || strings.Contains(claims["amr"], "OTP") {
		t.Fatalf("the ID token after the passkey: acr %q amr %q, want 3 and FIDO; claims shown: %v", claims["acr"], claims["amr"], claims)
	}
}
