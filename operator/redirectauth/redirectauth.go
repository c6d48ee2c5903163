// Package redirectauth is the adaptor for an authenticator the operator
// already runs behind a web page of its own (a push app, a voice call
// service, a desk): the gateway sends the person's browser to that page
// with a signed request, and takes back, at its return URL, only a signed,
// fresh, single-use answer bound to that request.
//
// The request is a JWS (internal/jose) signed with the operator's key:
// iss the gateway, aud the external authenticator, iat and exp, a random
// nonce, the SP's name, the binding message, the level asked for, the
// masked number (the full MSISDN only when configured: the request goes
// through the browser, signed, not encrypted), the person's language and
// the return URL. The answer, sent by the browser to the return URL as
// `response`, is a JWS signed with the external authenticator's key (its
// JWK Set): iss the external authenticator, aud the gateway, the request's
// nonce, iat, and result "ok" (or "refused", "failed"). The nonce's
// record in the operator's state store is taken at the first answer
// (operator/state Take): a replayed answer finds nothing. An answer older
// than MaxAge ends the challenge as expired. The level and amr a success
// gives are the configuration's.
package redirectauth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"slices"
	"time"

	"github.com/mcfed/mcfed/idgw"
	"github.com/mcfed/mcfed/internal/e164"
	"github.com/mcfed/mcfed/internal/jose"
	"github.com/mcfed/mcfed/operator/state"
)

// Defaults.
const (
	DefaultTTL    = 5 * time.Minute
	DefaultMaxAge = 2 * time.Minute
	// clockSkew is how far in the future an answer's iat may be.
	clockSkew = 30 * time.Second
)

// Typ values of the two JWSs, so neither can stand for the other or for
// an ID token.
const (
	RequestTyp = "mcfed-authn-request+jwt"
	AnswerTyp  = "mcfed-authn-response+jwt"
)

// Config is the adaptor's configuration.
type Config struct {
	// Name identifies it in routing, logs and its return path.
	Name string
	// LoA and AMR are what a success gives (the ID token's acr and amr).
	LoA int
	AMR []string
	// Enrolment, when set, is the enrolment type a subscriber needs.
	Enrolment string
	// URL is the external authenticator's page.
	URL string
	// Audience is the requests' aud, the external authenticator's id
	// (URL when empty); AnswerIssuer the answers' iss (Audience when
	// empty).
	Audience     string
	AnswerIssuer string
	// PublicURL is the gateway's public URL: the requests' iss, the
	// answers' aud, and the base of the return URL.
	PublicURL string
	// SigningKey signs the requests (the operator's); AnswerKeys verify
	// the answers (the external authenticator's public keys).
	SigningKey *jose.Key
	AnswerKeys *jose.KeySet
	// TTL is the person's time at the external page (DefaultTTL); MaxAge
	// an answer's greatest age (DefaultMaxAge).
	TTL    time.Duration
	MaxAge time.Duration
	// SendMSISDN puts the full number in the request (msisdn), for an
	// external authenticator that must know whom to reach.
	SendMSISDN bool
	// Store keeps the requests' nonces and the answers until Check.
	Store state.Store
	Log   *slog.Logger
	Now   func() time.Time
}

// Authenticator is the redirect adaptor (idgw.Authenticator,
// idgw.PageServer, idgw.Headless).
type Authenticator struct {
	cfg        Config
	returnPath string
	returnURL  string
}

var (
	_ idgw.Authenticator = (*Authenticator)(nil)
	_ idgw.PageServer    = (*Authenticator)(nil)
	_ idgw.Headless      = (*Authenticator)(nil)
)

// Errors of Start, each idgw.ErrUnavailable (routing moves on), and of an
// answer at the return URL.
var (
	ErrNoBrowser = fmt.Errorf("redirectauth: the login has no browser to send to the external page: %w", idgw.ErrUnavailable)
	ErrStore     = fmt.Errorf("redirectauth: the state store failed: %w", idgw.ErrUnavailable)

	ErrBadAnswer   = errors.New("redirectauth: the answer is not a valid signed answer of the external authenticator")
	ErrSpentAnswer = errors.New("redirectauth: the answer was used already, or its request expired")
)

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,39}$`)

// New checks cfg and returns the adaptor.
func New(cfg Config) (*Authenticator, error) {
	var errs []error
	if !nameRE.MatchString(cfg.Name) {
		errs = append(errs, fmt.Errorf("redirectauth: name %q: want 1 to 40 of a-z, 0-9 and -", cfg.Name))
	}
	if cfg.LoA < 2 || cfg.LoA > 4 {
		errs = append(errs, fmt.Errorf("redirectauth: loa %d: want 2, 3 or 4", cfg.LoA))
	}
	if len(cfg.AMR) == 0 {
		errs = append(errs, errors.New("redirectauth: amr is required: what a success is (e.g. \"PUSH_OK\")"))
	}
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		errs = append(errs, fmt.Errorf("redirectauth: url %q is not an http(s) URL", cfg.URL))
	}
	if _, err := url.Parse(cfg.PublicURL); err != nil || cfg.PublicURL == "" {
		errs = append(errs, fmt.Errorf("redirectauth: the public URL %q is not a URL", cfg.PublicURL))
	}
	if cfg.SigningKey == nil {
		errs = append(errs, errors.New("redirectauth: a signing key (the operator's, a private JWK) is required"))
	}
	if cfg.AnswerKeys == nil || cfg.AnswerKeys.Len() == 0 {
		errs = append(errs, errors.New("redirectauth: the external authenticator's public keys (a JWK Set) are required"))
	}
	if cfg.Store == nil {
		errs = append(errs, errors.New("redirectauth: a state store is required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if cfg.Audience == "" {
		cfg.Audience = cfg.URL
	}
	if cfg.AnswerIssuer == "" {
		cfg.AnswerIssuer = cfg.Audience
	}
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = DefaultMaxAge
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	a := &Authenticator{cfg: cfg, returnPath: "/redirect-auth/" + cfg.Name + "/return"}
	base, _ := url.Parse(cfg.PublicURL)
	a.returnURL = base.JoinPath(a.returnPath).String()
	return a, nil
}

// Info is what routing knows of it: the configuration's level and amr.
func (a *Authenticator) Info() idgw.AuthenticatorInfo {
	return idgw.AuthenticatorInfo{Name: a.cfg.Name, LoA: a.cfg.LoA, AMR: slices.Clone(a.cfg.AMR), Enrolment: a.cfg.Enrolment}
}

// Headless: the external page needs the person's browser.
func (a *Authenticator) Headless() bool { return false }

// ReturnURL is where the external authenticator sends the browser back.
func (a *Authenticator) ReturnURL() string { return a.returnURL }

// Records in the operator's state store.
const (
	kindTxn    state.Kind = "redirectauth.txn"    // nonce → txn, until the answer or TTL
	kindResult state.Kind = "redirectauth.result" // nonce → result, until Check
)

// txn is a request sent and not yet answered.
type txn struct {
	MSISDN   uint64 `json:"msisdn"`
	Continue string `json:"continue"` // the gateway's continue URL
}

// result is an answer taken at the return URL, for Check.
type result struct {
	OK      bool         `json:"ok"`
	Failure idgw.Failure `json:"failure"`
}

// requestClaims are the request's claims.
type requestClaims struct {
	Iss            string `json:"iss"`
	Aud            string `json:"aud"`
	Iat            int64  `json:"iat"`
	Exp            int64  `json:"exp"`
	Nonce          string `json:"nonce"`
	SPName         string `json:"sp_name"`
	BindingMessage string `json:"binding_message,omitempty"`
	LoA            int    `json:"loa"`
	Number         string `json:"number"`
	MSISDN         string `json:"msisdn,omitempty"`
	Language       string `json:"ui_locales,omitempty"`
	ReturnURL      string `json:"return_url"`
}

// Start keeps the nonce's record and sends the browser to the external
// page with the signed request.
func (a *Authenticator) Start(ctx context.Context, ch idgw.Challenge) (idgw.Started, error) {
	if !ch.Browser {
		return idgw.Started{}, ErrNoBrowser
	}
	now := a.cfg.Now()
	nonce := newNonce()
	rec, _ := json.Marshal(txn{MSISDN: ch.MSISDN, Continue: ch.ReturnURL})
	if err := a.cfg.Store.Create(ctx, kindTxn, []byte(nonce), rec, now.Add(a.cfg.TTL)); err != nil {
		return idgw.Started{}, fmt.Errorf("%w: %v", ErrStore, err)
	}
	c := requestClaims{Iss: a.cfg.PublicURL, Aud: a.cfg.Audience, Iat: now.Unix(), Exp: now.Add(a.cfg.TTL).Unix(),
		Nonce: nonce, SPName: ch.SPName, BindingMessage: ch.BindingMessage, LoA: a.cfg.LoA, Number: ch.Number,
		Language: ch.Language, ReturnURL: a.returnURL}
	if a.cfg.SendMSISDN {
		c.MSISDN = e164.Format(ch.MSISDN)
	}
	jws, err := jose.SignTyped(a.cfg.SigningKey, RequestTyp, c)
	if err != nil {
		return idgw.Started{}, fmt.Errorf("redirectauth: signing the request: %w", err)
	}
	u, _ := url.Parse(a.cfg.URL)
	q := u.Query()
	q.Set("request", jws)
	u.RawQuery = q.Encode()
	return idgw.Started{State: []byte(nonce), RedirectURL: u.String()}, nil
}

// Check reports the answer the return URL took: none yet is Pending while
// the request lives, then Failed (expired).
func (a *Authenticator) Check(ctx context.Context, st []byte, _ url.Values) (idgw.Outcome, error) {
	if len(st) == 0 {
		return idgw.Outcome{Status: idgw.Failed}, nil
	}
	rec, err := a.cfg.Store.Take(ctx, kindResult, st)
	switch {
	case errors.Is(err, state.ErrNotFound):
		if _, err := a.cfg.Store.Get(ctx, kindTxn, st); err == nil {
			return idgw.Outcome{Status: idgw.Pending}, nil
		} else if !errors.Is(err, state.ErrNotFound) {
			return idgw.Outcome{}, fmt.Errorf("redirectauth: %w", err)
		}
		return idgw.Outcome{Status: idgw.Failed, Failure: idgw.FailureExpired, Reason: "the authentication expired"}, nil
	case err != nil:
		return idgw.Outcome{}, fmt.Errorf("redirectauth: %w", err)
	}
	var r result
	if err := json.Unmarshal(rec.Value, &r); err != nil {
		return idgw.Outcome{}, fmt.Errorf("redirectauth: a stored result: %w", err)
	}
	if !r.OK {
		reason := "the subscriber was not authenticated"
		if r.Failure == idgw.FailureExpired {
			reason = "the authentication expired"
		}
		return idgw.Outcome{Status: idgw.Failed, Failure: r.Failure, Reason: reason}, nil
	}
	return idgw.Outcome{Status: idgw.Succeeded}, nil
}

// answerClaims are an answer's claims.
type answerClaims struct {
	Iss    string          `json:"iss"`
	Aud    json.RawMessage `json:"aud"`
	Iat    int64           `json:"iat"`
	Exp    int64           `json:"exp"`
	Nonce  string          `json:"nonce"`
	Result string          `json:"result"`
	MSISDN string          `json:"msisdn"`
}

// Answer takes an answer the browser brought to the return URL and says
// where the browser goes next: the gateway's continue URL, where Check
// reports it. A forged answer (signature, issuer, audience, typ) is
// ErrBadAnswer and a spent or unknown nonce ErrSpentAnswer; neither
// touches any login. An authentic answer too old, or whose msisdn is not
// the request's, spends the nonce and ends the challenge failed.
func (a *Authenticator) Answer(ctx context.Context, token string) (string, error) {
	payload, h, err := jose.Verify(token, a.cfg.AnswerKeys, jose.Algs...)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadAnswer, err)
	}
	if h.Typ != AnswerTyp {
		return "", fmt.Errorf("%w: typ %q, want %q", ErrBadAnswer, h.Typ, AnswerTyp)
	}
	var c answerClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return "", fmt.Errorf("%w: claims: %v", ErrBadAnswer, err)
	}
	if c.Iss != a.cfg.AnswerIssuer || !audienceHas(c.Aud, a.cfg.PublicURL) || c.Nonce == "" {
		return "", fmt.Errorf("%w: iss, aud or nonce", ErrBadAnswer)
	}
	rec, err := a.cfg.Store.Take(ctx, kindTxn, []byte(c.Nonce))
	if errors.Is(err, state.ErrNotFound) {
		return "", ErrSpentAnswer
	}
	if err != nil {
		return "", fmt.Errorf("redirectauth: %w", err)
	}
	var t txn
	if err := json.Unmarshal(rec.Value, &t); err != nil {
		return "", fmt.Errorf("redirectauth: a stored request: %w", err)
	}
	now := a.cfg.Now()
	r := result{OK: c.Result == "ok"}
	switch {
	case c.Iat == 0 || now.Sub(time.Unix(c.Iat, 0)) > a.cfg.MaxAge || (c.Exp != 0 && !now.Before(time.Unix(c.Exp, 0))):
		a.cfg.Log.Warn("redirectauth: a stale answer ends its challenge", "authenticator", a.cfg.Name)
		r = result{Failure: idgw.FailureExpired}
	case time.Unix(c.Iat, 0).Sub(now) > clockSkew:
		a.cfg.Log.Warn("redirectauth: an answer from the future ends its challenge", "authenticator", a.cfg.Name)
		r = result{Failure: idgw.FailureOther}
	case c.MSISDN != "" && c.MSISDN != e164.Format(t.MSISDN):
		a.cfg.Log.Warn("redirectauth: an answer for another number ends its challenge", "authenticator", a.cfg.Name)
		r = result{Failure: idgw.FailureOther}
	case c.Result == "refused":
		r.Failure = idgw.FailureRefused
	}
	v, _ := json.Marshal(r)
	if err := a.cfg.Store.Put(ctx, kindResult, []byte(c.Nonce), v, now.Add(a.cfg.TTL)); err != nil {
		return "", fmt.Errorf("redirectauth: %w", err)
	}
	return t.Continue, nil
}

// audienceHas: aud is the string want, or an array holding it.
func audienceHas(aud json.RawMessage, want string) bool {
	var one string
	if json.Unmarshal(aud, &one) == nil {
		return one == want
	}
	var many []string
	return json.Unmarshal(aud, &many) == nil && slices.Contains(many, want)
}

func newNonce() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
