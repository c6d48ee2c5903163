package federation

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcfed/mcfed/operator/handset"
)

// startSeamlessNode is an operator's node behind a load balancer on
// 127.0.0.1 (--trusted-proxies), whose gateway runs SMS and seamless
// login, believing the X-MSISDN header from the mobile-data gateway's
// network 10.20.0.0/16 only.
func startSeamlessNode(t *testing.T) *simNode {
	o := startOperatorNodeWith(t, "otp", func(cfg *Config, _ *handset.Handset) {
		cfg.TrustedProxies = []string{"127.0.0.1"}
		// Listed after SMS: routing tries seamless first all the same.
		cfg.Authenticators = []AuthenticatorConfig{{Type: "sms"},
			{Type: "seamless", Settings: json.RawMessage(`{"header": "X-MSISDN", "trusted_networks": ["10.20.0.0/16"]}`)}}
	})
	return &simNode{operatorNode: o}
}

// authorizeFrom sends an authorize request as the load balancer passes it
// on: from source (X-Forwarded-For), with the X-MSISDN header msisdn
// (none when ""), for the active subscriber's number.
func (o *simNode) authorizeFrom(t *testing.T, source, msisdn, state string, extra url.Values) *http.Response {
	t.Helper()
	q := url.Values{"client_id": {"shop"}, "redirect_uri": {smsRedirect}, "response_type": {"code"},
		"scope": {"openid mc_authn"}, "acr_values": {"2"}, "state": {state}, "nonce": {"n-" + state},
		"login_hint": {"MSISDN:" + strings.TrimPrefix(smsActive, "+")}}
	for k, v := range extra {
		q[k] = v
	}
	req, _ := http.NewRequest("GET", o.node.PublicURL()+"/authorize?"+q.Encode(), nil)
	if source != "" {
		req.Header.Set("X-Forwarded-For", source)
	}
	if msisdn != "" {
		req.Header.Set("X-MSISDN", msisdn)
	}
	resp, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// TestSeamlessLogin: a request that came through the operator's mobile
// data (its gateway's network, the subscriber's MSISDN in the header) is
// tried by seamless first, though the operator listed it after SMS, and
// sent back to the SP with a code at once, with no step of the person's,
// and the verified ID token says acr 2, amr SEAM_OK; the metadata offers
// SEAM_OK and prompt no_seam. Refused, each falling back to the SMS: the
// header from a source outside the trusted network (through the proxy or
// straight to the node), a network MSISDN other than the login hint's,
// and prompt=no_seam.
func TestSeamlessLogin(t *testing.T) {
	o := startSeamlessNode(t)
	resp, err := http.Get(o.node.PublicURL() + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	var meta struct {
		AMR    []string `json:"mc_amr_values_supported"`
		Prompt []string `json:"prompt_values_supported"`
	}
	json.NewDecoder(resp.Body).Decode(&meta)
	resp.Body.Close()
	if !slices.Contains(meta.AMR, "SEAM_OK") || !slices.Contains(meta.Prompt, "no_seam") {
		t.Fatalf("the metadata of a seamless gateway: %+v", meta)
	}

	digits := strings.TrimPrefix(smsActive, "+")
	resp = o.authorizeFrom(t, "10.20.3.4", digits, "seam", nil)
	acr, amr := o.idToken(o.codeFrom(resp, "seam"))
	if acr != "2" || strings.Join(amr, ",") != "SEAM_OK" {
		t.Fatalf("ID token acr %q amr %v, want 2 and SEAM_OK", acr, amr)
	}

	// In a person's browser too: the code at once, and a gateway session.
	q := url.Values{"client_id": {"shop"}, "redirect_uri": {smsRedirect}, "response_type": {"code"},
		"scope": {"openid mc_authn"}, "acr_values": {"2"}, "state": {"seam-browser"}, "nonce": {"nb"},
		"login_hint": {"MSISDN:" + digits}}
	req, _ := http.NewRequest("GET", o.node.PublicURL()+"/authorize?"+q.Encode(), nil)
	req.Header.Set("Sec-Fetch-Mode", "navigate")
	req.Header.Set("X-Forwarded-For", "10.20.9.9")
	req.Header.Set("X-MSISDN", digits)
	resp, err = noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	o.codeFrom(resp, "seam-browser")
	if !slices.ContainsFunc(resp.Cookies(), func(c *http.Cookie) bool { return c.Value != "" && c.MaxAge > 600 }) {
		t.Fatalf("a browser's seamless login started no gateway session: %v", resp.Header.Values("Set-Cookie"))
	}

	// Each refusal is an SMS login: no code, the SMS's page, a new message.
	seen := map[string]bool{}
	for _, m := range o.handset.Messages(smsActive) {
		seen[m.ID] = true
	}
	if len(seen) != 0 {
		t.Fatalf("the seamless login sent %d SMS", len(seen))
	}
	refused := func(name string, resp *http.Response, state string) {
		t.Helper()
		loc := resp.Header.Get("Location")
		if resp.StatusCode != 302 || !strings.Contains(loc, "/sms/") || strings.Contains(loc, "code=") {
			t.Fatalf("%s: want the SMS's page, got %d %q", name, resp.StatusCode, loc)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		m, err := o.handset.WaitFor(ctx, smsActive, func(m handset.Message) bool { return !seen[m.ID] })
		if err != nil || !strings.Contains(m.Text, "Corner Shop") {
			t.Fatalf("%s: no new SMS: %+v %v", name, m, err)
		}
		seen[m.ID] = true
	}
	refused("a spoofed header through the proxy", o.authorizeFrom(t, "192.0.2.7", digits, "spoofed", nil), "spoofed")
	refused("a spoofed header straight to the node", o.authorizeFrom(t, "", "+"+digits, "direct", nil), "direct")
	refused("another line than the login hint's", o.authorizeFrom(t, "10.20.3.4", "447400111333", "other", nil), "other")
	refused("prompt=no_seam", o.authorizeFrom(t, "10.20.3.4", digits, "noseam", url.Values{"prompt": {"no_seam"}}), "noseam")
}
