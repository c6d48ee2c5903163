package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcfed/mcfed/internal/jose"
	"github.com/mcfed/mcfed/operator/handset"
	"github.com/mcfed/mcfed/operator/mssp"
)

// The MSSP's application provider credentials for the nodes under test.
const (
	e2eMSSPAPID     = "e2e-gateway"
	e2eMSSPPassword = "e2e-mssp"
)

// simNetwork is the operator's SIM side in the test process: a handset
// whose numbers get simulated SIMs, reached by a simulated MSSP (TS 102
// 204's REST binding on loopback) that a node's sim-applet authenticator
// asks for signatures.
type simNetwork struct {
	handset *handset.Handset
	mssp    *mssp.Server
}

func startSIMNetwork(t *testing.T) *simNetwork {
	t.Helper()
	h := handset.New(handset.Options{})
	s, err := mssp.Listen("127.0.0.1:0", mssp.Config{APID: e2eMSSPAPID, APPassword: e2eMSSPPassword, Link: h,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatalf("MSSP: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	h.ConnectMSSP(s.FromSIM)
	return &simNetwork{handset: h, mssp: s}
}

// authenticatorsFile writes a node's --authenticators-file: the SIM
// applet through this MSSP only, so every server-initiated login reaches
// the SIM.
func (s *simNetwork) authenticatorsFile(t *testing.T, dir string) string {
	t.Helper()
	b, _ := json.Marshal([]map[string]any{{"type": "sim-applet", "settings": map[string]string{
		"mssp_url": s.mssp.URL(), "ap_id": e2eMSSPAPID, "ap_password": e2eMSSPPassword}}})
	path := filepath.Join(dir, "authenticators.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// enrol gives number a new SIM (PIN 1234), enrolled with the MSSP and
// with the node, as an operator enrols a SIM it issues.
func (s *simNetwork) enrol(t *testing.T, n *node, number string) {
	t.Helper()
	card, err := s.handset.AddSIM(number, handset.SIMConfig{PIN: "1234"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.mssp.Enrol(number, card.PublicKey, card.OTAKey); err != nil {
		t.Fatal(err)
	}
	n.mustAdmin("PUT", "/v1/subscribers/"+number+"/sim-applet",
		map[string]any{"public_key": card.PublicKey, "capabilities": []string{"ok", "pin"}}, nil)
}

// prompt waits for the SIM of number to show a prompt.
func (s *simNetwork) prompt(t *testing.T, number string) handset.SIMPrompt {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := s.handset.WaitForSIMPrompt(ctx, number)
	if err != nil {
		t.Fatalf("the SIM of %s shows no prompt: %v", number, err)
	}
	return p
}

// answer answers the SIM's prompt as the person.
func (s *simNetwork) answer(t *testing.T, number, action, pin string, want string) {
	t.Helper()
	res, err := s.handset.AnswerSIM(number, action, pin)
	if err != nil || res.Status != want {
		t.Fatalf("answering the SIM %s: %+v %v, want %s", action, res, err, want)
	}
}

// TestServerInitiatedSIMLogins runs server-initiated logins against a
// `mcfed serve` node whose one authenticator is the SIM applet, reached
// through a simulated MSSP and the handset's simulated SIM: a Mobile
// Connect SI push at level 3, the binding message shown in the SIM's
// prompt, the PIN given, and the pushed ID token verified with the
// operator's keys (acr 3, amr SIM_PIN); an SI push the person cancels on
// the handset (the error access_denied pushed to the notification URI);
// an OpenID CIBA login in ping mode (the ping with the auth_req_id and
// the SP's bearer token, then the tokens at /token); and an SI push
// nobody answers, with the shortest requested_expiry (30 s): the error
// expired_token pushed once its time is up.
func TestServerInitiatedSIMLogins(t *testing.T) {
	f := newFederation(t)
	sims := startSIMNetwork(t)
	n := f.addNodeAs("node-"+ukDemo.ID, ukDemo, "", []string{"--authenticators-file", sims.authenticatorsFile(t, f.dir)})
	n.provision()
	number := ukDemo.Number
	sims.enrol(t, n, number)
	for _, s := range []string{"openid", "mc_authn"} {
		n.mustAdmin("PUT", "/v1/scopes/"+s, map[string]string{"name": s}, nil)
	}
	key, err := jose.GenerateKey(jose.ES256)
	if err != nil {
		t.Fatal(err)
	}
	jwks := map[string]any{"keys": []json.RawMessage{key.Public()}}
	pushed, pinged := startNotifyReceiver(t), startNotifyReceiver(t)
	pushed.setDown(false)
	pinged.setDown(false)
	const caller, pinger = "e2e-caller", "e2e-pinger"
	n.mustAdmin("PUT", "/v1/service-providers/"+caller, map[string]any{"name": "Call Centre",
		"redirect_uris": []string{spRedirect}, "scopes": []string{"openid", "mc_authn"}, "jwks": jwks,
		"notification_uris": []string{pushed.srv.URL + "/notify"}}, nil)
	n.mustAdmin("PUT", "/v1/service-providers/"+pinger, map[string]any{"name": "Pay Desk",
		"redirect_uris": []string{spRedirect}, "scopes": []string{"openid", "mc_authn"}, "jwks": jwks,
		"backchannel_token_delivery_mode": "ping", "backchannel_client_notification_endpoint": pinged.srv.URL + "/ping"}, nil)

	var meta struct {
		Issuer      string   `json:"issuer"`
		Token       string   `json:"token_endpoint"`
		JWKS        string   `json:"jwks_uri"`
		SI          string   `json:"si_authorization_endpoint"`
		Backchannel string   `json:"backchannel_authentication_endpoint"`
		Modes       []string `json:"backchannel_token_delivery_modes_supported"`
		ACR         []string `json:"acr_values_supported"`
	}
	if err := getJSON(n.publicURL()+"/.well-known/openid-configuration", &meta); err != nil || meta.SI == "" ||
		!slices.Contains(meta.Modes, "ping") || slices.Contains(meta.Modes, "push") || !slices.Contains(meta.ACR, "3") {
		t.Fatalf("metadata: %+v %v", meta, err)
	}
	sign := func(iss string, claims map[string]any) string { t.Helper(); return signFresh(t, key, iss, claims) }
	post := func(endpoint string, form url.Values) (int, map[string]any) {
		t.Helper()
		return postForm(t, endpoint, form)
	}
	si := func(edit map[string]any) string {
		t.Helper()
		c := map[string]any{"aud": meta.Issuer, "client_id": caller, "response_type": "mc_si_async_code",
			"scope": "openid mc_authn", "nonce": randomHex(8), "login_hint": "MSISDN:" + strings.TrimPrefix(number, "+"),
			"acr_values": "2", "notification_uri": pushed.srv.URL + "/notify", "client_notification_token": "cnt-sim"}
		for k, v := range edit {
			c[k] = v
		}
		status, ack := post(meta.SI, url.Values{"client_id": {caller}, "request": {sign(caller, c)}})
		id, _ := ack["auth_req_id"].(string)
		if status != 200 || id == "" {
			t.Fatalf("SI request: %d %v", status, ack)
		}
		return id
	}
	// result waits for the notification of auth_req_id id at r.
	result := func(r *notifyReceiver, id string, within time.Duration) notifyCall {
		t.Helper()
		var got notifyCall
		if err := poll(within, func() (bool, error) {
			_, calls := r.state()
			for _, c := range calls {
				if c.body["auth_req_id"] == id {
					got = c
					return true, nil
				}
			}
			return false, nil
		}); err != nil {
			t.Fatalf("no notification for %s: %v", id, err)
		}
		return got
	}
	var jwksDoc json.RawMessage
	if err := getJSON(meta.JWKS, &jwksDoc); err != nil {
		t.Fatal(err)
	}
	idClaims := func(token any, clientID string) map[string]any {
		t.Helper()
		raw, _ := token.(string)
		payload, _, err := jose.VerifyJWKS(raw, jwksDoc, jose.Algs...)
		if err != nil {
			t.Fatalf("the ID token does not verify with the operator's keys: %v", err)
		}
		var c map[string]any
		// aud is the client_id, alone or in a list.
		if err := json.Unmarshal(payload, &c); err != nil || c["iss"] != meta.Issuer ||
			c["aud"] != clientID && fmt.Sprint(c["aud"]) != fmt.Sprint([]any{clientID}) {
			t.Fatalf("the ID token's claims: %v %v", c, err)
		}
		return c
	}

	// 1. SI at level 3: the SIM asks for its PIN, naming the SP and
	// showing the binding message; the PIN given, the tokens are pushed.
	id := si(map[string]any{"acr_values": "3", "binding_message": "Confirm transfer 250 GBP"})
	p := sims.prompt(t, number)
	if !p.PIN || p.SPName != "Call Centre" || p.Message != "Confirm transfer 250 GBP" {
		t.Fatalf("the SIM's prompt: %+v", p)
	}
	sims.answer(t, number, handset.SIMAnswerPIN, "1234", "signed")
	got := result(pushed, id, 30*time.Second)
	if got.auth != "Bearer cnt-sim" || got.body["access_token"] == nil {
		t.Fatalf("the level 3 SI notification: %q %v", got.auth, got.body)
	}
	c := idClaims(got.body["id_token"], caller)
	if fmt.Sprint(c["acr"]) != "3" || !strings.Contains(fmt.Sprint(c["amr"]), "SIM_PIN") {
		t.Fatalf("the level 3 ID token: acr %v amr %v", c["acr"], c["amr"])
	}

	// 2. SI refused: the person cancels on the handset; access_denied is
	// pushed, with no tokens.
	id = si(map[string]any{"binding_message": "Confirm address change"})
	p = sims.prompt(t, number)
	if p.PIN || p.Message != "Confirm address change" {
		t.Fatalf("the SIM's click-OK prompt: %+v", p)
	}
	sims.answer(t, number, handset.SIMAnswerCancel, "", "cancelled")
	got = result(pushed, id, 30*time.Second)
	if got.auth != "Bearer cnt-sim" || got.body["error"] != "access_denied" || got.body["access_token"] != nil || got.body["id_token"] != nil {
		t.Fatalf("the refused SI notification: %q %v", got.auth, got.body)
	}

	// 3. CIBA ping: the SP is told the auth_req_id once the person
	// confirms with OK, then redeems it.
	assertion := func(form url.Values) url.Values {
		form.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
		form.Set("client_assertion", sign(pinger, map[string]any{"sub": pinger, "aud": meta.Token}))
		return form
	}
	status, ack := post(meta.Backchannel, assertion(url.Values{"scope": {"openid"}, "login_hint": {"tel:" + number},
		"binding_message": {"Pay Desk 3 charges 9 GBP"}, "client_notification_token": {"ping-sim"}}))
	pingID, _ := ack["auth_req_id"].(string)
	if status != 200 || pingID == "" {
		t.Fatalf("CIBA ping request: %d %v", status, ack)
	}
	grant := url.Values{"grant_type": {"urn:openid:params:grant-type:ciba"}, "auth_req_id": {pingID}}
	if status, body := post(meta.Token, assertion(url.Values{"grant_type": grant["grant_type"], "auth_req_id": grant["auth_req_id"]})); status != 400 || body["error"] != "authorization_pending" {
		t.Fatalf("the ping login before the person answered: %d %v", status, body)
	}
	if p = sims.prompt(t, number); p.SPName != "Pay Desk" || p.Message != "Pay Desk 3 charges 9 GBP" {
		t.Fatalf("the SIM's prompt for the ping login: %+v", p)
	}
	sims.answer(t, number, handset.SIMAnswerOK, "", "signed")
	got = result(pinged, pingID, 30*time.Second)
	if got.auth != "Bearer ping-sim" || len(got.body) != 1 {
		t.Fatalf("the ping: %q %v (want only the auth_req_id)", got.auth, got.body)
	}
	status, tokens := post(meta.Token, assertion(url.Values{"grant_type": grant["grant_type"], "auth_req_id": grant["auth_req_id"]}))
	if status != 200 || tokens["access_token"] == nil {
		t.Fatalf("the tokens after the ping: %d %v", status, tokens)
	}
	if c := idClaims(tokens["id_token"], pinger); fmt.Sprint(c["acr"]) != "2" || !strings.Contains(fmt.Sprint(c["amr"]), "SIM_OK") {
		t.Fatalf("the ping login's ID token: acr %v amr %v", c["acr"], c["amr"])
	}
	if _, calls := pinged.state(); len(calls) != 1 {
		t.Fatalf("%d pings, want 1", len(calls))
	}

	// 4. SI nobody answers, with the shortest expiry: expired_token is
	// pushed once the 30 s are up, not before.
	started := time.Now()
	id = si(map[string]any{"requested_expiry": 30, "binding_message": "Confirm login"})
	sims.prompt(t, number)
	got = result(pushed, id, 90*time.Second)
	if took := time.Since(started); got.body["error"] != "expired_token" || took < 29*time.Second {
		t.Fatalf("the unanswered SI notification after %v: %v", took, got.body)
	}
	if _, calls := pushed.state(); len(calls) != 3 {
		t.Fatalf("%d SI notifications, want 3 (one per login)", len(calls))
	}
}
