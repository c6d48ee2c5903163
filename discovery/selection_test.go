package discovery

import (
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// browser is a person's browser: it shows us each redirect rather than
// following it.
func browser(t *testing.T) *http.Client {
	c := &http.Client{
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

func fetch(t *testing.T, c *http.Client, method, u string, form url.Values) (*http.Response, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// startSelection runs the discovery call without a number and returns the
// session's page URL and its session_id.
func startSelection(t *testing.T, s *server, clientID string) (string, string) {
	t.Helper()
	r := s.raw(t, javaSDK.request(s, call{redirect: shopRedirect, correlation: testCorrelation, authorization: basic(clientID, shopSecret)})...)
	href := javaSDK.readSelection(t, r, testCorrelation)
	u, err := url.Parse(href)
	if err != nil {
		t.Fatal(err)
	}
	return href, u.Query().Get("session_id")
}

var externalRef = regexp.MustCompile(`(?i)<script|<link|<img|<iframe|src=|url\(|@import`)

func checkPage(t *testing.T, resp *http.Response, page string, status int) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("page status %d, want %d:\n%s", resp.StatusCode, status, page)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("page Content-Type %q", ct)
	}
	if m := externalRef.FindString(page); m != "" {
		t.Errorf("page loads something (%q): it must stand alone", m)
	}
	if !strings.Contains(page, `name="viewport"`) {
		t.Error("page has no viewport: unusable on a phone")
	}
}

// The whole flow an SDK and a person go through: 202, the page, a choice,
// the 302 back to the SP with mcc_mnc (and subscriber_id for a typed
// number), then the SDK's Selected-MCC/MNC call.
func TestSelectionFlow(t *testing.T) {
	s := startServer(t, testRegistry(t))
	b := browser(t)
	href, sid := startSelection(t, s, shopID)

	resp, page := fetch(t, b, "GET", href, nil)
	checkPage(t, resp, page, 200)
	// One country (teal, in FR, does not take the shop; grey is
	// suspended): its operators are listed straight away, by name.
	for _, want := range []string{"Blue Telecom", "Plain Mobile", "Red Mobile", "Shop &amp; Co &lt;Ltd&gt;", `name="msisdn"`} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	for _, unwanted := range []string{"Grey Cellular", "Teal", "Another country"} {
		if strings.Contains(page, unwanted) {
			t.Errorf("page offers %q", unwanted)
		}
	}
	if strings.Index(page, "Blue Telecom") > strings.Index(page, "Red Mobile") {
		t.Error("operators are not in name order")
	}

	t.Run("pick an operator", func(t *testing.T) {
		resp, _ := fetch(t, b, "POST", s.url+selectionPath, url.Values{"session_id": {sid}, "operator": {"blue"}})
		if loc := resp.Header.Get("Location"); resp.StatusCode != 302 || loc != shopRedirect+"?mcc_mnc=234_20" {
			t.Fatalf("status %d Location %q", resp.StatusCode, loc)
		}
		// The SDK splits mcc_mnc on '_' and completes discovery.
		d := javaSDK.read200(t, s.raw(t, javaSDK.request(s, call{redirect: shopRedirect, selMCC: "234", selMNC: "20", correlation: testCorrelation})...), testCorrelation)
		if d.operator != "Blue Telecom" {
			t.Errorf("completion answered %q", d.operator)
		}
	})
	t.Run("type a national number", func(t *testing.T) {
		resp, _ := fetch(t, b, "POST", s.url+selectionPath, url.Values{"session_id": {sid}, "country": {"GB"}, "msisdn": {"07911 123456"}})
		loc, err := url.Parse(resp.Header.Get("Location"))
		if resp.StatusCode != 302 || err != nil || loc.Scheme+"://"+loc.Host+loc.Path != shopRedirect {
			t.Fatalf("status %d Location %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		q := loc.Query()
		if q.Get("mcc_mnc") != "234_10" {
			t.Errorf("mcc_mnc %q", q.Get("mcc_mnc"))
		}
		if n, err := Open(testKeys()["red"], q.Get("subscriber_id")); err != nil || n != mustNumber(t, numRed) {
			t.Errorf("subscriber_id opens to %d, %v", n, err)
		}
	})
	t.Run("type a ported international number", func(t *testing.T) {
		resp, _ := fetch(t, b, "POST", s.url+selectionPath, url.Values{"session_id": {sid}, "msisdn": {numPorted}})
		loc, _ := url.Parse(resp.Header.Get("Location"))
		if resp.StatusCode != 302 || loc.Query().Get("mcc_mnc") != "234_20" {
			t.Fatalf("status %d Location %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		if _, err := Open(testKeys()["blue"], loc.Query().Get("subscriber_id")); err != nil {
			t.Errorf("subscriber_id: %v", err)
		}
	})
	for name, tc := range map[string]struct {
		form   url.Values
		status int
		says   string
	}{
		"invalid number":             {url.Values{"msisdn": {"+447700900123"}}, 400, "not a valid mobile number"},
		"number of no member":        {url.Values{"msisdn": {numNoMember}}, 404, "No operator"},
		"suspended operator":         {url.Values{"operator": {"grey"}}, 400, "choose one of the operators"},
		"operator not taking the SP": {url.Values{"operator": {"teal"}}, 400, "choose one of the operators"},
		"no choice":                  {url.Values{}, 400, "choose one of the operators"},
	} {
		t.Run(name, func(t *testing.T) {
			tc.form.Set("session_id", sid)
			resp, page := fetch(t, b, "POST", s.url+selectionPath, tc.form)
			checkPage(t, resp, page, tc.status)
			if !strings.Contains(page, tc.says) || !strings.Contains(page, "Red Mobile") {
				t.Errorf("page does not say %q and offer the choice again:\n%s", tc.says, page)
			}
		})
	}
}

func TestSelectionCountries(t *testing.T) {
	s := startServer(t, testRegistry(t))
	b := browser(t)
	href, _ := startSelection(t, s, "everywhere") // accepted by every member: GB and FR
	resp, page := fetch(t, b, "GET", href, nil)
	checkPage(t, resp, page, 200)
	if !strings.Contains(page, "GB (&#43;44)") || !strings.Contains(page, "FR (&#43;33)") || strings.Contains(page, "Red Mobile") {
		t.Fatalf("want a country list first:\n%s", page)
	}
	resp, page = fetch(t, b, "GET", href+"&country=FR", nil)
	checkPage(t, resp, page, 200)
	if !strings.Contains(page, "Téléphone Teal") || strings.Contains(page, "Red Mobile") || !strings.Contains(page, "Another country") {
		t.Errorf("FR page:\n%s", page)
	}
}

func TestSelectionRefusesBadSessions(t *testing.T) {
	s := startServer(t, testRegistry(t))
	b := browser(t)
	_, sid := startSelection(t, s, shopID)
	tampered := []byte(sid)
	tampered[20] ^= 1
	for name, id := range map[string]string{
		"missing":  "",
		"garbage":  "not-a-session",
		"tampered": string(tampered),
		"other key": func() string {
			c := sessionCodec{key: []byte("another key, another federation!"), ttl: time.Hour}
			return c.seal(session{clientID: shopID, redirectURL: shopRedirect}, s.clock.now())
		}(),
	} {
		t.Run(name, func(t *testing.T) {
			resp, page := fetch(t, b, "GET", s.url+selectionPath+"?session_id="+url.QueryEscape(id), nil)
			checkPage(t, resp, page, 400)
			resp, page = fetch(t, b, "POST", s.url+selectionPath, url.Values{"session_id": {id}, "operator": {"red"}})
			checkPage(t, resp, page, 400)
			if resp.Header.Get("Location") != "" {
				t.Error("a bad session redirected")
			}
		})
	}
	t.Run("expired", func(t *testing.T) {
		s.clock.advance(10*time.Minute + time.Second)
		resp, page := fetch(t, b, "POST", s.url+selectionPath, url.Values{"session_id": {sid}, "operator": {"red"}})
		checkPage(t, resp, page, 400)
		if !strings.Contains(page, "expired") {
			t.Errorf("page does not say the session expired:\n%s", page)
		}
	})
}

// A session names the SP; if the SP is suspended meanwhile, the page refuses
// to send the person back to it.
func TestSelectionRechecksTheSP(t *testing.T) {
	reg := testRegistry(t)
	s := startServer(t, reg)
	_, sid := startSelection(t, s, shopID)
	id, err := s.svc.sessions.open(sid, s.clock.now())
	if err != nil || id.clientID != shopID || id.redirectURL != shopRedirect || id.correlationID != testCorrelation || !id.hasCorrelation {
		t.Fatalf("session holds %+v, %v", id, err)
	}
	forged := s.svc.sessions.seal(session{clientID: "gone", redirectURL: shopRedirect}, s.clock.now())
	resp, page := fetch(t, browser(t), "POST", s.url+selectionPath, url.Values{"session_id": {forged}, "operator": {"red"}})
	checkPage(t, resp, page, 400)
}
