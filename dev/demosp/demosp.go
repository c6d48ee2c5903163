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
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcfed/mcfed/client"
	"github.com/mcfed/mcfed/internal/e164"
	"github.com/mcfed/mcfed/internal/jose"
)

// SP is the demo SP's web site. Discovery on a node with the SP's
// credentials; the browser sent to the serving operator's /authorize
// with the sealed number as login hint, state, nonce and PKCE S256; at the
// callback the code exchanged, the ID token verified against the operator's
// JWKS (through jose, as the gateway signs), userinfo read, and what the SP
// learned shown. It uses net/http, as an SP's own stack would, not the
// node's.
type SP struct {
	ln     net.Listener
	srv    *http.Server
	client *http.Client
	cfg    Config
	next   atomic.Uint32 // round-robin over the discovery endpoints

	mu      sync.Mutex
	pending map[string]*spLogin // logins in progress, by state
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
	expires  time.Time
}

// spOperator is what discovery told the SP about the serving operator.
type spOperator struct {
	Name                string
	ClientID, Secret    string
	Issuer, Token, JWKS string
	Authorize, UserInfo string
	SubscriberID        string
}

const (
	spCookie       = "demo_sp_login"
	spLoginTTL     = 10 * time.Minute
	spMaxPending   = 10000 // logins in progress kept at once, against a flood
	spCallbackPath = "/callback"
)

// Listen opens the SP's listener before the federation starts, so
// that its callback URL can be registered as the SP's redirect URI.
func Listen(addr string) (*SP, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("demo SP: %w", err)
	}
	return &SP{ln: ln, pending: map[string]*spLogin{}, client: &http.Client{
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
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.home)
	mux.HandleFunc("POST /login", s.login)
	mux.HandleFunc("GET "+spCallbackPath, s.callback)
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go s.srv.Serve(s.ln)
}

func (s *SP) Close() error {
	if s.srv == nil {
		return s.ln.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.srv.Shutdown(ctx)
}

func (s *SP) home(w http.ResponseWriter, r *http.Request) {
	s.render(w, http.StatusOK, spHome, s.homeData("", ""))
}

func (s *SP) homeData(msisdn, problem string) map[string]any {
	return map[string]any{"Name": s.cfg.Name, "Numbers": s.cfg.DemoNumbers, "Handset": s.cfg.HandsetURL,
		"MSISDN": msisdn, "Error": problem}
}

// login runs discovery for the number typed and sends the browser to the
// serving operator's authorization endpoint.
func (s *SP) login(w http.ResponseWriter, r *http.Request) {
	typed := r.PostFormValue("msisdn")
	if strings.TrimSpace(typed) == "" {
		s.render(w, http.StatusBadRequest, spHome, s.homeData(typed, "Type your mobile number."))
		return
	}
	// The number is checked here, as any SP should before discovery: a
	// typo is the person's to fix, not an error of the operator's.
	n, err := e164.Parse(typed)
	var bad *e164.Error
	if errors.As(err, &bad) {
		s.render(w, http.StatusBadRequest, spHome, s.homeData(typed,
			"That is not a mobile number we can use ("+bad.Reason+"). Type it with its country code, e.g. +44 7400 123456."))
		return
	} else if err != nil {
		s.render(w, http.StatusInternalServerError, spHome, s.homeData(typed, "The number could not be checked: "+err.Error()))
		return
	}
	// The SDKs send the number without its "+".
	digits := strconv.FormatUint(n, 10)
	op, err := s.discover(r.Context(), digits)
	if err != nil {
		s.render(w, http.StatusBadGateway, spHome, s.homeData(typed, "Discovery: "+err.Error()))
		return
	}
	l := &spLogin{browser: randomToken(), nonce: randomToken(), verifier: randomToken(), op: op,
		expires: time.Now().Add(spLoginTTL)}
	state := randomToken()
	if !s.remember(state, l) {
		s.render(w, http.StatusServiceUnavailable, spError, errorPage("Too many logins in progress", "Try again in a few minutes."))
		return
	}
	challenge := sha256.Sum256([]byte(l.verifier))
	q := url.Values{"client_id": {op.ClientID}, "redirect_uri": {s.CallbackURL()}, "response_type": {"code"},
		"scope": {"openid mc_authn profile email phone"}, "acr_values": {"2"}, "state": {state}, "nonce": {l.nonce},
		"version": {"mc_di_r2_v2.3"}, "login_hint": {"ENCR_MSISDN:" + op.SubscriberID}, "client_name": {s.cfg.Name},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(challenge[:])}, "code_challenge_method": {"S256"}}
	// The cookie ties the callback to this browser: a code and state
	// replayed from elsewhere do not log that browser in.
	http.SetCookie(w, &http.Cookie{Name: spCookie, Value: l.browser, Path: "/", MaxAge: int(spLoginTTL.Seconds()),
		HttpOnly: true, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, op.Authorize+"?"+q.Encode(), http.StatusSeeOther)
}

// remember keeps a login until its callback, dropping expired ones; false
// when too many are in progress.
func (s *SP) remember(state string, l *spLogin) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.pending) >= spMaxPending {
		now := time.Now()
		for k, p := range s.pending {
			if now.After(p.expires) {
				delete(s.pending, k)
			}
		}
		if len(s.pending) >= spMaxPending {
			return false
		}
	}
	s.pending[state] = l
	return true
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

// discover asks a node (the next in turn) which operator serves the number,
// as the GSMA SDKs do.
func (s *SP) discover(ctx context.Context, digits string) (spOperator, error) {
	endpoint := s.cfg.Discovery[int(s.next.Add(1))%len(s.cfg.Discovery)]
	form := url.Values{"MSISDN": {digits}, "Redirect_URL": {s.CallbackURL()}, "Using-Mobile-Data": {"0"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return spOperator{}, err
	}
	req.SetBasicAuth(s.cfg.ClientID, s.cfg.Secret)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	var body client.DiscoveryAnswer
	status, err := s.doJSON(req, &body)
	switch {
	case err != nil:
		return spOperator{}, err
	case body.Error != "":
		// Discovery errors may come with 200 (the SDKs look at the field).
		return spOperator{}, fmt.Errorf("%s (%s)", body.Description, body.Error)
	case status != http.StatusOK:
		return spOperator{}, fmt.Errorf("%s answered %d", endpoint, status)
	case body.SubscriberID == "":
		return spOperator{}, errors.New("the answer has no subscriber_id")
	}
	op := spOperator{Name: body.Response.ServingOperator, ClientID: body.Response.ClientID,
		Secret: body.Response.ClientSecret, SubscriberID: body.SubscriberID}
	if op.ClientID == "" { // the SDKs fall back to the SP's own credentials
		op.ClientID, op.Secret = s.cfg.ClientID, s.cfg.Secret
	}
	links := body.Links()
	op.Authorize, op.Token, op.UserInfo, op.JWKS, op.Issuer = links["authorization"], links["token"], links["userinfo"], links["jwks"], links["issuer"]
	if op.Authorize == "" || op.Token == "" || op.UserInfo == "" || op.JWKS == "" || op.Issuer == "" {
		return spOperator{}, fmt.Errorf("the answer lacks the operator's endpoints: %v", links)
	}
	return op, nil
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

// callback is where the operator sends the browser back: the code is
// exchanged, the ID token verified and userinfo read.
func (s *SP) callback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	l, ok := s.take(q.Get("state"))
	if !ok {
		s.render(w, http.StatusBadRequest, spError, errorPage("Unknown login",
			"This login is unknown, finished or expired. Start again."))
		return
	}
	if c, err := r.Cookie(spCookie); err != nil || c.Value != l.browser {
		s.render(w, http.StatusBadRequest, spError, errorPage("Login started elsewhere",
			"This login was started in another browser. Start again here."))
		return
	}
	if e := q.Get("error"); e != "" {
		s.render(w, http.StatusForbidden, spError, errorPage("The operator did not log you in",
			fmt.Sprintf("%s answered %s: %s", l.op.Name, e, q.Get("error_description"))))
		return
	}
	res, err := s.finish(r.Context(), l, q.Get("code"))
	if err != nil {
		s.render(w, http.StatusBadGateway, spError, errorPage("The login could not be completed", err.Error()))
		return
	}
	s.render(w, http.StatusOK, spResult, res)
}

// spOutcome is what the result page shows.
type spOutcome struct {
	Operator, Issuer, Alg, Kid string
	Claims, UserInfo           []spClaim
}

type spClaim struct{ Name, Value string }

// finish exchanges the code and checks the ID token as an OIDC relying
// party must (Core §3.1.3.7): signature by a key of the issuer's JWKS, iss,
// aud, azp, exp and nonce.
func (s *SP) finish(ctx context.Context, l *spLogin, code string) (spOutcome, error) {
	if code == "" {
		return spOutcome{}, errors.New("the operator sent no code")
	}
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {s.CallbackURL()},
		"code_verifier": {l.verifier}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.op.Token, strings.NewReader(form.Encode()))
	if err != nil {
		return spOutcome{}, err
	}
	// As the SDKs send it: the generated credentials need no form-encoding.
	req.SetBasicAuth(l.op.ClientID, l.op.Secret)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	var tok struct {
		AccessToken string `json:"access_token"`
		IDToken     string `json:"id_token"`
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	status, err := s.doJSON(req, &tok)
	switch {
	case err != nil:
		return spOutcome{}, fmt.Errorf("token endpoint: %w", err)
	case status != http.StatusOK || tok.IDToken == "" || tok.AccessToken == "":
		return spOutcome{}, fmt.Errorf("token endpoint answered %d: %s %s", status, tok.Error, tok.Description)
	}

	jwks, err := s.get(ctx, l.op.JWKS, "")
	if err != nil {
		return spOutcome{}, fmt.Errorf("the operator's JWKS: %w", err)
	}
	payload, hdr, err := jose.VerifyJWKS(tok.IDToken, jwks, jose.RS256)
	if err != nil {
		return spOutcome{}, fmt.Errorf("the ID token does not verify: %w", err)
	}
	claims, err := checkIDToken(payload, l, time.Now())
	if err != nil {
		return spOutcome{}, fmt.Errorf("the ID token is not for this login: %w", err)
	}

	info, err := s.get(ctx, l.op.UserInfo, tok.AccessToken)
	if err != nil {
		return spOutcome{}, fmt.Errorf("userinfo: %w", err)
	}
	userinfo, err := claimRows(info)
	if err != nil {
		return spOutcome{}, fmt.Errorf("userinfo: %w", err)
	}
	return spOutcome{Operator: l.op.Name, Issuer: l.op.Issuer, Alg: string(hdr.Alg), Kid: hdr.Kid,
		Claims: claims, UserInfo: userinfo}, nil
}

// checkIDToken checks the claims of a verified ID token and returns them
// as rows for the page.
func checkIDToken(payload []byte, l *spLogin, now time.Time) ([]spClaim, error) {
	var c struct {
		Iss   string          `json:"iss"`
		Aud   json.RawMessage `json:"aud"`
		Azp   string          `json:"azp"`
		Exp   int64           `json:"exp"`
		Nonce string          `json:"nonce"`
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, err
	}
	var aud []string
	if err := json.Unmarshal(c.Aud, &aud); err != nil {
		var one string
		if json.Unmarshal(c.Aud, &one) != nil {
			return nil, errors.New("aud is neither a string nor an array")
		}
		aud = []string{one}
	}
	switch {
	case c.Iss != l.op.Issuer:
		return nil, fmt.Errorf("iss %q is not the operator's issuer %q", c.Iss, l.op.Issuer)
	case !slices.Contains(aud, l.op.ClientID):
		return nil, fmt.Errorf("aud %v does not name the SP", aud)
	case c.Azp != "" && c.Azp != l.op.ClientID:
		return nil, fmt.Errorf("azp %q is another client", c.Azp)
	case now.Unix() >= c.Exp:
		return nil, errors.New("it has expired")
	case c.Nonce != l.nonce:
		return nil, errors.New("the nonce differs from the one this login sent")
	}
	return claimRows(payload)
}

// get fetches a JSON document (with a bearer token when given).
func (s *SP) get(ctx context.Context, u, bearer string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s answered %d %s", u, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	return b, nil
}

// claimRows lists a JSON object's members in name order; times (exp, iat,
// auth_time) also read as dates.
func claimRows(obj []byte) ([]spClaim, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(obj, &m); err != nil {
		return nil, err
	}
	rows := make([]spClaim, 0, len(m))
	for name, raw := range m {
		v := string(raw)
		var str string
		var num int64
		switch {
		case json.Unmarshal(raw, &str) == nil:
			v = str
		case (name == "exp" || name == "iat" || name == "auth_time") && json.Unmarshal(raw, &num) == nil:
			v = fmt.Sprintf("%d (%s)", num, time.Unix(num, 0).UTC().Format(time.RFC3339))
		}
		rows = append(rows, spClaim{Name: name, Value: v})
	}
	slices.SortFunc(rows, func(a, b spClaim) int { return strings.Compare(a.Name, b.Name) })
	return rows, nil
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
