package e2e

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserConnectedServices walks a person through the operator's
// connected-services page in a real Chromium: after a login with consent
// at the demo SP, the page lists the SP and what it was let have; the
// person withdraws it, and the SP's next login asks the phone and the
// consent again. On another device the page first asks for the number and
// signs the person in by SMS, then lists the same. Signing out at the
// gateway asks, then ends the session.
func TestBrowserConnectedServices(t *testing.T) {
	browser := startChromium(t)
	dev := startDev(t)
	number := dev.info.Operators[1].DemoNumbers[1]
	op := dev.operatorOf(t, number)
	services := op.PublicURL + "/services"

	w := newWalk(t, browser)
	laptop, phone := w.device("laptop"), w.device("phone", phoneScreen)
	startLogin(t, dev, laptop, number)
	laptop.step("code typed", chromedp.SendKeys(chromedp.ID("otp"), smsCode.FindString(readSMS(t, dev, phone, number))))
	laptop.step("continue", chromedp.Click(chromedp.CSS(`button[type="submit"]`)))
	allow(laptop)
	checkLoggedIn(t, dev, laptop, number, "OTP_OK")

	// Another device: the number, the SMS, then the list.
	other := w.device("other-laptop")
	other.step("services, signed out", chromedp.Navigate(services), chromedp.WaitVisible(chromedp.ID("number")))
	other.step("number typed", chromedp.SendKeys(chromedp.ID("number"), number))
	other.step("code page", chromedp.Click(chromedp.CSS(`button[type="submit"]`)), chromedp.WaitVisible(chromedp.ID("otp")))
	other.step("code typed", chromedp.SendKeys(chromedp.ID("otp"), smsCode.FindString(readSMS(t, dev, phone, number))))
	other.step("signed in", chromedp.Click(chromedp.CSS(`button[type="submit"]`)), chromedp.WaitVisible(chromedp.CSS(`section.service`)))
	if page := mainText(other); !strings.Contains(page, "Connected services") || !strings.Contains(page, dev.info.SP.Name) {
		t.Fatalf("the list after the page's own sign-in:\n%s", page)
	}

	// The laptop's session from the SP's login shows the page at once.
	laptop.step("services", chromedp.Navigate(services), chromedp.WaitVisible(chromedp.CSS(`section.service`)))
	page := mainText(laptop)
	for _, want := range []string{"Connected services", dev.info.SP.Name, "Your name", "Your email address", "Withdraw access"} {
		if !strings.Contains(page, want) {
			t.Fatalf("the list does not show %q:\n%s", want, page)
		}
	}
	laptop.step("withdrawn", chromedp.Click(chromedp.CSS(`section.service button`)), chromedp.WaitVisible(chromedp.CSS(`p.done`)))
	if page := mainText(laptop); !strings.Contains(page, "Access withdrawn for "+dev.info.SP.Name) || strings.Contains(page, "Withdraw access") {
		t.Fatalf("after the withdrawal:\n%s", page)
	}

	// The SP's next login: the phone and the consent again.
	startLogin(t, dev, laptop, number)
	laptop.step("code typed again", chromedp.SendKeys(chromedp.ID("otp"), smsCode.FindString(readSMS(t, dev, phone, number))))
	laptop.step("continue again", chromedp.Click(chromedp.CSS(`button[type="submit"]`)))
	allow(laptop)
	checkLoggedIn(t, dev, laptop, number, "OTP_OK")

	// Signing out at the gateway, with no SP's hint: asked first, then
	// signed out, and the page asks for the number again.
	laptop.step("sign-out asked", chromedp.Navigate(op.PublicURL+"/logout"), chromedp.WaitVisible(chromedp.CSS(`button[value="logout"]`)))
	laptop.step("signed out", chromedp.Click(chromedp.CSS(`button[value="logout"]`)), chromedp.WaitVisible(chromedp.CSS(`p.done`)))
	if page := mainText(laptop); !strings.Contains(page, "You are signed out") || !strings.Contains(page, op.Name) {
		t.Fatalf("after signing out:\n%s", page)
	}
	laptop.step("services after signing out", chromedp.Navigate(services), chromedp.WaitVisible(chromedp.ID("number")))
}
