package sms_test

import (
	"context"
	"errors"
	"html"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcfed/mcfed/idgw"
	"github.com/mcfed/mcfed/operator/sms"
)

// The tests of this file run two Authenticators on one state store, as two
// gateway nodes of one operator do, or one Authenticator on a store closed
// and opened again, as a node that restarts does.

// peer is another node's Authenticator on the rig's store and clock,
// sending through the rig's SMSC. Its pages are not served: the load
// balancer sends the person's browser and phone to the rig's node.
func (r *rig) peer(t *testing.T, cfg sms.Config) *sms.Authenticator {
	t.Helper()
	cfg.PublicURL, cfg.OperatorName, cfg.Now = r.public, "Demo Mobile", r.clock.Now
	if cfg.Store == nil {
		cfg.Store = r.store
	}
	a, err := sms.New(cfg, r.client)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestCodeTypedOnAnotherNode: a challenge one node started is shown and
// answered by another: its code page names it, a wrong code on either
// node counts towards one lock-out whatever state the gateway hands back,
// the right code succeeds on the other node, once across both.
func TestCodeTypedOnAnotherNode(t *testing.T) {
	r := newRig(t)
	served := r.auth(t, sms.Config{Mode: sms.ModeOTPURL})
	other := r.peer(t, sms.Config{Mode: sms.ModeOTPURL})

	st, err := other.Start(context.Background(), r.personal("en"))
	if err != nil {
		t.Fatal(err)
	}
	code := codeOf(t, r.waitSMS(t, msisdn, 0))
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	if status, body, _ := get(t, st.RedirectURL); status != 200 || !strings.Contains(html.UnescapeString(body), "+49 ••••• ••5678") {
		t.Fatalf("the serving node's code page does not know the other's challenge: %d\n%s", status, body)
	}
	out := check(t, served, st.State, url.Values{"otp": {wrong}})
	wantStatus(t, out, idgw.Pending, "a wrong code on the serving node")
	if _, body, _ := get(t, out.RedirectURL); !strings.Contains(body, "You have 2 attempts left.") {
		t.Fatalf("the page after a wrong code:\n%s", body)
	}
	out = check(t, other, st.State, url.Values{"otp": {code}})
	wantStatus(t, out, idgw.Succeeded, "the right code on the starting node")
	out = check(t, served, st.State, url.Values{"otp": {code}})
	if out.Status != idgw.Failed || out.Failure != idgw.FailureUsed {
		t.Fatalf("the code again on the other node: %+v", out)
	}

	// Wrong codes, each node given the first state: the store counts them.
	st, err = other.Start(context.Background(), r.challenge())
	if err != nil {
		t.Fatal(err)
	}
	code = codeOf(t, r.waitSMS(t, msisdn, 1))
	wrong = "000000"
	if code == wrong {
		wrong = "111111"
	}
	for i, a := range []*sms.Authenticator{served, other, served} {
		out = check(t, a, st.State, url.Values{"otp": {wrong}})
		if i < 2 && out.Status != idgw.Pending || i == 2 && (out.Status != idgw.Failed || out.Failure != idgw.FailureTooManyAttempts) {
			t.Fatalf("wrong code %d: %+v", i+1, out)
		}
	}
	if out = check(t, other, st.State, url.Values{"otp": {code}}); out.Failure != idgw.FailureTooManyAttempts {
		t.Fatalf("the right code after the lock-out on the other node: %+v", out)
	}
}

// TestLinkTappedOnAnotherNode: the phone's answer to a link, taken by one
// node, is seen by the node that started the challenge: its waiting page
// moves on (Answered) and Check succeeds; the link is used up on both.
func TestLinkTappedOnAnotherNode(t *testing.T) {
	r := newRig(t)
	served := r.auth(t, sms.Config{Mode: sms.ModeURL})
	other := r.peer(t, sms.Config{Mode: sms.ModeURL})

	ch := r.challenge()
	ch.Browser = true
	st, err := other.Start(context.Background(), ch)
	if err != nil || len(st.Match) != 2 {
		t.Fatalf("start: %v, match %q", err, st.Match)
	}
	link := r.waitSMS(t, msisdn, 0).Links[0]
	if other.Answered(st.State) {
		t.Fatal("answered before the tap")
	}
	if s, body := postForm(t, link, url.Values{"pick": {st.Match}}); s != 200 || !strings.Contains(body, "You are signed in") {
		t.Fatalf("the right number on the serving node: %d\n%s", s, body)
	}
	if !other.Answered(st.State) {
		t.Fatal("the starting node's waiting page does not see the tap")
	}
	if out := check(t, other, st.State, nil); out.Status != idgw.Succeeded || out.AMR[0] != "SMS_URL_OK" {
		t.Fatalf("after the tap, on the starting node: %+v", out)
	}
	if out := check(t, served, st.State, nil); out.Status != idgw.Failed || out.Failure != idgw.FailureUsed {
		t.Fatalf("after the success, on the serving node: %+v", out)
	}
	if s, _ := postForm(t, link, url.Values{"pick": {st.Match}}); s != http.StatusGone {
		t.Fatalf("the link again: %d", s)
	}
}

// TestSendLimitAcrossNodes: two nodes on one store send SendLimit SMS to
// a number between them, however the Starts race; a send that failed on
// one node gives its place back for the other.
func TestSendLimitAcrossNodes(t *testing.T) {
	store := openStore(t, "", nil)
	senders := []*fakeSender{{}, {}}
	var nodes []*sms.Authenticator
	for _, s := range senders {
		a, err := sms.New(sms.Config{Mode: sms.ModeOTP, PublicURL: "https://op.example", Store: store}, s)
		if err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, a)
	}
	ch := idgw.Challenge{MSISDN: msisdn, SPName: spName, ReturnURL: "https://op.example/authorize/continue?session=1"}
	var limited atomic.Int32
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := nodes[i%2].Start(context.Background(), ch)
			switch {
			case errors.Is(err, sms.ErrSendLimit):
				limited.Add(1)
			case err != nil:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if sent := len(senders[0].texts) + len(senders[1].texts); limited.Load() != 15 || sent != sms.DefaultSendLimit {
		t.Fatalf("%d refused, %d sent by two nodes; want 15 and %d", limited.Load(), sent, sms.DefaultSendLimit)
	}

	// Another number: a node whose SMSC fails spends nothing of its limit.
	ch.MSISDN++
	failing, err := sms.New(sms.Config{Mode: sms.ModeOTP, PublicURL: "https://op.example", Store: store}, failingSender{})
	if err != nil {
		t.Fatal(err)
	}
	for range sms.DefaultSendLimit {
		if _, err := failing.Start(context.Background(), ch); err == nil || errors.Is(err, sms.ErrSendLimit) {
			t.Fatalf("a failing send: %v", err)
		}
	}
	for i := range sms.DefaultSendLimit {
		if _, err := nodes[1].Start(context.Background(), ch); err != nil {
			t.Fatalf("send %d after the other node's failed ones: %v", i+1, err)
		}
	}
	if _, err := nodes[0].Start(context.Background(), ch); !errors.Is(err, sms.ErrSendLimit) {
		t.Fatalf("past the limit: %v", err)
	}
}

// failingSender is an SMSC that refuses every SMS.
type failingSender struct{}

func (failingSender) Submit(context.Context, string, string) (string, error) {
	return "", errors.New("the SMSC refused it")
}

// TestChallengesSurviveARestart: challenges started before the node's
// store is closed are answered after it is opened again, by code and by
// link, and the sends made before count against the limit after.
func TestChallengesSurviveARestart(t *testing.T) {
	r := newRig(t)
	cfg := sms.Config{Mode: sms.ModeOTPURL, SendLimit: 2}
	before := r.peer(t, cfg)
	byCode, err := before.Start(context.Background(), r.challenge())
	if err != nil {
		t.Fatal(err)
	}
	code := codeOf(t, r.waitSMS(t, msisdn, 0))
	byLink, err := before.Start(context.Background(), r.challenge())
	if err != nil {
		t.Fatal(err)
	}
	m := r.waitSMS(t, msisdn, 1)
	wantStatus(t, check(t, before, byLink.State, nil), idgw.Pending, "before the restart")

	if err := r.store.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := before.Start(context.Background(), r.challenge()); err == nil {
		t.Fatal("a start on a closed store succeeded")
	}
	cfg.Store = openStore(t, r.path, r.clock.Now)
	after := r.auth(t, cfg)

	wantStatus(t, check(t, after, byCode.State, url.Values{"otp": {code}}), idgw.Succeeded, "the code after the restart")
	if res := tap(t, r, m); res.Status != 200 || !strings.Contains(res.Body, "You are signed in") {
		t.Fatalf("the link after the restart: %d %s", res.Status, res.Body)
	}
	if !after.Answered(byLink.State) {
		t.Fatal("the tap is not seen after the restart")
	}
	wantStatus(t, check(t, after, byLink.State, nil), idgw.Succeeded, "the link after the restart")
	if _, err := after.Start(context.Background(), r.challenge()); !errors.Is(err, sms.ErrSendLimit) {
		t.Fatalf("a third SMS within the window after the restart: %v", err)
	}
}

// TestRecordsExpireWithTheStore: a challenge's records outlive it by one
// TTL (a late tap is told it expired), then are gone (unknown) and the
// node's sweep of the store removes them; the send log goes when its
// newest send leaves the window.
func TestRecordsExpireWithTheStore(t *testing.T) {
	r := newRig(t)
	a := r.auth(t, sms.Config{Mode: sms.ModeOTPURL, TTL: 2 * time.Minute})
	st, err := a.Start(context.Background(), r.challenge())
	if err != nil {
		t.Fatal(err)
	}
	m := r.waitSMS(t, msisdn, 0)
	r.clock.Add(2*time.Minute + time.Second)
	if res := tap(t, r, m); res.Status != http.StatusGone || !strings.Contains(res.Body, "expired") {
		t.Fatalf("a late tap: %d %s", res.Status, res.Body)
	}
	if n, err := r.store.Sweep(context.Background(), 100); err != nil || n != 0 {
		t.Fatalf("swept %d (%v) within the grace", n, err)
	}
	r.clock.Add(2 * time.Minute)
	if res := tap(t, r, m); res.Status != http.StatusNotFound {
		t.Fatalf("a tap after the grace: %d %s", res.Status, res.Body)
	}
	if !a.Answered(st.State) {
		t.Fatal("an expired challenge is not answered")
	}
	// The challenge and its link's record; the send log stays.
	if n, err := r.store.Sweep(context.Background(), 100); err != nil || n != 2 {
		t.Fatalf("swept %d (%v), want 2", n, err)
	}
	r.clock.Add(sms.DefaultSendWindow)
	if n, err := r.store.Sweep(context.Background(), 100); err != nil || n != 1 {
		t.Fatalf("swept %d (%v) after the window, want the send log", n, err)
	}
}

// TestStoreDownFailsClosed: with the store gone, nothing is answered as
// a success: Check fails, a link is unknown, no SMS is sent.
func TestStoreDownFailsClosed(t *testing.T) {
	r := newRig(t)
	a := r.auth(t, sms.Config{Mode: sms.ModeOTPURL})
	st, err := a.Start(context.Background(), r.challenge())
	if err != nil {
		t.Fatal(err)
	}
	m := r.waitSMS(t, msisdn, 0)
	if err := r.store.Close(); err != nil {
		t.Fatal(err)
	}
	if out, err := a.Check(context.Background(), st.State, url.Values{"otp": {codeOf(t, m)}}); err == nil {
		t.Fatalf("Check without a store: %+v", out)
	}
	if res := tap(t, r, m); res.Status != http.StatusNotFound {
		t.Fatalf("a tap without a store: %d %s", res.Status, res.Body)
	}
	if _, err := a.Start(context.Background(), r.challenge()); err == nil || len(r.hs.Messages(strconv.FormatUint(msisdn, 10))) != 1 {
		t.Fatalf("Start without a store: %v", err)
	}
}
