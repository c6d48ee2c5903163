package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/chromedp"
)

// TestBrowserPages walks through what a person reads on the gateway's pages
// in a real Chromium: the operator's name, the SP's and the masked number on
// the code page, the consent page and its answers, wrong codes and the
// lockout, and the pages and SMS in German when the SP asks for it.
func TestBrowserPages(t *testing.T) {
	browser := startChromium(t)
	dev := startDev(t)
	uk, de, fr := dev.info.Operators[0], dev.info.Operators[1], dev.info.Operators[2]

	// A first login by code in one try, with consent; then the same SP
	// again in the same browser: signed in at once, consent remembered.
	t.Run("code and consent", func(t *testing.T) {
		w := newWalk(t, browser)
		laptop, phone := w.device("laptop"), w.device("phone", phoneScreen)
		number := uk.DemoNumbers[1]
		startLogin(t, dev, laptop, number)
		page := mainText(laptop)
		for _, want := range []string{uk.Name, dev.info.SP.Name, masked(number), "Enter your code"} {
			if !strings.Contains(page, want) {
				t.Fatalf("the code page does not show %q:\n%s", want, page)
			}
		}
		code := smsCode.FindString(readSMS(t, dev, phone, number))
		laptop.step("code typed", chromedp.SendKeys(chromedp.ID("otp"), code))
		laptop.step("consent asked", chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
			chromedp.WaitVisible(chromedp.CSS(`button[value="allow"]`)))
		page = mainText(laptop)
		for _, want := range []string{dev.info.SP.Name, uk.Name, "Your name", "Your date of birth", "Your email address", "Your phone number"} {
			if !strings.Contains(page, want) {
				t.Fatalf("the consent page does not say %q:\n%s", want, page)
			}
		}
		laptop.step("allowed", chromedp.Click(chromedp.CSS(`button[value="allow"]`)), chromedp.WaitVisible(chromedp.ID("id-token")))
		checkLoggedIn(t, dev, laptop, number, "OTP_OK")

		startSPLogin(dev, laptop, number)
		laptop.step("signed in again, no code, no consent", chromedp.WaitVisible(chromedp.ID("id-token")))
		checkLoggedIn(t, dev, laptop, number, "OTP_OK")
	})

	// Three wrong codes: each says how many tries are left, the third
	// stops the login and says what happened and what to do; back at the
	// SP, access_denied.
	t.Run("lockout", func(t *testing.T) {
		w := newWalk(t, browser)
		laptop, phone := w.device("laptop"), w.device("phone", phoneScreen)
		number := uk.DemoNumbers[2]
		startLogin(t, dev, laptop, number)
		wrong := wrongCode(smsCode.FindString(readSMS(t, dev, phone, number)))
		for _, left := range []string{"2 attempts left", "1 attempt left"} {
			laptop.step("wrong code typed", chromedp.SendKeys(chromedp.ID("otp"), wrong))
			laptop.step("told it was wrong, "+left, chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
				until(fmt.Sprintf(`(document.querySelector("p.alert")||{innerText:""}).innerText.includes(%q)`, left)))
		}
		laptop.step("third wrong code typed", chromedp.SendKeys(chromedp.ID("otp"), wrong))
		laptop.step("locked out", chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
			chromedp.WaitVisible(chromedp.CSS(`a.button`)))
		page := mainText(laptop)
		for _, want := range []string{"Too many wrong codes", "stopped", "sign in again", "new code", "Back to " + dev.info.SP.Name} {
			if !strings.Contains(page, want) {
				t.Fatalf("the lockout page does not say %q:\n%s", want, page)
			}
		}
		spRefuses(w, dev)
		laptop.step("back to the SP", chromedp.Click(chromedp.CSS(`a.button`)), spPage(dev))
		waitSPError(t, dev, laptop, "access_denied")
	})

	// Consent denied: the SP hears access_denied. The person uses the
	// SP on a phone-sized screen (the pages must fit it).
	t.Run("consent denied", func(t *testing.T) {
		w := newWalk(t, browser)
		laptop, phone := w.device("small-screen", phoneScreen), w.device("phone", phoneScreen)
		number := fr.DemoNumbers[1]
		startLogin(t, dev, laptop, number)
		code := smsCode.FindString(readSMS(t, dev, phone, number))
		laptop.step("code typed", chromedp.SendKeys(chromedp.ID("otp"), code))
		laptop.step("consent asked", chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
			chromedp.WaitVisible(chromedp.CSS(`button[value="deny"]`)))
		spRefuses(w, dev)
		laptop.step("denied", chromedp.Click(chromedp.CSS(`button[value="deny"]`)), spPage(dev))
		waitSPError(t, dev, laptop, "access_denied")
	})

	// The SP asks for German (ui_locales=de): the gateway's pages and the
	// SMS are in German.
	t.Run("German", func(t *testing.T) {
		w := newWalk(t, browser)
		laptop, phone := w.device("laptop"), w.device("phone", phoneScreen)
		asksInLanguage(t, laptop, "de")
		number := de.DemoNumbers[0]
		startLogin(t, dev, laptop, number)
		if page := mainText(laptop); !strings.Contains(page, "Code eingeben") || !strings.Contains(page, de.Name) {
			t.Fatalf("the code page is not in German:\n%s", page)
		}
		text := readSMS(t, dev, phone, number)
		if !strings.Contains(text, "Ihr Code zur Anmeldung bei \""+dev.info.SP.Name+"\"") || !strings.Contains(text, "Niemals weitergeben") {
			t.Fatalf("the SMS is not in German: %q", text)
		}
		laptop.step("code typed", chromedp.SendKeys(chromedp.ID("otp"), smsCode.FindString(text)))
		laptop.step("consent asked", chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
			chromedp.WaitVisible(chromedp.CSS(`button[value="allow"]`)))
		if page := mainText(laptop); !strings.Contains(page, "Ihre Daten an "+dev.info.SP.Name+" weitergeben?") ||
			!strings.Contains(page, "Ihre E-Mail-Adresse") || !strings.Contains(page, "Erlauben") {
			t.Fatalf("the consent page is not in German:\n%s", page)
		}
		laptop.step("allowed", chromedp.Click(chromedp.CSS(`button[value="allow"]`)), chromedp.WaitVisible(chromedp.ID("id-token")))
		checkLoggedIn(t, dev, laptop, number, "OTP_OK")
	})
}

// allow answers the consent page with Allow, once it shows, and waits for
// the SP's page.
func allow(laptop *device) {
	laptop.step("consent asked", chromedp.WaitVisible(chromedp.CSS(`button[value="allow"]`)))
	laptop.step("allowed", chromedp.Click(chromedp.CSS(`button[value="allow"]`)), chromedp.WaitVisible(chromedp.ID("id-token")))
}

// startSPLogin types number on the SP's page and presses "Log in with
// Mobile Connect", without waiting for what comes next.
func startSPLogin(dev *sandbox, laptop *device, number string) {
	laptop.step("shop", chromedp.Navigate(dev.info.SP.PageURL), chromedp.WaitVisible(chromedp.ID("msisdn")))
	laptop.step("number typed", chromedp.SendKeys(chromedp.ID("msisdn"), number))
	laptop.step("log in pressed", chromedp.Click(chromedp.CSS(`button[type="submit"]`)))
}

// spRefuses expects the demo SP to answer the error it is sent back with
// a status the browser reports (403): that is the SP's page, not the
// gateway's.
func spRefuses(w *walk, dev *sandbox) {
	w.expect("status of 403 (Forbidden) (" + dev.info.SP.RedirectURI + "?error=")
}

// spPage waits until the browser shows a page of the SP.
func spPage(dev *sandbox) chromedp.Action[chromedp.Void] {
	return until(fmt.Sprintf(`location.href.startsWith(%q) && document.readyState === "complete"`, dev.info.SP.PageURL))
}

// until waits until the JavaScript expression holds on the page the
// browser shows, across navigations: a navigation ends a poll on the page
// it leaves, and the poll starts again on the next one. The step's
// deadline bounds it.
func until(expr string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		for {
			_, err := chromedp.Poll[chromedp.Void](expr)(ctx, t)
			if err == nil || ctx.Err() != nil {
				return chromedp.Void{}, err
			}
			select {
			case <-ctx.Done():
				return chromedp.Void{}, ctx.Err()
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
}

// mainText is the text of the page's main content as the person reads it.
func mainText(d *device) string {
	return read(d, "the page", chromedp.Text(chromedp.CSS("body")))
}

// waitSPError waits until the laptop is back on the SP's page and checks
// that it shows the OAuth error code.
func waitSPError(t *testing.T, dev *sandbox, laptop *device, code string) {
	t.Helper()
	if at := read(laptop, "the address", chromedp.Location()); !strings.HasPrefix(at, dev.info.SP.PageURL) {
		t.Fatalf("the login ended at %s, not on the SP's page %s", at, dev.info.SP.PageURL)
	}
	// The person reads that the login did not happen; the OAuth error is
	// in the detail folded away for developers.
	if page := mainText(laptop); !strings.Contains(page, "You are not logged in") {
		t.Fatalf("the SP's page does not say the login failed:\n%s", page)
	}
	laptop.step("the protocol detail unfolded", chromedp.Click(chromedp.CSS("details > summary")),
		chromedp.WaitVisible(chromedp.CSS("details > pre")))
	if detail := read(laptop, "the detail", chromedp.Text(chromedp.CSS("details > pre"))); !strings.Contains(detail, code) {
		t.Fatalf("the SP's detail does not name %s:\n%s", code, detail)
	}
}

// masked is how the gateway shows number: the country code and the last
// four digits.
func masked(number string) string { return number[len(number)-4:] }

// wrongCode is a code of the same length that is not code.
func wrongCode(code string) string {
	b := []byte(code)
	for i := range b {
		b[i] = '0' + (b[i]-'0'+1)%10
	}
	return string(b)
}

// asksInLanguage makes the device's authorize requests carry
// ui_locales=lang, as an SP that knows its user's language sends them: the
// browser adds it to the request the SP's page redirects to.
func asksInLanguage(t *testing.T, d *device, lang string) {
	t.Helper()
	events := chromedp.Events(d.ctx, fetch.RequestPaused)
	go func() {
		for ev, err := range events {
			if err != nil {
				return
			}
			u := ev.Request.URL
			if !strings.Contains(u, "ui_locales=") {
				u += "&ui_locales=" + lang
			}
			_, _ = chromedp.Call(d.ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: ev.RequestID, URL: u})
		}
	}()
	if _, err := chromedp.Call(d.ctx, fetch.Enable, fetch.EnableParams{
		Patterns: []*fetch.RequestPattern{{URLPattern: "*/authorize?*"}}}); err != nil {
		t.Fatalf("intercepting the authorize requests: %v", err)
	}
}
