package sms_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/mcfed/mcfed/idgw"
	"github.com/mcfed/mcfed/operator/handset"
	"github.com/mcfed/mcfed/operator/smpp"
	"github.com/mcfed/mcfed/operator/sms"
	"github.com/mcfed/mcfed/operator/smsc"
	"github.com/mcfed/mcfed/operator/state"
	"github.com/mcfed/mcfed/operator/state/embedded"
)

// openStore opens a real embedded state store at path (a new one in the
// test's directory when ""), on clock now (time.Now when nil), closed when
// the test ends.
func openStore(t *testing.T, path string, now func() time.Time) *embedded.Store {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "state.db")
	}
	s, err := embedded.Open(path, state.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

const (
	sysID  = "opnode"
	pass   = "secret"
	msisdn = uint64(4915112345678)
	spName = "Acme Bank"
)

// clock is a settable clock for Config.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// rig is a simulated SMSC delivering to a handset, an SMPP client bound to
// it over TCP, and a fiber app on loopback serving the package's pages.
type rig struct {
	srv    *smsc.Server
	hs     *handset.Handset
	client *smpp.Client
	public string
	ln     net.Listener
	app    *fiber.App
	clock  *clock
	// store is the state store, on the rig's clock; path its file.
	store *embedded.Store
	path  string
}

func newRig(t *testing.T) *rig {
	t.Helper()
	r := &rig{hs: handset.New(handset.Options{}), clock: &clock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}}
	r.path = filepath.Join(t.TempDir(), "state.db")
	r.store = openStore(t, r.path, r.clock.Now)
	var err error
	r.srv, err = smsc.Listen(smsc.Config{Addr: "127.0.0.1:0", SystemID: sysID, Password: pass, Deliverer: r.hs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.srv.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	r.client, err = smpp.Dial(ctx, smpp.Config{
		Addr: r.srv.Addr(), SystemID: sysID, Password: pass, SourceAddr: "MCFED", SourceTON: 5,
		ReconnectMin: 50 * time.Millisecond, ReconnectMax: 200 * time.Millisecond,
		SubmitTimeout: 3 * time.Second, DialTimeout: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.client.Close() })
	r.ln, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.public = "http://" + r.ln.Addr().String()
	r.app = fiber.New(fiber.Config{DisableStartupMessage: true})
	// Where the gateway's continue endpoint would be; not used by these tests.
	r.app.Post("/authorize/continue", func(c *fiber.Ctx) error { return c.SendString("continued") })
	t.Cleanup(func() { _ = r.app.ShutdownWithTimeout(2 * time.Second) })
	return r
}

// auth builds an authenticator (mount happens on the first call only).
func (r *rig) auth(t *testing.T, cfg sms.Config) *sms.Authenticator {
	t.Helper()
	cfg.PublicURL = r.public
	cfg.OperatorName = "Demo Mobile"
	if cfg.Now == nil {
		cfg.Now = r.clock.Now
	}
	if cfg.Store == nil {
		cfg.Store = r.store
	}
	a, err := sms.New(cfg, r.client)
	if err != nil {
		t.Fatal(err)
	}
	a.Mount(r.app)
	go func() { _ = r.app.Listener(r.ln) }()
	return a
}

func (r *rig) challenge() idgw.Challenge {
	return idgw.Challenge{MSISDN: msisdn, SPName: spName, ReturnURL: r.public + "/authorize/continue?session=abc123"}
}

// waitSMS waits for an SMS to msisdn that was not there before (by count).
func (r *rig) waitSMS(t *testing.T, to uint64, seen int) handset.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	m, err := r.hs.WaitFor(ctx, strconv.FormatUint(to, 10), func(handset.Message) bool {
		return len(r.hs.Messages(strconv.FormatUint(to, 10))) > seen
	})
	if err != nil {
		t.Fatalf("no SMS to %d: %v", to, err)
	}
	return m
}

var codeRE = regexp.MustCompile(`code to sign in to [^:]+: ([0-9]+)`)

func codeOf(t *testing.T, m handset.Message) string {
	t.Helper()
	s := codeRE.FindStringSubmatch(m.Text)
	if s == nil {
		t.Fatalf("no code in SMS %q", m.Text)
	}
	return s[1]
}

func tap(t *testing.T, r *rig, m handset.Message) handset.TapResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := r.hs.Tap(ctx, m.To, m.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func check(t *testing.T, a *sms.Authenticator, state []byte, answer url.Values) idgw.Outcome {
	t.Helper()
	out, err := a.Check(context.Background(), state, answer)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func wantStatus(t *testing.T, out idgw.Outcome, want idgw.OutcomeStatus, what string) {
	t.Helper()
	if out.Status != want {
		t.Fatalf("%s: status %d (reason %q), want %d", what, out.Status, out.Reason, want)
	}
}

func get(t *testing.T, u string) (int, string, http.Header) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func TestOTPEndToEnd(t *testing.T) {
	r := newRig(t)
	a := r.auth(t, sms.Config{Mode: sms.ModeOTP})
	if in := a.Info(); in.Name != "sms-otp" || in.LoA != 2 || len(in.AMR) != 1 || in.AMR[0] != "OTP_OK" {
		t.Fatalf("info %+v", in)
	}
	ch := r.challenge()
	st, err := a.Start(context.Background(), ch)
	if err != nil {
		t.Fatal(err)
	}
	// The code page, for the return URL, with a token naming the challenge.
	wantRedirect := r.public + "/sms/otp?return=" + url.QueryEscape(ch.ReturnURL) + "&c="
	if page, ok := strings.CutPrefix(st.RedirectURL, wantRedirect); !ok || len(page) != 22 {
		t.Fatalf("redirect %q, want %q and a page token", st.RedirectURL, wantRedirect)
	}
	m := r.waitSMS(t, msisdn, 0)
	if !strings.Contains(m.Text, "Your code to sign in to \""+spName+"\": ") {
		t.Fatalf("SMS does not name the SP: %q", m.Text)
	}
	code := codeOf(t, m)
	if len(code) != 6 {
		t.Fatalf("code %q is not 6 digits", code)
	}
	if bytes.Contains(st.State, []byte(code)) {
		t.Fatal("state holds the code in clear")
	}
	if len(m.Links) != 0 {
		t.Fatalf("OTP SMS has links: %v", m.Links)
	}

	// The page the browser is sent to: a form posting "otp" to the return URL.
	status, body, hdr := get(t, st.RedirectURL)
	if status != 200 || !strings.Contains(body, `name="otp"`) || !strings.Contains(body, `method="post"`) ||
		!strings.Contains(body, `action="`+strings.ReplaceAll(ch.ReturnURL, "&", "&amp;")+`"`) {
		t.Fatalf("OTP page %d:\n%s", status, body)
	}
	// The page may not be framed or load anything, but its form must be
	// free to end in a redirect to the SP: browsers apply form-action to
	// the redirects that follow a form's post.
	csp := hdr.Get("Content-Security-Policy")
	if hdr.Get("Cache-Control") != "no-store" || !strings.Contains(csp, "default-src 'none'") ||
		!strings.Contains(csp, "frame-ancestors 'none'") || strings.Contains(csp, "form-action") {
		t.Fatalf("OTP page headers %v", hdr)
	}

	// A poll without an answer is pending; the code succeeds; again it fails.
	wantStatus(t, check(t, a, st.State, nil), idgw.Pending, "poll")
	wantStatus(t, check(t, a, st.State, url.Values{}), idgw.Pending, "empty form")
	out := check(t, a, st.State, url.Values{"otp": {" " + code + " "}})
	wantStatus(t, out, idgw.Succeeded, "right code")
	out = check(t, a, out.State, url.Values{"otp": {code}})
	wantStatus(t, out, idgw.Failed, "reused code")
	if !strings.Contains(out.Reason, "already been used") {
		t.Fatalf("reason %q", out.Reason)
	}
}

func TestURLEndToEnd(t *testing.T) {
	r := newRig(t)
	a := r.auth(t, sms.Config{Mode: sms.ModeURL})
	if in := a.Info(); in.Name != "sms-url" || in.LoA != 2 || in.AMR[0] != "SMS_URL_OK" {
		t.Fatalf("info %+v", in)
	}
	ch := r.challenge()
	ch.BindingMessage = "Pay EUR 42.00 to Shop"
	st, err := a.Start(context.Background(), ch)
	if err != nil {
		t.Fatal(err)
	}
	if st.RedirectURL != "" {
		t.Fatalf("URL mode redirects to %q; want out of band", st.RedirectURL)
	}
	m := r.waitSMS(t, msisdn, 0)
	if !strings.Contains(m.Text, spName) || !strings.Contains(m.Text, "Pay EUR 42.00 to Shop") {
		t.Fatalf("SMS lacks the SP or binding message: %q", m.Text)
	}
	if len(m.Links) != 1 || !strings.HasPrefix(m.Links[0], r.public+"/sms/link/") {
		t.Fatalf("links %v", m.Links)
	}
	token := strings.TrimPrefix(m.Links[0], r.public+"/sms/link/")
	if bytes.Contains(st.State, []byte(token)) {
		t.Fatal("state holds the link token in clear")
	}

	wantStatus(t, check(t, a, st.State, nil), idgw.Pending, "before the tap")
	// A link preview (HEAD) does not use the link.
	req, _ := http.NewRequest(http.MethodHead, m.Links[0], nil)
	if resp, err := http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}
	wantStatus(t, check(t, a, st.State, nil), idgw.Pending, "after a HEAD")

	res := tap(t, r, m)
	if res.Status != 200 || !strings.Contains(res.Body, "You are signed in") || !strings.Contains(res.Body, spName) {
		t.Fatalf("tap: %d %s", res.Status, res.Body)
	}
	out := check(t, a, st.State, nil)
	wantStatus(t, out, idgw.Succeeded, "after the tap")

	// The link is single use, and so is the success.
	res = tap(t, r, m)
	if res.Status != http.StatusGone || !strings.Contains(res.Body, "already been used") {
		t.Fatalf("second tap: %d %s", res.Status, res.Body)
	}
	wantStatus(t, check(t, a, out.State, nil), idgw.Failed, "check after success")

	// Unknown tokens.
	if status, body, _ := get(t, r.public+"/sms/link/"+strings.Repeat("A", 43)); status != 404 || !strings.Contains(body, "not valid") {
		t.Fatalf("unknown token: %d %s", status, body)
	}
	if status, _, _ := get(t, r.public+"/sms/link/short"); status != 404 {
		t.Fatalf("malformed token: %d", status)
	}
}

func TestOTPURLEndToEnd(t *testing.T) {
	r := newRig(t)
	a := r.auth(t, sms.Config{Mode: sms.ModeOTPURL})
	if in := a.Info(); in.Name != "sms-otp-url" || in.LoA != 2 {
		t.Fatalf("info %+v", in)
	}

	// By the link.
	st, err := a.Start(context.Background(), r.challenge())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(st.RedirectURL, r.public+"/sms/otp?return=") {
		t.Fatalf("redirect %q", st.RedirectURL)
	}
	m := r.waitSMS(t, msisdn, 0)
	code := codeOf(t, m)
	if len(m.Links) != 1 || bytes.Contains(st.State, []byte(code)) {
		t.Fatalf("links %v / code in state", m.Links)
	}
	if res := tap(t, r, m); res.Status != 200 {
		t.Fatalf("tap %d", res.Status)
	}
	// The browser's form comes back with no code: the tap decides.
	wantStatus(t, check(t, a, st.State, url.Values{"otp": {""}}), idgw.Succeeded, "after the tap")
	wantStatus(t, check(t, a, st.State, url.Values{"otp": {code}}), idgw.Failed, "code after the link")

	// By the code; then the link is used up.
	st, err = a.Start(context.Background(), r.challenge())
	if err != nil {
		t.Fatal(err)
	}
	m = r.waitSMS(t, msisdn, 1)
	wantStatus(t, check(t, a, st.State, url.Values{"otp": {codeOf(t, m)}}), idgw.Succeeded, "code")
	if res := tap(t, r, m); res.Status != http.StatusGone {
		t.Fatalf("tap after the code: %d", res.Status)
	}
}

func TestWrongCodeThrice(t *testing.T) {
	r := newRig(t)
	a := r.auth(t, sms.Config{Mode: sms.ModeOTPURL})
	st, err := a.Start(context.Background(), r.challenge())
	if err != nil {
		t.Fatal(err)
	}
	m := r.waitSMS(t, msisdn, 0)
	code := codeOf(t, m)
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	state := st.State
	for i := 1; i <= 3; i++ {
		out := check(t, a, state, url.Values{"otp": {wrong}})
		if bytes.Contains(out.State, []byte(code)) {
			t.Fatal("state holds the code in clear")
		}
		if i < 3 {
			wantStatus(t, out, idgw.Pending, "wrong code "+strconv.Itoa(i))
		} else {
			wantStatus(t, out, idgw.Failed, "third wrong code")
			if out.Reason != "too many attempts" {
				t.Fatalf("reason %q", out.Reason)
			}
		}
		state = out.State
	}
	wantStatus(t, check(t, a, state, url.Values{"otp": {code}}), idgw.Failed, "right code after the limit")
	// Nor does the first state (attempts are also counted on the node).
	wantStatus(t, check(t, a, st.State, url.Values{"otp": {code}}), idgw.Failed, "right code with the old state")
	// Nor the link.
	if res := tap(t, r, m); res.Status != http.StatusGone {
		t.Fatalf("tap after lock-out: %d", res.Status)
	}
}

func TestExpired(t *testing.T) {
	r := newRig(t)
	a := r.auth(t, sms.Config{Mode: sms.ModeOTPURL, TTL: 2 * time.Minute})
	st, err := a.Start(context.Background(), r.challenge())
	if err != nil {
		t.Fatal(err)
	}
	m := r.waitSMS(t, msisdn, 0)
	if !strings.Contains(m.Text, "Valid 2 min") {
		t.Fatalf("SMS %q", m.Text)
	}
	r.clock.Add(2*time.Minute + time.Second)
	out := check(t, a, st.State, url.Values{"otp": {codeOf(t, m)}})
	wantStatus(t, out, idgw.Failed, "expired code")
	if out.Reason != "the code has expired" {
		t.Fatalf("reason %q", out.Reason)
	}
	if res := tap(t, r, m); res.Status != http.StatusGone || !strings.Contains(res.Body, "expired") {
		t.Fatalf("expired link: %d %s", res.Status, res.Body)
	}
}

func TestSendLimit(t *testing.T) {
	r := newRig(t)
	a := r.auth(t, sms.Config{Mode: sms.ModeOTP})
	for i := 0; i < 5; i++ {
		if _, err := a.Start(context.Background(), r.challenge()); err != nil {
			t.Fatalf("start %d: %v", i+1, err)
		}
		r.clock.Add(time.Minute)
	}
	_, err := a.Start(context.Background(), r.challenge())
	if !errors.Is(err, idgw.ErrUnavailable) || !errors.Is(err, sms.ErrSendLimit) {
		t.Fatalf("6th start: %v, want ErrUnavailable and ErrSendLimit", err)
	}
	t.Logf("6th start: %v", err)
	// Another number is not affected.
	other := r.challenge()
	other.MSISDN = 4915199999999
	if _, err := a.Start(context.Background(), other); err != nil {
		t.Fatal(err)
	}
	// 15 minutes after the first send, one slot is free again.
	r.clock.Add(10*time.Minute + time.Second)
	if _, err := a.Start(context.Background(), r.challenge()); err != nil {
		t.Fatalf("after the window: %v", err)
	}
	if _, err := a.Start(context.Background(), r.challenge()); !errors.Is(err, sms.ErrSendLimit) {
		t.Fatalf("second after the window: %v", err)
	}
	// Exactly five SMS plus one reached the number.
	r.waitSMS(t, msisdn, 5)
	if n := len(r.hs.Messages(strconv.FormatUint(msisdn, 10))); n != 6 {
		t.Fatalf("%d SMS delivered, want 6", n)
	}
}

func TestSMSCDown(t *testing.T) {
	r := newRig(t)
	a := r.auth(t, sms.Config{Mode: sms.ModeURL})
	if err := r.srv.Close(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for r.client.Connected() {
		if time.Now().After(deadline) {
			t.Fatal("client still bound after the SMSC closed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	_, err := a.Start(context.Background(), r.challenge())
	if !errors.Is(err, idgw.ErrUnavailable) || !errors.Is(err, smpp.ErrNotConnected) {
		t.Fatalf("start with the SMSC down: %v", err)
	}
	t.Logf("start with the SMSC down: %v", err)
	// Failed sends do not count against the limit: after the SMSC is back,
	// the number still gets its five.
	for i := 0; i < 5; i++ {
		_, _ = a.Start(context.Background(), r.challenge())
	}
	if err := r.srv.Start(); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(5 * time.Second)
	for !r.client.Connected() {
		if time.Now().After(deadline) {
			t.Fatal("client did not rebind")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := a.Start(context.Background(), r.challenge()); err != nil {
		t.Fatalf("start after the SMSC is back: %v", err)
	}
}

func TestOpenRedirect(t *testing.T) {
	r := newRig(t)
	a := r.auth(t, sms.Config{Mode: sms.ModeOTP})
	for _, bad := range []string{
		"https://evil.example/authorize/continue",
		"//evil.example/x",
		"/authorize/continue",
		strings.Replace(r.public, "http:", "https:", 1) + "/x",
		r.public + "@evil.example/x",
		r.public + "/../x",
		"javascript:alert(1)",
	} {
		ch := r.challenge()
		ch.ReturnURL = bad
		if _, err := a.Start(context.Background(), ch); !errors.Is(err, sms.ErrBadReturnURL) || errors.Is(err, idgw.ErrUnavailable) {
			t.Errorf("start with return %q: %v", bad, err)
		}
		if status, _, _ := get(t, r.public+"/sms/otp?return="+url.QueryEscape(bad)); status != 400 {
			t.Errorf("OTP page with return %q: %d", bad, status)
		}
	}
	if len(r.hs.Messages(strconv.FormatUint(msisdn, 10))) != 0 {
		t.Fatal("an SMS was sent for a bad return URL")
	}
}

func TestPathPrefix(t *testing.T) {
	r := newRig(t)
	cfg := sms.Config{Mode: sms.ModeOTP, PublicURL: "https://op.example/node/", Now: r.clock.Now, Store: r.store}
	a, err := sms.New(cfg, r.client)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.OTPPageURL("https://op.example/nodeX/continue"); !errors.Is(err, sms.ErrBadReturnURL) {
		t.Fatalf("sibling path accepted: %v", err)
	}
	u, err := a.OTPPageURL("https://op.example/node/authorize/continue?session=1")
	if err != nil || !strings.HasPrefix(u, "https://op.example/node/sms/otp?return=") {
		t.Fatalf("%q %v", u, err)
	}
}

func TestConfig(t *testing.T) {
	s := &fakeSender{}
	st := openStore(t, "", nil)
	for _, cfg := range []sms.Config{
		{Mode: "sms", PublicURL: "https://op.example"},
		{Mode: sms.ModeOTP},
		{Mode: sms.ModeOTP, PublicURL: "ftp://op.example"},
		{Mode: sms.ModeOTP, PublicURL: "https://op.example", CodeLength: 3},
		{Mode: sms.ModeOTP, PublicURL: "https://op.example", MaxAttempts: -1},
	} {
		cfg.Store = st
		if _, err := sms.New(cfg, s); err == nil {
			t.Errorf("config %+v accepted", cfg)
		}
	}
	if _, err := sms.New(sms.Config{Mode: sms.ModeOTP, PublicURL: "https://op.example", Store: st}, nil); err == nil {
		t.Error("nil sender accepted")
	}
	if _, err := sms.New(sms.Config{Mode: sms.ModeOTP, PublicURL: "https://op.example"}, s); err == nil || !strings.Contains(err.Error(), "Store") {
		t.Errorf("no store: %v", err)
	}
}

// fakeSender records texts (for tests that need no SMSC).
type fakeSender struct {
	mu    sync.Mutex
	texts []string
}

func (f *fakeSender) Submit(_ context.Context, _, text string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.texts = append(f.texts, text)
	return strconv.Itoa(len(f.texts)), nil
}

func TestCodesAndText(t *testing.T) {
	s := &fakeSender{}
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	a, err := sms.New(sms.Config{Mode: sms.ModeOTP, CodeLength: 8, PublicURL: "https://op.example",
		SendLimit: 1000, Now: func() time.Time { return now }, Store: openStore(t, "", func() time.Time { return now })}, s)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for i := 0; i < 200; i++ {
		ch := idgw.Challenge{MSISDN: msisdn, SPName: "Evil\nYour bank says: call 0800", ReturnURL: "https://op.example/authorize/continue?session=1"}
		st, err := a.Start(context.Background(), ch)
		if err != nil {
			t.Fatal(err)
		}
		text := s.texts[len(s.texts)-1]
		m := regexp.MustCompile(`: ([0-9]{8})\n`).FindStringSubmatch(text)
		if m == nil {
			t.Fatalf("no 8-digit code in %q", text)
		}
		if bytes.Contains(st.State, []byte(m[1])) {
			t.Fatal("state holds the code in clear")
		}
		if strings.Count(text, "\n") != 1 || !strings.Contains(text, "Evil Your bank says") {
			t.Fatalf("the SP name was not kept on one line: %q", text)
		}
		seen[m[1]] = true
	}
	if len(seen) < 195 {
		t.Fatalf("only %d distinct codes in 200", len(seen))
	}
	if _, err := a.Check(context.Background(), []byte("garbage"), nil); err == nil {
		t.Fatal("garbage state accepted")
	}
}
