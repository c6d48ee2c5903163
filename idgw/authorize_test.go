package idgw

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/gofiber/fiber/v2"

	"github.com/mcfed/mcfed/internal/e164"
	"github.com/mcfed/mcfed/registry"
)

// subscriberMap is a subscriber store in memory, for gateway tests.
type subscriberMap map[uint64]Subscriber

// PCRSecret derives a fixed secret per number: enough for tests of
// stability and unlinkability.
func (m subscriberMap) PCRSecret(_ context.Context, n uint64) ([]byte, error) {
	if _, ok := m[n]; !ok {
		return nil, ErrUnknownSubscriber
	}
	return []byte(e164.Format(n) + "-secret"), nil
}

func (m subscriberMap) Subscriber(_ context.Context, n uint64) (Subscriber, error) {
	s, ok := m[n]
	if !ok {
		return Subscriber{}, ErrUnknownSubscriber
	}
	s.PCRSecret = []byte(e164.Format(n) + "-secret")
	return s, nil
}

func (m subscriberMap) Standing(ctx context.Context, n uint64) (Subscriber, error) {
	return m.Subscriber(ctx, n)
}

// phoneAuthenticator is a test authenticator standing for the person's
// phone: the test approves or denies each MSISDN, as a person would answer
// on the handset; with page set, it sends the browser to its page and takes
// the answer from the form posted back.
type phoneAuthenticator struct {
	mu       sync.Mutex
	answers  map[uint64]OutcomeStatus
	page     string
	startErr error
	started  int
}

func newPhone() *phoneAuthenticator { return &phoneAuthenticator{answers: map[uint64]OutcomeStatus{}} }

func (p *phoneAuthenticator) Start(_ context.Context, ch Challenge) (Started, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.started++
	if p.startErr != nil {
		return Started{}, p.startErr
	}
	st := Started{State: []byte(e164.Format(ch.MSISDN))}
	if p.page != "" {
		st.RedirectURL = p.page + "?return=" + url.QueryEscape(ch.ReturnURL)
	}
	return st, nil
}

func (p *phoneAuthenticator) Check(_ context.Context, state []byte, answer url.Values) (Outcome, error) {
	if p.page != "" {
		if answer.Get("otp") == "123456" {
			return Outcome{Status: Succeeded}, nil
		}
		return Outcome{Status: Failed, Reason: "wrong code"}, nil
	}
	n, err := e164.Parse(string(state))
	if err != nil {
		return Outcome{}, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return Outcome{Status: p.answers[n]}, nil
}

func (p *phoneAuthenticator) answer(n string, st OutcomeStatus) {
	num, _ := e164.Parse(n)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.answers[num] = st
}

// flowGateway is the auth test gateway with a subscriber store and the
// given authenticators, mounted on a fiber app.
func flowGateway(t testing.TB, subs subscriberMap, regs ...Registration) (*Gateway, *fiber.App) {
	t.Helper()
	g, _ := newAuthTestGateway(t)
	r, err := NewRouter(regs...)
	if err != nil {
		t.Fatal(err)
	}
	g.cfg.Router, g.cfg.Subscribers = r, subs
	app := fiber.New()
	if err := g.Mount(app); err != nil {
		t.Fatal(err)
	}
	return g, app
}

// bindingJar holds, per app, the login-binding cookie its gateway last
// gave do's caller: do's cookie store, of that one cookie.
var bindingJar sync.Map

// do sends one request to app as a headless SDK's HTTP client would,
// keeping the login-binding cookie between requests.
func do(t testing.TB, app *fiber.App, method, target string, form url.Values) (int, string, string) {
	t.Helper()
	var body *strings.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	} else {
		body = strings.NewReader("")
	}
	req := httptest.NewRequest(method, target, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	// The login-binding cookie goes back, as an SDK's HTTP client keeps
	// it in its cookie store: without it a re-poll is refused.
	if v, ok := bindingJar.Load(app); ok {
		req.AddCookie(v.(*http.Cookie))
	}
	resp, err := app.Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range resp.Cookies() {
		if strings.HasPrefix(c.Name, "mcfed_login_") || strings.HasPrefix(c.Name, "__Host-mcfed_login_") {
			bindingJar.Store(app, &http.Cookie{Name: c.Name, Value: c.Value})
		}
	}
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp.StatusCode, resp.Header.Get("Location"), b.String()
}

func authorizeURL(kv ...string) string {
	v := authTestArgs()
	v.Set("login_hint", "MSISDN:"+strings.TrimPrefix(redNumber, "+"))
	for i := 0; i < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return "/authorize?" + v.Encode()
}

func redirectParams(t testing.TB, loc string) url.Values {
	t.Helper()
	if !strings.HasPrefix(loc, shopPlain) {
		t.Fatalf("redirected to %q, not the SP's redirect URI", loc)
	}
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}

func red(t testing.TB) uint64 {
	n, err := e164.Parse(redNumber)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestHeadlessPollEndsInTheRedirect: the Java SDK's headless mode re-GETs
// the same authorize URL until it is redirected; once the person answers on
// the phone, the re-poll gets the code with state and correlation_id.
func TestHeadlessPollEndsInTheRedirect(t *testing.T) {
	phone := newPhone()
	g, app := flowGateway(t, subscriberMap{red(t): {MSISDN: red(t), Active: true}},
		Registration{AuthenticatorInfo{Name: "sms", LoA: 2, AMR: []string{"OTP_OK"}}, phone})
	status, loc, body := do(t, app, "GET", authorizeURL(), nil)
	if status != 200 || loc != "" || !strings.Contains(body, "Check your phone") {
		t.Fatalf("first GET: %d %q", status, loc)
	}
	if status, _, _ := do(t, app, "GET", authorizeURL(), nil); status != 200 {
		t.Fatalf("a re-poll before the answer: %d, want the waiting page", status)
	}
	phone.answer(redNumber, Succeeded)
	status, loc, _ = do(t, app, "GET", authorizeURL(), nil)
	if status != 302 {
		t.Fatalf("re-poll after the answer: %d", status)
	}
	q := redirectParams(t, loc)
	if q.Get("code") == "" || q.Get("state") != "st-1" || q.Get("correlation_id") != "corr-1" || q.Get("app") != "1" {
		t.Fatalf("redirect %s", loc)
	}
	gr, ok := g.codes.get(context.Background(), tokenKey(q.Get("code")))
	if !ok || gr.acr != 2 || strings.Join(gr.amr, ",") != "OTP_OK" || gr.msisdn != red(t) {
		t.Fatalf("the code stands for %+v", gr)
	}
	if phone.started != 1 {
		t.Fatalf("the authenticator was started %d times for one login", phone.started)
	}
}

// TestRepollDoesNotOpenTheLoginHintAgain: the SDK's re-polls of an
// authorize URL with a sealed login hint continue the login without opening
// the hint again (an RSA decryption each); a request that differs in any
// parameter is validated in full, and a re-poll is refused once the
// registry no longer lets its client through.
func TestRepollDoesNotOpenTheLoginHintAgain(t *testing.T) {
	phone := newPhone()
	g, app := flowGateway(t, subscriberMap{red(t): {MSISDN: red(t), Active: true}},
		Registration{AuthenticatorInfo{Name: "sms", LoA: 2, AMR: []string{"OTP_OK"}}, phone})
	opener := g.cfg.LoginHints.(*authTestOpener)
	sealed := authorizeURL("login_hint", "ENCR_MSISDN:aa11")
	if status, _, _ := do(t, app, "GET", sealed, nil); status != 200 {
		t.Fatalf("first GET: %d, want the waiting page", status)
	}
	for range 3 {
		if status, _, _ := do(t, app, "GET", sealed, nil); status != 200 {
			t.Fatalf("a re-poll before the answer: %d, want the waiting page", status)
		}
	}
	if n := opener.opened.Load(); n != 1 {
		t.Fatalf("the login hint was opened %d times for one login and its re-polls, want 1", n)
	}
	// Another parameter: validated in full (and it is the same login, as
	// before: same client, redirect URI, state and nonce).
	if status, _, _ := do(t, app, "GET", authorizeURL("login_hint", "ENCR_MSISDN:aa11", "ui_locales", "en"), nil); status != 200 {
		t.Fatalf("a re-poll with another parameter: %d", status)
	}
	if n := opener.opened.Load(); n != 2 {
		t.Fatalf("a request with other parameters opened the hint %d times in all, want 2", n)
	}
	phone.answer(redNumber, Succeeded)
	status, loc, _ := do(t, app, "GET", sealed, nil)
	if q := redirectParams(t, loc); status != 302 || q.Get("code") == "" || q.Get("state") != "st-1" {
		t.Fatalf("re-poll after the answer: %d %q", status, loc)
	}
	if n := opener.opened.Load(); n != 2 || phone.started != 1 {
		t.Fatalf("hint opened %d times, authenticator started %d times", n, phone.started)
	}

	// A login whose client is suspended while the person answers: the
	// re-poll is validated again, and refused.
	second := authorizeURL("login_hint", "ENCR_MSISDN:aa11", "state", "st-2")
	if status, _, _ := do(t, app, "GET", second, nil); status != 200 {
		t.Fatalf("second login: %d", status)
	}
	reg := g.cfg.Registry.(*registry.Registry)
	sp := *reg.ServiceProvider("shop")
	sp.Status = registry.StatusSuspended
	if err := reg.Apply(reg.AppliedIndex()+1, registry.MustEncode(registry.CmdPutSP, sp)); err != nil {
		t.Fatal(err)
	}
	status, loc, body := do(t, app, "GET", second, nil)
	if status != 400 || loc != "" || !strings.Contains(body, string(CodeUnauthorizedClient)) {
		t.Fatalf("re-poll of a suspended client: %d %q", status, loc)
	}
}

// TestFallbackAndPageAuthenticator: the preferred authenticator cannot
// serve (its SMSC is down), so routing falls back to the next, which sends
// the browser to its page; a wrong answer there fails the login, the right
// one gives the code.
func TestFallbackAndPageAuthenticator(t *testing.T) {
	down := newPhone()
	down.startErr = ErrUnavailable
	otp := newPhone()
	otp.page = "https://op.example/otp"
	subs := subscriberMap{red(t): {MSISDN: red(t), Active: true}}
	_, app := flowGateway(t, subs,
		Registration{AuthenticatorInfo{Name: "sms-url", LoA: 2, AMR: []string{"SMS_URL_OK"}}, down},
		Registration{AuthenticatorInfo{Name: "sms-otp", LoA: 2, AMR: []string{"OTP_OK"}}, otp})
	status, loc, _ := do(t, app, "GET", authorizeURL(), nil)
	if status != 302 || !strings.HasPrefix(loc, otp.page) {
		t.Fatalf("want a redirect to the OTP page, got %d %q", status, loc)
	}
	back, _ := url.Parse(loc)
	ret, _ := url.Parse(back.Query().Get("return"))
	status, loc, _ = do(t, app, "POST", ret.RequestURI(), url.Values{"otp": {"123456"}})
	if status != 302 || redirectParams(t, loc).Get("code") == "" {
		t.Fatalf("right code: %d %q", status, loc)
	}

	// A second login with a wrong code: no fallback left, access_denied.
	status, loc, _ = do(t, app, "GET", authorizeURL("state", "st-2"), nil)
	back, _ = url.Parse(loc)
	ret, _ = url.Parse(back.Query().Get("return"))
	status, loc, _ = do(t, app, "POST", ret.RequestURI(), url.Values{"otp": {"000000"}})
	q := redirectParams(t, loc)
	if status != 302 || q.Get("error") != "access_denied" || q.Get("state") != "st-2" || q.Get("code") != "" {
		t.Fatalf("wrong code: %d %q", status, loc)
	}
	// The session is over: its continue URL is refused without a redirect.
	if status, loc, _ := do(t, app, "POST", ret.RequestURI(), url.Values{"otp": {"123456"}}); status != 400 || loc != "" {
		t.Fatalf("a finished session answered %d %q", status, loc)
	}
}

func TestAuthorizeRefusals(t *testing.T) {
	phone := newPhone()
	subs := subscriberMap{red(t): {MSISDN: red(t), Active: true}}
	_, app := flowGateway(t, subs,
		Registration{AuthenticatorInfo{Name: "sim-pin", LoA: 3, Enrolment: "sim-applet"}, phone},
		Registration{AuthenticatorInfo{Name: "sms", LoA: 2}, phone})
	for _, tc := range []struct {
		name  string
		subs  subscriberMap
		url   string
		error string
	}{
		{"no login hint", nil, authorizeURL("login_hint", ""), "invalid_request"},
		{"prompt none", nil, authorizeURL("prompt", "none"), "login_required"},
		{"LoA 3 without an enrolment that reaches it", nil, authorizeURL("acr_values", "3"), "access_denied"},
		{"suspended subscriber", subscriberMap{red(t): {MSISDN: red(t)}}, authorizeURL(), "access_denied"},
		{"unknown subscriber", subscriberMap{}, authorizeURL(), "access_denied"},
	} {
		for k := range subs {
			delete(subs, k)
		}
		src := tc.subs
		if src == nil {
			src = subscriberMap{red(t): {MSISDN: red(t), Active: true}}
		}
		for k, v := range src {
			subs[k] = v
		}
		status, loc, _ := do(t, app, "GET", tc.url, nil)
		q := redirectParams(t, loc)
		if status != 302 || q.Get("error") != tc.error || q.Get("state") != "st-1" || q.Get("correlation_id") != "corr-1" {
			t.Errorf("%s: %d %q, want error %s", tc.name, status, loc, tc.error)
		}
	}
	if phone.started != 0 {
		t.Fatalf("a refused request started an authenticator %d times", phone.started)
	}
}

// TestNoAuthenticatorCanStart: when every candidate fails to start (its
// SMSC refuses), the SP hears temporarily_unavailable.
func TestNoAuthenticatorCanStart(t *testing.T) {
	broken := newPhone()
	broken.startErr = errors.New("SMSC refused")
	subs := subscriberMap{red(t): {MSISDN: red(t), Active: true}}
	_, app := flowGateway(t, subs, Registration{AuthenticatorInfo{Name: "sms", LoA: 2}, broken})
	status, loc, _ := do(t, app, "GET", authorizeURL(), nil)
	if q := redirectParams(t, loc); status != 302 || q.Get("error") != "temporarily_unavailable" || q.Get("state") != "st-1" {
		t.Fatalf("no authenticator could start: %d %q", status, loc)
	}
}

// failingAuthenticator fails every challenge, for the reason failure.
type failingAuthenticator struct {
	failure Failure
}

func (failingAuthenticator) Start(context.Context, Challenge) (Started, error) {
	return Started{State: []byte("s")}, nil
}

func (f failingAuthenticator) Check(context.Context, []byte, url.Values) (Outcome, error) {
	return Outcome{Status: Failed, Failure: f.failure, Reason: "failed"}, nil
}

// TestNoFallbackAfterTheLastTry: a challenge that expired falls back to
// the next authenticator, but one the person refused, or one stopped
// after too many wrong answers (codes, a SIM's PIN), ends the login:
// another authenticator would give whoever is there more tries.
func TestNoFallbackAfterTheLastTry(t *testing.T) {
	for failure, fallsBack := range map[Failure]bool{FailureExpired: true, FailureOther: true,
		FailureTooManyAttempts: false, FailureRefused: false} {
		next := newPhone()
		subs := subscriberMap{red(t): {MSISDN: red(t), Active: true}}
		_, app := flowGateway(t, subs,
			Registration{AuthenticatorInfo{Name: "first", LoA: 3, AMR: []string{"SIM_PIN"}}, failingAuthenticator{failure}},
			Registration{AuthenticatorInfo{Name: "next", LoA: 2, AMR: []string{"OTP_OK"}}, next})
		u := authorizeURL("state", "st-fb")
		if status, loc, _ := do(t, app, "GET", u, nil); status != 200 {
			t.Fatalf("failure %d: the first challenge waits: %d %q", failure, status, loc)
		}
		status, loc, _ := do(t, app, "GET", u, nil) // the re-poll checks: failed
		if fallsBack {
			if status != 200 || next.started != 1 {
				t.Fatalf("failure %d falls back: %d %q, next started %d", failure, status, loc, next.started)
			}
			continue
		}
		if q := redirectParams(t, loc); status != 302 || q.Get("error") != "access_denied" || next.started != 0 {
			t.Fatalf("failure %d ends the login: %d %q, next started %d", failure, status, loc, next.started)
		}
	}
}
