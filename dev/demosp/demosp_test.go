package demosp_test

import (
	"context"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mcfed/mcfed/client"
	"github.com/mcfed/mcfed/dev"
	"github.com/mcfed/mcfed/operator/handset"
)

// browser is a person's browser: it keeps cookies and follows redirects.
type browser struct {
	t      *testing.T
	client *http.Client
}

func newBrowser(t *testing.T) *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, client: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
}

// page loads a page (POSTing form when it is not nil) and returns where the
// browser ended up, the status and the body.
func (b *browser) page(method, u string, form url.Values) (*url.URL, int, string) {
	b.t.Helper()
	var resp *http.Response
	var err error
	if method == http.MethodPost {
		resp, err = b.client.PostForm(u, form)
	} else {
		resp, err = b.client.Get(u)
	}
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.Request.URL, resp.StatusCode, string(body)
}

var noFollow = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func getJSON(t *testing.T, c *http.Client, req *http.Request, want int, out any) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: %d %s", req.Method, req.URL, resp.StatusCode, b)
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("%s %s: %v in %s", req.Method, req.URL, err, b)
	}
}

var (
	formAction = regexp.MustCompile(`<form method="post" action="([^"]+)"`)
	tableRows  = regexp.MustCompile(`<tr><th[^>]*>([^<]*)</th><td[^>]*>([^<]*)</td></tr>`)
)

// table reads the rows of the SP page's table with the given id.
func table(t *testing.T, page, id string) map[string]string {
	t.Helper()
	start := strings.Index(page, `<table id="`+id+`">`)
	if start < 0 {
		t.Fatalf("no table %s in the page:\n%s", id, page)
	}
	rest := page[start:]
	rest = rest[:strings.Index(rest, "</table>")]
	rows := map[string]string{}
	for _, m := range tableRows.FindAllStringSubmatch(rest, -1) {
		rows[html.UnescapeString(m[1])] = html.UnescapeString(m[2])
	}
	return rows
}

// newestSMS waits for a message to number through the handset's JSON API.
func newestSMS(t *testing.T, info client.DevInfo, number string) handset.Message {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequest("GET", info.Handset.MessagesURL(number), nil)
		var inbox struct {
			Messages []handset.Message `json:"messages"`
		}
		getJSON(t, http.DefaultClient, req, 200, &inbox)
		if len(inbox.Messages) > 0 {
			return inbox.Messages[0]
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no SMS for %s", number)
	return handset.Message{}
}

// startSPLogin types number on the SP's page and returns the operator's
// code page the browser lands on, and the address its form posts to.
func startSPLogin(t *testing.T, b *browser, info client.DevInfo, op client.DevOperatorInfo, number string) string {
	t.Helper()
	at, status, body := b.page("POST", info.SP.PageURL+"login", url.Values{"msisdn": {number}})
	if status != 200 || !strings.HasPrefix(at.String(), op.PublicURL+"/sms/otp") {
		t.Fatalf("after typing %s the browser is at %s (%d), want %s's code page:\n%s", number, at, status, op.ID, body)
	}
	m := formAction.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("the code page has no form:\n%s", body)
	}
	return html.UnescapeString(m[1])
}

// tapSMS taps the link of the newest SMS to number through the handset's
// HTTP API, as the person does on the phone.
func tapSMS(t *testing.T, info client.DevInfo, number string) {
	t.Helper()
	m := newestSMS(t, info, number)
	if !strings.Contains(m.Text, "Demo Shop") || len(m.Links) == 0 {
		t.Fatalf("SMS %q", m.Text)
	}
	req, _ := http.NewRequest("POST", strings.TrimSuffix(info.Handset.MessagesURL(number), "/messages")+"/messages/"+m.ID+"/tap?link=0", nil)
	var tap struct {
		Status int `json:"status"`
	}
	getJSON(t, http.DefaultClient, req, 200, &tap)
	if tap.Status != 200 {
		t.Fatalf("the tapped link answered %d", tap.Status)
	}
}

// TestDemoSP drives the demo SP's page as a person does in a browser: the
// number typed on the SP's page, the operator's code page, the SMS link
// tapped on the handset, Continue, and the SP's page showing what it
// learned from the verified ID token and from userinfo.
func TestDemoSP(t *testing.T) {
	d, err := dev.Start(context.Background(), dev.Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	info := d.Info()
	fr := info.Operators[2]

	t.Run("login", func(t *testing.T) {
		b := newBrowser(t)
		_, status, home := b.page("GET", info.SP.PageURL, nil)
		if status != 200 || !strings.Contains(home, "Log in with Mobile Connect") || !strings.Contains(html.UnescapeString(home), fr.DemoNumbers[0]) {
			t.Fatalf("the SP's page (%d) does not offer the login with the demo numbers:\n%s", status, home)
		}
		// Typed as people do, with spaces; discovery on a node, then the
		// French operator's gateway.
		number := fr.DemoNumbers[0]
		typed := number[:3] + " " + number[3:4] + " " + number[4:]
		action := startSPLogin(t, b, info, fr, typed)
		tapSMS(t, info, number)
		at, status, page := b.page("POST", action, url.Values{"otp": {""}})
		if status != 200 || at.Scheme+"://"+at.Host+at.Path != info.SP.RedirectURI || !strings.Contains(page, "Logged in with Mobile Connect") {
			t.Fatalf("after Continue the browser is at %s (%d):\n%s", at, status, page)
		}
		claims, userinfo := table(t, page, "id-token"), table(t, page, "userinfo")
		if claims["sub"] == "" || claims["sub"] != userinfo["sub"] || claims["iss"] != fr.Issuer ||
			claims["aud"] != `["demo-sp"]` && claims["aud"] != "demo-sp" || claims["amr"] != `["SMS_URL_OK"]` {
			t.Fatalf("ID token claims %v, userinfo %v", claims, userinfo)
		}
		// What the SP's scopes (profile, email, phone) release.
		if userinfo["name"] != "Demo Subscriber FR" || userinfo["email"] != "demo@fr-demo.example" || userinfo["phone_number"] != number {
			t.Fatalf("userinfo on the page: %v", userinfo)
		}
	})

	t.Run("a callback from another browser", func(t *testing.T) {
		// The person's login reaches the SP's callback URL, but another
		// browser (without the person's cookie) presents it first: refused,
		// and the login is spent, so the person starts again.
		person := newBrowser(t)
		number := fr.DemoNumbers[1]
		action := startSPLogin(t, person, info, fr, number)
		tapSMS(t, info, number)
		resp, err := noFollow.PostForm(action, url.Values{"otp": {""}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		callback := resp.Header.Get("Location")
		if resp.StatusCode != 302 || !strings.HasPrefix(callback, info.SP.RedirectURI+"?code=") {
			t.Fatalf("the gateway answered %d %q", resp.StatusCode, callback)
		}
		_, status, page := newBrowser(t).page("GET", callback, nil)
		if status != 400 || !strings.Contains(page, "started in another browser") {
			t.Fatalf("the other browser's callback: %d\n%s", status, page)
		}
		_, status, page = person.page("GET", callback, nil)
		if status != 400 || strings.Contains(page, "Logged in") {
			t.Fatalf("the spent login's callback: %d\n%s", status, page)
		}
	})

	t.Run("a typo is the person's to fix", func(t *testing.T) {
		// "12345" is no mobile number anywhere: the page says so and keeps
		// what was typed, instead of reading it as country code 1 and
		// blaming discovery.
		at, status, page := newBrowser(t).page("POST", info.SP.PageURL+"login", url.Values{"msisdn": {"12345"}})
		if status != 400 || at.String() != info.SP.PageURL+"login" || !strings.Contains(page, "country code") ||
			!strings.Contains(page, `value="12345"`) || strings.Contains(page, "Discovery") {
			t.Fatalf("a typo: at %s, %d\n%s", at, status, page)
		}
	})

	t.Run("what it shows is escaped", func(t *testing.T) {
		_, status, page := newBrowser(t).page("POST", info.SP.PageURL+"login", url.Values{"msisdn": {`"><script>alert(1)</script>`}})
		if status == 200 || strings.Contains(page, "<script>") || !strings.Contains(page, "&lt;script&gt;") {
			t.Fatalf("a bad number: %d\n%s", status, page)
		}
		_, status, page = newBrowser(t).page("GET", info.SP.RedirectURI+"?state=x&error=<b>no</b>", nil)
		if status != 400 || strings.Contains(page, "<b>") {
			t.Fatalf("a forged callback: %d\n%s", status, page)
		}
	})
}
