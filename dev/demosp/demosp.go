// Package demosp is the demo federation's service provider: a small web
// site on loopback with a "Log in with Mobile Connect" button, doing server
// side what an SP integrating Mobile Connect does. It is a client of the
// federation: it reaches the nodes over HTTP only, as any SP does.
package demosp

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcfed/mcfed/internal/e164"
)

// SP is the demo SP's web site, doing server side what an SP integrating
// Mobile Connect does, with net/http as an SP's own stack would, and
// reaching the federation over HTTP only:
//
//   - with a number: discovery (POST MSISDN) on a node with the SP's
//     credentials; without: discovery (GET) answers with the operator
//     selection page, where the browser goes; its callback brings mcc_mnc
//     and the sealed number (subscriber_id), and discovery is completed with
//     Selected-MCC/MNC;
//   - the person's choices checked against the operator's metadata;
//   - the browser sent to the operator's /authorize with the sealed number
//     as login hint (ENCR_MSISDN), state, nonce and PKCE S256, and the
//     product's scopes and parameters;
//   - at the callback the code exchanged, the ID token verified against the
//     operator's JWKS (through jose, as the gateway signs), userinfo and
//     premiuminfo read, and what the SP learned shown.
type SP struct {
	ln     net.Listener
	srv    *http.Server
	client *http.Client
	cfg    Config
	log    *slog.Logger
	next   atomic.Uint32 // round-robin over the discovery endpoints

	mu         sync.Mutex
	pending    map[string]*spLogin     // logins in progress, by state
	selections map[string]*spSelection // operator selections in progress, by browser
}

// Config is what the SP knows once the federation has registered it.
type Config struct {
	ClientID, Secret, Name string
	Scopes                 []string // what the SP is registered for
	Discovery              []string // the nodes' /v2/discovery endpoints
	DemoNumbers            []string // shown on the page as hints
	HandsetURL             string
	Logger                 *slog.Logger // nil: no log
}

// spLogin is a login the SP started and awaits at its callback.
type spLogin struct {
	browser  string // the cookie value of the browser that started it
	nonce    string
	verifier string // PKCE code_verifier
	op       spOperator
	choices  choices
	expires  time.Time
}

// spSelection is an operator selection the SP sent a browser to; its
// callback names no state, so the browser's cookie finds it.
type spSelection struct {
	choices choices
	expires time.Time
}

const (
	spCookie       = "demo_sp_login"
	spLoginTTL     = 10 * time.Minute
	spMaxPending   = 10000 // logins in progress kept at once, against a flood
	spCallbackPath = "/callback"
)

// Listen opens the SP's listener on addr before the federation starts, so
// that its callback URL can be registered as the SP's redirect URI.
func Listen(addr string) (*SP, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("demo SP: %w", err)
	}
	return &SP{ln: ln, pending: map[string]*spLogin{}, selections: map[string]*spSelection{}, client: &http.Client{
		Timeout: 15 * time.Second,
		// The SP reads the operators' answers itself; a redirect from a
		// token or userinfo endpoint is an error, not a place to go.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}, nil
}

// URL is the SP's page.
func (s *SP) URL() string { return "http://" + s.ln.Addr().String() + "/" }

// CallbackURL is the SP's redirect URI.
func (s *SP) CallbackURL() string { return "http://" + s.ln.Addr().String() + spCallbackPath }

// Serve starts answering with the SP's registration.
func (s *SP) Serve(cfg Config) {
	s.cfg = cfg
	s.log = cfg.Logger
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.log = s.log.With("component", "demo-sp")
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.home)
	mux.HandleFunc("POST /login", s.login)
	mux.HandleFunc("GET "+spCallbackPath, s.callback)
	mux.HandleFunc("GET /static/{file}", serveStatic)
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go s.srv.Serve(s.ln)
}

func (s *SP) Close() error {
	if s.srv == nil {
		return s.ln.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		// A browser's connection still open after the wait is cut.
		return s.srv.Close()
	}
	return err
}

func (s *SP) home(w http.ResponseWriter, r *http.Request) {
	s.renderHome(w, http.StatusOK, homeView{Choices: defaultChoices()})
}

// login starts a login with the person's choices: discovery for the number
// typed, or the operator selection when none was.
func (s *SP) login(w http.ResponseWriter, r *http.Request) {
	typed := r.PostFormValue("msisdn")
	view := homeView{MSISDN: typed}
	c, problem := readChoices(r.PostForm)
	view.Choices = c
	if problem != "" {
		view.Error = problem
		s.renderHome(w, http.StatusBadRequest, view)
		return
	}
	if strings.TrimSpace(typed) == "" {
		s.selectOperator(w, r, c)
		return
	}
	// The number is checked here, as any SP should before discovery: a
	// typo is the person's to fix, not an error of the operator's.
	n, err := e164.Parse(typed)
	var bad *e164.Error
	if errors.As(err, &bad) {
		view.Error = "That is not a mobile number we can use (" + bad.Reason + "). Type it with its country code, e.g. +44 7400 123456, or leave it empty to choose your operator."
		if t := strings.TrimSpace(typed); !strings.HasPrefix(t, "+") && !strings.HasPrefix(t, "00") {
			// Without "+", the reason names whatever country code the
			// first digits happen to be: not what the person meant.
			view.Error = "Type your number with its country code, starting with +, e.g. +44 7400 123456, or leave it empty to choose your operator."
		}
		s.renderHome(w, http.StatusBadRequest, view)
		return
	} else if err != nil {
		view.Error = "The number could not be checked: " + err.Error()
		s.renderHome(w, http.StatusInternalServerError, view)
		return
	}
	// The SDKs send the number without its "+".
	op, f := s.discoverNumber(r.Context(), strconv.FormatUint(n, 10))
	if f != nil {
		s.fail(w, f, "discovery by number")
		return
	}
	s.authorize(w, r, op, c)
}

// selectOperator sends the browser to the operator selection page that
// discovery names, remembering the choices for the callback.
func (s *SP) selectOperator(w http.ResponseWriter, r *http.Request, c choices) {
	href, f := s.startSelection(r.Context())
	if f != nil {
		s.fail(w, f, "discovery without a number")
		return
	}
	browser := randomToken()
	s.mu.Lock()
	s.sweepLocked()
	full := len(s.selections) >= spMaxPending
	if !full {
		s.selections[browser] = &spSelection{choices: c, expires: time.Now().Add(spLoginTTL)}
	}
	s.mu.Unlock()
	if full {
		s.fail(w, tooMany(), "operator selection")
		return
	}
	setBrowserCookie(w, browser)
	s.log.Info("login: operator selection", "selection_url", strings.SplitN(href, "?", 2)[0])
	http.Redirect(w, r, href, http.StatusSeeOther)
}

// selected completes a login after operator selection: discovery with the
// network picked, then the operator's /authorize with the sealed number
// the selection page returned.
func (s *SP) selected(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	c, err := r.Cookie(spCookie)
	s.mu.Lock()
	var sel *spSelection
	if err == nil {
		sel = s.selections[c.Value]
		delete(s.selections, c.Value)
	}
	s.mu.Unlock()
	if sel == nil || time.Now().After(sel.expires) {
		s.fail(w, &failure{Status: http.StatusBadRequest, Title: "Unknown login",
			Message: "This browser started no operator selection here, or it has expired. Start again.",
			Detail:  "no pending selection for this browser's " + spCookie + " cookie"}, "operator selection")
		return
	}
	mcc, mnc, ok := splitMCCMNC(q.Get("mcc_mnc"))
	if !ok {
		s.fail(w, upstream("The operator selection went wrong", "mcc_mnc %q is not MCC_MNC", q.Get("mcc_mnc")), "operator selection")
		return
	}
	op, f := s.completeSelection(r.Context(), mcc, mnc)
	if f != nil {
		s.fail(w, f, "completing discovery")
		return
	}
	op.SubscriberID = q.Get("subscriber_id")
	if op.SubscriberID == "" {
		// The person picked an operator without typing a number: the
		// gateway needs one to reach the phone.
		s.renderHome(w, http.StatusOK, homeView{Choices: sel.choices,
			Notice: op.Name + " needs your mobile number to send you the SMS. Type it below."})
		return
	}
	s.authorize(w, r, op, sel.choices)
}

// authorize sends the browser to the operator's authorization endpoint.
func (s *SP) authorize(w http.ResponseWriter, r *http.Request, op spOperator, c choices) {
	if f := s.offers(r.Context(), op, c); f != nil {
		s.fail(w, f, "metadata")
		return
	}
	l := &spLogin{browser: randomToken(), nonce: randomToken(), verifier: randomToken(), op: op, choices: c,
		expires: time.Now().Add(spLoginTTL)}
	state := randomToken()
	if !s.remember(state, l) {
		s.fail(w, tooMany(), "authorize")
		return
	}
	challenge := sha256.Sum256([]byte(l.verifier))
	q := url.Values{"client_id": {op.ClientID}, "redirect_uri": {s.CallbackURL()}, "response_type": {"code"},
		"scope": {c.scope()}, "acr_values": {c.ACR}, "state": {state}, "nonce": {l.nonce},
		"version": {"mc_di_r2_v2.3"}, "login_hint": {"ENCR_MSISDN:" + op.SubscriberID}, "client_name": {s.cfg.Name},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(challenge[:])}, "code_challenge_method": {"S256"}}
	c.authorizeParams(q)
	// The cookie ties the callback to this browser: a code and state
	// replayed from elsewhere do not log that browser in.
	setBrowserCookie(w, l.browser)
	s.log.Info("login: authorize", "operator", op.Name, "scope", c.scope(), "acr_values", c.ACR)
	http.Redirect(w, r, op.Authorize+"?"+q.Encode(), http.StatusSeeOther)
}

func setBrowserCookie(w http.ResponseWriter, value string) {
	http.SetCookie(w, &http.Cookie{Name: spCookie, Value: value, Path: "/", MaxAge: int(spLoginTTL.Seconds()),
		HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

func tooMany() *failure {
	return &failure{Status: http.StatusServiceUnavailable, Title: "Too many logins in progress",
		Message: "Try again in a few minutes.", Detail: fmt.Sprintf("%d logins in progress", spMaxPending)}
}

// remember keeps a login until its callback, dropping expired ones; false
// when too many are in progress.
func (s *SP) remember(state string, l *spLogin) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.pending) >= spMaxPending {
		s.sweepLocked()
		if len(s.pending) >= spMaxPending {
			return false
		}
	}
	s.pending[state] = l
	return true
}

// sweepLocked drops expired logins and selections. The caller holds s.mu.
func (s *SP) sweepLocked() {
	now := time.Now()
	for k, p := range s.pending {
		if now.After(p.expires) {
			delete(s.pending, k)
		}
	}
	for k, p := range s.selections {
		if now.After(p.expires) {
			delete(s.selections, k)
		}
	}
}

// take removes and returns the login a callback's state names: a state is
// good for one callback.
func (s *SP) take(state string) (*spLogin, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.pending[state]
	delete(s.pending, state)
	if ok && time.Now().After(l.expires) {
		return nil, false
	}
	return l, ok
}

// doJSON sends req and decodes a JSON answer of any status into out.
func (s *SP) doJSON(req *http.Request, out any) (int, error) {
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return resp.StatusCode, fmt.Errorf("%s %s: %w", req.Method, req.URL.Redacted(), err)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return resp.StatusCode, fmt.Errorf("%s %s answered %d, not JSON: %.200q", req.Method, req.URL.Redacted(), resp.StatusCode, b)
	}
	return resp.StatusCode, nil
}

// callback is where the browser comes back: from the operator selection
// page (mcc_mnc, as the Java SDK routes it), or from the operator's
// gateway with a code or an error.
func (s *SP) callback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Has("mcc_mnc") {
		s.selected(w, r)
		return
	}
	l, ok := s.take(q.Get("state"))
	if !ok {
		s.fail(w, &failure{Status: http.StatusBadRequest, Title: "Unknown login",
			Message: "This login is unknown, finished or expired. Start again.",
			Detail:  "no login in progress with this state"}, "callback")
		return
	}
	if c, err := r.Cookie(spCookie); err != nil || c.Value != l.browser {
		s.fail(w, &failure{Status: http.StatusBadRequest, Title: "Login started elsewhere",
			Message: "This login was started in another browser. Start again here.",
			Detail:  "the " + spCookie + " cookie is not the one of the browser that started the login"}, "callback")
		return
	}
	if e := q.Get("error"); e != "" {
		s.fail(w, refusal(l.op.Name, e, q.Get("error_description")), "callback")
		return
	}
	res, f := s.finish(r.Context(), l, q.Get("code"))
	if f != nil {
		s.fail(w, f, "token")
		return
	}
	s.log.Info("login: done", "operator", l.op.Name, "product", l.choices.Product.ID)
	s.render(w, http.StatusOK, spResult, res)
}

// refusal is the operator's error at the callback, said in words.
func refusal(op, code, description string) *failure {
	f := &failure{Status: http.StatusForbidden, Title: "You are not logged in",
		Detail: fmt.Sprintf("%s answered error=%s: %s", op, code, description)}
	switch code {
	case "access_denied":
		f.Message = op + " did not let you in: the login was declined or is not allowed for this number."
	case "login_required", "consent_required", "interaction_required":
		f.Message = op + " needs you to log in again."
	case "temporarily_unavailable", "server_error":
		f.Status = http.StatusBadGateway
		f.Message = op + " could not log you in just now. Try again in a moment."
	default:
		f.Message = op + " could not log you in."
	}
	return f
}

// fail shows a failure on the SP's page and logs it.
func (s *SP) fail(w http.ResponseWriter, f *failure, step string) {
	level := slog.LevelInfo
	if f.Status >= 500 {
		level = slog.LevelWarn
	}
	s.log.Log(context.Background(), level, "login failed", "step", step, "status", f.Status, "title", f.Title, "detail", f.Detail)
	s.render(w, f.Status, spError, f)
}

// randomToken returns 256 random bits, base64url: long enough for a PKCE
// code_verifier (43 characters at least), and unguessable as state and nonce.
func randomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err))
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
