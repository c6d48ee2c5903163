// Package sms is the SMS authenticator of an operator's Identity Gateway, in
// the three modes operators run: OTP (a code typed into this package's page,
// posted back to the gateway), URL (a one-time link in the SMS that the person
// taps on the phone; out of band) and OTP+URL (either).
//
// Codes are random (crypto/rand), expire after Config.TTL, allow
// Config.MaxAttempts wrong answers, succeed once and are compared in
// constant time; the state the gateway keeps holds only their salted hashes.
// Sends are limited per MSISDN (Config.SendLimit per Config.SendWindow)
// against SMS pumping. The SMS names the SP and, for an authorisation, carries
// the binding message.
//
// It implements idgw.Authenticator; Mount serves its pages (the OTP form and
// the link target) on the node's public listener.
package sms

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/mcfed/mcfed/idgw"
)

// Sender sends one SMS; *smpp.Client satisfies it.
type Sender interface {
	Submit(ctx context.Context, to, text string) (string, error)
}

// ErrSendLimit: the per-MSISDN sending limit is reached. Start's error
// matches it and idgw.ErrUnavailable (so routing falls back).
var ErrSendLimit = errors.New("sms: sending limit for this number reached")

// ErrBadReturnURL: a return URL that does not lie under Config.PublicURL.
var ErrBadReturnURL = errors.New("sms: return URL is not under the public URL")

// Authenticator is the SMS authenticator. It is safe for concurrent use.
type Authenticator struct {
	cfg    Config
	public *url.URL
	sender Sender
	st     *store
}

var _ idgw.Authenticator = (*Authenticator)(nil)

// New validates cfg (filling defaults) and returns an Authenticator that
// sends through sender.
func New(cfg Config, sender Sender) (*Authenticator, error) {
	cfg = cfg.withDefaults()
	u, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	if sender == nil {
		return nil, errors.New("sms: a Sender is required")
	}
	return &Authenticator{cfg: cfg, public: u, sender: sender, st: newStore()}, nil
}

// Info is what routing needs to know of the authenticator.
func (a *Authenticator) Info() idgw.AuthenticatorInfo {
	info := idgw.AuthenticatorInfo{LoA: 2}
	switch a.cfg.Mode {
	case ModeOTP:
		info.Name, info.AMR = "sms-otp", []string{"OTP_OK"}
	case ModeURL:
		info.Name, info.AMR = "sms-url", []string{"SMS_URL_OK"}
	default:
		// The gateway's amr is per authenticator, not per success: either
		// method may have been used.
		info.Name, info.AMR = "sms-otp-url", []string{"OTP_OK", "SMS_URL_OK"}
	}
	return info
}

// Start sends the SMS and returns the challenge's state: the OTP page to
// redirect to in the modes with a code, none (out of band) in URL mode.
func (a *Authenticator) Start(ctx context.Context, ch idgw.Challenge) (idgw.Started, error) {
	if ch.MSISDN == 0 {
		return idgw.Started{}, errors.New("sms: the challenge has no MSISDN")
	}
	var redirect string
	if a.cfg.Mode.hasCode() {
		var err error
		if redirect, err = a.OTPPageURL(ch.ReturnURL); err != nil {
			return idgw.Started{}, err
		}
	}
	now := a.cfg.Now()
	st := &state{mode: a.cfg.Mode, expires: now.Add(a.cfg.TTL)}
	if _, err := rand.Read(st.id[:]); err != nil {
		return idgw.Started{}, err
	}
	var code, token, link string
	if a.cfg.Mode.hasCode() {
		var err error
		if code, err = newCode(a.cfg.CodeLength); err != nil {
			return idgw.Started{}, err
		}
		st.codeHash = hashCode(st.id, code)
	}
	if a.cfg.Mode.hasLink() {
		var raw [32]byte
		if _, err := rand.Read(raw[:]); err != nil {
			return idgw.Started{}, err
		}
		token = base64.RawURLEncoding.EncodeToString(raw[:])
		st.linkHash = hashToken(token)
		link = a.public.String() + "/sms/link/" + token
	}
	to := strconv.FormatUint(ch.MSISDN, 10)
	spName := clean(ch.SPName, 40)
	if spName == "" {
		spName = "a service"
	}
	text := a.message(spName, clean(ch.BindingMessage, 100), code, link)

	a.st.mu.Lock()
	a.st.sweepLocked(now, a.cfg.TTL, a.cfg.SendWindow)
	if !a.st.reserveSend(to, now, a.cfg.SendLimit, a.cfg.SendWindow) {
		a.st.mu.Unlock()
		return idgw.Started{}, fmt.Errorf("%w: at most %d SMS per %v to one number, try again later (%w)",
			ErrSendLimit, a.cfg.SendLimit, a.cfg.SendWindow, idgw.ErrUnavailable)
	}
	// Registered before sending, so a tap that beats Submit's return finds it.
	a.st.challenges[st.id] = &challengeEntry{expires: st.expires, otpPage: redirect}
	if token != "" {
		a.st.links[st.linkHash] = &linkEntry{challenge: st.id, spName: spName, expires: st.expires}
	}
	a.st.mu.Unlock()

	if _, err := a.sender.Submit(ctx, to, text); err != nil {
		a.st.mu.Lock()
		a.st.releaseSend(to, now)
		delete(a.st.challenges, st.id)
		delete(a.st.links, st.linkHash)
		a.st.mu.Unlock()
		return idgw.Started{}, fmt.Errorf("sms: sending the SMS: %w (%w)", err, idgw.ErrUnavailable)
	}
	return idgw.Started{State: st.encode(), RedirectURL: redirect}, nil
}

// message is the SMS text.
func (a *Authenticator) message(sp, binding, code, link string) string {
	var b strings.Builder
	if binding != "" {
		fmt.Fprintf(&b, "%s asks you to approve: %s\n", sp, binding)
	}
	mins := int((a.cfg.TTL + time.Minute - 1) / time.Minute)
	switch {
	case code != "" && link != "":
		fmt.Fprintf(&b, "Your code to sign in to %s: %s\nOr tap: %s\n", sp, code, link)
	case code != "":
		fmt.Fprintf(&b, "Your code to sign in to %s: %s\n", sp, code)
	default:
		fmt.Fprintf(&b, "Tap to sign in to %s: %s\n", sp, link)
	}
	fmt.Fprintf(&b, "Valid %d min. Never share it.", mins)
	if a.cfg.OperatorName != "" {
		b.WriteString(" " + clean(a.cfg.OperatorName, 30))
	}
	return b.String()
}

// Check decides the challenge: expired, already used or locked ⇒ Failed; the
// link tapped ⇒ Succeeded; an "otp" answer compared in constant time ⇒
// Succeeded, or Pending with one attempt more (Failed at MaxAttempts); no
// answer ⇒ Pending.
func (a *Authenticator) Check(_ context.Context, stateBytes []byte, answer url.Values) (idgw.Outcome, error) {
	st, err := decodeState(stateBytes)
	if err != nil {
		return idgw.Outcome{}, err
	}
	now := a.cfg.Now()
	failed := func(reason string) (idgw.Outcome, error) {
		return idgw.Outcome{Status: idgw.Failed, State: st.encode(), Reason: reason}, nil
	}
	if !now.Before(st.expires) {
		if st.mode.hasCode() {
			return failed("the code has expired")
		}
		return failed("the link has expired")
	}

	a.st.mu.Lock()
	defer a.st.mu.Unlock()
	c, ok := a.st.challenges[st.id]
	switch {
	case !ok:
		return failed("the sign-in request is no longer valid")
	case c.used:
		return failed("the code or link has already been used")
	}
	st.attempts = max(st.attempts, c.attempts)
	if c.locked || st.attempts >= a.cfg.MaxAttempts {
		c.locked = true
		return failed("too many attempts")
	}
	if st.mode.hasLink() {
		if l, ok := a.st.links[st.linkHash]; ok && l.tapped && l.challenge == st.id {
			c.used = true
			return idgw.Outcome{Status: idgw.Succeeded, State: st.encode(), AMR: []string{"SMS_URL_OK"}}, nil
		}
	}
	otp := normalizeOTP(answer.Get("otp"))
	if !st.mode.hasCode() || otp == "" {
		return idgw.Outcome{Status: idgw.Pending, State: st.encode()}, nil
	}
	got := hashCode(st.id, otp)
	if subtle.ConstantTimeCompare(got[:], st.codeHash[:]) == 1 {
		c.used = true
		return idgw.Outcome{Status: idgw.Succeeded, State: st.encode(), AMR: []string{"OTP_OK"}}, nil
	}
	st.attempts++
	c.attempts = st.attempts
	if st.attempts >= a.cfg.MaxAttempts {
		c.locked = true
		return failed("too many attempts")
	}
	left := a.cfg.MaxAttempts - st.attempts
	// Back to the code form for another try.
	return idgw.Outcome{Status: idgw.Pending, State: st.encode(), RedirectURL: c.otpPage,
		Reason: fmt.Sprintf("wrong code, %d attempt%s left", left, plural(left))}, nil
}

// OTPPageURL is the page that asks for the code and posts it to returnURL,
// which must lie under Config.PublicURL.
func (a *Authenticator) OTPPageURL(returnURL string) (string, error) {
	if !a.underPublic(returnURL) {
		return "", fmt.Errorf("%w: %q", ErrBadReturnURL, returnURL)
	}
	return a.public.String() + "/sms/otp?return=" + url.QueryEscape(returnURL), nil
}

// underPublic says whether raw is an absolute URL on the public URL's
// origin, under its path: the only places the OTP page posts to.
func (a *Authenticator) underPublic(raw string) bool {
	if raw == "" || strings.ContainsAny(raw, "\\\r\n\t") {
		return false
	}
	u, err := url.Parse(raw)
	if err != nil || u.User != nil || u.Opaque != "" {
		return false
	}
	if !strings.EqualFold(u.Scheme, a.public.Scheme) || !strings.EqualFold(u.Host, a.public.Host) {
		return false
	}
	p := u.Path
	if !strings.HasPrefix(p, "/") || strings.Contains(p, "//") {
		return false
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "." || seg == ".." {
			return false
		}
	}
	return a.public.Path == "" || p == a.public.Path || strings.HasPrefix(p, a.public.Path+"/")
}

// newCode returns n uniformly random decimal digits.
func newCode(n int) (string, error) {
	limit := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil)
	v, err := rand.Int(rand.Reader, limit)
	if err != nil {
		return "", err
	}
	s := v.String()
	return strings.Repeat("0", n-len(s)) + s, nil
}

// normalizeOTP drops the spaces and dashes people type or paste.
func normalizeOTP(s string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' || r == '\u00a0' {
			return -1
		}
		return r
	}, strings.TrimSpace(s))
}

// clean makes s one line of at most n runes with no control characters, so
// an SP name or binding message cannot forge lines in the SMS.
func clean(s string, n int) string {
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool {
		return unicode.IsControl(r) || unicode.IsSpace(r)
	}), " ")
	if r := []rune(s); len(r) > n {
		s = string(r[:n-3]) + "..."
	}
	return s
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
