package datagateway

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/mcfed/mcfed/idgw"
	"github.com/mcfed/mcfed/operator/state"
	"github.com/mcfed/mcfed/operator/state/embedded"
	"github.com/mcfed/mcfed/operator/subscribers"
)

func TestStoreSource(t *testing.T) {
	db, err := embedded.Open(filepath.Join(t.TempDir(), "state.db"), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	st := subscribers.New(db)
	swap := time.Date(2025, 3, 1, 11, 30, 15, 0, time.FixedZone("CET", 3600))
	port := time.Date(2024, 11, 20, 8, 0, 0, 0, time.UTC)
	const m = subscribers.MSISDN(testMSISDN)
	_, err = st.Create(subscribers.Subscriber{
		MSISDN: m,
		Attributes: subscribers.Attributes{
			Title: "Dr", GivenName: "John", MiddleName: "Quincy", FamilyName: "Smith",
			Email: "john.smith@example.com", EmailVerified: true, PhoneNumberAlternate: "+447400654321",
			Birthdate: "1980-01-01", NationalIdentifier: "AB123456C",
			Address: &subscribers.Address{StreetAddress: "10 Downing Street", Locality: "London",
				Region: "Greater London", PostalCode: "SW1A 2AA", Country: "GB"},
		},
		SIMSwapAt: &swap, LastPortAt: &port,
	})
	if err != nil {
		t.Fatal(err)
	}
	src := NewStoreSource(st)
	ctx := context.Background()

	r, err := src.Attributes(ctx, testMSISDN)
	if err != nil {
		t.Fatal(err)
	}
	want := fullRecord()
	want.SIMSwapAt = time.Date(2025, 3, 1, 10, 30, 15, 0, time.UTC)
	if !r.SIMSwapAt.Equal(want.SIMSwapAt) || !r.LastPortAt.Equal(want.LastPortAt) {
		t.Errorf("times: %v %v", r.SIMSwapAt, r.LastPortAt)
	}
	r.SIMSwapAt, r.LastPortAt, want.SIMSwapAt, want.LastPortAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	if r != want {
		t.Errorf("\n got %+v\nwant %+v", r, want)
	}

	// The gateway over the store: exactly the scope's claims.
	out, err := New(src).Claims(ctx, query(EndpointPremiumInfo, "openid mc_identity_signup mc_atp", nil))
	if err != nil {
		t.Fatal(err)
	}
	assertJSONEqual(t, out, map[string]any{
		"title": "Dr", "given_name": "John", "family_name": "Smith", "middle_name": "Quincy",
		"street_address": "10 Downing Street", "city": "London", "state": "Greater London",
		"postal_code": "SW1A 2AA", "country": "GB", "email": "john.smith@example.com",
		"phone_number": "+447400123456", "birthdate": "1980-01-01",
		"sim_change_date": "2025-03-01T10:30:15Z", "last_port_date": "2024-11-20T08:00:00Z",
	})

	if _, err := src.Attributes(ctx, 447400000001); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown subscriber: %v", err)
	}
	if _, err := st.SetStatus(m, 0, subscribers.StatusSuspended); err != nil {
		t.Fatal(err)
	}
	if _, err := src.Attributes(ctx, testMSISDN); !errors.Is(err, ErrSuspended) {
		t.Errorf("suspended subscriber: %v", err)
	}
	if _, err := st.Delete(m, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := src.Attributes(ctx, testMSISDN); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleted subscriber: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := src.Attributes(cctx, testMSISDN); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

// TestClaimsFromTheRecordRead: a claims query carrying the subscriber's
// record as the request read it (its standing) releases from it, without
// reading the store again; one without, or with a record of another
// number, reads the store.
func TestClaimsFromTheRecordRead(t *testing.T) {
	db, err := embedded.Open(filepath.Join(t.TempDir(), "state.db"), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	st := subscribers.New(db)
	const m = subscribers.MSISDN(testMSISDN)
	if _, err := st.Create(subscribers.Subscriber{MSISDN: m, Attributes: subscribers.Attributes{GivenName: "Stored"}}); err != nil {
		t.Fatal(err)
	}
	g := New(NewStoreSource(st))
	ctx := context.Background()
	read := &subscribers.Subscriber{MSISDN: m, Status: subscribers.StatusActive, Attributes: subscribers.Attributes{GivenName: "Read"}}
	q := idgw.ClaimsQuery{MSISDN: testMSISDN, Endpoint: EndpointUserInfo, Scopes: []string{"openid", "profile"},
		Subscriber: &idgw.Subscriber{MSISDN: testMSISDN, Record: read}}
	if out, err := g.Claims(ctx, q); err != nil || out["given_name"] != "Read" {
		t.Fatalf("claims with the record read: %v %v, want given_name Read", out, err)
	}
	other := *read
	other.MSISDN = m + 1
	q.Subscriber.Record = &other
	if out, err := g.Claims(ctx, q); err != nil || out["given_name"] != "Stored" {
		t.Fatalf("claims with another number's record: %v %v, want the stored given_name", out, err)
	}
	q.Subscriber = nil
	if out, err := g.Claims(ctx, q); err != nil || out["given_name"] != "Stored" {
		t.Fatalf("claims without a record: %v %v, want the stored given_name", out, err)
	}
}
