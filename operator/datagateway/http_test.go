package datagateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// crm serves JSON answers per path.
func crm(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h) // listens on 127.0.0.1
	t.Cleanup(srv.Close)
	return srv
}

func TestHTTPSourceMapping(t *testing.T) {
	srv := crm(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.Header.Get("Authorization") != "Bearer crm-key" ||
			r.Header.Get("Accept") != "application/json" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/subscribers/447400123456": // flat, in Record's names
			fmt.Fprint(w, `{"msisdn":"+447400123456","title":"Dr","given_name":"John","middle_name":"Quincy",
				"family_name":"Smith","email":"john.smith@example.com","email_verified":"true",
				"phone_number":"+447400123456","phone_number_alternate":"+447400654321","birthdate":"1980-01-01",
				"address":{"street_address":"10 Downing Street","locality":"London","region":"Greater London",
				"postal_code":"SW1A 2AA","country":"GB"},"national_identifier":"AB123456C",
				"sim_swap_at":"2025-03-01T11:30:15.0000005+01:00","last_port_at":"2024-11-20T08:00:00Z",
				"loyalty_tier":"gold"}`)
		case "/subscribers/447400000001": // the provisioning API's subscriber
			fmt.Fprint(w, `{"msisdn":"+447400000001","status":"active","attributes":{"given_name":"Ada",
				"family_name":"Lovelace","email":"ada@example.com","email_verified":true,
				"address":{"locality":"London","country":"GB"}},"sim_swap_at":"2025-01-02T03:04:05Z",
				"version":3}`)
		case "/subscribers/447400000002": // flat premiuminfo address fields
			fmt.Fprint(w, `{"given_name":"Bob","street_address":"1 High St","city":"Leeds","state":"West Yorkshire",
				"postal_code":"LS1 1AA","country":"GB"}`)
		case "/subscribers/447400000003":
			fmt.Fprint(w, `{"status":"suspended","attributes":{"given_name":"Eve"}}`)
		case "/subscribers/447400000004":
			fmt.Fprint(w, `{"status":"deleted"}`)
		default:
			http.NotFound(w, r)
		}
	})
	src := &HTTPSource{URLTemplate: srv.URL + "/subscribers/{msisdn}", Timeout: 2 * time.Second,
		Client: srv.Client(), Header: map[string]string{"Authorization": "Bearer crm-key"}}
	ctx := context.Background()

	r, err := src.Attributes(ctx, testMSISDN)
	if err != nil {
		t.Fatal(err)
	}
	want := fullRecord()
	want.SIMSwapAt = time.Date(2025, 3, 1, 10, 30, 15, 500, time.UTC)
	if r != want {
		t.Errorf("flat answer:\n got %+v\nwant %+v", r, want)
	}

	r, err = src.Attributes(ctx, 447400000001)
	if err != nil {
		t.Fatal(err)
	}
	want = Record{GivenName: "Ada", FamilyName: "Lovelace", Email: "ada@example.com", EmailVerified: true,
		PhoneNumber: "+447400000001", Address: Address{Locality: "London", Country: "GB"},
		SIMSwapAt: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}
	if r != want {
		t.Errorf("subscriber answer:\n got %+v\nwant %+v", r, want)
	}

	r, err = src.Attributes(ctx, 447400000002)
	if err != nil {
		t.Fatal(err)
	}
	want = Record{GivenName: "Bob", PhoneNumber: "+447400000002", Address: Address{StreetAddress: "1 High St",
		Locality: "Leeds", Region: "West Yorkshire", PostalCode: "LS1 1AA", Country: "GB"}}
	if r != want {
		t.Errorf("premiuminfo-style answer:\n got %+v\nwant %+v", r, want)
	}

	if _, err := src.Attributes(ctx, 447400000003); !errors.Is(err, ErrSuspended) {
		t.Errorf("suspended: %v", err)
	}
	if _, err := src.Attributes(ctx, 447400000004); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleted: %v", err)
	}
	if _, err := src.Attributes(ctx, 447400999999); !errors.Is(err, ErrNotFound) {
		t.Errorf("404: %v", err)
	}

	// Through the gateway, the CRM's answer becomes claims.
	out, err := New(src).Claims(ctx, query(EndpointPremiumInfo, "openid mc_nationalid", nil))
	if err != nil || out["national_identifier"] != "AB123456C" || out["city"] != "London" {
		t.Errorf("gateway over CRM: %v, %v", out, err)
	}
}

func TestHTTPSourceE164Placeholder(t *testing.T) {
	srv := crm(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/s/+447400123456" || r.URL.Query().Get("n") != "+447400123456" {
			http.Error(w, r.URL.String(), http.StatusBadRequest)
			return
		}
		fmt.Fprint(w, `{"given_name":"John"}`)
	})
	src, err := NewHTTPSource(srv.URL+"/s/{e164}?n={e164}", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := src.Attributes(context.Background(), testMSISDN); err != nil || r.GivenName != "John" {
		t.Errorf("got %+v, %v", r, err)
	}
}

func TestHTTPSourceFailures(t *testing.T) {
	release := make(chan struct{})
	srv := crm(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/slow/447400123456":
			select {
			case <-release:
			case <-r.Context().Done():
			}
			fmt.Fprint(w, `{}`)
		case "/500/447400123456":
			http.Error(w, "oops", http.StatusInternalServerError)
		case "/array/447400123456":
			fmt.Fprint(w, `[{"given_name":"John"}]`)
		case "/html/447400123456":
			fmt.Fprint(w, `<html>login</html>`)
		case "/badtype/447400123456":
			fmt.Fprint(w, `{"given_name":42}`)
		case "/badtime/447400123456":
			fmt.Fprint(w, `{"sim_swap_at":"yesterday"}`)
		case "/badbool/447400123456":
			fmt.Fprint(w, `{"email":"a@example.com","email_verified":"yes"}`)
		case "/badstatus/447400123456":
			fmt.Fprint(w, `{"status":"frozen"}`)
		case "/big/447400123456":
			fmt.Fprint(w, `{"given_name":"`+strings.Repeat("x", maxCRMBody)+`"}`)
		}
	})
	defer close(release)
	ctx := context.Background()

	slow := &HTTPSource{URLTemplate: srv.URL + "/slow/{msisdn}", Timeout: 50 * time.Millisecond}
	start := time.Now()
	_, err := slow.Attributes(ctx, testMSISDN)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("timeout: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("timeout took %v", d)
	}
	if err != nil && strings.Contains(err.Error(), "447400123456") {
		t.Errorf("error names the number: %v", err)
	}
	// The gateway passes the failure on (idgw answers 503).
	if _, err := New(slow).Claims(ctx, query(EndpointUserInfo, "openid profile", nil)); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("gateway over a slow CRM: %v", err)
	}
	// The caller's context counts too.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := (&HTTPSource{URLTemplate: srv.URL + "/slow/{msisdn}"}).Attributes(cctx, testMSISDN); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}

	for _, p := range []string{"500", "array", "html", "badtype", "badtime", "badbool", "badstatus", "big"} {
		src := &HTTPSource{URLTemplate: srv.URL + "/" + p + "/{msisdn}"}
		_, err := src.Attributes(ctx, testMSISDN)
		if err == nil || errors.Is(err, ErrNotFound) {
			t.Errorf("%s: %v", p, err)
		} else if strings.Contains(err.Error(), "447400123456") {
			t.Errorf("%s: error names the number: %v", p, err)
		}
	}

	// Nothing listening.
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	if _, err := (&HTTPSource{URLTemplate: dead.URL + "/{msisdn}"}).Attributes(ctx, testMSISDN); err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("connection refused: %v", err)
	}
}

func TestHTTPSourceTemplate(t *testing.T) {
	for _, tmpl := range []string{"https://crm/subscribers", "ftp://crm/{msisdn}", "/subscribers/{msisdn}", "http://%zz/{msisdn}"} {
		if _, err := NewHTTPSource(tmpl, 0); err == nil {
			t.Errorf("%q accepted", tmpl)
		}
		if _, err := (&HTTPSource{URLTemplate: tmpl}).Attributes(context.Background(), testMSISDN); err == nil {
			t.Errorf("%q: lookup without error", tmpl)
		}
	}
	if _, err := NewHTTPSource("https://crm.example/subscribers/{msisdn}", 0); err != nil {
		t.Error(err)
	}
}
