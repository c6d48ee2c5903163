package idgw

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/mcfed/mcfed/registry"
)

// pcrMap is a PCR index in memory (the operator's store keeps it on disk;
// operator/subscribers tests that part).
type pcrMap struct {
	mu sync.Mutex
	m  map[[2]string]uint64
}

func newPCRMap() *pcrMap { return &pcrMap{m: map[[2]string]uint64{}} }

func (p *pcrMap) RememberPCR(_ context.Context, clientID, pcr string, n uint64) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.m[[2]string{clientID, pcr}] = n
	return nil
}

func (p *pcrMap) LookupPCR(_ context.Context, clientID, pcr string) (uint64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n, ok := p.m[[2]string{clientID, pcr}]
	if !ok {
		return 0, ErrUnknownPCR
	}
	return n, nil
}

// headlessCode runs a login the SDK's way (the phone has answered; the
// re-poll gets the code) and returns the code.
func (f *ssoFixture) headlessCode(kv ...string) string {
	f.t.Helper()
	first, _ := f.get(authorizeURL(kv...), nil)
	// The re-poll carries the login-binding cookie, as the SDK's HTTP
	// client keeps it.
	resp, _ := f.get(authorizeURL(kv...), cookieOf(first, f.g.cookie.binding))
	q := redirectParams(f.t, resp.Header.Get("Location"))
	if resp.StatusCode != 302 || q.Get("code") == "" {
		f.t.Fatalf("no code: %d %v", resp.StatusCode, q)
	}
	return q.Get("code")
}

// TestPCRHintFindsTheSubscriber: the sub an SP received names the same
// subscriber in a later login_hint=PCR:<sub>: the phone of that subscriber
// is challenged and the new ID token carries the same sub.
func TestPCRHintFindsTheSubscriber(t *testing.T) {
	f := newSSOFixture(t, "https://red.example/")
	// The second subscriber logs in first, so that the PCR index holds more
	// than one entry.
	f.idToken(f.headlessCode("login_hint", "MSISDN:"+strings.TrimPrefix(red2Number, "+"), "state", "other"))
	sub := f.idToken(f.headlessCode()).Sub

	f.phone.answer(red2Number, Pending) // only red's phone would say yes
	code := f.headlessCode("login_hint", "PCR:"+sub, "state", "by-pcr")
	if again := f.idToken(code).Sub; again != sub {
		t.Fatalf("the PCR hint logged in sub %q, want %q", again, sub)
	}
}

// TestPCRHintRefusals: a PCR the SP never received, another SP's PCR for
// the same subscriber, the PCR of a deleted subscriber, of a number since
// given to someone new and of a number ported to another operator are all
// the same invalid_request on the redirect, with state and correlation_id,
// and nobody's phone is challenged.
func TestPCRHintRefusals(t *testing.T) {
	f := newSSOFixture(t, "https://red.example/")
	reg := f.g.cfg.Registry.(*registry.Registry)
	if err := reg.Apply(1000, registry.MustEncode(registry.CmdPutSP, registry.ServiceProvider{ClientID: "bank", Name: "Bank",
		SecretHash: registry.HashSecret(shopSecret), RedirectURIs: []string{shopCB}, Scopes: []string{"openid", "mc_authn"},
		Operators: []string{"red"}, Status: registry.StatusActive})); err != nil {
		t.Fatal(err)
	}
	shopSub := f.idToken(f.headlessCode()).Sub
	f.headlessCode("client_id", "bank", "state", "bank-login") // bank has its own PCR for red now
	f.headlessCode("login_hint", "MSISDN:"+strings.TrimPrefix(red2Number, "+"), "state", "red2")
	red2Sub := pcr(f.mustSecret(red2Number), "shop")

	refused := func(name string, kv ...string) {
		t.Helper()
		started := f.started()
		q := f.silent(nil, kv...)
		if q.Get("error") != "invalid_request" || q.Get("state") != "st-1" || q.Get("correlation_id") != "corr-1" ||
			!strings.Contains(q.Get("error_description"), "PCR") || f.started() != started {
			t.Errorf("%s: %v", name, q)
		}
	}
	refused("a PCR never issued", "login_hint", "PCR:"+strings.Repeat("x", 43))
	refused("shop's PCR presented by bank", "client_id", "bank", "login_hint", "PCR:"+shopSub)
	if q := f.silent(nil, "prompt", "none", "login_hint", "PCR:"+red2Sub); q.Get("error") != "login_required" {
		t.Fatalf("a valid PCR with prompt=none and no session: %v", q)
	}

	f.subs.remove(authTestMSISDN(t, red2Number))
	refused("a deleted subscriber's PCR", "login_hint", "PCR:"+red2Sub)
	f.subs.add(authTestMSISDN(t, red2Number)) // the number is recycled
	refused("the previous holder's PCR of a recycled number", "login_hint", "PCR:"+red2Sub)

	// The subscriber is still in the store, with the same secret, but the
	// number has been ported to blue: the same answer as the others.
	port, err := registry.EncodePorts([]registry.Port{{Number: red(t), Operator: "blue"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Apply(1001, port); err != nil {
		t.Fatal(err)
	}
	refused("the PCR of a subscriber ported out", "login_hint", "PCR:"+shopSub)

	f.g.cfg.PCRIndex = nil
	refused("a gateway without a PCR index", "login_hint", "PCR:"+shopSub)
}

func (f *ssoFixture) mustSecret(number string) []byte {
	f.t.Helper()
	s, err := f.subs.PCRSecret(context.Background(), authTestMSISDN(f.t, number))
	if err != nil {
		f.t.Fatal(err)
	}
	return s
}

// TestALoginReadsThePCRSecretOnce: from the authorize request to the ID
// token, a login reads the subscriber's PCR secret from the store once,
// whether the phone is challenged (headless or in a browser), the browser's
// session signs in, or a PCR hint names the subscriber; the sub is the
// same each time.
func TestALoginReadsThePCRSecretOnce(t *testing.T) {
	f := newSSOFixture(t, "https://red.example/")
	want := ""
	var session *http.Cookie
	for _, login := range []struct {
		name string
		run  func() string // the login, to the ID token's sub
	}{
		{"headless", func() string { return f.idToken(f.headlessCode()).Sub }},
		{"in a browser", func() string {
			var code string
			code, session = f.browserLogin(nil, "state", "browser")
			return f.idToken(code).Sub
		}},
		{"by the browser's session", func() string { return f.idToken(f.silent(session, "state", "sso").Get("code")).Sub }},
		{"by a PCR hint", func() string { return f.idToken(f.headlessCode("login_hint", "PCR:"+want, "state", "by-pcr")).Sub }},
	} {
		before := f.secretReads()
		sub := login.run()
		if reads := f.secretReads() - before; reads != 1 {
			t.Errorf("a login %s read the PCR secret %d times, want 1", login.name, reads)
		}
		if want == "" {
			want = sub
		}
		if sub != want {
			t.Fatalf("a login %s: sub %q, want %q", login.name, sub, want)
		}
	}
}
