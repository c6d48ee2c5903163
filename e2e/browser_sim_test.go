package e2e

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserSIMPINLoA3 walks a person to level of assurance 3 with the
// SIM applet in a real Chromium, on `mcfed dev`, whose demo numbers each
// have a simulated SIM (PIN 1234) reached through the dev MSSP: the SP
// asks for level 3, the laptop waits, the phone's page shows the SIM's
// prompt naming the SP; a wrong PIN is said there with the tries left,
// the right one ends the login, and the SP shows a verified ID token with
// acr 3 and amr SIM_PIN.
func TestBrowserSIMPINLoA3(t *testing.T) {
	browser := startChromium(t)
	dev := startDev(t)
	number := dev.info.Operators[2].DemoNumbers[1]

	w := newWalk(t, browser)
	laptop, phone := w.device("laptop"), w.device("phone", phoneScreen)
	laptop.step("shop", chromedp.Navigate(dev.info.SP.PageURL), chromedp.WaitVisible(chromedp.ID("msisdn")))
	laptop.step("number typed", chromedp.SendKeys(chromedp.ID("msisdn"), number), chromedp.Click(chromedp.ID("acr-3")))
	laptop.step("level 3 asked", chromedp.Click(chromedp.CSS(`button[type="submit"]`)))

	phone.step("SIM prompt", chromedp.Navigate(dev.inboxURL(number)), chromedp.WaitVisible(chromedp.ID("sim-prompt")))
	prompt := read(phone, "the SIM's prompt", chromedp.Text(chromedp.ID("sim-prompt")))
	if !strings.Contains(prompt, dev.info.SP.Name) || !strings.Contains(prompt, "SIM PIN") {
		t.Fatalf("the SIM's prompt does not name the SP and ask for the PIN: %q", prompt)
	}
	phone.step("wrong PIN", chromedp.SendKeys(chromedp.CSS(`#sim-prompt input[name="pin"]`), "9999"),
		chromedp.Click(chromedp.CSS(`#sim-prompt button[value="pin"]`)), chromedp.WaitVisible(chromedp.CSS(`#sim-prompt .result.bad`)))
	if told := read(phone, "the wrong PIN's answer", chromedp.Text(chromedp.CSS(`#sim-prompt .result.bad`))); !strings.Contains(told, "tries left") {
		t.Fatalf("a wrong PIN is not said with the tries left: %q", told)
	}
	phone.step("right PIN", chromedp.SendKeys(chromedp.CSS(`#sim-prompt input[name="pin"]`), "1234"),
		chromedp.Click(chromedp.CSS(`#sim-prompt button[value="pin"]`)))

	laptop.step("moved on", until(`!!document.getElementById("id-token") || !!document.querySelector('button[value="allow"]')`))
	if read(laptop, "a consent asked", chromedp.Evaluate[bool](`!!document.querySelector('button[value="allow"]')`)) {
		allow(laptop)
	}
	checkLoggedIn(t, dev, laptop, number, "SIM_PIN")
	claims := read(laptop, "the ID token's claims", chromedp.Evaluate[map[string]string](fmt.Sprintf(rowsJS, "#id-token tr")))
	if claims["acr"] != "3" || !strings.Contains(claims["amr"], "SIM_PIN") {
		t.Fatalf("the ID token after the SIM PIN: acr %q amr %q; claims shown: %v", claims["acr"], claims["amr"], claims)
	}
}
