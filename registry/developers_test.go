package registry

import (
	"bytes"
	"testing"
)

// TestSuspendingADeveloperSuspendsItsApps: an SP owned by a suspended
// developer is suspended wherever SPs are looked up, its own record
// untouched; activating the developer gives it back its own standing. A
// developer that owns SPs cannot be deleted, and an SP cannot name a
// developer that does not exist.
func TestSuspendingADeveloperSuspendsItsApps(t *testing.T) {
	f := trustFixture(t)
	dev := Developer{ID: "acme", Name: "Acme Ltd", Contacts: []Contact{{Name: "Ops", Email: "ops@acme.example", Role: "technical"}}}
	f.mustAs(credFed, MustEncode(CmdPutDeveloper, dev))
	if d := f.r.Developer("acme"); d == nil || d.Status != StatusActive {
		t.Fatalf("a new developer: %+v, want it active", d)
	}
	sp := testSP("app")
	sp.Developer = "nosuch"
	wantCode(t, f.as(credFed, MustEncode(CmdPutSP, sp)), CodeNotFound, `developer "nosuch" does not exist`)
	sp.Developer = "acme"
	f.mustAs(credFed, MustEncode(CmdPutSP, sp))

	dev.Status = StatusSuspended
	f.mustAs(credFed, MustEncode(CmdPutDeveloper, dev))
	if got := f.r.ServiceProvider("app"); got.Status != StatusSuspended {
		t.Fatalf("the app of a suspended developer: status %q", got.Status)
	}
	if rec := f.r.ServiceProviderRecord("app"); rec.Status != StatusActive {
		t.Fatalf("the app's record: status %q, want its own (active)", rec.Status)
	}
	if got := f.r.ServiceProvider("shop"); got.Status != StatusActive {
		t.Fatalf("an SP of no developer: status %q", got.Status)
	}
	dev.Status = StatusActive
	f.mustAs(credFed, MustEncode(CmdPutDeveloper, dev))
	if got := f.r.ServiceProvider("app"); got.Status != StatusActive {
		t.Fatalf("the app once its developer is active again: status %q", got.Status)
	}

	wantCode(t, f.as(credFed, MustEncode(CmdDeleteDeveloper, Key{Key: "acme"})), CodeConflict, "owns 1 service providers")
	wantCode(t, f.as(credFed, MustEncode(CmdPutDeveloper, Developer{ID: "x", Name: "X", Contacts: []Contact{{Email: "not mail"}}})),
		CodeInvalid, "not an e-mail address")
	// The catalogue is the federation's: an operator's admin may not write it.
	wantCode(t, f.as(credA, MustEncode(CmdPutDeveloper, Developer{ID: "y", Name: "Y"})), CodeForbidden, "")
	f.mustAs(credFed, MustEncode(CmdDeleteSP, Key{Key: "app"}))
	f.mustAs(credFed, MustEncode(CmdDeleteDeveloper, Key{Key: "acme"}))
}

// TestAPIsHoldTheirLimits: an API names the products that open it and each
// SP's limit; limits out of bounds and unknown products are refused; the
// federation's admin alone writes APIs; a snapshot keeps developers and
// APIs.
func TestAPIsHoldTheirLimits(t *testing.T) {
	f := trustFixture(t)
	f.mustAs(credFed, MustEncode(CmdPutScope, Scope{Name: "mc_authn"}))
	f.mustAs(credFed, MustEncode(CmdPutProduct, Product{ID: "identity", Name: "Identity", Scopes: []string{"openid"}, MinLoA: 2}))
	api := API{ID: "userinfo", Name: "UserInfo", Products: []string{"identity"}, RatePerSP: 5, BurstPerSP: 10}
	f.mustAs(credFed, MustEncode(CmdPutAPI, api))
	if got := f.r.API("userinfo"); got == nil || got.RatePerSP != 5 || got.BurstPerSP != 10 {
		t.Fatalf("API userinfo: %+v", got)
	}
	for _, bad := range []struct {
		api  API
		code Code
		says string
	}{
		{API{ID: "u", Name: "U", RatePerSP: 0, BurstPerSP: 1}, CodeInvalid, "rate_per_sp"},
		{API{ID: "u", Name: "U", RatePerSP: 1, BurstPerSP: 0}, CodeInvalid, "burst_per_sp"},
		{API{ID: "u", Name: "U", RatePerSP: 1, BurstPerSP: 1, Products: []string{"nosuch"}}, CodeNotFound, `product "nosuch"`},
		{API{ID: "-u", Name: "U", RatePerSP: 1, BurstPerSP: 1}, CodeInvalid, "API id"},
	} {
		wantCode(t, f.as(credFed, MustEncode(CmdPutAPI, bad.api)), bad.code, bad.says)
	}
	wantCode(t, f.as(credA, MustEncode(CmdPutAPI, api)), CodeForbidden, "")
	f.mustAs(credFed, MustEncode(CmdPutDeveloper, Developer{ID: "acme", Name: "Acme", Status: StatusSuspended}))

	var buf bytes.Buffer
	if _, err := f.r.Snapshot().WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	r, err := Restore(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if a, d := r.API("userinfo"), r.Developer("acme"); a == nil || a.RatePerSP != 5 || d == nil || d.Status != StatusSuspended {
		t.Fatalf("restored: API %+v, developer %+v", a, d)
	}
	if page := r.APIs("", 0); len(page.Items) != 1 {
		t.Fatalf("restored APIs: %+v", page)
	}
	f.mustAs(credFed, MustEncode(CmdDeleteAPI, Key{Key: "userinfo"}))
	if f.r.API("userinfo") != nil {
		t.Fatal("a deleted API is still there")
	}
}
