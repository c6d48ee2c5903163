// Package simapplet is the SIM applet authenticator of an operator's
// Identity Gateway, reached through a Mobile Signature Service Provider:
// the adaptor asks the MSSP (ETSI TS 102 204's MSS_Signature, asynchronous
// client-server mode, then MSS_StatusQuery at each poll) for the SIM's
// signature over a challenge that names the SP, carries the binding
// message and a transaction nonce, and says how the person must consent:
// click-OK (LoA 2, amr SIM_OK) or the SIM's PIN (LoA 3, amr SIM_PIN). The
// MSSP carries it to the SIM over OTA and verifies the SIM's answer; the
// adaptor verifies it again, with the SIM's public key enrolled on this
// node (Enrolments, in the operator's state store, never in the registry),
// over the challenge it made, and takes the transaction's record once
// (state.Store.Take): a signature response replayed, for this transaction
// or another, is refused.
//
// Transport: the REST/JSON binding of TS 102 204 (operator/mss.Client).
// The adaptor needs only the two calls of MSSP, over binding-neutral
// message types, so a SOAP binding is another implementation of it.
//
// An MSSP that cannot be reached or does not answer within its client's
// timeout makes Start fail with idgw.ErrUnavailable (routing falls back);
// PIN_NR_BLOCKED marks the SIM's PIN blocked, which drops the PIN
// enrolment from routing for this subscriber until the SIM is enrolled
// again.
package simapplet

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/mcfed/mcfed/idgw"
	"github.com/mcfed/mcfed/internal/e164"
	"github.com/mcfed/mcfed/operator/mss"
	"github.com/mcfed/mcfed/operator/state"
)

// MSSP is what the adaptor needs of an MSSP connection; *mss.Client (the
// REST binding) is one.
type MSSP interface {
	Signature(ctx context.Context, req mss.SignatureReq) (mss.SignatureResp, error)
	StatusQuery(ctx context.Context, msspTransID string) (mss.SignatureResp, error)
}

var _ MSSP = (*mss.Client)(nil)

// KindTxn is the table of transactions in progress, by nonce: the
// challenge each was for, taken once by the success it ends in.
const KindTxn state.Kind = "simapplet.txn"

// Config configures the SIM applet authenticator.
type Config struct {
	// Levels are the ways of consenting offered, each its own
	// registration for routing: "ok" (LoA 2) and "pin" (LoA 3). Default:
	// both.
	Levels []string `json:"levels"`
	// TTL is how long the person has to answer on the phone (the MSSP's
	// TimeOut; default 2 minutes).
	TTL time.Duration `json:"-"`
	// Pause is how long, after the MSSP could not be reached, Start
	// fails at once rather than wait for the client's timeout again
	// (default 10 s): a login that would try click-OK, then the PIN,
	// pays the timeout once, and so does every login meanwhile.
	Pause time.Duration `json:"-"`
	// Now is the clock (tests); default time.Now.
	Now func() time.Time `json:"-"`
	Log *slog.Logger     `json:"-"`
}

// Defaults.
const (
	DefaultTTL   = 2 * time.Minute
	DefaultPause = 10 * time.Second
)

// Authenticator is the SIM applet adaptor. Safe for concurrent use.
type Authenticator struct {
	cfg   Config
	mssp  MSSP
	store state.Store
	sims  *Enrolments
	// downUntil is when, in Unix nanoseconds, the MSSP is worth asking
	// again after it could not be reached.
	downUntil atomic.Int64
}

// New checks cfg and returns the authenticator, which asks mssp and keeps
// its enrolments and transactions in store.
func New(cfg Config, mssp MSSP, store state.Store) (*Authenticator, error) {
	if mssp == nil || store == nil {
		return nil, errors.New("simapplet: an MSSP and a state store are required")
	}
	if len(cfg.Levels) == 0 {
		cfg.Levels = []string{CapabilityOK, CapabilityPIN}
	}
	for _, l := range cfg.Levels {
		if l != CapabilityOK && l != CapabilityPIN {
			return nil, fmt.Errorf("simapplet: level %q: want ok or pin", l)
		}
	}
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.Pause <= 0 {
		cfg.Pause = DefaultPause
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Authenticator{cfg: cfg, mssp: mssp, store: store, sims: NewEnrolments(store)}, nil
}

// Enrolments are the SIMs this authenticator knows.
func (a *Authenticator) Enrolments() *Enrolments { return a.sims }

// Registrations are what routing gets: one authenticator per level
// offered, in the order of Config.Levels.
func (a *Authenticator) Registrations() []idgw.Registration {
	var out []idgw.Registration
	for _, l := range a.cfg.Levels {
		lv := &level{a: a, capability: l, profile: mss.ProfileClickOK, info: idgw.AuthenticatorInfo{
			Name: "sim-ok", LoA: 2, AMR: []string{"SIM_OK"}, Enrolment: EnrolmentOK}}
		if l == CapabilityPIN {
			lv.profile, lv.info = mss.ProfilePIN, idgw.AuthenticatorInfo{
				Name: "sim-pin", LoA: 3, AMR: []string{"SIM_PIN"}, Enrolment: EnrolmentPIN}
		}
		out = append(out, idgw.Registration{Info: lv.info, Impl: lv})
	}
	return out
}

// level is the adaptor at one level: click-OK or PIN.
type level struct {
	a          *Authenticator
	capability string
	profile    string
	info       idgw.AuthenticatorInfo
}

var (
	_ idgw.Authenticator = (*level)(nil)
	_ idgw.Watcher       = (*level)(nil)
	_ idgw.HandsetPrompt = (*level)(nil)
)

// PromptsOnHandset says the SIM asks the person itself: a login started
// by an SP's server (Mobile Connect SI, CIBA) uses the SIM before an SMS
// link where the subscriber has one (idgw.HandsetPrompt).
func (l *level) PromptsOnHandset() bool { return true }

// txnRecord is a transaction in progress, kept by the node.
type txnRecord struct {
	MSISDN      uint64 `json:"msisdn"`
	DTBS        string `json:"dtbs"`
	MSSPTransID string `json:"mssp_trans_id"`
}

// challengeState is the state the gateway keeps for the challenge.
type challengeState struct {
	Nonce       string `json:"n"`
	MSSPTransID string `json:"m"`
	Expires     int64  `json:"e"` // Unix seconds
}

// Errors of Start, each also matching idgw.ErrUnavailable.
var (
	ErrPINBlocked = errors.New("simapplet: the SIM's PIN is blocked")
	ErrNoLevel    = errors.New("simapplet: the enrolled SIM cannot consent this way")
	ErrMSSPDown   = errors.New("simapplet: the MSSP could not be reached a moment ago")
)

func unavailable(err error) error { return fmt.Errorf("%w (%w)", err, idgw.ErrUnavailable) }

// Start asks the MSSP for the SIM's signature over a new challenge; the
// person answers on the phone, out of band (the gateway's waiting page).
func (l *level) Start(ctx context.Context, ch idgw.Challenge) (idgw.Started, error) {
	a := l.a
	sim, err := a.sims.Get(ctx, ch.MSISDN)
	switch {
	case err != nil:
		return idgw.Started{}, unavailable(err)
	case !slices.Contains(sim.Capabilities, l.capability):
		return idgw.Started{}, unavailable(ErrNoLevel)
	case l.capability == CapabilityPIN && sim.PINBlocked:
		return idgw.Started{}, unavailable(ErrPINBlocked)
	}
	if a.cfg.Now().UnixNano() < a.downUntil.Load() {
		return idgw.Started{}, unavailable(ErrMSSPDown)
	}
	nonce := make([]byte, 16)
	rand.Read(nonce)
	dtbs := mss.Challenge{Profile: l.profile, SPName: shorten(ch.SPName, 40), Message: shorten(ch.BindingMessage, 100),
		Nonce: hex.EncodeToString(nonce)}.Encode()
	ttl := a.cfg.TTL
	req := mss.SignatureReq{
		MobileUser:        mss.MobileUser{MSISDN: e164.Format(ch.MSISDN)},
		DataToBeSigned:    mss.Data{Data: dtbs, Encoding: "UTF-8", MimeType: "text/plain"},
		DataToBeDisplayed: &mss.Data{Data: displayed(ch), Encoding: "UTF-8", MimeType: "text/plain"},
		SignatureProfile:  l.profile, MessagingMode: mss.ModeAsynchClientServer,
		TimeOut: strconv.Itoa(int(ttl / time.Second)),
	}
	resp, err := a.mssp.Signature(ctx, req)
	if mss.CodeOf(err) == mss.PINNrBlocked {
		a.blocked(ctx, ch.MSISDN)
	}
	if errors.Is(err, mss.ErrUnavailable) {
		a.downUntil.Store(a.cfg.Now().Add(a.cfg.Pause).UnixNano())
	}
	if err != nil {
		return idgw.Started{}, unavailable(fmt.Errorf("simapplet: MSS_Signature: %w", err))
	}
	if code := resp.Status.Code(); code != mss.RequestOK || resp.MSSPTransID == "" {
		return idgw.Started{}, unavailable(fmt.Errorf("simapplet: MSS_Signature answered %d %s without a transaction",
			code, mss.StatusMessage(code)))
	}
	now := a.cfg.Now()
	expires := now.Add(ttl)
	rec, _ := json.Marshal(txnRecord{MSISDN: ch.MSISDN, DTBS: dtbs, MSSPTransID: resp.MSSPTransID})
	// Kept a minute past the person's time: a late status query still
	// finds what the answer must verify against.
	if err := a.store.Create(ctx, KindTxn, nonce, rec, expires.Add(time.Minute)); err != nil {
		return idgw.Started{}, fmt.Errorf("simapplet: keeping the transaction: %w", err)
	}
	st, _ := json.Marshal(challengeState{Nonce: hex.EncodeToString(nonce), MSSPTransID: resp.MSSPTransID, Expires: expires.Unix()})
	return idgw.Started{State: st}, nil
}

// displayed is the text the MSSP may show besides the challenge.
func displayed(ch idgw.Challenge) string {
	s := "Sign in to " + shorten(ch.SPName, 40)
	if ch.BindingMessage != "" {
		s += ": " + shorten(ch.BindingMessage, 100)
	}
	return s
}

func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) > n {
		return string(r[:n])
	}
	return s
}

// Check asks the MSSP how the transaction stands: pending while the SIM
// has not answered (504); on a signature, verifies it with the enrolled
// key over the challenge this node made and takes the transaction (once);
// anything else fails the challenge, and routing may fall back.
func (l *level) Check(ctx context.Context, stateBytes []byte, _ url.Values) (idgw.Outcome, error) {
	a := l.a
	var st challengeState
	if json.Unmarshal(stateBytes, &st) != nil {
		return idgw.Outcome{}, errors.New("simapplet: malformed challenge state")
	}
	nonce, err := hex.DecodeString(st.Nonce)
	if err != nil || len(nonce) == 0 {
		return idgw.Outcome{}, errors.New("simapplet: malformed challenge state")
	}
	failed := func(why idgw.Failure, reason string) (idgw.Outcome, error) {
		return idgw.Outcome{Status: idgw.Failed, Reason: reason, Failure: why}, nil
	}
	if !a.cfg.Now().Before(time.Unix(st.Expires, 0)) {
		a.store.Delete(ctx, KindTxn, nonce)
		return failed(idgw.FailureExpired, "the person did not answer on the phone in time")
	}
	r, err := a.store.Get(ctx, KindTxn, nonce)
	if errors.Is(err, state.ErrNotFound) {
		return failed(idgw.FailureUsed, "the SIM's answer was used already")
	}
	if err != nil {
		return idgw.Outcome{}, err
	}
	var rec txnRecord
	if err := json.Unmarshal(r.Value, &rec); err != nil || rec.MSSPTransID != st.MSSPTransID {
		return failed(idgw.FailureOther, "the sign-in request is no longer valid")
	}
	resp, err := a.mssp.StatusQuery(ctx, st.MSSPTransID)
	if err != nil {
		a.store.Delete(ctx, KindTxn, nonce)
		switch code := mss.CodeOf(err); code {
		case mss.UserCancel:
			return failed(idgw.FailureRefused, "the person cancelled on the phone")
		case mss.PINNrBlocked:
			a.blocked(ctx, rec.MSISDN)
			return failed(idgw.FailureTooManyAttempts, "the SIM's PIN is blocked")
		case mss.ExpiredTransaction:
			return failed(idgw.FailureExpired, "the person did not answer on the phone in time")
		case mss.OTAError:
			a.cfg.Log.Warn("simapplet: the MSSP reports an OTA error", "mssp_trans_id", st.MSSPTransID, "err", err)
			return failed(idgw.FailureOther, "the SIM's answer could not be read")
		case 0:
			a.cfg.Log.Warn("simapplet: the MSSP is unavailable during a challenge", "err", err)
			return failed(idgw.FailureOther, "the SIM service is unavailable")
		default:
			a.cfg.Log.Warn("simapplet: the MSSP refused the signature", "mssp_trans_id", st.MSSPTransID, "err", err)
			return failed(idgw.FailureOther, "the SIM did not confirm the sign-in")
		}
	}
	switch code := resp.Status.Code(); code {
	case mss.OutstandingTransaction:
		return idgw.Outcome{Status: idgw.Pending}, nil
	case mss.Signature, mss.ValidSignature:
	default:
		a.store.Delete(ctx, KindTxn, nonce)
		return failed(idgw.FailureOther, fmt.Sprintf("the SIM service answered %d %s", code, mss.StatusMessage(code)))
	}
	if err := a.verify(ctx, rec, resp); err != nil {
		a.cfg.Log.Warn("simapplet: a signature response is refused", "mssp_trans_id", st.MSSPTransID, "err", err)
		a.store.Delete(ctx, KindTxn, nonce)
		return failed(idgw.FailureOther, "the SIM's signature does not verify")
	}
	// Once: of two checks with this answer (a replay, a race), one wins.
	if _, err := a.store.Take(ctx, KindTxn, nonce); errors.Is(err, state.ErrNotFound) {
		return failed(idgw.FailureUsed, "the SIM's answer was used already")
	} else if err != nil {
		return idgw.Outcome{}, err
	}
	return idgw.Outcome{Status: idgw.Succeeded, AMR: l.info.AMR}, nil
}

// Answered says whether the SIM has answered (or the transaction is over),
// for the gateway's waiting page, which then moves on: an
// MSS_StatusQuery that is not 504 OUTSTANDING_TRANSACTION. It decides
// nothing; an MSSP that cannot be asked counts as news (Check says what).
func (l *level) Answered(stateBytes []byte) bool {
	var st challengeState
	if json.Unmarshal(stateBytes, &st) != nil || !l.a.cfg.Now().Before(time.Unix(st.Expires, 0)) {
		return true
	}
	resp, err := l.a.mssp.StatusQuery(context.Background(), st.MSSPTransID)
	return err != nil || resp.Status.Code() != mss.OutstandingTransaction
}

// verify checks what the MSSP returned: this transaction, this number,
// and the signature over this challenge with the SIM's enrolled key.
func (a *Authenticator) verify(ctx context.Context, rec txnRecord, resp mss.SignatureResp) error {
	if resp.MSSPTransID != rec.MSSPTransID {
		return fmt.Errorf("the answer is for transaction %q", resp.MSSPTransID)
	}
	if n, ok := e164.ParseCanonical(resp.MobileUser.MSISDN); !ok || n != rec.MSISDN {
		return errors.New("the answer is for another number")
	}
	if resp.MSSSignature == nil {
		return errors.New("the answer holds no signature")
	}
	sig, err := base64.StdEncoding.DecodeString(resp.MSSSignature.Base64Signature)
	if err != nil {
		return fmt.Errorf("the signature is not base64: %w", err)
	}
	sim, err := a.sims.Get(ctx, rec.MSISDN)
	if err != nil {
		return err
	}
	return mss.Verify(sim.PublicKey, []byte(rec.DTBS), sig)
}

// blocked records a SIM's PIN_NR_BLOCKED.
func (a *Authenticator) blocked(ctx context.Context, msisdn uint64) {
	if err := a.sims.blockPIN(ctx, msisdn); err != nil {
		a.cfg.Log.Warn("simapplet: recording a blocked PIN", "err", err)
	}
}
