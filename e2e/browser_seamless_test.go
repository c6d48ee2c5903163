package e2e

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserSeamless is seamless login in a real Chromium on `mcfed dev`,
// as its output says to try it: the browser's HTTP proxy is an operator's
// simulated mobile-data gateway, so it is that line's phone on mobile
// data. The person types the line's number on the demo SP's page at level
// 2; the gateway sees the number the network vouches for and asks
// nothing (no SMS, no code page): the consent page, then the SP shows a
// verified ID token with acr 2, amr SEAM_OK.
func TestBrowserSeamless(t *testing.T) {
	dev := startDev(t)
	op := dev.info.Operators[0]
	if op.MobileData == "" {
		t.Skip("no loopback address besides 127.0.0.1 here: mcfed dev runs no seamless login")
	}
	number := op.SeamlessNumber
	// Loopback goes through the proxy too (Chromium bypasses it by
	// default): the sandbox's sites are all on loopback.
	browser := startChromium(t, chromedp.ProxyServer(op.MobileData), chromedp.Flag("proxy-bypass-list", "<-loopback>"))

	w := newWalk(t, browser)
	laptop := w.device("phone", phoneScreen)
	laptop.step("shop", chromedp.Navigate(dev.info.SP.PageURL), chromedp.WaitVisible(chromedp.ID("msisdn")))
	laptop.step("number typed", chromedp.SendKeys(chromedp.ID("msisdn"), number), chromedp.Click(chromedp.ID("acr-2")))
	laptop.step("level 2 asked", chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
		until(`!!document.getElementById("id-token") || !!document.querySelector('button[value="allow"]')`))
	if at := read(laptop, "the address", chromedp.Location()); strings.Contains(at, "/sms/") {
		t.Fatalf("on mobile data the gateway still asked for an SMS code: %s", at)
	}
	if read(laptop, "a consent asked", chromedp.Evaluate[bool](`!!document.querySelector('button[value="allow"]')`)) {
		allow(laptop)
	}
	checkLoggedIn(t, dev, laptop, number, "SEAM_OK")
	claims := read(laptop, "the ID token's claims", chromedp.Evaluate[map[string]string](fmt.Sprintf(rowsJS, "#id-token tr")))
	if claims["acr"] != "2" || !strings.Contains(claims["amr"], "SEAM_OK") {
		t.Fatalf("the ID token on mobile data: acr %q amr %q, want 2 and SEAM_OK; claims shown: %v", claims["acr"], claims["amr"], claims)
	}
	var inbox struct {
		Messages []struct{} `json:"messages"`
	}
	if err := getJSON(dev.info.Handset.MessagesURL(number), &inbox); err != nil || len(inbox.Messages) != 0 {
		t.Fatalf("a seamless login sent SMS: %d %v", len(inbox.Messages), err)
	}
}
