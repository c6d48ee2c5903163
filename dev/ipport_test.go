package dev

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/mcfed/mcfed/operator/handset"
)

// TestCIBAIPPortOnDev is a CIBA poll login on the dev federation that
// names the person by the address their device uses (CAMARA
// login_hint=ipport:): the UK operator's simulated network maps the demo
// number's loopback address to the line, whose SIM shows the binding
// message; the SP hears authorization_pending, then gets the tokens. An
// address the network does not know, and a French demo number's address
// at the UK gateway, are acknowledged alike and reach no handset.
func TestCIBAIPPortOnDev(t *testing.T) {
	d, _ := startDev(t, nil)
	op := operators[0]
	disc, meta := cibaClient(t, d, op.number)
	start := func(hint string) string {
		t.Helper()
		status, ack := postForm(t, meta.Backchannel, disc, url.Values{"scope": {"openid"}, "login_hint": {hint},
			"binding_message": {"Kiosk 7 signs you in"}})
		id, _ := ack["auth_req_id"].(string)
		if status != 200 || id == "" || ack["expires_in"] != float64(300) || ack["interval"] != float64(5) {
			t.Fatalf("%s: %d %v", hint, status, ack)
		}
		return id
	}
	poll := func(id string) (int, map[string]any) {
		return postForm(t, meta.Token, disc, url.Values{"grant_type": {"urn:openid:params:grant-type:ciba"}, "auth_req_id": {id}})
	}

	addr, ok := d.network.address(op.number)
	french, ok2 := d.network.address(operators[2].number)
	if !ok || !ok2 {
		t.Fatal("the demo numbers have no simulated address")
	}
	decoys := []string{start("ipport:127.0.1.250:40000"), start("ipport:" + french.String() + ":40000")}
	id := start("ipport:" + addr.String() + ":59028")
	for _, x := range append(decoys, id) {
		if status, body := poll(x); status != 400 || body["error"] != "authorization_pending" {
			t.Fatalf("first poll: %d %v", status, body)
		}
	}
	msisdn, _ := handset.NormalizeMSISDN(op.number)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	prompt, err := d.phone.handset.WaitForSIMPrompt(ctx, msisdn)
	cancel()
	if err != nil || prompt.Message != "Kiosk 7 signs you in" {
		t.Fatalf("the line behind the address was not asked: %+v %v", prompt, err)
	}
	if res, err := d.phone.handset.AnswerSIM(msisdn, handset.SIMAnswerOK, ""); err != nil || res.Status != "signed" {
		t.Fatalf("answering the SIM: %+v %v", res, err)
	}
	// Only that line was reached: no other demo SIM has a prompt.
	for _, n := range allDemoNumbers() {
		m, _ := handset.NormalizeMSISDN(n)
		if _, asked := d.phone.handset.SIMPrompt(m); asked && n != op.number {
			t.Fatalf("%s was prompted", n)
		}
	}
	// The interval (5 s) has to pass between polls, or slow_down.
	time.Sleep(5 * time.Second)
	status, body := poll(id)
	if status != 200 || body["access_token"] == nil || body["id_token"] == nil {
		t.Fatalf("the poll after the SIM's OK: %d %v", status, body)
	}
	for _, x := range decoys {
		if status, body := poll(x); status != 400 || body["error"] != "authorization_pending" {
			t.Fatalf("an unknown address's poll: %d %v", status, body)
		}
	}
}
