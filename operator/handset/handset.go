// Package handset is the simulated handset of `mcfed dev` and of tests: one
// inbox per MSISDN (bounded, newest first) that the simulated SMSC delivers
// to (it implements smsc.Deliverer), a JSON API and a small server-rendered
// page per MSISDN, and "tapping" a link in a message (an HTTP GET, as the
// phone's browser would do). A number may also have a simulated SIM with
// the SIM applet (sim.go), which the MSSP reaches over OTA (it implements
// mssp.Link): its prompt shows on the number's page and JSON API. And its
// phone may hold a passkey that the gateway pushes logins to (fido.go).
package handset

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/mcfed/mcfed/internal/e164"
	"github.com/mcfed/mcfed/operator/smsc"
)

// Message is one SMS in an inbox.
type Message struct {
	ID         string    `json:"id"`      // handset id, unique in this Handset
	SMSCID     string    `json:"smsc_id"` // the SMSC's message id
	From       string    `json:"from"`
	To         string    `json:"to"`
	Text       string    `json:"text"`
	ReceivedAt time.Time `json:"received_at"`
	Links      []string  `json:"links"` // http(s) links found in Text, in order
	// Tapped is what the last tap of one of its links got, if any.
	Tapped *TapResult `json:"tapped,omitempty"`
}

// Options configure a Handset.
type Options struct {
	InboxSize  int           // messages kept per MSISDN; default 50
	HTTPClient *http.Client  // used by Tap; default: 10 s timeout, follows redirects
	BodyLimit  int           // bytes of the tapped page returned; default 64 KiB
	Refresh    time.Duration // how often the HTML page looks for news; default 2 s
	// Expiry is how long a message's code or link is good: older messages
	// are shown greyed as expired. Default 5 minutes, the SMS
	// authenticator's default.
	Expiry time.Duration
}

// Handset holds the inboxes. Safe for concurrent use.
type Handset struct {
	opt     Options
	mu      sync.Mutex
	inboxes map[string][]Message // newest first
	seq     uint64
	changed chan struct{} // closed and replaced on every delivery
	sims    map[string]*simCard
	fido    map[string]*fidoApp // the operator's app holding a passkey (fido.go)
	// toMSSP carries the SIMs' response packets (ConnectMSSP).
	toMSSP func(msisdn string, packet []byte)
}

// New returns an empty Handset.
func New(opt Options) *Handset {
	if opt.InboxSize <= 0 {
		opt.InboxSize = 50
	}
	if opt.HTTPClient == nil {
		opt.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if opt.BodyLimit <= 0 {
		opt.BodyLimit = 64 << 10
	}
	if opt.Refresh <= 0 {
		opt.Refresh = 2 * time.Second
	}
	if opt.Expiry <= 0 {
		opt.Expiry = 5 * time.Minute
	}
	return &Handset{opt: opt, inboxes: map[string][]Message{}, changed: make(chan struct{}), sims: map[string]*simCard{},
		fido: map[string]*fidoApp{}}
}

var _ smsc.Deliverer = (*Handset)(nil)

// ErrBadMSISDN: not a number in international form.
var ErrBadMSISDN = errors.New("handset: MSISDN is not an E.164 number")

// NormalizeMSISDN returns the key of a number's inbox: its E.164 digits as
// e164.Normalize reads them ("+44 7911 123456", "tel:+447911123456" and
// "447911123456" share an inbox). Errors match ErrBadMSISDN and wrap the
// *e164.Error.
func NormalizeMSISDN(s string) (string, error) {
	d, err := e164.Normalize(s)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrBadMSISDN, err)
	}
	return d, nil
}

// Deliver puts a message in the inbox of m.To (smsc.Deliverer).
func (h *Handset) Deliver(m smsc.Message) error {
	to, err := NormalizeMSISDN(m.To)
	if err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seq++
	msg := Message{
		ID: fmt.Sprintf("m%d", h.seq), SMSCID: m.ID, From: m.From, To: to, Text: m.Text,
		ReceivedAt: m.ReceivedAt, Links: FindLinks(m.Text),
	}
	if msg.ReceivedAt.IsZero() {
		msg.ReceivedAt = time.Now()
	}
	box := append([]Message{msg}, h.inboxes[to]...)
	if len(box) > h.opt.InboxSize {
		box = box[:h.opt.InboxSize]
	}
	h.inboxes[to] = box
	h.notifyLocked()
	return nil
}

// notifyLocked wakes the waiters of WaitFor. The caller holds h.mu.
func (h *Handset) notifyLocked() {
	close(h.changed)
	h.changed = make(chan struct{})
}

// Messages returns the inbox of msisdn, newest first.
func (h *Handset) Messages(msisdn string) []Message {
	d, err := NormalizeMSISDN(msisdn)
	if err != nil {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Message(nil), h.inboxes[d]...)
}

// MSISDNs lists the numbers that have an inbox or a SIM.
func (h *Handset) MSISDNs() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]string, 0, len(h.inboxes))
	for k := range h.inboxes {
		out = append(out, k)
	}
	for k := range h.sims {
		if _, ok := h.inboxes[k]; !ok {
			out = append(out, k)
		}
	}
	return out
}

// Message returns one message of an inbox.
func (h *Handset) Message(msisdn, id string) (Message, bool) {
	for _, m := range h.Messages(msisdn) {
		if m.ID == id {
			return m, true
		}
	}
	return Message{}, false
}

// Delete removes a message from msisdn's inbox, as its owner deletes one
// read, and the inbox itself when it is left empty; it says whether the
// message was there.
func (h *Handset) Delete(msisdn, id string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	box := h.inboxes[msisdn]
	for i := range box {
		if box[i].ID == id {
			box = append(box[:i:i], box[i+1:]...)
			if len(box) == 0 {
				delete(h.inboxes, msisdn)
			} else {
				h.inboxes[msisdn] = box
			}
			h.notifyLocked()
			return true
		}
	}
	return false
}

// WaitFor waits until the inbox of msisdn holds a message for which match is
// true (nil matches any), and returns the newest such message.
func (h *Handset) WaitFor(ctx context.Context, msisdn string, match func(Message) bool) (Message, error) {
	for {
		h.mu.Lock()
		ch := h.changed
		h.mu.Unlock()
		for _, m := range h.Messages(msisdn) {
			if match == nil || match(m) {
				return m, nil
			}
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return Message{}, ctx.Err()
		}
	}
}

var linkRE = regexp.MustCompile(`(?i)\bhttps?://[^\s<>"']+`)

// FindLinks returns the http(s) links in text, without trailing punctuation.
func FindLinks(text string) []string {
	found := linkRE.FindAllString(text, -1)
	links := make([]string, 0, len(found))
	for _, l := range found {
		l = strings.TrimRight(l, ".,;:!?)]}")
		if l != "" {
			links = append(links, l)
		}
	}
	return links
}

// TapResult is what tapping a link got.
type TapResult struct {
	URL      string `json:"url"`       // the link tapped
	FinalURL string `json:"final_url"` // after redirects
	Status   int    `json:"status"`
	Body     string `json:"body"` // first BodyLimit bytes
	// Title is what the page tapped says it is: its first heading, else
	// its <title>, as text; "" when it has neither.
	Title string `json:"title,omitempty"`
	// Error says why the link could not be opened (Tap's error); the
	// inbox page shows it.
	Error string `json:"error,omitempty"`
}

// Errors of Tap.
var (
	ErrNoMessage = errors.New("handset: no such message")
	ErrNoLink    = errors.New("handset: no such link in the message")
)

// Tap performs an HTTP GET of link number n (0-based) of a message, as the
// person would by tapping it, following redirects, and presses the page's
// confirm button when it has one.
func (h *Handset) Tap(ctx context.Context, msisdn, id string, n int) (TapResult, error) {
	m, ok := h.Message(msisdn, id)
	if !ok {
		return TapResult{}, ErrNoMessage
	}
	if n < 0 || n >= len(m.Links) {
		return TapResult{}, fmt.Errorf("%w: link %d of %d", ErrNoLink, n, len(m.Links))
	}
	link := m.Links[n]
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, link, nil)
	if err != nil {
		return TapResult{}, fmt.Errorf("handset: tap %s: %w", link, err)
	}
	req.Header.Set("User-Agent", "mcfed-handset/1 (simulated phone)")
	resp, err := h.opt.HTTPClient.Do(req)
	if err != nil {
		h.recordTap(m.To, id, TapResult{URL: link, Error: err.Error()})
		return TapResult{}, fmt.Errorf("handset: tap %s: %w", link, err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, int64(h.opt.BodyLimit)))
	resp.Body.Close()
	// The page asks the person to confirm (opening a link approves
	// nothing): the simulated person presses the button. A page that asks
	// for a number shown on another screen is left as it is.
	if f := confirmForm.FindStringSubmatch(string(body)); f != nil {
		if action, err := resp.Request.URL.Parse(html.UnescapeString(f[1])); err == nil {
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, action.String(), strings.NewReader("decision=approve"))
			if err != nil {
				return TapResult{}, fmt.Errorf("handset: confirm %s: %w", link, err)
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("User-Agent", "mcfed-handset/1 (simulated phone)")
			if resp, err = h.opt.HTTPClient.Do(req); err != nil {
				h.recordTap(m.To, id, TapResult{URL: link, Error: err.Error()})
				return TapResult{}, fmt.Errorf("handset: confirm %s: %w", link, err)
			}
			body, _ = io.ReadAll(io.LimitReader(resp.Body, int64(h.opt.BodyLimit)))
			resp.Body.Close()
		}
	}
	res := TapResult{URL: link, FinalURL: resp.Request.URL.String(), Status: resp.StatusCode, Body: string(body),
		Title: pageTitle(string(body))}
	h.recordTap(m.To, id, res)
	return res, nil
}

// confirmForm finds the form of a page that asks the person to confirm
// with a decision=approve button.
var confirmForm = regexp.MustCompile(`<form method="post" action="([^"]+)">\s*<button type="submit" name="decision" value="approve">`)

// recordTap keeps res on the message, for the inbox page to show.
func (h *Handset) recordTap(msisdn, id string, res TapResult) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := range h.inboxes[msisdn] {
		if m := &h.inboxes[msisdn][i]; m.ID == id {
			m.Tapped = &res
		}
	}
	h.notifyLocked()
}

var (
	headingRE = regexp.MustCompile(`(?is)<h1\b[^>]*>(.*?)</h1>`)
	titleRE   = regexp.MustCompile(`(?is)<title\b[^>]*>(.*?)</title>`)
	tagRE     = regexp.MustCompile(`(?s)<[^>]*>`)
)

// pageTitle is the text of an HTML page's first h1, else of its title:
// what a person sees first on the page a tap opened.
func pageTitle(body string) string {
	for _, re := range []*regexp.Regexp{headingRE, titleRE} {
		if m := re.FindStringSubmatch(body); m != nil {
			t := strings.Join(strings.Fields(html.UnescapeString(tagRE.ReplaceAllString(m[1], " "))), " ")
			if t != "" {
				return t
			}
		}
	}
	return ""
}
