package idgw

import (
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/mcfed/mcfed/registry"
)

// refresh presents a refresh token for shop: the status, the new access
// and refresh tokens, and the error code.
func (f *tokenFixture) refreshWith(refresh string) (status int, access, next, code string) {
	f.t.Helper()
	status, body, _ := f.redeem("shop:"+shopSecret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}})
	access, _ = body["access_token"].(string)
	next, _ = body["refresh_token"].(string)
	code, _ = body["error"].(string)
	return status, access, next, code
}

// refused asserts that access and refresh no longer serve anywhere:
// userinfo says invalid_token, introspection inactive, the refresh
// invalid_grant.
func (f *tokenFixture) refused(what, access, refresh string) {
	f.t.Helper()
	if status, _, www, _ := f.get("/userinfo", "Bearer "+access); status != 401 || !strings.Contains(www, "invalid_token") {
		f.t.Fatalf("%s: userinfo answered %d %q", what, status, www)
	}
	for _, tok := range []string{access, refresh} {
		if got := f.introspectAt("/introspect", "shop", tok); got["active"] != false {
			f.t.Fatalf("%s: introspection says %v", what, got)
		}
	}
	if status, _, _, code := f.refreshWith(refresh); status != 400 || code != "invalid_grant" {
		f.t.Fatalf("%s: the refresh answered %d %q", what, status, code)
	}
}

// TestRefreshTokenReuseRevokesTheFamily: RFC 9700 §4.14.2. A refresh
// token rotated already and presented again is refused, and the whole
// family goes with it: the pair the last refresh issued stops working at
// userinfo, introspection and the token endpoint.
func TestRefreshTokenReuseRevokesTheFamily(t *testing.T) {
	f := newTokenFixture(t)
	_, r1 := f.tokens("fam-1")
	status, _, r2, _ := f.refreshWith(r1)
	if status != 200 {
		t.Fatalf("first refresh: %d", status)
	}
	status, a3, r3, _ := f.refreshWith(r2)
	if status != 200 {
		t.Fatalf("second refresh: %d", status)
	}
	// r2 again at once, as a client's retry racing its first refresh
	// would: refused, and the family kept (refreshRetryGrace).
	if status, _, _, code := f.refreshWith(r2); status != 400 || code != "invalid_grant" {
		t.Fatalf("r2 again within the grace: %d %q", status, code)
	}
	if s, _, _, _ := f.get("/userinfo", "Bearer "+a3); s != 200 {
		t.Fatalf("the latest access token before the reuse: %d", s)
	}
	// Another login's family is not touched by this one's revocation.
	other, otherRefresh := f.tokens("fam-other")

	// Later, the attacker (or a confused client) presents r1 again.
	f.clock.advance(refreshRetryGrace)
	if status, _, _, code := f.refreshWith(r1); status != 400 || code != "invalid_grant" {
		t.Fatalf("reuse of a rotated refresh token: %d %q", status, code)
	}
	f.refused("after the reuse", a3, r3)
	// r2, rotated too, is refused as well.
	if status, _, _, code := f.refreshWith(r2); status != 400 || code != "invalid_grant" {
		t.Fatalf("r2 after the revocation: %d %q", status, code)
	}
	if s, _, _, _ := f.get("/userinfo", "Bearer "+other); s != 200 {
		t.Fatalf("another family's access token: %d", s)
	}
	if s, _, _, _ := f.refreshWith(otherRefresh); s != 200 {
		t.Fatalf("another family's refresh: %d", s)
	}
}

// TestCodeReplayRevokesTheRefreshedTokens: a code presented again revokes
// everything it led to, the pairs of later refreshes included.
func TestCodeReplayRevokesTheRefreshedTokens(t *testing.T) {
	f := newTokenFixture(t)
	code := f.code("state", "replay-1")
	status, body, _ := f.redeem("shop:"+shopSecret, codeForm(code))
	if status != 200 {
		t.Fatalf("redemption: %d %v", status, body)
	}
	status, a2, r2, _ := f.refreshWith(body["refresh_token"].(string))
	if status != 200 {
		t.Fatalf("refresh: %d", status)
	}
	status, body, _ = f.redeem("shop:"+shopSecret, codeForm(code))
	if status != 400 || body["error"] != "invalid_grant" {
		t.Fatalf("replay: %d %v", status, body)
	}
	f.refused("after the code replay", a2, r2)
	if liveCount(f.t, f.g, "idgw.family") != 0 {
		t.Fatalf("%d families left after the only one was revoked", liveCount(f.t, f.g, "idgw.family"))
	}
}

// TestTokensFollowTheSubscriber: a subscriber suspended after login can
// neither refresh nor use or introspect its tokens, and can again once the
// suspension is lifted; deletion and port-out end the family for good.
func TestTokensFollowTheSubscriber(t *testing.T) {
	f := newTokenFixture(t)
	subs := f.g.cfg.Subscribers.(subscriberMap)
	n := red(t)
	access, refresh := f.tokens("sub-1")

	subs[n] = Subscriber{MSISDN: n, Active: false}
	f.refused("suspended", access, refresh)
	subs[n] = Subscriber{MSISDN: n, Active: true}
	if s, _, _, _ := f.get("/userinfo", "Bearer "+access); s != 200 {
		t.Fatalf("the suspension lifted: userinfo %d", s)
	}

	delete(subs, n)
	f.refused("deleted", access, refresh)
	subs[n] = Subscriber{MSISDN: n, Active: true}
	// The test store gives the number the same PCR secret again; the
	// family was dropped all the same.
	f.refused("deleted and provisioned again", access, refresh)
	if liveCount(f.t, f.g, "idgw.family") != 0 {
		t.Fatal("the deleted subscriber's family is still held")
	}

	access, refresh = f.tokens("sub-2")
	reg := f.g.cfg.Registry.(*registry.Registry)
	if err := reg.Apply(reg.AppliedIndex()+1, registry.MustEncode(registry.CmdPutOperator, registry.Operator{
		ID: "blue", Name: "Blue", Country: "GB", Currency: "GBP", Networks: []string{"234_20"},
		Issuer: "https://blue.example/", Status: registry.StatusActive})); err != nil {
		t.Fatal(err)
	}
	ports, err := registry.EncodePorts([]registry.Port{{Number: n, Operator: "blue"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Apply(reg.AppliedIndex()+1, ports); err != nil {
		t.Fatal(err)
	}
	f.refused("ported out", access, refresh)
	if liveCount(f.t, f.g, "idgw.family") != 0 {
		t.Fatal("the ported number's family is still held")
	}
}

// TestConcurrentRefreshesHaveOneWinner: of several refreshes racing with
// one refresh token, exactly one gets a new pair.
func TestConcurrentRefreshesHaveOneWinner(t *testing.T) {
	f := newTokenFixture(t)
	_, refresh := f.tokens("race")
	const n = 8
	statuses := make(chan int, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			status, _, _ := f.redeem("shop:"+shopSecret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}})
			statuses <- status
		})
	}
	wg.Wait()
	close(statuses)
	won := 0
	for s := range statuses {
		switch s {
		case 200:
			won++
		case 400:
		default:
			t.Fatalf("a racing refresh answered %d", s)
		}
	}
	if won != 1 {
		t.Fatalf("%d of %d racing refreshes won, want 1", won, n)
	}
}
