package datagateway

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcfed/mcfed/idgw"
)

const testMSISDN = 447400123456

var (
	swapAt = time.Date(2025, 3, 1, 10, 30, 15, 500, time.UTC)
	portAt = time.Date(2024, 11, 20, 8, 0, 0, 0, time.UTC)
)

// fullRecord holds every attribute, so that every claim a scope allows is
// released.
func fullRecord() Record {
	return Record{
		Title: "Dr", GivenName: "John", MiddleName: "Quincy", FamilyName: "Smith",
		Email: "john.smith@example.com", EmailVerified: true,
		PhoneNumber: "+447400123456", PhoneNumberAlternate: "+447400654321",
		Birthdate: "1980-01-01",
		Address: Address{StreetAddress: "10 Downing Street", Locality: "London",
			Region: "Greater London", PostalCode: "SW1A 2AA", Country: "GB"},
		NationalIdentifier: "AB123456C",
		SIMSwapAt:          swapAt, LastPortAt: portAt,
	}
}

type fakeSource struct {
	rec   Record
	err   error
	calls atomic.Int32
}

func (f *fakeSource) Attributes(_ context.Context, msisdn uint64) (Record, error) {
	f.calls.Add(1)
	if msisdn != testMSISDN {
		return Record{}, ErrNotFound
	}
	return f.rec, f.err
}

func query(endpoint string, scopes string, claims idgw.ClaimsRequest) idgw.ClaimsQuery {
	return idgw.ClaimsQuery{MSISDN: testMSISDN, Endpoint: endpoint, Scopes: strings.Fields(scopes), Claims: claims}
}

func keys(m map[string]any) []string { return slices.Sorted(maps.Keys(m)) }

func set(s ...string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return slices.Compact(s)
}

var (
	profileKeys = []string{"name", "given_name", "family_name", "middle_name", "birthdate"}
	signupKeys  = []string{"title", "given_name", "family_name", "middle_name", "street_address",
		"city", "state", "postal_code", "country", "email", "phone_number", "birthdate"}
	nationalKeys = []string{"national_identifier", "title", "given_name", "family_name", "middle_name",
		"street_address", "city", "state", "postal_code", "country"}
	atpKeys = []string{"sim_change_date", "last_port_date"}
)

func TestScopesReleaseExactlyTheirClaims(t *testing.T) {
	cases := []struct {
		scopes            string
		userinfo, premium []string
	}{
		{"openid", nil, nil},
		{"openid mc_authn", nil, nil},
		{"openid mc_authz offline_access", nil, nil},
		{"openid profile", profileKeys, nil},
		{"openid email", set("email", "email_verified"), nil},
		{"openid phone", set("phone_number", "phone_number_verified"), nil},
		{"openid address", set("address"), nil},
		{"openid profile email phone address",
			set(append(profileKeys, "email", "email_verified", "phone_number", "phone_number_verified", "address")...), nil},
		{"openid mc_identity_phonenumber", nil, set("phone_number")},
		{"openid mc_phonenumber", nil, set("phone_number")},
		{"openid mc_identity_signup", nil, signupKeys},
		{"openid mc_identity_signupplus", nil, signupKeys},
		{"openid mc_signup", nil, signupKeys},
		{"openid mc_identity_nationalid", nil, nationalKeys},
		{"openid mc_nationalid", nil, nationalKeys},
		{"openid mc_atp", nil, atpKeys},
		{"openid mc_kyc_plain", nil, atpKeys},
		{"openid mc_kyc_hashed", nil, atpKeys},
		{"openid mc_phonenumber mc_nationalid", nil, set(append(nationalKeys, "phone_number")...)},
		{"openid profile mc_signup", profileKeys, signupKeys},
		{"openid email mc_identity_nationalid mc_atp", set("email", "email_verified"), set(append(nationalKeys, atpKeys...)...)},
		{"openid mc_attr_vm_match mc_india_tc", nil, nil},
	}
	for _, c := range cases {
		for _, ep := range []struct {
			name string
			want []string
		}{{EndpointUserInfo, c.userinfo}, {EndpointPremiumInfo, c.premium}} {
			src := &fakeSource{rec: fullRecord()}
			g := New(src)
			out, err := g.Claims(context.Background(), query(ep.name, c.scopes, nil))
			if err != nil {
				t.Fatalf("%s %q: %v", ep.name, c.scopes, err)
			}
			if got, want := keys(out), set(ep.want...); !slices.Equal(got, want) {
				t.Errorf("%s %q: released %v, want %v", ep.name, c.scopes, got, want)
			}
			if got, want := ClaimsFor(ep.name, strings.Fields(c.scopes)), set(ep.want...); !slices.Equal(got, want) {
				t.Errorf("ClaimsFor(%s, %q) = %v, want %v", ep.name, c.scopes, got, want)
			}
			if len(ep.want) == 0 && src.calls.Load() != 0 {
				t.Errorf("%s %q: source asked although nothing is released", ep.name, c.scopes)
			}
		}
	}
}

func TestClaimValues(t *testing.T) {
	g := New(&fakeSource{rec: fullRecord()})
	out, err := g.Claims(context.Background(), query(EndpointUserInfo, "openid profile email phone address", nil))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"name": "John Quincy Smith", "given_name": "John", "family_name": "Smith", "middle_name": "Quincy",
		"birthdate": "1980-01-01", "email": "john.smith@example.com", "email_verified": true,
		"phone_number": "+447400123456", "phone_number_verified": true,
		"address": map[string]any{"street_address": "10 Downing Street", "locality": "London",
			"region": "Greater London", "postal_code": "SW1A 2AA", "country": "GB",
			"formatted": "10 Downing Street\nLondon Greater London SW1A 2AA\nGB"},
	}
	assertJSONEqual(t, out, want)

	out, err = g.Claims(context.Background(), query(EndpointPremiumInfo, "openid mc_signup mc_nationalid mc_atp", nil))
	if err != nil {
		t.Fatal(err)
	}
	want = map[string]any{
		"title": "Dr", "given_name": "John", "family_name": "Smith", "middle_name": "Quincy",
		"street_address": "10 Downing Street", "city": "London", "state": "Greater London",
		"postal_code": "SW1A 2AA", "country": "GB", "email": "john.smith@example.com",
		"phone_number": "+447400123456", "birthdate": "1980-01-01", "national_identifier": "AB123456C",
		"sim_change_date": "2025-03-01T10:30:15Z", "last_port_date": "2024-11-20T08:00:00Z",
	}
	assertJSONEqual(t, out, want)
}

func assertJSONEqual(t *testing.T, got, want any) {
	t.Helper()
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if string(g) != string(w) {
		t.Errorf("got  %s\nwant %s", g, w)
	}
}

func TestMissingAttributesAreLeftOut(t *testing.T) {
	// Only a name held: no empty strings, no address, no ATP dates; the
	// phone number falls back to the MSISDN.
	g := New(&fakeSource{rec: Record{GivenName: "Ann"}})
	out, err := g.Claims(context.Background(), query(EndpointUserInfo, "openid profile email phone address", nil))
	if err != nil {
		t.Fatal(err)
	}
	assertJSONEqual(t, out, map[string]any{"name": "Ann", "given_name": "Ann",
		"phone_number": "+447400123456", "phone_number_verified": true})
	out, err = g.Claims(context.Background(), query(EndpointPremiumInfo, "openid mc_signup mc_atp", nil))
	if err != nil {
		t.Fatal(err)
	}
	assertJSONEqual(t, out, map[string]any{"given_name": "Ann", "phone_number": "+447400123456"})

	// A formatted address held is used as it is.
	g = New(&fakeSource{rec: Record{Address: Address{Country: "GB", Formatted: "Somewhere, GB"}}})
	out, _ = g.Claims(context.Background(), query(EndpointUserInfo, "openid address", nil))
	assertJSONEqual(t, out, map[string]any{"address": map[string]any{"country": "GB", "formatted": "Somewhere, GB"}})

	// A phone number other than the MSISDN is not verified.
	g = New(&fakeSource{rec: Record{PhoneNumber: "+447400999999"}})
	out, _ = g.Claims(context.Background(), query(EndpointUserInfo, "openid phone", nil))
	assertJSONEqual(t, out, map[string]any{"phone_number": "+447400999999", "phone_number_verified": false})
}

func TestClaimsParameterNarrows(t *testing.T) {
	raw := func(s string) json.RawMessage { return json.RawMessage(s) }
	cases := []struct {
		name     string
		endpoint string
		scopes   string
		claims   idgw.ClaimsRequest
		want     []string
		noSource bool
	}{
		{"userinfo narrows", EndpointUserInfo, "openid profile email",
			idgw.ClaimsRequest{"userinfo": {"given_name": raw("null"), "email": raw(`{"essential":true}`)}},
			set("given_name", "email"), false},
		{"userinfo never widens", EndpointUserInfo, "openid profile",
			idgw.ClaimsRequest{"userinfo": {"given_name": raw("null"), "national_identifier": raw("null"), "email": raw("null")}},
			set("given_name"), false},
		{"narrowed to nothing", EndpointUserInfo, "openid profile",
			idgw.ClaimsRequest{"userinfo": {"email": raw("null")}},
			nil, true},
		{"other sections do not narrow userinfo", EndpointUserInfo, "openid profile",
			idgw.ClaimsRequest{"premiuminfo": {"given_name": raw("null")}, "id_token": {"email": raw("null")}},
			profileKeys, false},
		{"empty section does not narrow", EndpointUserInfo, "openid profile",
			idgw.ClaimsRequest{"userinfo": {}},
			profileKeys, false},
		{"premiuminfo narrows", EndpointPremiumInfo, "openid mc_signup",
			idgw.ClaimsRequest{"premiuminfo": {"given_name": raw("null"), "city": raw("null"), "national_identifier": raw("null")}},
			set("given_name", "city"), false},
		{"premiuminfo never widens to userinfo claims", EndpointPremiumInfo, "openid mc_phonenumber profile",
			idgw.ClaimsRequest{"premiuminfo": {"phone_number": raw("null"), "name": raw("null"), "email_verified": raw("null")}},
			set("phone_number"), false},
		{"premiuminfo ATP narrows", EndpointPremiumInfo, "openid mc_atp",
			idgw.ClaimsRequest{"premiuminfo": {"sim_change_date": raw("null")}},
			set("sim_change_date"), false},
		{"a value request narrows without KYC", EndpointPremiumInfo, "openid mc_signup",
			idgw.ClaimsRequest{"premiuminfo": {"given_name": raw(`{"value":"John"}`)}},
			set("given_name"), false},
		{"KYC input does not narrow", EndpointPremiumInfo, "openid mc_signup mc_kyc_plain",
			idgw.ClaimsRequest{"premiuminfo": {"given_name": raw(`{"value":"John"}`)}},
			set(append(signupKeys, append(atpKeys, "given_name_match")...)...), false},
		{"KYC with a null request narrows", EndpointPremiumInfo, "openid mc_signup mc_kyc_plain",
			idgw.ClaimsRequest{"premiuminfo": {"given_name": raw(`{"value":"John"}`), "email": raw("null")}},
			set("email", "given_name_match"), false},
	}
	for _, c := range cases {
		src := &fakeSource{rec: fullRecord()}
		out, err := New(src).Claims(context.Background(), query(c.endpoint, c.scopes, c.claims))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := keys(out); !slices.Equal(got, set(c.want...)) {
			t.Errorf("%s: released %v, want %v", c.name, got, set(c.want...))
		}
		if c.noSource && src.calls.Load() != 0 {
			t.Errorf("%s: source asked although nothing is released", c.name)
		}
	}
}

func TestSourceErrors(t *testing.T) {
	boom := errors.New("crm down")
	for _, want := range []error{ErrNotFound, ErrSuspended, boom} {
		g := New(&fakeSource{err: want})
		out, err := g.Claims(context.Background(), query(EndpointUserInfo, "openid profile", nil))
		if !errors.Is(err, want) || out != nil {
			t.Errorf("source error %v: got %v, %v", want, out, err)
		}
	}
	// openid alone needs no source, so a source being down does not matter.
	g := New(&fakeSource{err: boom})
	if out, err := g.Claims(context.Background(), query(EndpointUserInfo, "openid", nil)); err != nil || len(out) != 0 {
		t.Errorf("openid alone: %v, %v", out, err)
	}
	if _, err := g.Claims(context.Background(), query("tokeninfo", "openid profile", nil)); err == nil {
		t.Error("unknown endpoint: no error")
	}
}

func TestConcurrentClaims(t *testing.T) {
	g := New(&fakeSource{rec: fullRecord()})
	done := make(chan struct{})
	for range 8 {
		go func() {
			defer func() { done <- struct{}{} }()
			for range 50 {
				out, err := g.Claims(context.Background(), query(EndpointPremiumInfo, "openid mc_signup mc_kyc_plain",
					idgw.ClaimsRequest{"premiuminfo": {"given_name": json.RawMessage(`{"value":"john"}`)}}))
				if err != nil || out["given_name_match"] != "true" {
					t.Errorf("got %v, %v", out, err)
					return
				}
			}
		}()
	}
	for range 8 {
		<-done
	}
}
