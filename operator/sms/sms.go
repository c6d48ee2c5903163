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
// The challenges, link taps and send log are kept in the operator's state
// store (Config.Store; records.go has their forms), not in process memory:
// a restart loses no challenge, and the gateway nodes sharing the store
// answer each other's challenges. Every decision that must hold across
// them is one atomic step of the store: a challenge succeeds once, wrong
// codes count towards one lock-out, a link is confirmed or refused once,
// and the send limit holds per number whichever node sends. Records expire
// with the store's expiry (the node sweeps it).
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
	"log/slog"
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
// matches it, idgw.ErrUnavailable (so routing falls back) and an
// *idgw.LimitError (the limit and when the next SMS may go, for the SP and
// the person's page).
var ErrSendLimit = errors.New("sms: sending limit for this number reached")

// ErrBadReturnURL: a return URL that does not lie under Config.PublicURL.
var ErrBadReturnURL = errors.New("sms: return URL is not under the public URL")

// Authenticator is the SMS authenticator. It is safe for concurrent use.
type Authenticator struct {
	cfg        Config
	public     *url.URL
	sender     Sender
	challenges challenges
	log        *slog.Logger
}

var (
	_ idgw.Authenticator = (*Authenticator)(nil)
	_ idgw.Watcher       = (*Authenticator)(nil)
	_ idgw.Decoy         = (*Authenticator)(nil)
)

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
	return &Authenticator{cfg: cfg, public: u, sender: sender, challenges: challenges{store: cfg.Store, log: cfg.Log},
		log: cfg.Log}, nil
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

// Headless says the SMS reaches the person without the gateway's pages
// when it carries a link (URL and OTP+URL modes): a server-initiated login
// uses it then (idgw.Headless).
func (a *Authenticator) Headless() bool { return a.cfg.Mode.hasLink() }

var _ idgw.Headless = (*Authenticator)(nil)

// Start sends the SMS and returns the challenge's state: the OTP page to
// redirect to in the modes with a code, none (out of band) in URL mode.
func (a *Authenticator) Start(ctx context.Context, ch idgw.Challenge) (idgw.Started, error) {
	return a.start(ctx, ch, false)
}

// StartDecoy is Start for a number the gateway will not challenge: the
// same state, pages and answers, but no SMS is sent and the send limit is
// neither checked nor spent; the code and link are drawn but never leave
// the node, so nothing can answer the challenge (idgw.Decoy).
func (a *Authenticator) StartDecoy(ctx context.Context, ch idgw.Challenge) (idgw.Started, error) {
	return a.start(ctx, ch, true)
}

func (a *Authenticator) start(ctx context.Context, ch idgw.Challenge, decoy bool) (idgw.Started, error) {
	if ch.MSISDN == 0 {
		return idgw.Started{}, errors.New("sms: the challenge has no MSISDN")
	}
	if a.cfg.Mode.hasCode() && !a.underPublic(ch.ReturnURL) {
		return idgw.Started{}, fmt.Errorf("%w: %q", ErrBadReturnURL, ch.ReturnURL)
	}
	var rawPage [16]byte
	if _, err := rand.Read(rawPage[:]); err != nil {
		return idgw.Started{}, err
	}
	page := base64.RawURLEncoding.EncodeToString(rawPage[:])
	var redirect string
	if a.cfg.Mode.hasCode() {
		redirect = a.otpPageURL(ch.ReturnURL, page)
	}
	now := a.cfg.Now()
	// The challenge's id is its code page's token's (challengeIDOf), or
	// its link's when it has no code.
	st := &challengeState{mode: a.cfg.Mode, expires: now.Add(a.cfg.TTL), id: challengeIDOf(page)}
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
		if !a.cfg.Mode.hasCode() {
			// No code page: the link finds the challenge.
			st.id = challengeIDOfLink(token)
		}
	}
	var match string
	var choices []string
	if token != "" && ch.Browser {
		var err error
		if match, choices, err = newMatch(); err != nil {
			return idgw.Started{}, err
		}
	}
	to := strconv.FormatUint(ch.MSISDN, 10)
	texts := messages.In(ch.Language)
	spName := clean(ch.SPName, 40)
	smsSP := spWords(spName)
	if spName == "" {
		spName = texts.S("a_service")
		smsSP = spName // the operator's words, not quoted
	}
	look := ch.Operator
	if look.Name == "" {
		look = idgw.LookOf(nil)
		if a.cfg.OperatorName != "" {
			look.Name = a.cfg.OperatorName
		}
	}
	text := a.message(texts, look.Name, smsSP, spWords(clean(ch.BindingMessage, 100)), code, link)

	if decoy {
		// Nothing can answer it: the hashes kept are of no code or link
		// (the ones drawn, never sent, are dropped), and everything else
		// is kept as for a real challenge, so its pages are the same.
		rand.Read(st.codeHash[:]) // crypto/rand.Read never fails (Go 1.24+)
		rand.Read(st.linkHash[:])
	} else if ok, retry, err := reserveSend(ctx, a.cfg.Store, to, now, a.cfg.SendLimit, a.cfg.SendWindow); err != nil {
		return idgw.Started{}, fmt.Errorf("sms: the send log: %w", err)
	} else if !ok {
		return idgw.Started{}, fmt.Errorf("%w: %w (%w)", ErrSendLimit,
			&idgw.LimitError{Limit: a.cfg.SendLimit, Window: a.cfg.SendWindow, RetryAt: retry}, idgw.ErrUnavailable)
	}
	c := &challengeRecord{Expires: st.expires, OTPPage: redirect, Choices: choices,
		View: view{look: look, sp: spName, number: ch.Number, lang: texts.Lang, ret: ch.ReturnURL, link: token != "",
			binding: clean(ch.BindingMessage, 100), match: match}.record()}
	if token != "" {
		c.LinkHash = st.linkHash[:]
	}
	// Stored before sending, so a tap that beats Submit's return finds it;
	// kept one TTL past its expiry, so a late tap is told it expired.
	records, err := a.challenges.createOps(st.id, c, !a.cfg.Mode.hasCode(), st.expires.Add(a.cfg.TTL))
	if err != nil {
		if !decoy {
			a.release(ctx, to, now)
		}
		return idgw.Started{}, fmt.Errorf("sms: storing the challenge: %w", err)
	}
	started := idgw.Started{State: st.encode(), RedirectURL: redirect, Match: match}
	send := func(ctx context.Context) error {
		if decoy {
			return nil
		}
		if _, err := a.sender.Submit(ctx, to, text); err != nil {
			a.release(ctx, to, now)
			a.challenges.remove(context.WithoutCancel(ctx), st.id, c.LinkHash)
			return fmt.Errorf("sms: sending the SMS: %w (%w)", err, idgw.ErrUnavailable)
		}
		return nil
	}
	if ch.Staged {
		// The gateway writes the records with the login's session, then
		// has the SMS sent.
		started.Records, started.Deliver = records, send
		if !decoy {
			started.Abandon = func(ctx context.Context) { a.release(ctx, to, now) }
		}
		return started, nil
	}
	if err := a.cfg.Store.Batch(ctx, records...); err != nil {
		if !decoy {
			a.release(ctx, to, now)
		}
		return idgw.Started{}, fmt.Errorf("sms: storing the challenge: %w", err)
	}
	if err := send(ctx); err != nil {
		return idgw.Started{}, err
	}
	return started, nil
}

// release gives back the send reserved for msisdn at at: the SMS was not
// sent, so it does not count against the limit.
func (a *Authenticator) release(ctx context.Context, msisdn string, at time.Time) {
	if err := releaseSend(context.WithoutCancel(ctx), a.cfg.Store, msisdn, at, a.cfg.SendWindow); err != nil {
		a.log.Error("state store: releasing an SMS send that failed", "error", err)
	}
}

// newMatch draws the number the person picks on the phone (10 to 99) and
// the three the phone's page offers: it and two others, in random order.
func newMatch() (string, []string, error) {
	seen := map[int64]bool{}
	var nums []string
	for len(nums) < 3 {
		v, err := rand.Int(rand.Reader, big.NewInt(90))
		if err != nil {
			return "", nil, err
		}
		if n := v.Int64() + 10; !seen[n] {
			seen[n] = true
			nums = append(nums, strconv.FormatInt(n, 10))
		}
	}
	// nums is in random order already: any one of them may be the match.
	k, err := rand.Int(rand.Reader, big.NewInt(3))
	if err != nil {
		return "", nil, err
	}
	return nums[k.Int64()], nums, nil
}

// message is the SMS text, in the person's language, signed by the
// operator. The code (or the link) comes first, so that it is what a
// phone's preview shows; the SP's words (sp and binding, already quoted
// and neutralised by spWords) come after it, labelled as the SP's.
func (a *Authenticator) message(t idgw.Texts, operator, sp, binding, code, link string) string {
	var b strings.Builder
	switch {
	case code != "" && link != "":
		b.WriteString(t.S("sms_code", sp, code) + "\n" + t.S("sms_or_tap", link) + "\n")
	case code != "":
		b.WriteString(t.S("sms_code", sp, code) + "\n")
	default:
		b.WriteString(t.S("sms_tap", sp, link) + "\n")
	}
	if binding != "" {
		b.WriteString(t.S("sms_approve", sp, binding) + "\n")
	}
	b.WriteString(t.S("sms_valid", a.validMinutes()))
	if operator != "" {
		b.WriteString(" " + clean(operator, 30))
	}
	return b.String()
}

// validMinutes is the codes' and links' lifetime, in whole minutes.
func (a *Authenticator) validMinutes() int {
	return int((a.cfg.TTL + time.Minute - 1) / time.Minute)
}

// Check decides the challenge: expired, already used or locked ⇒ Failed; the
// link tapped ⇒ Succeeded; an "otp" answer compared in constant time ⇒
// Succeeded, or Pending with one attempt more (Failed at MaxAttempts); no
// answer ⇒ Pending. The decision is one update of the stored challenge,
// so that of the answers on any of the nodes sharing the store one
// succeeds, and every wrong one counts.
func (a *Authenticator) Check(ctx context.Context, stateBytes []byte, answer url.Values) (idgw.Outcome, error) {
	st, err := decodeState(stateBytes)
	if err != nil {
		return idgw.Outcome{}, err
	}
	now := a.cfg.Now()
	failed := func(st challengeState, why idgw.Failure, reason string) idgw.Outcome {
		return idgw.Outcome{Status: idgw.Failed, State: st.encode(), Reason: reason, Failure: why}
	}
	if !now.Before(st.expires) {
		if st.mode.hasCode() {
			return failed(*st, idgw.FailureExpired, "the code has expired"), nil
		}
		return failed(*st, idgw.FailureExpired, "the link has expired"), nil
	}
	otp := normalizeOTP(answer.Get("otp"))
	var codeOK bool
	if st.mode.hasCode() && otp != "" {
		got := hashCode(st.id, otp)
		codeOK = subtle.ConstantTimeCompare(got[:], st.codeHash[:]) == 1
	}

	var out idgw.Outcome
	found, err := a.challenges.update(ctx, st.id, func(c *challengeRecord) bool {
		s := *st // fn may run again: each run starts from the state given
		switch {
		case c.Used:
			out = failed(s, idgw.FailureUsed, "the code or link has already been used")
			return false
		case c.Refusal != "":
			out = failed(s, idgw.FailureRefused, c.Refusal)
			return false
		}
		s.attempts = max(s.attempts, c.Attempts)
		if c.Locked || s.attempts >= a.cfg.MaxAttempts {
			out = failed(s, idgw.FailureTooManyAttempts, "too many attempts")
			changed := !c.Locked
			c.Locked = true
			return changed
		}
		if s.mode.hasLink() && c.Tapped && c.linkIs(s.linkHash) {
			c.Used = true
			out = idgw.Outcome{Status: idgw.Succeeded, State: s.encode(), AMR: []string{"SMS_URL_OK"}}
			return true
		}
		if !s.mode.hasCode() || otp == "" {
			out = idgw.Outcome{Status: idgw.Pending, State: s.encode()}
			return false
		}
		if codeOK {
			c.Used = true
			out = idgw.Outcome{Status: idgw.Succeeded, State: s.encode(), AMR: []string{"OTP_OK"}}
			return true
		}
		s.attempts++
		c.Attempts = s.attempts
		if s.attempts >= a.cfg.MaxAttempts {
			c.Locked = true
			out = failed(s, idgw.FailureTooManyAttempts, "too many attempts")
			return true
		}
		left := a.cfg.MaxAttempts - s.attempts
		// Back to the code form for another try; it says how many are left.
		out = idgw.Outcome{Status: idgw.Pending, State: s.encode(), RedirectURL: c.OTPPage,
			Reason: fmt.Sprintf("wrong code, %d attempt%s left", left, plural(left))}
		return true
	})
	switch {
	case err != nil:
		// Fails closed: the gateway ends the login on an error.
		return idgw.Outcome{}, fmt.Errorf("sms: the stored challenge: %w", err)
	case !found:
		return failed(*st, idgw.FailureExpired, "the sign-in request is no longer valid"), nil
	}
	return out, nil
}

// Answered reports whether the challenge of state has something new for
// the person's waiting page: the link was tapped, or the challenge is over
// (expired, used, stopped). It decides nothing (idgw.Watcher); a challenge
// the store cannot give is over, and Check says how.
func (a *Authenticator) Answered(stateBytes []byte) bool {
	st, err := decodeState(stateBytes)
	if err != nil || !a.cfg.Now().Before(st.expires) {
		return true
	}
	c, ok := a.challenges.get(context.Background(), st.id)
	return !ok || a.answered(c, st.linkHash)
}

// answered: Answered for the stored challenge c whose link has hash h.
func (a *Authenticator) answered(c *challengeRecord, h [32]byte) bool {
	return c.over(a.cfg.Now()) || c.Tapped && c.linkIs(h)
}

// OTPPageURL is the page that asks for the code and posts it to returnURL,
// which must lie under Config.PublicURL.
func (a *Authenticator) OTPPageURL(returnURL string) (string, error) {
	if !a.underPublic(returnURL) {
		return "", fmt.Errorf("%w: %q", ErrBadReturnURL, returnURL)
	}
	return a.public.String() + "/sms/otp?return=" + url.QueryEscape(returnURL), nil
}

// otpPageURL is OTPPageURL for the challenge whose page token is page:
// the page then shows what the challenge is for.
func (a *Authenticator) otpPageURL(returnURL, page string) string {
	return a.public.String() + "/sms/otp?return=" + url.QueryEscape(returnURL) + "&c=" + page
}

// underPublic says whether raw is on the public URL's origin, under its
// path (the only places the OTP page posts to): idgw.UnderURL.
func (a *Authenticator) underPublic(raw string) bool { return idgw.UnderURL(a.public, raw) }

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

// spWords is an SP's text as the SMS quotes it: links and code-like
// numbers neutralised (idgw.NeutralizeSPText), its own double quotes made
// single so that it cannot close the quotes around it. "" stays "".
func spWords(s string) string {
	if s == "" {
		return ""
	}
	return `"` + strings.ReplaceAll(idgw.NeutralizeSPText(s), `"`, "'") + `"`
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
