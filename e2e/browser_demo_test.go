package e2e

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserDemo walks the demo SP's page and the simulated handset as a
// developer trying `mcfed dev` does, in a real Chromium: a login without a
// number (the operator selection page), a typo, the handset on a phone's
// screen, and a product whose answers are on premiuminfo.
func TestBrowserDemo(t *testing.T) {
	browser := startChromium(t)
	dev := startDev(t)

	// No number on the SP's page: the operator selection page, where the
	// number is typed, then the operator's code page and the claims.
	t.Run("operator selection", func(t *testing.T) {
		w := newWalk(t, browser)
		laptop, phone := w.device("laptop"), w.device("phone", phoneScreen)
		number := dev.info.Operators[1].DemoNumbers[0]
		laptop.step("shop", chromedp.Navigate(dev.info.SP.PageURL), chromedp.WaitVisible(chromedp.ID("msisdn")))
		laptop.step("selection page", chromedp.Click(chromedp.CSS(`button.go`)), chromedp.WaitVisible(chromedp.CSS(`.choice`)))
		if at := read(laptop, "the address", chromedp.Location()); !strings.Contains(at, "/v2/discovery/users/operator-selection") {
			t.Fatalf("without a number the laptop is at %s, not the operator selection page", at)
		}
		laptop.step("number typed on the selection page", chromedp.SendKeys(chromedp.ID("msisdn"), number))
		laptop.step("code page", chromedp.Click(chromedp.CSS(`button.go`)), chromedp.WaitVisible(chromedp.ID("otp")))
		code := smsCode.FindString(readSMS(t, dev, phone, number))
		laptop.step("code typed", chromedp.SendKeys(chromedp.ID("otp"), code))
		laptop.step("code sent", chromedp.Click(chromedp.CSS(`button[type="submit"]`)))
		allow(laptop) // profile, e-mail and phone go to the shop only with consent
		checkLoggedIn(t, dev, laptop, number, "OTP_OK")
	})

	// A typo is the person's to fix, said on the SP's page.
	t.Run("typo", func(t *testing.T) {
		w := newWalk(t, browser)
		laptop := w.device("laptop")
		// The SP refuses the typo with 400, as it must.
		w.allowStatus(dev.info.SP.PageURL+"login", 400)
		laptop.step("shop", chromedp.Navigate(dev.info.SP.PageURL), chromedp.WaitVisible(chromedp.ID("msisdn")))
		laptop.step("typo typed", chromedp.SendKeys(chromedp.ID("msisdn"), "12345"))
		laptop.step("error shown", chromedp.Click(chromedp.CSS(`button.go`)), chromedp.WaitVisible(chromedp.ID("error")))
		msg := read(laptop, "the error", chromedp.Text(chromedp.ID("error")))
		typed := read(laptop, "the number field", chromedp.Value(chromedp.ID("msisdn")))
		if !strings.Contains(msg, "country code") || strings.Contains(msg, "Discovery") || typed != "12345" {
			t.Fatalf("a typo shows %q with %q in the field", msg, typed)
		}
	})

	// The handset on a phone: the SMS's long link wraps (no sideways
	// scrolling), and "tap (as the phone)" comes back to the inbox, which
	// says what the phone showed.
	t.Run("handset", func(t *testing.T) {
		w := newWalk(t, browser)
		laptop, phone := w.device("laptop"), w.device("phone", phoneScreen)
		number := dev.info.Operators[2].DemoNumbers[0]
		startLogin(t, dev, laptop, number)
		readSMS(t, dev, phone, number)
		if !read(phone, "whether the inbox fits the screen", chromedp.Evaluate[bool](noSidewaysScroll)) {
			width := read(phone, "the page's width", chromedp.Evaluate[string](pageWidths))
			t.Fatalf("the inbox scrolls sideways on a phone: %s", width)
		}
		phone.step("tapped", chromedp.Click(chromedp.CSS(`li.sms button`)), chromedp.WaitVisible(chromedp.ID("tap-result")))
		result := read(phone, "the tap's result", chromedp.Text(chromedp.ID("tap-result")))
		at := read(phone, "the address", chromedp.Location())
		if !strings.HasPrefix(at, dev.inboxURL(number)) || !strings.Contains(result, "Tapped") || strings.Contains(result, "{") {
			t.Fatalf("after the tap the phone is at %s and says %q", at, result)
		}
		if !read(phone, "whether the inbox fits the screen", chromedp.Evaluate[bool](noSidewaysScroll)) {
			t.Fatalf("the inbox scrolls sideways after the tap: %s", read(phone, "the page's width", chromedp.Evaluate[string](pageWidths)))
		}
	})

	// KYC match: the answers are premiuminfo's, one per value sent.
	t.Run("KYC match", func(t *testing.T) {
		w := newWalk(t, browser)
		laptop, phone := w.device("laptop"), w.device("phone", phoneScreen)
		number := dev.info.Operators[0].DemoNumbers[1]
		laptop.step("shop", chromedp.Navigate(dev.info.SP.PageURL), chromedp.WaitVisible(chromedp.ID("msisdn")))
		laptop.step("KYC chosen", chromedp.SendKeys(chromedp.ID("msisdn"), number), chromedp.Click(chromedp.ID("product-kyc")))
		laptop.step("code page", chromedp.Click(chromedp.CSS(`button.go`)), chromedp.WaitVisible(chromedp.ID("otp")))
		code := smsCode.FindString(readSMS(t, dev, phone, number))
		laptop.step("code typed", chromedp.SendKeys(chromedp.ID("otp"), code))
		laptop.step("code sent", chromedp.Click(chromedp.CSS(`button[type="submit"]`)))
		allow(laptop) // a KYC match is released only with consent
		laptop.step("answers", chromedp.WaitVisible(chromedp.ID("premiuminfo")))
		answers := read(laptop, "premiuminfo", chromedp.Evaluate[map[string]string](fmt.Sprintf(rowsJS, "#premiuminfo tr")))
		// The page's defaults are the UK demo subscriber's values.
		if answers["given_name_match"] != "true" || answers["family_name_match"] != "true" || answers["birthdate_match"] != "true" {
			t.Fatalf("the KYC answers shown: %v", answers)
		}
		if _, leaked := answers["given_name"]; leaked {
			t.Fatalf("KYC match shows what the operator holds: %v", answers)
		}
	})
}

// noSidewaysScroll is true when the page is no wider than the screen.
const noSidewaysScroll = `document.documentElement.scrollWidth <= document.documentElement.clientWidth`

const pageWidths = `"scrollWidth " + document.documentElement.scrollWidth + ", clientWidth " + document.documentElement.clientWidth`
