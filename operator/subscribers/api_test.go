package subscribers

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
)

func newApp(t testing.TB) (*fiber.App, *Store) {
	t.Helper()
	s, _ := openStore(t)
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	(&API{Store: s, MaxImportBytes: 8 << 20}).Mount(app.Group("/v1"))
	return app, s
}

type reply struct {
	status int
	header http.Header
	body   string
}

func do(t *testing.T, app *fiber.App, method, path, ctype, body string, hdr ...string) reply {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := app.Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	// No successful answer carries a secret, under any name.
	if resp.StatusCode < 300 && strings.Contains(strings.ToLower(string(b)), "secret") {
		t.Fatalf("%s %s answered with a secret: %s", method, path, b)
	}
	return reply{resp.StatusCode, resp.Header, string(b)}
}

func wantProblem(t *testing.T, r reply, status int, field string) {
	t.Helper()
	if r.status != status || r.header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("got %d %s %s, want a %d problem", r.status, r.header.Get("Content-Type"), r.body, status)
	}
	var p problem
	if err := json.Unmarshal([]byte(r.body), &p); err != nil || p.Status != status || p.Title == "" || p.Type == "" {
		t.Fatalf("bad problem %s (%v)", r.body, err)
	}
	if field != "" && p.Field != field {
		t.Fatalf("problem names field %q, want %q: %s", p.Field, field, r.body)
	}
}

func TestAPILifecycle(t *testing.T) {
	app, s := newApp(t)
	const js = "application/json"
	r := do(t, app, "POST", "/v1/subscribers", js, `{"msisdn":"+44 7400 123456","attributes":{"given_name":"Ada","family_name":"Lovelace","birthdate":"1990-12-10","address":{"locality":"London","country":"GB"}},"authenticators":[{"type":"fido","id":"k1","data":{"cred":"abc"}}]}`)
	if r.status != 201 || r.header.Get("ETag") != `"1"` || r.header.Get("Location") != "/v1/subscribers/+447400123456" {
		t.Fatalf("create: %d %v %s", r.status, r.header, r.body)
	}
	wantProblem(t, do(t, app, "POST", "/v1/subscribers", js, `{"msisdn":"+447400123456"}`), 409, "")

	r = do(t, app, "GET", "/v1/subscribers/+447400123456", "", "")
	var sub Subscriber
	if err := json.Unmarshal([]byte(r.body), &sub); err != nil || r.status != 200 || sub.Attributes.Address.Locality != "London" || string(sub.Authenticators[0].Data) != `{"cred":"abc"}` {
		t.Fatalf("get: %d %s", r.status, r.body)
	}
	wantProblem(t, do(t, app, "GET", "/v1/subscribers/+447400654321", "", ""), 404, "")

	// PUT replaces; a stale If-Match is refused.
	sub.Attributes.Email = "ada@example.com"
	b, _ := json.Marshal(sub)
	wantProblem(t, do(t, app, "PUT", "/v1/subscribers/447400123456", js, string(b), "If-Match", `"7"`), 412, "")
	r = do(t, app, "PUT", "/v1/subscribers/447400123456", js, string(b), "If-Match", `"1"`)
	if r.status != 200 || r.header.Get("ETag") != `"2"` {
		t.Fatalf("put: %d %s", r.status, r.body)
	}
	r = do(t, app, "PATCH", "/v1/subscribers/%2B447400123456", "application/merge-patch+json", `{"attributes":{"title":"Countess","address":null}}`, "If-Match", `"2"`)
	if r.status != 200 || !strings.Contains(r.body, `"title":"Countess"`) || strings.Contains(r.body, "London") || !strings.Contains(r.body, "ada@example.com") {
		t.Fatalf("patch: %d %s", r.status, r.body)
	}
	wantProblem(t, do(t, app, "PATCH", "/v1/subscribers/+447400123456", "application/merge-patch+json", `{"attributes":{"birthdate":"10/12/1990"}}`), 400, "attributes.birthdate")
	wantProblem(t, do(t, app, "PATCH", "/v1/subscribers/+447400123456", "application/merge-patch+json", `{"colour":"red"}`), 400, "colour")
	wantProblem(t, do(t, app, "PATCH", "/v1/subscribers/+447400123456", "application/merge-patch+json", `{"msisdn":"+447400654321"}`), 400, "msisdn")

	r = do(t, app, "POST", "/v1/subscribers/+447400123456/suspend", "", "")
	if r.status != 200 || !strings.Contains(r.body, `"status":"suspended"`) {
		t.Fatalf("suspend: %d %s", r.status, r.body)
	}
	r = do(t, app, "POST", "/v1/subscribers/+447400123456/reactivate", "", "", "If-Match", r.header.Get("ETag"))
	if r.status != 200 || !strings.Contains(r.body, `"status":"active"`) {
		t.Fatalf("reactivate: %d %s", r.status, r.body)
	}
	if r = do(t, app, "DELETE", "/v1/subscribers/+447400123456", "", ""); r.status != 204 {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	r = do(t, app, "GET", "/v1/subscribers/+447400123456", "", "")
	if r.status != 200 || !strings.Contains(r.body, `"status":"deleted"`) || strings.Contains(r.body, "Ada") {
		t.Fatalf("tombstone: %d %s", r.status, r.body)
	}
	wantProblem(t, do(t, app, "DELETE", "/v1/subscribers/+447400123456", "", ""), 404, "")
	if _, err := s.PCRSecret(mustMSISDN(t, validNumber)); err == nil {
		t.Fatal("secret survived deletion")
	}
}

func TestAPIRefusesBadInput(t *testing.T) {
	app, _ := newApp(t)
	const js = "application/json"
	for _, tc := range []struct{ body, field string }{
		{`{"msisdn":"` + invalidNumber + `"}`, "msisdn"},
		{`{"msisdn":"+447400123456","attributes":{"birthdate":"1990-13-01"}}`, "attributes.birthdate"},
		{`{"msisdn":"+447400123456","sim_swap_at":"yesterday"}`, "sim_swap_at"},
		{`{"msisdn":"+447400123456","last_port_at":"2024-02-30T00:00:00Z"}`, "last_port_at"},
		{`{"msisdn":"+447400123456","pcr_secret":"x"}`, "pcr_secret"},
		{`{"msisdn":"+447400123456","attributes":{"email_verified":"yes"}}`, "attributes.email_verified"},
	} {
		wantProblem(t, do(t, app, "POST", "/v1/subscribers", js, tc.body), 400, tc.field)
	}
	wantProblem(t, do(t, app, "POST", "/v1/subscribers", js, `{"msisdn":"+447400123456","attributes":{"title":"`+strings.Repeat("x", DefaultMaxBodyBytes)+`"}}`), 413, "")
	wantProblem(t, do(t, app, "GET", "/v1/subscribers?limit=0", "", ""), 400, "limit")
	wantProblem(t, do(t, app, "POST", "/v1/subscribers/import", "text/plain", "x"), 415, "")
}

func TestAPIListPaging(t *testing.T) {
	app, _ := newApp(t)
	var csv strings.Builder
	csv.WriteString("msisdn,family_name\n")
	for i := range 55 {
		fmt.Fprintf(&csv, "+4474001%05d,F%d\n", i, i%2)
	}
	if r := do(t, app, "POST", "/v1/subscribers/import", "text/csv", csv.String()); r.status != 200 {
		t.Fatalf("import: %d %s", r.status, r.body)
	}
	seen := map[string]bool{}
	after := ""
	for {
		r := do(t, app, "GET", "/v1/subscribers?limit=10&after="+after, "", "")
		var p listPage
		if err := json.Unmarshal([]byte(r.body), &p); err != nil || r.status != 200 {
			t.Fatalf("list: %d %s", r.status, r.body)
		}
		for _, s := range p.Subscribers {
			if seen[s.MSISDN.String()] {
				t.Fatalf("%s twice", s.MSISDN)
			}
			seen[s.MSISDN.String()] = true
		}
		if p.Next == "" {
			break
		}
		after = p.Next
	}
	if len(seen) != 55 {
		t.Fatalf("saw %d of 55", len(seen))
	}
	r := do(t, app, "GET", "/v1/subscribers?family_name=F1&limit=1000", "", "")
	if n := strings.Count(r.body, `"msisdn"`); n != 27 {
		t.Fatalf("family_name filter: %d", n)
	}
}
