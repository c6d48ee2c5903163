package fido_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/mcfed/mcfed/idgw"
	"github.com/mcfed/mcfed/operator/fido"
	"github.com/mcfed/mcfed/operator/fido/fidotest"
)

// TestEnrolmentTicket: Enrol's URL is good once: it becomes a session
// cookie for the browser that opened it; another browser with the same
// URL gets nothing, and the endpoints refuse a browser without the
// session.
func TestEnrolmentTicket(t *testing.T) {
	r := newRig(t)
	a := r.auth(t, fido.Config{})
	u, err := a.Enrol(context.Background(), r.challenge(alice, "en"))
	if err != nil {
		t.Fatal(err)
	}
	d := r.device()
	if p := do(t, d.http, "GET", u, "", ""); p.status != 200 || !strings.Contains(p.body, "Your passkeys") {
		t.Fatalf("first open: %d\n%s", p.status, p.body)
	}
	thief := r.device()
	if p := do(t, thief.http, "GET", u, "", ""); !strings.Contains(p.body, "This link to your passkeys was used already") {
		t.Fatalf("second open: %d\n%s", p.status, p.body)
	}
	if p := do(t, thief.http, "GET", r.public+"/fido/passkeys", "", ""); !strings.Contains(p.body, "Your session for managing passkeys has ended") {
		t.Fatalf("passkeys without a session: %d\n%s", p.status, p.body)
	}
	if res := do(t, thief.http, "POST", r.public+"/fido/register/begin", "application/json", "{}"); res.status != 410 || problemType(t, res) != "fido-over" {
		t.Fatalf("begin without a session: %d %s", res.status, res.body)
	}
	// A post from a page of another origin, with the session's cookie.
	if res := do(t, d.http, "POST", r.public+"/fido/register/begin", "application/json", "{}", "Origin", "https://evil.example"); res.status != 403 || problemType(t, res) != "forbidden" {
		t.Fatalf("begin from another origin: %d %s", res.status, res.body)
	}
	if res := do(t, d.http, "POST", r.public+"/fido/register/finish?r=x", "text/plain", "{}"); res.status != 415 || problemType(t, res) != "bad-request" {
		t.Fatalf("finish with a body that is not JSON: %d %s", res.status, res.body)
	}
	if _, err := a.Enrol(context.Background(), func() (ch idgw.Challenge) {
		ch = r.challenge(alice, "en")
		ch.ReturnURL = "https://evil.example/"
		return
	}()); !errors.Is(err, fido.ErrBadReturnURL) {
		t.Fatalf("enrol with a foreign return URL: %v", err)
	}
}

// TestRegistrationIsOnceAndTheSubscribers: a ceremony is finished once,
// and only in the session of the subscriber it began for.
func TestRegistrationIsOnceAndTheSubscribers(t *testing.T) {
	r := newRig(t)
	a := r.auth(t, fido.Config{})
	d, other := r.device(), r.device()
	d.openPasskeys(t, a, alice)
	other.openPasskeys(t, a, bob)
	begin := do(t, d.http, "POST", r.public+"/fido/register/begin", "application/json", "{}")
	var cer fido.Ceremony
	if err := json.Unmarshal([]byte(begin.body), &cer); err != nil {
		t.Fatalf("%v: %s", err, begin.body)
	}
	cred, err := d.auth.Create(cer.Options, d.opts())
	if err != nil {
		t.Fatal(err)
	}
	finish := r.public + "/fido/register/finish?r=" + url.QueryEscape(cer.ID)
	if res := do(t, other.http, "POST", finish, "application/json", string(cred)); res.status != 410 {
		t.Fatalf("alice's ceremony in bob's session: %d %s", res.status, res.body)
	}
	// Bob's try did not spend it: alice finishes it, once.
	if res := do(t, d.http, "POST", finish, "application/json", string(cred)); res.status != 201 {
		t.Fatalf("alice's ceremony: %d %s", res.status, res.body)
	}
	if res := do(t, d.http, "POST", finish, "application/json", string(cred)); res.status != 410 {
		t.Fatalf("the ceremony again: %d %s", res.status, res.body)
	}
	if keys, _ := a.Passkeys(context.Background(), bob); len(keys) != 0 {
		t.Fatalf("bob has %d passkeys", len(keys))
	}
	if keys, _ := a.Passkeys(context.Background(), alice); len(keys) != 1 {
		t.Fatalf("alice has %d passkeys", len(keys))
	}
}

// TestRegistrationRefusals: an attestation made on another origin or for
// another RP ID is refused; a device that holds a passkey of the
// subscriber is excluded; past MaxPasskeys, no more.
func TestRegistrationRefusals(t *testing.T) {
	r := newRig(t)
	a := r.auth(t, fido.Config{MaxPasskeys: 2})
	d := r.device()
	d.openPasskeys(t, a, alice)
	bad := []fidotest.Options{{Origin: "https://evil.example"}, {Origin: r.public, RPID: "evil.example"}}
	for _, o := range bad {
		if res := d.addPasskey(t, o); res.status != 400 || problemType(t, res) != "fido-refused" {
			t.Fatalf("%+v: %d %s", o, res.status, res.body)
		}
	}
	if keys, _ := a.Passkeys(context.Background(), alice); len(keys) != 0 {
		t.Fatalf("refused attestations stored: %+v", keys)
	}
	if res := d.addPasskey(t, d.opts()); res.status != 201 {
		t.Fatalf("a good one: %d %s", res.status, res.body)
	}
	// The same device again: the options exclude its passkey.
	begin := do(t, d.http, "POST", r.public+"/fido/register/begin", "application/json", "{}")
	var cer fido.Ceremony
	if err := json.Unmarshal([]byte(begin.body), &cer); err != nil {
		t.Fatal(err)
	}
	if _, err := d.auth.Create(cer.Options, d.opts()); !errors.Is(err, fidotest.ErrExcluded) {
		t.Fatalf("the same device again: %v", err)
	}
	second := &device{r: r, http: d.http, auth: fidotest.New()}
	if res := second.addPasskey(t, d.opts()); res.status != 201 {
		t.Fatalf("a second device: %d %s", res.status, res.body)
	}
	third := &device{r: r, http: d.http, auth: fidotest.New()}
	if res := do(t, third.http, "POST", r.public+"/fido/register/begin", "application/json", "{}"); res.status != 409 || problemType(t, res) != "fido-conflict" {
		t.Fatalf("past MaxPasskeys: %d %s", res.status, res.body)
	}
}
