package federation

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/mcfed/mcfed/client"
	"github.com/mcfed/mcfed/operator/handset"
)

// TestRoutingRulePerSP: the operator runs SMS first and the SIM applet
// after it. Its admin sets, through the admin API, a rule for the Corner
// Shop: the SIM only. A login at LoA 2 then gets the SIM's prompt and no
// SMS ever reaches the phone, and the ID token says SIM_OK. A rule of SMS
// only cannot reach LoA 3: the shop is told access_denied naming the
// level. Removing the rule brings back the operator's order (an SMS).
// The API refuses, as problem+json, a name the gateway does not run and
// a client_id nobody registered.
func TestRoutingRulePerSP(t *testing.T) {
	o := startSIMNodeWith(t, "", []AuthenticatorConfig{{Type: "sms"}, {Type: "sim-applet"}})
	admin := &client.Admin{Base: o.node.AdminURL(), Token: testAdminToken}
	ctx := context.Background()

	var overview struct {
		Authenticators []struct{ Name string }
	}
	if err := admin.Do(ctx, "GET", "/v1/operator/routing", nil, &overview); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, a := range overview.Authenticators {
		names = append(names, a.Name)
	}
	if strings.Join(names, " ") != "sms-otp sim-ok sim-pin" {
		t.Fatalf("the operator's authenticators in its order: %v", names)
	}

	var rule struct {
		ClientID       string   `json:"client_id"`
		Authenticators []string `json:"authenticators"`
	}
	if err := admin.Do(ctx, "PUT", "/v1/operator/routing/sps/shop", map[string]any{"authenticators": []string{"sim-ok", "sim-pin"}}, &rule); err != nil {
		t.Fatal(err)
	}
	if rule.ClientID != "shop" || strings.Join(rule.Authenticators, " ") != "sim-ok sim-pin" {
		t.Fatalf("the stored rule: %+v", rule)
	}

	// LoA 2 under "SIM only": the SIM's prompt, click-OK first as the
	// rule orders, and never an SMS.
	authURL := o.authorizeACR("2", "sim-only")
	if resp := o.get(authURL); resp.StatusCode != 200 {
		t.Fatalf("the SIM is out of band: the waiting page, got %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if p := o.prompt(); p.PIN {
		t.Fatalf("the rule puts the SIM's OK first: %+v", p)
	}
	if _, err := o.handset.AnswerSIM(smsActive, handset.SIMAnswerOK, ""); err != nil {
		t.Fatal(err)
	}
	acr, amr := o.idToken(o.codeFrom(o.get(authURL), "sim-only"))
	if acr != "2" || strings.Join(amr, ",") != "SIM_OK" {
		t.Fatalf("ID token acr %q amr %v", acr, amr)
	}
	if msgs := o.handset.Messages(smsActive); len(msgs) != 0 {
		t.Fatalf("an SP whose rule says SIM only got an SMS sent: %+v", msgs)
	}

	// SMS only cannot reach LoA 3.
	if err := admin.Do(ctx, "PUT", "/v1/operator/routing/sps/shop", map[string]any{"authenticators": []string{"sms-otp"}}, nil); err != nil {
		t.Fatal(err)
	}
	desc := o.deniedFrom(o.get(o.authorizeACR("3", "sms-only")))
	if !strings.Contains(desc, "level of assurance 3") || !strings.Contains(desc, "sms-otp") {
		t.Fatalf("access_denied does not name the level: %q", desc)
	}

	// The rule removed: the operator's order, SMS first.
	if err := admin.Do(ctx, "DELETE", "/v1/operator/routing/sps/shop", nil, nil); err != nil {
		t.Fatal(err)
	}
	o.get(o.authorizeACR("2", "operator-order"))
	if m := o.sms(smsActive); !smsCode.MatchString(m.Text) {
		t.Fatalf("the operator's order sends the SMS first: %+v", m)
	}
	if _, ok := o.handset.SIMPrompt(smsActive); ok {
		t.Fatal("the SIM was asked although SMS comes first")
	}

	// Refusals, as problem+json.
	for _, tc := range []struct {
		path   string
		body   any
		status int
		detail string
	}{
		{"/v1/operator/routing/sps/shop", map[string]any{"authenticators": []string{"sim-pin", "fax"}}, 400, `"fax" is not one this operator runs`},
		{"/v1/operator/routing/sps/shop", map[string]any{"authenticators": []string{"sim-ok", "sim-ok"}}, 400, "named twice"},
		{"/v1/operator/routing/sps/shop", map[string]any{"authenticators": []string{}}, 400, "at least one"},
		{"/v1/operator/routing/sps/shop", map[string]any{"authenticator": []string{"sim-ok"}}, 400, "unknown field"},
		{"/v1/operator/routing/sps/nobody", map[string]any{"authenticators": []string{"sim-ok"}}, 404, "no service provider"},
	} {
		err := admin.Do(ctx, "PUT", tc.path, tc.body, nil)
		var ae *client.APIError
		if !errors.As(err, &ae) || ae.Status != tc.status || ae.ContentType != "application/problem+json" || !strings.Contains(ae.Problem.Detail, tc.detail) {
			t.Errorf("PUT %s %v: %v (%+v)", tc.path, tc.body, err, ae)
		}
	}
	if err := admin.Do(ctx, "GET", "/v1/operator/routing/sps/shop", nil, nil); err == nil {
		t.Error("a refused PUT stored a rule")
	}
}

// TestRoutingDefaultRule: the operator's default rule orders every SP
// without a rule of its own: the SIM's click-OK before SMS.
func TestRoutingDefaultRule(t *testing.T) {
	o := startSIMNodeWith(t, "", []AuthenticatorConfig{{Type: "sms"}, {Type: "sim-applet"}})
	admin := &client.Admin{Base: o.node.AdminURL(), Token: testAdminToken}
	ctx := context.Background()
	if err := admin.Do(ctx, "PUT", "/v1/operator/routing/default", map[string]any{"authenticators": []string{"sim-ok", "sms-otp"}}, nil); err != nil {
		t.Fatal(err)
	}
	var overview struct {
		Default *struct{ Authenticators []string }
	}
	if err := admin.Do(ctx, "GET", "/v1/operator/routing", nil, &overview); err != nil || overview.Default == nil ||
		strings.Join(overview.Default.Authenticators, " ") != "sim-ok sms-otp" {
		t.Fatalf("the default rule: %+v %v", overview.Default, err)
	}
	authURL := o.authorizeACR("2", "default")
	o.get(authURL)
	if p := o.prompt(); p.PIN {
		t.Fatalf("the default rule puts the SIM's OK first: %+v", p)
	}
	if _, err := o.handset.AnswerSIM(smsActive, handset.SIMAnswerOK, ""); err != nil {
		t.Fatal(err)
	}
	acr, amr := o.idToken(o.codeFrom(o.get(authURL), "default"))
	if acr != "2" || strings.Join(amr, ",") != "SIM_OK" || len(o.handset.Messages(smsActive)) != 0 {
		t.Fatalf("acr %q amr %v, messages %d", acr, amr, len(o.handset.Messages(smsActive)))
	}
}
