// Package fido is the FIDO authenticator of an operator's Identity Gateway:
// passkeys (WebAuthn, with github.com/go-webauthn/webauthn) at LoA3, amr
// "FIDO".
//
// A login: Start returns the package's page, whose script runs
// navigator.credentials.get with the subscriber's passkeys
// (allowCredentials) and posts the assertion to the package; the package
// verifies it (the challenge, the RP ID, the origin, the signature, user
// verification, the sign counter) and marks the challenge verified; the
// page then returns to the gateway, whose Check reports the success, once.
//
// Enrolment: a person who has just logged in (at LoA2) asks the gateway
// for a passkey; the gateway vouches for the number through Enrol, which
// answers the passkeys page's URL. That page lists the subscriber's
// passkeys, removes them and registers new ones.
//
// Everything, credentials and ceremonies, is in the operator's node-local
// state store (operator/state): never in the registry, and seen alike by
// every gateway node sharing the store.
package fido

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/mcfed/mcfed/idgw"
	"github.com/mcfed/mcfed/operator/state"
)

// Enrolment is the enrolment type of a subscriber with a passkey
// (idgw.Subscriber.Enrolments, AuthenticatorInfo.Enrolment).
const Enrolment = "fido"

// AMR is the ID token's amr of a login with a passkey.
const AMR = "FIDO"

// Authenticator is the FIDO authenticator. It is safe for concurrent use
// and keeps no state of its own: several gateway nodes sharing one store
// serve the same challenges.
type Authenticator struct {
	cfg    Config
	public *url.URL
	wa     *webauthn.WebAuthn
}

var (
	_ idgw.Authenticator = (*Authenticator)(nil)
	_ idgw.Watcher       = (*Authenticator)(nil)
	_ idgw.Decoy         = (*Authenticator)(nil)
)

// New validates cfg (filling defaults) and returns the authenticator.
func New(cfg Config) (*Authenticator, error) {
	cfg = cfg.withDefaults()
	u, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	uv := protocol.UserVerificationRequirement(cfg.UserVerification)
	wa, err := webauthn.New(&webauthn.Config{
		RPID:          cfg.RPID,
		RPDisplayName: cfg.RPName,
		RPOrigins:     cfg.Origins,
		// No attestation asked for: the operator trusts the person who
		// logged in to pick their own authenticator; a "packed" or other
		// statement that comes anyway is still verified.
		AttestationPreference: protocol.PreferNoAttestation,
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			ResidentKey:      protocol.ResidentKeyRequirementPreferred,
			UserVerification: uv,
		},
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Enforce: true, Timeout: cfg.LoginTTL, TimeoutUVD: cfg.LoginTTL},
			Registration: webauthn.TimeoutConfig{Enforce: true, Timeout: cfg.EnrolTTL, TimeoutUVD: cfg.EnrolTTL},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("fido: %w", err)
	}
	return &Authenticator{cfg: cfg, public: u, wa: wa}, nil
}

// Info is what routing needs to know of the authenticator.
func (a *Authenticator) Info() idgw.AuthenticatorInfo {
	return idgw.AuthenticatorInfo{Name: "fido", LoA: 3, AMR: []string{AMR}, Enrolment: Enrolment}
}

// Start begins a login challenge for the subscriber's passkeys and sends
// the browser to the package's page. A subscriber with none gets
// ErrNotEnrolled, a login without a browser (a server-initiated one, a
// headless SDK's, or a browser that sends no Sec-Fetch-Mode)
// ErrNoBrowser unless the subscriber has a passkey on the phone and the
// gateway pushes to it (Config.Push), which needs no browser: both are
// idgw.ErrUnavailable, so routing falls back; so is a store that cannot
// be reached.
func (a *Authenticator) Start(ctx context.Context, ch idgw.Challenge) (idgw.Started, error) {
	return a.start(ctx, ch, false)
}

// StartDecoy is Start for a number the gateway will not challenge: the
// same page and answers, allowing passkeys nobody holds, and no assertion
// can succeed (idgw.Decoy).
func (a *Authenticator) StartDecoy(ctx context.Context, ch idgw.Challenge) (idgw.Started, error) {
	return a.start(ctx, ch, true)
}

func (a *Authenticator) start(ctx context.Context, ch idgw.Challenge, decoy bool) (idgw.Started, error) {
	if ch.MSISDN == 0 {
		return idgw.Started{}, errors.New("fido: the challenge has no MSISDN")
	}
	if !a.underPublic(ch.ReturnURL) {
		return idgw.Started{}, fmt.Errorf("%w: %q", ErrBadReturnURL, ch.ReturnURL)
	}
	if !ch.Browser && (decoy || a.cfg.Push == nil) {
		// Said alike for a decoy: a headless login learns nothing.
		return idgw.Started{}, ErrNoBrowser
	}
	u := &user{msisdn: ch.MSISDN}
	if decoy {
		u.rec.Handle = randomBytes(32)
		u.rec.Passkeys = []passkey{{Credential: webauthn.Credential{ID: randomBytes(32)}}}
	} else {
		rec, _, err := a.loadSubscriber(ctx, ch.MSISDN)
		if err != nil {
			return idgw.Started{}, fmt.Errorf("%w (%w)", err, idgw.ErrUnavailable)
		}
		if len(rec.Passkeys) == 0 {
			return idgw.Started{}, ErrNotEnrolled
		}
		if !ch.Browser && !hasPhonePasskey(rec) {
			// Without a browser, only a passkey on the phone can answer:
			// the login is pushed to it (a server-initiated login, a
			// headless SDK's).
			return idgw.Started{}, ErrNoBrowser
		}
		u.rec = rec
	}
	assertion, session, err := a.wa.BeginLogin(u)
	if err != nil {
		return idgw.Started{}, fmt.Errorf("fido: beginning the login: %w", err)
	}
	options, err := json.Marshal(assertion)
	if err != nil {
		return idgw.Started{}, err
	}
	st := loginState{expires: a.cfg.Now().Add(a.cfg.LoginTTL)}
	rand.Read(st.id[:])
	rec := challengeRecord{MSISDN: ch.MSISDN, Session: *session, Options: options, Status: statusPending,
		Decoy: decoy, Expires: st.expires, View: a.viewOf(ch), Phone: !decoy && a.cfg.Push != nil && hasPhonePasskey(u.rec)}
	v, err := json.Marshal(rec)
	if err != nil {
		return idgw.Started{}, err
	}
	// Kept one TTL past its expiry, so that a late page is told "expired".
	if err := a.cfg.Store.Create(ctx, kindChallenge, st.id[:], v, st.expires.Add(a.cfg.LoginTTL)); err != nil {
		return idgw.Started{}, fmt.Errorf("fido: storing the challenge: %w (%w)", err, idgw.ErrUnavailable)
	}
	if rec.Phone {
		// After the challenge is stored: the phone may answer at once.
		if err := a.push(ctx, ch.MSISDN, st.pageToken(), rec, ch.BindingMessage); err != nil {
			a.cfg.Store.Delete(ctx, kindChallenge, st.id[:])
			return idgw.Started{}, fmt.Errorf("%w (%w)", err, idgw.ErrUnavailable)
		}
	}
	if !ch.Browser {
		// Pushed to the phone, which answers the gateway itself: no
		// page to send anyone to.
		return idgw.Started{State: st.encode()}, nil
	}
	return idgw.Started{State: st.encode(), RedirectURL: a.loginPageURL(st.pageToken())}, nil
}

// viewOf is what the pages of ch show.
func (a *Authenticator) viewOf(ch idgw.Challenge) view {
	look := ch.Operator
	if look.Name == "" {
		look = a.defaultLook()
	}
	return view{Look: look, SP: clean(ch.SPName, 60), Number: ch.Number, Lang: messages.In(ch.Language).Lang, Return: ch.ReturnURL}
}

func (a *Authenticator) defaultLook() idgw.Look {
	look := idgw.LookOf(nil)
	if a.cfg.OperatorName != "" {
		look.Name = a.cfg.OperatorName
	}
	return look
}

// Check reports the challenge: Succeeded once after the page's assertion
// was verified (a second Check of the same challenge is Failed, used);
// Failed when it expired, after too many refused assertions, or when the
// person chose another way (answer fido=cancel); otherwise Pending, with
// the page to go back to.
func (a *Authenticator) Check(ctx context.Context, stateBytes []byte, answer url.Values) (idgw.Outcome, error) {
	st, err := decodeState(stateBytes)
	if err != nil {
		return idgw.Outcome{}, err
	}
	failed := func(why idgw.Failure, reason string) (idgw.Outcome, error) {
		return idgw.Outcome{Status: idgw.Failed, Reason: reason, Failure: why}, nil
	}
	if !a.cfg.Now().Before(st.expires) {
		return failed(idgw.FailureExpired, "the passkey sign-in has expired")
	}
	cancel := answer.Get("fido") == "cancel"
	var prior challengeRecord
	_, err = a.cfg.Store.Update(ctx, kindChallenge, st.id[:], func(old state.Record, found bool) (state.Record, error) {
		if !found {
			return state.Record{}, ErrNoChallenge
		}
		var rec challengeRecord
		if err := json.Unmarshal(old.Value, &rec); err != nil {
			return state.Record{}, err
		}
		prior = rec
		switch {
		case rec.Status == statusVerified && !rec.Decoy:
			rec.Status = statusUsed
		case rec.Status == statusPending && cancel:
			rec.Status, rec.Refusal, rec.Failure = statusFailed, "the person chose another way than the passkey", idgw.FailureRefused
		default:
			return old, nil
		}
		return encodeRecord(rec, old.Expires)
	})
	switch {
	case errors.Is(err, ErrNoChallenge):
		return failed(idgw.FailureExpired, "the passkey sign-in is no longer valid")
	case err != nil:
		return idgw.Outcome{}, fmt.Errorf("fido: reading the challenge: %w", err)
	}
	switch {
	case prior.Status == statusVerified && !prior.Decoy:
		return idgw.Outcome{Status: idgw.Succeeded, AMR: []string{AMR}}, nil
	case prior.Status == statusUsed:
		return failed(idgw.FailureUsed, "the passkey sign-in was used already")
	case prior.Status == statusFailed:
		return failed(prior.Failure, prior.Refusal)
	case cancel:
		return failed(idgw.FailureRefused, "the person chose another way than the passkey")
	}
	return idgw.Outcome{Status: idgw.Pending, RedirectURL: a.loginPageURL(st.pageToken())}, nil
}

func encodeRecord(rec challengeRecord, expires time.Time) (state.Record, error) {
	v, err := json.Marshal(rec)
	return state.Record{Value: v, Expires: expires}, err
}

// Answered says whether the page has had its assertion verified or the
// challenge is over; it decides nothing (idgw.Watcher).
func (a *Authenticator) Answered(stateBytes []byte) bool {
	st, err := decodeState(stateBytes)
	if err != nil || !a.cfg.Now().Before(st.expires) {
		return true
	}
	rec, err := a.challenge(context.Background(), st.id[:])
	return err != nil || rec.Status != statusPending
}

// challenge reads a login challenge.
func (a *Authenticator) challenge(ctx context.Context, id []byte) (challengeRecord, error) {
	r, err := a.cfg.Store.Get(ctx, kindChallenge, id)
	if errors.Is(err, state.ErrNotFound) {
		return challengeRecord{}, ErrNoChallenge
	}
	if err != nil {
		return challengeRecord{}, fmt.Errorf("fido: reading the challenge: %w", err)
	}
	var rec challengeRecord
	if err := json.Unmarshal(r.Value, &rec); err != nil {
		return challengeRecord{}, fmt.Errorf("fido: a malformed challenge: %w", err)
	}
	return rec, nil
}

// parseToken reads a page token (base64url of the 32-byte id).
func parseToken(token string) ([]byte, bool) {
	id, err := base64.RawURLEncoding.DecodeString(token)
	return id, err == nil && len(id) == 32
}

// LoginOptions are the options the login page's script hands to
// navigator.credentials.get ({"publicKey": {...}}) for the challenge of
// the page token.
func (a *Authenticator) LoginOptions(ctx context.Context, token string) (json.RawMessage, error) {
	id, ok := parseToken(token)
	if !ok {
		return nil, ErrNoChallenge
	}
	rec, err := a.challenge(ctx, id)
	switch {
	case err != nil:
		return nil, err
	case !a.cfg.Now().Before(rec.Expires):
		return nil, ErrNoChallenge
	case rec.Status != statusPending:
		return nil, ErrChallengeOver
	}
	return rec.Options, nil
}

// claimTTL bounds how long one posted assertion holds its challenge while
// it is checked (a store read and write or two): a node that died
// meanwhile frees it then.
const claimTTL = 10 * time.Second

// FinishLogin verifies the assertion the page posted (the
// PublicKeyCredential as JSON) for the challenge of the page token and,
// when it holds, marks the challenge verified: the gateway's Check then
// reports the success. A refused assertion counts against
// Config.MaxAttempts; the challenge is single use, so the same assertion
// posted again is refused (ErrChallengeOver), and one replayed into a new
// challenge fails its challenge check (an *AssertionError).
func (a *Authenticator) FinishLogin(ctx context.Context, token string, response []byte) error {
	id, ok := parseToken(token)
	if !ok {
		return ErrNoChallenge
	}
	rec, err := a.challenge(ctx, id)
	switch {
	case err != nil:
		return err
	case !a.cfg.Now().Before(rec.Expires):
		return ErrNoChallenge
	case rec.Status != statusPending:
		return ErrChallengeOver
	}
	// Claim the challenge for this assertion: the checks below and the
	// verdict are then this post's alone.
	now := a.cfg.Now()
	_, err = a.cfg.Store.Update(ctx, kindChallenge, id, func(old state.Record, found bool) (state.Record, error) {
		if !found {
			return state.Record{}, ErrNoChallenge
		}
		var cur challengeRecord
		if err := json.Unmarshal(old.Value, &cur); err != nil {
			return state.Record{}, err
		}
		if cur.Status != statusPending || now.Before(cur.ClaimedUntil) {
			return state.Record{}, ErrChallengeOver // another assertion won, or is being checked
		}
		cur.ClaimedUntil = now.Add(claimTTL)
		return encodeRecord(cur, old.Expires)
	})
	if err != nil {
		return err
	}
	verified, counter, verr := a.verifyAssertion(ctx, rec, response)
	if verr == nil {
		verr = a.recordUse(ctx, rec.MSISDN, verified, counter)
	}
	if verr != nil && !refused(verr) {
		return verr // the store, not the assertion: no attempt counted
	}
	_, err = a.cfg.Store.Update(ctx, kindChallenge, id, func(old state.Record, found bool) (state.Record, error) {
		if !found {
			return state.Record{}, ErrNoChallenge
		}
		var cur challengeRecord
		if err := json.Unmarshal(old.Value, &cur); err != nil {
			return state.Record{}, err
		}
		if cur.Status != statusPending {
			return state.Record{}, ErrChallengeOver // ended meanwhile (the person chose another way)
		}
		cur.ClaimedUntil = time.Time{}
		if verr == nil {
			cur.Status = statusVerified
		} else if cur.Attempts++; cur.Attempts >= a.cfg.MaxAttempts {
			cur.Status, cur.Refusal, cur.Failure = statusFailed, "too many refused passkey assertions", idgw.FailureTooManyAttempts
		}
		return encodeRecord(cur, old.Expires)
	})
	if err != nil {
		return err
	}
	return verr
}

// verifyAssertion checks response against the challenge and the
// subscriber's passkeys as they are now (one removed since Start no
// longer signs in), and returns the credential it verified with and the
// assertion's sign counter.
func (a *Authenticator) verifyAssertion(ctx context.Context, rec challengeRecord, response []byte) (*webauthn.Credential, uint32, error) {
	if rec.Decoy {
		return nil, 0, &AssertionError{Reason: "a decoy challenge cannot be answered"}
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(response)
	if err != nil {
		return nil, 0, assertionError(err)
	}
	sub, _, err := a.loadSubscriber(ctx, rec.MSISDN)
	if err != nil {
		return nil, 0, err
	}
	cred, err := a.wa.ValidateLogin(&user{msisdn: rec.MSISDN, rec: sub}, rec.Session, parsed)
	if err != nil {
		return nil, 0, assertionError(err)
	}
	if cred.Authenticator.CloneWarning {
		return nil, 0, ErrCounter
	}
	return cred, parsed.Response.AuthenticatorData.Counter, nil
}

// refused says whether err is a refusal of what was posted (as opposed
// to the store failing).
func refused(err error) bool {
	var ae *AssertionError
	return errors.As(err, &ae) || errors.Is(err, ErrCounter) || errors.Is(err, ErrNoPasskey)
}

// assertionError is go-webauthn's refusal as an *AssertionError.
func assertionError(err error) error {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		reason := pe.Details
		if pe.DevInfo != "" {
			reason += ": " + pe.DevInfo
		}
		return &AssertionError{Reason: reason, Err: err}
	}
	return &AssertionError{Reason: err.Error(), Err: err}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return b
}

// loginPageURL is the login page of the challenge with page token.
func (a *Authenticator) loginPageURL(token string) string {
	return a.public.String() + "/fido/login?c=" + token
}

// underPublic says whether raw is on the public URL's origin, under its
// path (the only places the pages send the browser to): idgw.UnderURL.
func (a *Authenticator) underPublic(raw string) bool { return idgw.UnderURL(a.public, raw) }
