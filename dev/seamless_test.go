package dev

import (
	"context"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestSeamlessThroughTheMobileData: a client whose HTTP proxy is an
// operator's simulated mobile-data gateway is that line's phone on mobile
// data: a login at level 2 for that number ends at once, with no SMS, and
// the verified ID token says acr 2, amr SEAM_OK. The same request made
// directly (from 127.0.0.1, which the gateway does not trust) with a
// spoofed X-MSISDN header gets the SMS instead, and so does one through
// the mobile data for another number than the line's.
func TestSeamlessThroughTheMobileData(t *testing.T) {
	d, _ := startDev(t, nil)
	info := d.Info()
	op := info.Operators[0]
	if op.MobileData == "" {
		t.Skip("no loopback address besides 127.0.0.1 here: seamless login is not run")
	}
	if op.SeamlessNumber != operators[0].number {
		t.Fatalf("dev.json's seamless number %q", op.SeamlessNumber)
	}

	// Discovery, as the SP's server does it (not through the phone).
	disc := discoverFor(t, d.Nodes[1], d.SPSecret, op.SeamlessNumber)
	links := disc.Links()

	proxyURL, _ := url.Parse(op.MobileData)
	client := func(proxy bool) *http.Client {
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			Transport: &http.Transport{}}
		if proxy {
			c.Transport = &http.Transport{Proxy: http.ProxyURL(proxyURL)}
		}
		return c
	}
	authorize := func(c *http.Client, hint, state string, spoof bool) *http.Response {
		t.Helper()
		q := url.Values{"client_id": {disc.Response.ClientID}, "redirect_uri": {spRedirect}, "response_type": {"code"},
			"scope": {"openid mc_authn"}, "acr_values": {"2"}, "state": {state}, "nonce": {"n-" + state},
			"version": {"mc_di_r2_v2.3"}, "login_hint": {hint}}
		req, _ := http.NewRequest("GET", links["authorization"]+"?"+q.Encode(), nil)
		if spoof {
			req.Header.Set(msisdnHeader, strings.TrimPrefix(op.SeamlessNumber, "+"))
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if n := len(d.phone.handset.Messages(op.SeamlessNumber)); n != 0 {
		t.Fatalf("a new demo's inbox holds %d messages", n)
	}
	// waitSMS waits for number's first SMS.
	waitSMS := func(number string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := d.phone.handset.WaitFor(ctx, number, nil); err != nil {
			t.Fatalf("no SMS reached %s: %v", number, err)
		}
	}

	// Through the mobile data: the code at once.
	resp := authorize(client(true), "ENCR_MSISDN:"+disc.SubscriberID, "seamless", false)
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != 302 || loc.Query().Get("code") == "" {
		t.Fatalf("through the mobile data: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	redeemAndVerify(t, disc, loc.Query().Get("code"), "2", "SEAM_OK")

	// Directly, with the header spoofed: not trusted, the SMS instead.
	resp = authorize(client(false), "ENCR_MSISDN:"+disc.SubscriberID, "spoofed", true)
	if loc, _ := url.Parse(resp.Header.Get("Location")); resp.StatusCode == 302 && loc.Query().Get("code") != "" {
		t.Fatalf("a spoofed header from 127.0.0.1 signed in: %q", resp.Header.Get("Location"))
	}
	waitSMS(op.SeamlessNumber)
	// One SMS: this login's; the seamless one sent none.
	if n := len(d.phone.handset.Messages(op.SeamlessNumber)); n != 1 {
		t.Fatalf("%d SMS for two logins, one seamless", n)
	}

	// Through the mobile data, for another number of the operator: not
	// the line's, so the SMS.
	other := operators[0].more[0]
	resp = authorize(client(true), "MSISDN:"+strings.TrimPrefix(other, "+"), "other", false)
	if loc, _ := url.Parse(resp.Header.Get("Location")); resp.StatusCode == 302 && loc.Query().Get("code") != "" {
		t.Fatalf("the mobile data of %s signed %s in: %q", op.SeamlessNumber, other, resp.Header.Get("Location"))
	}
	waitSMS(other)
}
