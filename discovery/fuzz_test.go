package discovery

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"unicode/utf8"

	"github.com/valyala/fasthttp"

	"github.com/mcfed/mcfed/internal/e164"
)

// reused is one parser kept across fuzz iterations, as the pool keeps them:
// its answers must match a fresh parser's, or reset forgets something.
var reused parser

// FuzzDiscoveryParams feeds arbitrary query strings, bodies, content types
// and headers to the parameter parsing. Whatever comes in, the outcome is a
// parsed request that respects its invariants, or a 400/401 with a
// well-formed Discovery API error body.
func FuzzDiscoveryParams(f *testing.F) {
	auth := basic(shopID, shopSecret)
	form := "application/x-www-form-urlencoded; charset=UTF-8"
	redirect := url.QueryEscape(shopRedirect)
	for _, seed := range [][6]string{
		{"", "Redirect_URL=" + redirect + "&Using-Mobile-Data=0&MSISDN=447911123456&correlation_id=" + testCorrelation, form, auth, "application/json", ""},
		{"Redirect_URL=" + shopRedirect, "MSISDN=+44 7911 123456", "application/x-www-form-urlencoded", auth, "application/xml", ""},
		{"Redirect_URL=" + shopRedirect + "&Selected-MCC=234&Selected-MNC=20", "", "", auth, "text/html", "203.0.113.9, 10.0.0.1"},
		{"redirect_url=x&local-client-ip=2001:db8::1&identified-mcc=234&identified-mnc=015", "", "", auth, "", ""},
		{"Redirect_URL=x&MSISDN=%2B447700900123", "", "", auth, "", ""},
		{"Redirect_URL=x&Selected-MCC=23", "", "", auth, "", ""},
		{"Redirect_URL=x&correlation_id=%22%5C%E2%80%A8%ff", "", "", auth, "", ""},
		{"", "", "", "Basic 5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8", "", ""},
		{"", "", "", "Basic Zm9v", "", ""},
		{"%zz=%&&==&MSISDN", "a=b=c&&%", "multipart/form-data", "basic  " + auth[6:] + " ", "*/*", "::ffff:1.2.3.4"},
		{"Redirect%5FURL=a%2&%4D%53ISDN=%2b44+79&correlation%5fid=%4", "Correlation_ID=%e2%80%a8+x%&correlation_id=y&MSISDN=", "", auth, "", ""},
	} {
		f.Add(seed[0], seed[1], seed[2], seed[3], seed[4], seed[5])
	}
	f.Fuzz(func(t *testing.T, query, body, contentType, authorization, accept, sourceIP string) {
		raw := rawRequest{Query: []byte(query), Body: []byte(body), ContentType: []byte(contentType),
			Authorization: []byte(authorization), Accept: []byte(accept), SourceIP: []byte(sourceIP)}
		var p parser
		perr := p.parse(&raw)
		r := &p.req

		if vals, present := argsParams(&raw); present != p.present || !sameValues(vals, p.vals) {
			t.Fatalf("scan read %q %v, fasthttp.Args %q %v", p.vals, p.present, vals, present)
		}

		rerr := reused.parse(&raw)
		if describe(&reused.req, rerr) != describe(r, perr) {
			t.Fatalf("a reused parser disagrees with a fresh one:\n%s\n%s", describe(&reused.req, rerr), describe(r, perr))
		}

		if perr != nil {
			checkErrorBody(t, perr, r)
			if perr.status == http.StatusBadRequest && len(r.clientID) == 0 {
				t.Fatal("a 400 without the credentials: the handler could not authenticate first")
			}
			return
		}
		if len(r.clientID) == 0 || len(r.redirectURL) == 0 {
			t.Fatalf("parsed without client id or Redirect_URL: %s", describe(r, nil))
		}
		if r.msisdn != 0 {
			// Only valid numbers get through, and they survive a round trip.
			if n, err := e164.Parse(e164.Format(r.msisdn)); err != nil || n != r.msisdn {
				t.Fatalf("MSISDN %d accepted, but e164.Parse says %d, %v", r.msisdn, n, err)
			}
		}
		for _, nw := range []network{r.selected, r.identified} {
			if nw.mcc != nil && (len(nw.mcc) != 3 || len(nw.mnc) < 2 || len(nw.mnc) > 3 || !allDigits(nw.mcc) || !allDigits(nw.mnc)) {
				t.Fatalf("network %q/%q accepted", nw.mcc, nw.mnc)
			}
		}
		sel := appendSelection(nil, "https://node.example/x?session_id=abc", r.correlationID, r.hasCorrelation)
		var m map[string]any
		if err := json.Unmarshal(sel, &m); err != nil {
			t.Fatalf("selection body is not JSON: %v\n%s", err, sel)
		}
		checkCorrelationJSON(t, m, r)
	})
}

// argsParams reads the parameters discovery reads with fasthttp.Args, as
// the parser did before it scanned forms itself: scan must agree.
func argsParams(raw *rawRequest) (vals [nParams][]byte, present [nParams]bool) {
	visit := func(k, v []byte) {
		if i := paramIndex(k); i >= 0 {
			present[i] = true
			if len(vals[i]) == 0 {
				vals[i] = append([]byte(nil), v...)
			}
		}
	}
	var a fasthttp.Args
	if len(raw.Body) > 0 && isForm(raw.ContentType) {
		a.ParseBytes(raw.Body)
		a.VisitAll(visit)
	}
	a.ParseBytes(raw.Query)
	a.VisitAll(visit)
	return vals, present
}

func sameValues(a, b [nParams][]byte) bool {
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// checkErrorBody renders e as discovery would and checks what the SDKs read.
func checkErrorBody(t *testing.T, e *protoError, r *request) {
	t.Helper()
	if e.status != http.StatusBadRequest && e.status != http.StatusUnauthorized {
		t.Fatalf("parsing answered %d", e.status)
	}
	b := appendError(nil, e, r.correlationID, r.hasCorrelation)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("error body is not JSON: %v\n%s", err, b)
	}
	resp, ok := m["response"].(map[string]any)
	if m["error"] != e.code || e.code == "" || m["description"] != e.desc || m["error_description"] != e.desc || e.desc == "" || !ok || len(resp) != 0 {
		t.Fatalf("error body %s", b)
	}
	checkCorrelationJSON(t, m, r)
}

// checkCorrelationJSON: correlation_id is there exactly when it was sent,
// and decodes to what was sent (as encoding/json renders invalid UTF-8).
func checkCorrelationJSON(t *testing.T, m map[string]any, r *request) {
	t.Helper()
	got, ok := m["correlation_id"]
	if ok != r.hasCorrelation {
		t.Fatalf("correlation_id present %v, sent %v", ok, r.hasCorrelation)
	}
	if !ok {
		return
	}
	want, _ := json.Marshal(string(r.correlationID))
	var ws string
	if err := json.Unmarshal(want, &ws); err != nil {
		t.Fatal(err)
	}
	if got != ws {
		t.Fatalf("correlation_id %q, want %q", got, ws)
	}
	if utf8.Valid(r.correlationID) && got != string(r.correlationID) {
		t.Fatalf("valid UTF-8 correlation_id %q came back as %q", r.correlationID, got)
	}
}

func describe(r *request, e *protoError) string {
	s := fmt.Sprintf("id=%q secret=%q redirect=%q corr=%q/%v msisdn=%d sel=%q/%q ident=%q/%q local=%v source=%v json=%v",
		r.clientID, r.secret, r.redirectURL, r.correlationID, r.hasCorrelation, r.msisdn,
		r.selected.mcc, r.selected.mnc, r.identified.mcc, r.identified.mnc, r.localIP, r.sourceIP, r.wantJSON)
	if e != nil {
		s += fmt.Sprintf(" err=%d %s", e.status, e.Error())
	}
	return s
}
