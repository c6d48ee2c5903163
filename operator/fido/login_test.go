package fido_test

import (
	"bytes"
	"context"
	"errors"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/mcfed/mcfed/idgw"
	"github.com/mcfed/mcfed/operator/fido"
	"github.com/mcfed/mcfed/operator/fido/fidotest"
)

// TestEnrolThenLogin: a person adds a passkey on the passkeys page (the
// software authenticator's attestation, "none" and "packed" self
// attestation), then signs in with it: the login page's assertion is
// verified, the gateway's Check reports LoA3's success once.
func TestEnrolThenLogin(t *testing.T) {
	for _, format := range []string{"none", "packed"} {
		t.Run(format, func(t *testing.T) {
			r := newRig(t)
			a := r.auth(t, fido.Config{})
			if in := a.Info(); in.Name != "fido" || in.LoA != 3 || len(in.AMR) != 1 || in.AMR[0] != "FIDO" || in.Enrolment != "fido" {
				t.Fatalf("info %+v", in)
			}
			d := r.device()
			if ok, err := a.Enrolled(context.Background(), alice); err != nil || ok {
				t.Fatalf("enrolled before: %v %v", ok, err)
			}
			o := d.opts()
			o.Format = format
			if fin := d.enrol(t, a, alice, o); fin.status != 201 || !strings.Contains(fin.body, `"format":"`+format+`"`) {
				t.Fatalf("register finish: %d %s", fin.status, fin.body)
			}
			keys, err := a.Passkeys(context.Background(), alice)
			if err != nil || len(keys) != 1 || keys[0].ID != d.auth.CredentialIDs()[0] || keys[0].Format != format {
				t.Fatalf("passkeys %+v %v", keys, err)
			}
			if ok, _ := a.Enrolled(context.Background(), alice); !ok {
				t.Fatal("not enrolled after enrolment")
			}
			// The list shows it.
			if p := do(t, d.http, "GET", r.public+"/fido/passkeys?done=added", "", ""); !strings.Contains(p.body, "Your passkey was added.") ||
				!strings.Contains(p.body, `value="`+keys[0].ID+`"`) {
				t.Fatalf("passkeys page after adding:\n%s", p.body)
			}

			l := d.startLogin(t, a, alice)
			if a.Answered(l.started.State) {
				t.Fatal("answered before the assertion")
			}
			if out := check(t, a, l.started.State, url.Values{}); out.Status != idgw.Pending || out.RedirectURL != l.started.RedirectURL {
				t.Fatalf("check before the assertion: %+v", out)
			}
			if res := d.post(t, l, d.assert(t, l, d.opts())); res.status != 204 {
				t.Fatalf("login finish: %d %s", res.status, res.body)
			}
			if !a.Answered(l.started.State) {
				t.Fatal("not answered after the assertion")
			}
			out := check(t, a, l.started.State, url.Values{"fido": {"done"}})
			if out.Status != idgw.Succeeded || len(out.AMR) != 1 || out.AMR[0] != "FIDO" {
				t.Fatalf("check after the assertion: %+v", out)
			}
			if out := check(t, a, l.started.State, url.Values{"fido": {"done"}}); out.Status != idgw.Failed || out.Failure != idgw.FailureUsed {
				t.Fatalf("second check: %+v", out)
			}
			if keys, _ := a.Passkeys(context.Background(), alice); keys[0].LastUsed.IsZero() {
				t.Fatal("last use not recorded")
			}
		})
	}
}

// enrolled is a rig with alice's passkey on d.
func enrolled(t *testing.T) (*rig, *fido.Authenticator, *device) {
	t.Helper()
	r := newRig(t)
	a := r.auth(t, fido.Config{})
	d := r.device()
	if fin := d.enrol(t, a, alice, d.opts()); fin.status != 201 {
		t.Fatalf("register finish: %d %s", fin.status, fin.body)
	}
	return r, a, d
}

// TestReplayedAssertionRefused: an assertion is good for one challenge
// once: posted again to it, or into a new challenge, it is refused and
// the new challenge stays pending.
func TestReplayedAssertionRefused(t *testing.T) {
	_, a, d := enrolled(t)
	l1 := d.startLogin(t, a, alice)
	assertion := d.assert(t, l1, d.opts())
	if res := d.post(t, l1, assertion); res.status != 204 {
		t.Fatalf("first post: %d %s", res.status, res.body)
	}
	if res := d.post(t, l1, assertion); res.status != 410 || problemType(t, res) != "fido-over" {
		t.Fatalf("the same assertion again: %d %s", res.status, res.body)
	}
	l2 := d.startLogin(t, a, alice)
	if res := d.post(t, l2, assertion); res.status != 400 || problemType(t, res) != "fido-refused" {
		t.Fatalf("the assertion replayed into a new challenge: %d %s", res.status, res.body)
	}
	if out := check(t, a, l2.started.State, url.Values{}); out.Status != idgw.Pending {
		t.Fatalf("the new challenge after a replay: %+v", out)
	}
	// The person's own passkey still signs the new one in.
	if res := d.post(t, l2, d.assert(t, l2, d.opts())); res.status != 204 {
		t.Fatalf("a fresh assertion: %d %s", res.status, res.body)
	}
}

// TestClonedAuthenticatorRefused: the sign counter is checked: a copy of
// the key that signs with a counter the node has seen already is refused.
func TestClonedAuthenticatorRefused(t *testing.T) {
	r, a, d := enrolled(t)
	clone := &device{r: r, http: r.client(), auth: d.auth.Clone()}
	l := d.startLogin(t, a, alice)
	if res := d.post(t, l, d.assert(t, l, d.opts())); res.status != 204 {
		t.Fatalf("the original: %d %s", res.status, res.body)
	}
	l2 := clone.startLogin(t, a, alice)
	res := clone.post(t, l2, clone.assert(t, l2, clone.opts()))
	if res.status != 400 || problemType(t, res) != "fido-refused" || !strings.Contains(res.body, "counter") {
		t.Fatalf("the clone: %d %s", res.status, res.body)
	}
	err := a.FinishLogin(context.Background(), tokenOf(t, l2), clone.assert(t, l2, clone.opts()))
	if err != nil {
		// The clone's counter is now 2, above the node's 1: it passes the
		// counter check; what it shows is that only a counter that did
		// not advance is refused.
		t.Fatalf("a clone whose counter went past the original's: %v", err)
	}
}

func tokenOf(t *testing.T, l login) string {
	t.Helper()
	u, err := url.Parse(l.started.RedirectURL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("c")
}

// TestAssertionForAnotherRPRefused: an assertion whose authenticator data
// is for another relying party ID is refused.
func TestAssertionForAnotherRPRefused(t *testing.T) {
	_, a, d := enrolled(t)
	l := d.startLogin(t, a, alice)
	o := d.opts()
	o.RPID = "evil.example"
	res := d.post(t, l, d.assert(t, l, o))
	if res.status != 400 || problemType(t, res) != "fido-refused" {
		t.Fatalf("another RP ID: %d %s", res.status, res.body)
	}
	var ae *fido.AssertionError
	err := a.FinishLogin(context.Background(), tokenOf(t, l), d.assert(t, l, o))
	if !errors.As(err, &ae) || !strings.Contains(strings.ToLower(ae.Reason), "rp") {
		t.Fatalf("another RP ID: %v", err)
	}
}

// TestWrongOriginRefused: an assertion made on a page of another origin
// (a phishing site, another port) is refused.
func TestWrongOriginRefused(t *testing.T) {
	r, a, d := enrolled(t)
	for _, origin := range []string{"https://evil.example", strings.Replace(r.public, "http:", "https:", 1), "http://localhost:1"} {
		l := d.startLogin(t, a, alice)
		o := d.opts()
		o.Origin = origin
		if res := d.post(t, l, d.assert(t, l, o)); res.status != 400 || problemType(t, res) != "fido-refused" {
			t.Fatalf("origin %s: %d %s", origin, res.status, res.body)
		}
		var ae *fido.AssertionError
		if err := a.FinishLogin(context.Background(), tokenOf(t, l), d.assert(t, l, o)); !errors.As(err, &ae) ||
			!strings.Contains(strings.ToLower(ae.Reason), "origin") {
			t.Fatalf("origin %s: %v", origin, err)
		}
	}
}

// TestOtherSubscribersPasskeyRefused: bob's passkey does not sign alice
// in, even posted to her challenge.
func TestOtherSubscribersPasskeyRefused(t *testing.T) {
	r, a, _ := enrolled(t)
	bobs := r.device()
	if fin := bobs.enrol(t, a, bob, bobs.opts()); fin.status != 201 {
		t.Fatalf("bob's enrolment: %d %s", fin.status, fin.body)
	}
	l := bobs.startLogin(t, a, alice)
	// Bob's authenticator holds no passkey alice's challenge allows, as a
	// browser would say; forced to sign with his own:
	opts := do(t, bobs.http, "GET", l.options, "", "")
	if _, err := bobs.auth.Get([]byte(opts.body), bobs.opts()); !errors.Is(err, fidotest.ErrNoCredential) {
		t.Fatalf("bob's authenticator for alice's challenge: %v", err)
	}
	o := bobs.opts()
	o.Credential = mustB64(t, bobs.auth.CredentialIDs()[0])
	res := bobs.post(t, l, bobs.assert(t, l, o))
	if res.status != 400 || problemType(t, res) != "fido-refused" {
		t.Fatalf("bob's passkey for alice: %d %s", res.status, res.body)
	}
	var ae *fido.AssertionError
	if err := a.FinishLogin(context.Background(), tokenOf(t, l), bobs.assert(t, l, o)); !errors.As(err, &ae) {
		t.Fatalf("bob's passkey for alice: %v", err)
	} else {
		t.Logf("refused: %s", ae.Reason)
	}
	if out := check(t, a, l.started.State, url.Values{}); out.Status != idgw.Pending {
		t.Fatalf("alice's challenge: %+v", out)
	}
}

// TestRemovedPasskeyRefused: a passkey removed on the passkeys page no
// longer signs in, even in a challenge started before; with none left,
// Start says the subscriber is not enrolled (routing falls back).
func TestRemovedPasskeyRefused(t *testing.T) {
	r, a, d := enrolled(t)
	l := d.startLogin(t, a, alice)
	assertion := d.assert(t, l, d.opts())
	id := d.auth.CredentialIDs()[0]
	res := do(t, d.http, "POST", r.public+"/fido/passkeys/remove", "application/x-www-form-urlencoded",
		url.Values{"id": {id}}.Encode(), "Origin", r.public)
	if res.status != 200 || !strings.Contains(res.body, "The passkey was removed.") || strings.Contains(res.body, id) {
		t.Fatalf("after removing: %d\n%s", res.status, res.body)
	}
	if res := d.post(t, l, assertion); res.status != 400 || problemType(t, res) != "fido-refused" {
		t.Fatalf("the removed passkey: %d %s", res.status, res.body)
	}
	_, err := a.Start(context.Background(), r.challenge(alice, "en"))
	if !errors.Is(err, fido.ErrNotEnrolled) || !errors.Is(err, idgw.ErrUnavailable) {
		t.Fatalf("start with no passkey: %v", err)
	}
}

// TestHeadlessLoginFallsBack: a login no browser shows (a headless SDK
// re-polling the authorize URL) cannot use a passkey: Start says
// unavailable, for a decoy too, and routing goes on to the next
// authenticator.
func TestHeadlessLoginFallsBack(t *testing.T) {
	r, a, _ := enrolled(t)
	ch := r.challenge(alice, "en")
	ch.Browser = false
	if _, err := a.Start(context.Background(), ch); !errors.Is(err, fido.ErrNoBrowser) || !errors.Is(err, idgw.ErrUnavailable) {
		t.Fatalf("start: %v", err)
	}
	if _, err := a.StartDecoy(context.Background(), ch); !errors.Is(err, fido.ErrNoBrowser) {
		t.Fatalf("decoy: %v", err)
	}
}

// TestRefusalsEndTheChallenge: after MaxAttempts refused assertions the
// challenge is over: the page is told so, and Check fails it.
func TestRefusalsEndTheChallenge(t *testing.T) {
	_, a, d := enrolled(t)
	l := d.startLogin(t, a, alice)
	o := d.opts()
	o.Origin = "https://evil.example"
	for i := range fido.DefaultMaxAttempts {
		if res := d.post(t, l, d.assert(t, l, o)); res.status != 400 {
			t.Fatalf("refusal %d: %d %s", i, res.status, res.body)
		}
	}
	if res := do(t, d.http, "GET", l.options, "", ""); res.status != 410 || problemType(t, res) != "fido-over" {
		t.Fatalf("options after the last refusal: %d %s", res.status, res.body)
	}
	if out := check(t, a, l.started.State, url.Values{"fido": {"done"}}); out.Status != idgw.Failed || out.Failure != idgw.FailureTooManyAttempts {
		t.Fatalf("check: %+v", out)
	}
}

// TestAnotherWay: the person presses "Use another way": the challenge
// fails (routing goes on to the next authenticator) and takes no
// assertion after.
func TestAnotherWay(t *testing.T) {
	_, a, d := enrolled(t)
	l := d.startLogin(t, a, alice)
	assertion := d.assert(t, l, d.opts()) // the page's, late
	if out := check(t, a, l.started.State, url.Values{"fido": {"cancel"}}); out.Status != idgw.Failed || out.Failure != idgw.FailureRefused {
		t.Fatalf("cancel: %+v", out)
	}
	if res := d.post(t, l, assertion); res.status != 410 || problemType(t, res) != "fido-over" {
		t.Fatalf("an assertion after cancel: %d %s", res.status, res.body)
	}
	if out := check(t, a, l.started.State, url.Values{"fido": {"done"}}); out.Status != idgw.Failed || out.Failure != idgw.FailureRefused {
		t.Fatalf("check after cancel: %+v", out)
	}
}

// TestNodesShareTheStore: the challenge begun by one node is served and
// verified by another of the operator's nodes sharing its state store,
// and reported by the first.
func TestNodesShareTheStore(t *testing.T) {
	r, served, d := enrolled(t)
	other := r.unmounted(t, fido.Config{})
	st, err := other.Start(context.Background(), r.challenge(alice, "en"))
	if err != nil {
		t.Fatal(err)
	}
	l := loginFromPage(t, d, st)
	if res := d.post(t, l, d.assert(t, l, d.opts())); res.status != 204 {
		t.Fatalf("finish on the serving node: %d %s", res.status, res.body)
	}
	if out := check(t, other, st.State, nil); out.Status != idgw.Succeeded {
		t.Fatalf("check on the starting node: %+v", out)
	}
	_ = served
}

func loginFromPage(t *testing.T, d *device, st idgw.Started) login {
	t.Helper()
	page := do(t, d.http, "GET", st.RedirectURL, "", "")
	m := dataAttr.FindStringSubmatch(page.body)
	if m == nil {
		t.Fatalf("login page: %d\n%s", page.status, page.body)
	}
	un := func(s string) string { return d.r.public + strings.ReplaceAll(s, "&amp;", "&") }
	return login{started: st, options: un(m[1]), finish: un(m[2]), page: page}
}

// TestDecoyNeverSucceeds: a decoy's page is the login page, and no
// assertion answers it.
func TestDecoyNeverSucceeds(t *testing.T) {
	r, a, d := enrolled(t)
	st, err := a.StartDecoy(context.Background(), r.challenge(alice, "en"))
	if err != nil {
		t.Fatal(err)
	}
	l := loginFromPage(t, d, st)
	opts := do(t, d.http, "GET", l.options, "", "")
	if opts.status != 200 || !strings.Contains(opts.body, `"allowCredentials":[{`) {
		t.Fatalf("decoy options: %d %s", opts.status, opts.body)
	}
	o := d.opts()
	o.Credential = mustB64(t, d.auth.CredentialIDs()[0])
	if res := d.post(t, l, d.assert(t, l, o)); res.status != 400 {
		t.Fatalf("an assertion for a decoy: %d %s", res.status, res.body)
	}
	if out := check(t, a, st.State, url.Values{"fido": {"done"}}); out.Status == idgw.Succeeded {
		t.Fatalf("a decoy succeeded: %+v", out)
	}
}

// TestConcurrentPostsOneWins: the same assertion posted many times at
// once (a double click, a replay racing the original) signs in once.
func TestConcurrentPostsOneWins(t *testing.T) {
	_, a, d := enrolled(t)
	l := d.startLogin(t, a, alice)
	assertion := d.assert(t, l, d.opts())
	const n = 8
	codes := make(chan int, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			res, err := d.http.Post(l.finish, "application/json", bytes.NewReader(assertion))
			if err != nil {
				codes <- 0
				return
			}
			res.Body.Close()
			codes <- res.StatusCode
		})
	}
	wg.Wait()
	close(codes)
	won := 0
	for c := range codes {
		switch c {
		case 204:
			won++
		case 400, 410:
		default:
			t.Errorf("answer %d", c)
		}
	}
	if won != 1 {
		t.Fatalf("%d of %d posts signed in", won, n)
	}
	if out := check(t, a, l.started.State, nil); out.Status != idgw.Succeeded {
		t.Fatalf("check: %+v", out)
	}
}

// TestUserVerificationRequired: LoA3 is the passkey and the person's
// biometric or device PIN: an assertion or attestation with user presence
// only (no UV flag) is refused.
func TestUserVerificationRequired(t *testing.T) {
	r, a, d := enrolled(t)
	l := d.startLogin(t, a, alice)
	o := d.opts()
	o.NoUserVerification = true
	if res := d.post(t, l, d.assert(t, l, o)); res.status != 400 || problemType(t, res) != "fido-refused" {
		t.Fatalf("an assertion without user verification: %d %s", res.status, res.body)
	}
	other := r.device()
	other.openPasskeys(t, a, bob)
	if res := other.addPasskey(t, o); res.status != 400 || problemType(t, res) != "fido-refused" {
		t.Fatalf("an attestation without user verification: %d %s", res.status, res.body)
	}
}
