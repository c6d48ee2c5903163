package subscribers

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
)

func csvFile(n int) string {
	var b strings.Builder
	b.WriteString("msisdn,given_name,family_name,birthdate,city,postal_code,country,sim_swap_at\n")
	for i := range n {
		fmt.Fprintf(&b, "+4474001%05d,Given%d,Family%d,1980-01-%02d,London,N1 %dAA,GB,2024-05-01\n", i, i, i%7, i%28+1, i%10)
	}
	return b.String()
}

func ndjsonFile(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, `{"msisdn":"+4474002%05d","attributes":{"given_name":"G%d","email":"u%d@example.com"},"authenticators":[{"type":"sms","id":"main"}]}`+"\n", i, i, i)
	}
	return b.String()
}

func countAll(t *testing.T, s *Store) int {
	t.Helper()
	n := 0
	var after MSISDN
	for {
		page, next, err := s.List(ListOptions{After: after, Limit: MaxPageSize})
		if err != nil {
			t.Fatal(err)
		}
		n += len(page)
		if next == 0 {
			return n
		}
		after = next
	}
}

func TestBulkLoadIdempotent(t *testing.T) {
	s, _ := openStore(t)
	const n = 1500
	for _, f := range []struct {
		format Format
		data   string
	}{{FormatCSV, csvFile(n)}, {FormatNDJSON, ndjsonFile(n)}} {
		res, err := s.BulkLoad(strings.NewReader(f.data), f.format)
		if err != nil || res != (BulkResult{Rows: n, Created: n}) {
			t.Fatalf("format %d: first load %+v %v", f.format, res, err)
		}
		res, err = s.BulkLoad(strings.NewReader(f.data), f.format)
		if err != nil || res != (BulkResult{Rows: n, Unchanged: n}) {
			t.Fatalf("format %d: second load %+v %v", f.format, res, err)
		}
	}
	if got := countAll(t, s); got != 2*n {
		t.Fatalf("%d subscribers, want %d", got, 2*n)
	}
	sub, err := s.Get(mustMSISDN(t, "+447400100042"))
	if err != nil || sub.Version != 1 || sub.Attributes.Address.Locality != "London" || sub.SIMSwapAt == nil {
		t.Fatalf("%+v %v", sub, err)
	}
	// A changed row updates just that subscriber.
	changed := strings.Replace(csvFile(n), "Given42,", "Changed,", 1)
	res, err := s.BulkLoad(strings.NewReader(changed), FormatCSV)
	if err != nil || res != (BulkResult{Rows: n, Updated: 1, Unchanged: n - 1}) {
		t.Fatalf("changed load %+v %v", res, err)
	}
}

func TestBulkLoadBadRowWritesNothing(t *testing.T) {
	for _, tc := range []struct {
		name   string
		format Format
		data   func() string
		line   int
		field  string
	}{
		{"csv number", FormatCSV, func() string {
			return strings.Replace(csvFile(1200), "+447400100700,", invalidNumber+",", 1)
		}, 702, "msisdn"},
		{"csv date", FormatCSV, func() string {
			return strings.Replace(csvFile(1200), "1980-01-11,", "1980-02-31,", 1)
		}, 12, "attributes.birthdate"},
		{"csv duplicate", FormatCSV, func() string { return csvFile(1200) + "+447400100005,x,y,,,,,\n" }, 1202, "msisdn"},
		{"csv columns", FormatCSV, func() string { return "msisdn,shoe_size\n+447400123456,9\n" }, 1, "shoe_size"},
		{"ndjson number", FormatNDJSON, func() string {
			return strings.Replace(ndjsonFile(1200), `"+447400201000"`, `"`+invalidNumber+`"`, 1)
		}, 1001, "msisdn"},
		{"ndjson syntax", FormatNDJSON, func() string { return ndjsonFile(10) + "{\n" }, 11, "body"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app, s := newApp(t)
			ctype := map[Format]string{FormatCSV: "text/csv", FormatNDJSON: "application/x-ndjson"}[tc.format]
			r := do(t, app, "POST", "/v1/subscribers/import", ctype, tc.data())
			wantProblem(t, r, 422, "")
			var p problem
			if err := json.Unmarshal([]byte(r.body), &p); err != nil || len(p.Errors) != 1 || p.Errors[0].Line != tc.line || p.Errors[0].Field != tc.field {
				t.Fatalf("want line %d field %s: %s", tc.line, tc.field, r.body)
			}
			if !strings.Contains(p.Detail, fmt.Sprintf("line %d", tc.line)) {
				t.Fatalf("detail does not name the line: %s", p.Detail)
			}
			if n := countAll(t, s); n != 0 {
				t.Fatalf("%d subscribers written", n)
			}
		})
	}
}

func TestImportTooLarge(t *testing.T) {
	s, _ := openStore(t)
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	(&API{Store: s, MaxImportBytes: 64 << 10}).Mount(app)
	wantProblem(t, do(t, app, "POST", "/subscribers/import", "text/csv", csvFile(5000)), 413, "")
	if n := countAll(t, s); n != 0 {
		t.Fatalf("%d subscribers written", n)
	}
}
