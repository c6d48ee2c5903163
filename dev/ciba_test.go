package dev

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/mcfed/mcfed/operator/handset"
)

// TestCIBAPollOnDev is an OpenID CIBA login on the dev federation: the
// demo SP, with the credentials discovery handed out, starts a
// backchannel login at the serving operator's gateway; its polls hear
// authorization_pending until the person confirms with OK on the
// simulated handset's SIM, whose prompt shows the binding message, then
// get the tokens (amr SIM_OK), once.
func TestCIBAPollOnDev(t *testing.T) {
	d, _ := startDev(t, nil)
	op := operators[0]
	disc, meta := cibaClient(t, d, op.number)
	if meta.Backchannel == "" || len(meta.Modes) == 0 {
		t.Fatalf("the metadata advertises no backchannel endpoint: %+v", meta)
	}
	status, ack := postForm(t, meta.Backchannel, disc, url.Values{"scope": {"openid"}, "login_hint": {"tel:" + op.number},
		"binding_message": {"Till 4 pays 12 EUR"}})
	id, _ := ack["auth_req_id"].(string)
	if status != 200 || id == "" {
		t.Fatalf("backchannel request: %d %v", status, ack)
	}
	poll := url.Values{"grant_type": {"urn:openid:params:grant-type:ciba"}, "auth_req_id": {id}}
	if status, body := postForm(t, meta.Token, disc, poll); status != 400 || body["error"] != "authorization_pending" {
		t.Fatalf("first poll: %d %v", status, body)
	}
	// The demo number has a SIM: a login started by the SP's server asks
	// the SIM (OK at level 2) before it would send an SMS link.
	msisdn, _ := handset.NormalizeMSISDN(op.number)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	prompt, err := d.phone.handset.WaitForSIMPrompt(ctx, msisdn)
	cancel()
	if err != nil {
		t.Fatalf("no SIM prompt: %v", err)
	}
	if prompt.Message != "Till 4 pays 12 EUR" || prompt.PIN {
		t.Fatalf("the SIM's prompt: %+v, want the binding message and OK", prompt)
	}
	if res, err := d.phone.handset.AnswerSIM(msisdn, handset.SIMAnswerOK, ""); err != nil || res.Status != "signed" {
		t.Fatalf("answering the SIM: %+v %v", res, err)
	}
	if msgs := d.phone.handset.Messages(msisdn); len(msgs) != 0 {
		t.Fatalf("an SMS was sent too: %v", msgs)
	}
	// The interval (5 s) has to pass between polls, or slow_down.
	time.Sleep(5 * time.Second)
	status, body := postForm(t, meta.Token, disc, poll)
	if status != 200 || body["access_token"] == nil || body["id_token"] == nil {
		t.Fatalf("the poll after the SIM's OK: %d %v", status, body)
	}
	verifyIDToken(t, disc, body["id_token"].(string), "2", "SIM_OK")
	time.Sleep(5 * time.Second)
	if status, body := postForm(t, meta.Token, disc, poll); status != 400 || body["error"] != "invalid_grant" {
		t.Fatalf("the auth_req_id again: %d %v", status, body)
	}
}

// TestCIBAWithThePhonesPasskeyOnDev: the operator lets the demo SP use
// only passkeys (a routing rule on its admin API); a CIBA login at level 3
// for the demo number whose phone holds a passkey has no browser, so the
// gateway pushes it to the phone, which shows the SP and the binding
// message; the person confirms with the (simulated) biometric, the phone
// signs a real assertion, and the SP's poll gets tokens with acr 3 and amr
// FIDO. No SMS is sent and no SIM asked.
func TestCIBAWithThePhonesPasskeyOnDev(t *testing.T) {
	d, _ := startDev(t, nil)
	op := operators[0]
	if err := d.admin(0).Do(context.Background(), "PUT", "/v1/operator/routing/sps/demo-sp",
		map[string]any{"authenticators": []string{"fido"}}, nil); err != nil {
		t.Fatalf("the routing rule: %v", err)
	}
	disc, meta := cibaClient(t, d, op.number)
	status, ack := postForm(t, meta.Backchannel, disc, url.Values{"scope": {"openid"}, "login_hint": {"tel:" + op.number},
		"acr_values": {"3"}, "binding_message": {"Transfer 250 EUR"}})
	id, _ := ack["auth_req_id"].(string)
	if status != 200 || id == "" {
		t.Fatalf("backchannel request: %d %v", status, ack)
	}
	msisdn, _ := handset.NormalizeMSISDN(op.number)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	prompt, err := d.phone.handset.WaitForFIDOPrompt(ctx, msisdn)
	if err != nil {
		t.Fatalf("no passkey request on the phone: %v", err)
	}
	if prompt.Message != "Transfer 250 EUR" || prompt.SPName == "" {
		t.Fatalf("the phone shows %+v, want the SP and the binding message", prompt)
	}
	if res, err := d.phone.handset.AnswerFIDO(ctx, msisdn, handset.FIDOConfirm); err != nil {
		t.Fatalf("confirming on the phone: %+v %v", res, err)
	}
	// The interval (5 s) has to pass between polls, or slow_down.
	time.Sleep(5 * time.Second)
	poll := url.Values{"grant_type": {"urn:openid:params:grant-type:ciba"}, "auth_req_id": {id}}
	status, body := postForm(t, meta.Token, disc, poll)
	if status != 200 || body["id_token"] == nil {
		t.Fatalf("the poll after the phone's confirmation: %d %v", status, body)
	}
	verifyIDToken(t, disc, body["id_token"].(string), "3", "FIDO")
	if msgs := d.phone.handset.Messages(msisdn); len(msgs) != 0 {
		t.Fatalf("an SMS was sent too: %v", msgs)
	}
	if _, asked := d.phone.handset.SIMPrompt(msisdn); asked {
		t.Fatal("the SIM was asked too")
	}
}
