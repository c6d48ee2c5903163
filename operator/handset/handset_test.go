package handset_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/mcfed/mcfed/internal/e164"
	"github.com/mcfed/mcfed/operator/handset"
	"github.com/mcfed/mcfed/operator/smsc"
)

const msisdn = "4915112345678"

func serve(t *testing.T, h *handset.Handset) string {
	t.Helper()
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	h.Mount(app)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = app.Listener(ln) }()
	t.Cleanup(func() { _ = app.ShutdownWithTimeout(2 * time.Second) })
	return "http://" + ln.Addr().String()
}

func TestInboxJSONAndTap(t *testing.T) {
	var hits atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Query().Get("t") != "abc123" {
			http.Error(w, "bad token", http.StatusForbidden)
			return
		}
		fmt.Fprint(w, "login confirmed")
	}))
	defer target.Close()

	h := handset.New(handset.Options{InboxSize: 3})
	base := serve(t, h)
	text := fmt.Sprintf("Bank <b>&co</b>: tap %s/confirm?t=abc123. Or %s/x?t=no).", target.URL, target.URL)
	if err := h.Deliver(smsc.Message{ID: "A1", From: "MCFED", To: "+" + msisdn, Text: text, ReceivedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}

	resp, err := http.Get(base + "/handset/+" + msisdn + "/messages")
	if err != nil {
		t.Fatal(err)
	}
	var inbox struct {
		MSISDN   string `json:"msisdn"`
		Messages []struct {
			ID         string    `json:"id"`
			From       string    `json:"from"`
			Text       string    `json:"text"`
			ReceivedAt time.Time `json:"received_at"`
			Links      []string  `json:"links"`
		} `json:"messages"`
	}
	err = json.NewDecoder(resp.Body).Decode(&inbox)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET messages: %d %v", resp.StatusCode, err)
	}
	if inbox.MSISDN != msisdn || len(inbox.Messages) != 1 {
		t.Fatalf("inbox = %+v", inbox)
	}
	m := inbox.Messages[0]
	if m.Text != text || m.From != "MCFED" || m.ReceivedAt.IsZero() {
		t.Errorf("message = %+v", m)
	}
	wantLinks := []string{target.URL + "/confirm?t=abc123", target.URL + "/x?t=no"}
	if fmt.Sprint(m.Links) != fmt.Sprint(wantLinks) {
		t.Errorf("links = %q, want %q", m.Links, wantLinks)
	}

	tap := func(q string) (int, handset.TapResult) {
		resp, err := http.Post(base+"/handset/"+msisdn+"/messages/"+m.ID+"/tap"+q, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var tr handset.TapResult
		_ = json.NewDecoder(resp.Body).Decode(&tr)
		return resp.StatusCode, tr
	}
	code, tr := tap("?link=0")
	if code != 200 || tr.Status != 200 || tr.Body != "login confirmed" || tr.URL != wantLinks[0] {
		t.Errorf("tap link 0: %d %+v", code, tr)
	}
	code, tr = tap("?link=1")
	if code != 200 || tr.Status != 403 {
		t.Errorf("tap link 1: %d %+v", code, tr)
	}
	if code, _ := tap("?link=2"); code != 404 {
		t.Errorf("tap missing link: %d", code)
	}
	if got := hits.Load(); got != 2 {
		t.Errorf("target hit %d times, want 2", got)
	}
	if resp, _ := http.Get(base + "/handset/12ab/messages"); resp == nil || resp.StatusCode != 400 {
		t.Errorf("bad msisdn accepted")
	} else {
		resp.Body.Close()
	}

	// HTML page: escaped, self-contained, refreshing.
	resp, err = http.Get(base + "/handset/" + msisdn)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	page := string(body)
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Errorf("content type %q", resp.Header.Get("Content-Type"))
	}
	if strings.Contains(page, "<b>&co</b>") || !strings.Contains(page, "&lt;b&gt;&amp;co&lt;/b&gt;") {
		t.Error("message text not escaped in HTML")
	}
	// It updates itself with its own script (a refresh without script),
	// and loads nothing from anywhere else.
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(page, `<script src="/handset/static/handset.js"`) || !strings.Contains(page, `http-equiv="refresh"`) ||
		!strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") || strings.Contains(page, "://"+"cdn") {
		t.Errorf("page does not update itself from its own script, or its CSP (%q) allows inline code", csp)
	}
	for _, file := range []string{"icon.svg", "handset.js", "handset.css"} {
		resp, err := http.Get(base + "/handset/static/" + file)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") == "" {
			t.Errorf("%s: %d %q", file, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}

	// bounded, newest first
	for i := 0; i < 4; i++ {
		_ = h.Deliver(smsc.Message{ID: fmt.Sprint("B", i), From: "X", To: msisdn, Text: fmt.Sprint("n", i)})
	}
	got := h.Messages(msisdn)
	if len(got) != 3 || got[0].Text != "n3" || got[2].Text != "n1" {
		t.Errorf("inbox after 5 deliveries: %+v", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := h.WaitFor(ctx, msisdn, func(m handset.Message) bool { return m.Text == "never" }); err == nil {
		t.Error("WaitFor found a message that never came")
	}
}

// TestInboxKey: a number reaches the same inbox however it is written, and
// a number without its country code is refused.
func TestInboxKey(t *testing.T) {
	h := handset.New(handset.Options{})
	if err := h.Deliver(smsc.Message{ID: "A1", From: "X", To: "+49 151 1234 5678", Text: "hi"}); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{msisdn, "+" + msisdn, "tel:+" + msisdn, "00" + msisdn, " +49 (151) 1234-5678 "} {
		if got := h.Messages(n); len(got) != 1 || got[0].To != msisdn {
			t.Errorf("Messages(%q) = %+v, want the one message to %s", n, got, msisdn)
		}
	}
	_, err := handset.NormalizeMSISDN("015112345678")
	var ne *e164.Error
	if !errors.Is(err, handset.ErrBadMSISDN) || !errors.As(err, &ne) {
		t.Errorf("national number: %v, want ErrBadMSISDN wrapping an *e164.Error", err)
	}
	if err := h.Deliver(smsc.Message{ID: "A2", From: "X", To: "015112345678", Text: "hi"}); !errors.Is(err, handset.ErrBadMSISDN) {
		t.Errorf("delivery to a national number: %v", err)
	}
}

// TestDeleteAMessage: a deleted message leaves its inbox, the others stay,
// and an inbox whose last message goes is no longer listed.
func TestDeleteAMessage(t *testing.T) {
	h := handset.New(handset.Options{})
	for _, text := range []string{"first", "second"} {
		if err := h.Deliver(smsc.Message{From: "X", To: msisdn, Text: text}); err != nil {
			t.Fatal(err)
		}
	}
	box := h.Messages(msisdn)
	if len(box) != 2 {
		t.Fatalf("inbox: %+v", box)
	}
	if !h.Delete(msisdn, box[1].ID) || h.Delete(msisdn, box[1].ID) {
		t.Fatal("Delete: the first deletion must find the message, the second not")
	}
	if got := h.Messages(msisdn); len(got) != 1 || got[0].Text != "second" {
		t.Fatalf("after deleting the first: %+v", got)
	}
	h.Delete(msisdn, box[0].ID)
	if got := h.MSISDNs(); len(got) != 0 {
		t.Errorf("numbers with an inbox after deleting every message: %v", got)
	}
}

// TestTapFromThePage: the page's "tap (as the phone)" opens the link and
// comes back to the inbox, which says in words what the phone showed (the
// page's heading), not the raw answer; a message older than its codes'
// life is marked expired.
func TestTapFromThePage(t *testing.T) {
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<!doctype html><title>Gateway</title><h1>You are <em>signed in</em></h1><p>secret body</p>`)
	}))
	defer target.Close()
	h := handset.New(handset.Options{Expiry: time.Minute})
	base := serve(t, h)
	old := smsc.Message{ID: "A", From: "OP", To: msisdn, Text: "old " + target.URL + "/old", ReceivedAt: time.Now().Add(-2 * time.Minute)}
	fresh := smsc.Message{ID: "B", From: "OP", To: msisdn, Text: "tap " + target.URL + "/link", ReceivedAt: time.Now()}
	for _, m := range []smsc.Message{old, fresh} {
		if err := h.Deliver(m); err != nil {
			t.Fatal(err)
		}
	}
	id := h.Messages(msisdn)[0].ID
	resp, err := http.PostForm(base+"/handset/"+msisdn+"/tap", map[string][]string{"message": {id}, "link": {"0"}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	page := string(body)
	if resp.StatusCode != 200 || resp.Request.URL.Path != "/handset/"+msisdn {
		t.Fatalf("after the tap the browser is at %s (%d)", resp.Request.URL, resp.StatusCode)
	}
	if !strings.Contains(page, "You are signed in") || strings.Contains(page, "secret body") || strings.Contains(page, "&lt;em&gt;") {
		t.Errorf("the inbox does not say what the tap showed, in words:\n%s", page)
	}
	if strings.Count(page, `class="sms expired"`) != 1 || !strings.Contains(page, "expired</span>") {
		t.Errorf("the old message is not marked expired, or the new one is:\n%s", page)
	}
	if m, _ := h.Message(msisdn, id); m.Tapped == nil || m.Tapped.Title != "You are signed in" || m.Tapped.Status != 200 {
		t.Errorf("the JSON inbox's message after the tap: %+v", m.Tapped)
	}
}
