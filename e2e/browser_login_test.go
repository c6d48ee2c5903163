package e2e

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserLogin walks a person through a first login on `mcfed dev` in a
// real Chromium, by clicks and typing on a laptop, with the SMS read on a
// phone (the simulated handset's page, in another browser context). Each
// login must complete at the first try, and no page may log an error on the
// way: the browser enforces the pages' Content-Security-Policy, which no Go
// client does.
func TestBrowserLogin(t *testing.T) {
	browser := startChromium(t)
	dev := startDev(t)

	// The code typed from the SMS.
	t.Run("code", func(t *testing.T) {
		w := newWalk(t, browser)
		laptop, phone := w.device("laptop"), w.device("phone", phoneScreen)
		number := dev.info.Operators[0].DemoNumbers[0]
		startLogin(t, dev, laptop, number)

		text := readSMS(t, dev, phone, number)
		code := smsCode.FindString(text)
		if code == "" {
			t.Fatalf("the SMS the phone shows has no code: %q", text)
		}
		laptop.step("code typed", chromedp.SendKeys(chromedp.ID("otp"), code))
		laptop.step("continue", chromedp.Click(chromedp.CSS(`button[type="submit"]`)))
		allow(laptop)
		checkLoggedIn(t, dev, laptop, number, "OTP_OK")
	})

	// The link in the SMS tapped on the phone: the phone's page says what
	// is approved and offers three numbers; the person picks the one the
	// laptop's page shows, and the laptop's page moves on by itself, no
	// Continue pressed.
	t.Run("link", func(t *testing.T) {
		w := newWalk(t, browser)
		laptop, phone := w.device("laptop"), w.device("phone", phoneScreen)
		number := dev.info.Operators[2].DemoNumbers[0]
		startLogin(t, dev, laptop, number)

		readSMS(t, dev, phone, number)
		link := read(phone, "the SMS's link", chromedp.AttributeValue(chromedp.CSS("li.sms a"), "href"))
		if !link.Exists || !strings.HasPrefix(link.Value, dev.operatorOf(t, number).PublicURL+"/") {
			t.Fatalf("the SMS on the phone links to %q, not to its operator's gateway", link.Value)
		}
		match := read(laptop, "the number to pick", chromedp.Text(chromedp.ID("match")))
		if len(match) != 2 {
			t.Fatalf("the laptop's page shows %q as the number to pick on the phone", match)
		}
		// The phone's browser opens the tapped link in a tab of its own;
		// opening it approves nothing until a number is picked.
		tapped := phone.tab("phone-link")
		tapped.step("link tapped", chromedp.Navigate(link.Value), chromedp.WaitVisible(chromedp.CSS(`button[name="pick"]`)))
		offered := read(tapped, "the numbers offered", chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('button[name="pick"]'), b => b.value)`))
		if len(offered) != 3 || !slices.Contains(offered, match) {
			t.Fatalf("the phone offers %v, the laptop shows %s", offered, match)
		}
		tapped.step("number picked", chromedp.Click(chromedp.CSS(`button[name="pick"][value="`+match+`"]`)),
			chromedp.WaitVisible(chromedp.CSS("p.done")))
		if h := read(tapped, "the heading", chromedp.Text(chromedp.CSS("h1"))); !strings.Contains(h, "signed in") {
			t.Fatalf("the tapped link shows %q, not that the person is signed in", h)
		}
		allow(laptop) // the code page moved on by itself to the consent page
		checkLoggedIn(t, dev, laptop, number, "SMS_URL_OK")
	})
}

// startLogin opens the demo SP's page on the laptop, types number and
// presses "Log in with Mobile Connect"; it returns once the laptop shows the
// code page of the number's operator.
func startLogin(t *testing.T, dev *sandbox, laptop *device, number string) {
	t.Helper()
	op := dev.operatorOf(t, number)
	laptop.step("shop", chromedp.Navigate(dev.info.SP.PageURL), chromedp.WaitVisible(chromedp.ID("msisdn")))
	laptop.step("number typed", chromedp.SendKeys(chromedp.ID("msisdn"), number))
	laptop.step("code page", chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("otp")))
	if at := read(laptop, "the address", chromedp.Location()); !strings.HasPrefix(at, op.PublicURL+"/") {
		t.Fatalf("the code page is at %s, not on %s's gateway %s", at, op.ID, op.PublicURL)
	}
}

// readSMS waits for a new SMS to number and reads it on the phone as a
// person does: the inbox open already updates itself (its page reloads
// when a message arrives, and a navigation of ours at that moment would be
// aborted by it), else the phone opens the inbox.
func readSMS(t *testing.T, dev *sandbox, phone *device, number string) string {
	t.Helper()
	msg := dev.waitSMS(t, number)
	inbox := dev.inboxURL(number)
	sms := fmt.Sprintf(`li.sms[id=%q] .text`, msg.ID)
	if at := read(phone, "the address", chromedp.Location()); at == inbox {
		phone.step("sms", chromedp.WaitVisible(chromedp.CSS(sms)))
	} else {
		phone.step("sms", chromedp.Navigate(inbox), chromedp.WaitVisible(chromedp.CSS(sms)))
	}
	return read(phone, "the SMS", chromedp.Text(chromedp.CSS(sms)))
}

// rowsJS reads a table of the SP's page as the person sees it: each row's
// header and cell.
const rowsJS = `Object.fromEntries(Array.from(document.querySelectorAll(%q), r => [r.cells[0].innerText, r.cells[1].innerText]))`

// checkLoggedIn checks that the laptop shows the SP's page of a completed
// login: the ID token's claims, a pseudonymous subject, the way the person
// authenticated (amr), and the operator's userinfo about the same subject.
func checkLoggedIn(t *testing.T, dev *sandbox, laptop *device, number, amr string) {
	t.Helper()
	op := dev.operatorOf(t, number)
	if at := read(laptop, "the address", chromedp.Location()); !strings.HasPrefix(at, dev.info.SP.PageURL) {
		t.Fatalf("the login ended at %s, not on the SP's page %s", at, dev.info.SP.PageURL)
	}
	page := read(laptop, "the page", chromedp.Text(chromedp.CSS("body")))
	if !strings.Contains(page, "Logged in with Mobile Connect") || !strings.Contains(page, op.Name) {
		t.Fatalf("the SP's page does not say that %s logged the person in:\n%s", op.Name, page)
	}
	claims := read(laptop, "the ID token's claims", chromedp.Evaluate[map[string]string](fmt.Sprintf(rowsJS, "#id-token tr")))
	info := read(laptop, "userinfo", chromedp.Evaluate[map[string]string](fmt.Sprintf(rowsJS, "#userinfo tr")))
	sub := claims["sub"]
	if sub == "" || strings.Contains(sub, strings.TrimPrefix(number, "+")) {
		t.Fatalf("the ID token's sub %q is empty or reveals the number; claims shown: %v", sub, claims)
	}
	if !strings.Contains(claims["amr"], amr) {
		t.Fatalf("the ID token's amr is %q, want %s; claims shown: %v", claims["amr"], amr, claims)
	}
	if info["sub"] != sub {
		t.Fatalf("userinfo's sub %q is not the ID token's %q; userinfo shown: %v", info["sub"], sub, info)
	}
}
