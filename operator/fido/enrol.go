package fido

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/mcfed/mcfed/idgw"
	"github.com/mcfed/mcfed/operator/state"
)

// Enroller is the entry point the gateway uses to let a person manage
// their passkeys: after a login (LoA2 or better) the gateway vouches for
// the number and redirects the browser to the URL Enrol answers. It takes
// idgw's own Challenge (MSISDN, Operator, Number, Language, ReturnURL are
// read), so that idgw can declare the same interface without importing
// this package.
type Enroller interface {
	Enrol(ctx context.Context, ch idgw.Challenge) (redirectURL string, err error)
}

var _ Enroller = (*Authenticator)(nil)

// ticketTTL is how long the URL Enrol answers may be opened: it is
// followed by a redirect at once.
const ticketTTL = 2 * time.Minute

// manageRecord is a passkeys page session: the subscriber the gateway
// vouched for, and what the pages show.
type manageRecord struct {
	MSISDN uint64 `json:"msisdn"`
	View   view   `json:"view"`
}

// registrationRecord is a registration ceremony between begin and finish.
type registrationRecord struct {
	MSISDN  uint64               `json:"msisdn"`
	Handle  []byte               `json:"handle"`
	Session webauthn.SessionData `json:"session"`
}

// Enrol is the gateway vouching that the browser it is about to redirect
// belongs to the subscriber ch.MSISDN (who has just logged in): it
// answers the URL of the passkeys page for them. The URL holds a ticket
// good once, for two minutes: opening it swaps it for a cookie-bound
// session of Config.ManageTTL (Mount's /fido/passkeys), so that a URL
// seen later (a proxy's log, a shoulder) grants nothing. ch.ReturnURL,
// optional, is where the page's Done button goes (under PublicURL).
func (a *Authenticator) Enrol(ctx context.Context, ch idgw.Challenge) (string, error) {
	if ch.MSISDN == 0 {
		return "", errors.New("fido: enrolment without an MSISDN")
	}
	if ch.ReturnURL != "" && !a.underPublic(ch.ReturnURL) {
		return "", fmt.Errorf("%w: %q", ErrBadReturnURL, ch.ReturnURL)
	}
	v, err := json.Marshal(manageRecord{MSISDN: ch.MSISDN, View: a.viewOf(ch)})
	if err != nil {
		return "", err
	}
	token := base64.RawURLEncoding.EncodeToString(randomBytes(32))
	if err := a.cfg.Store.Put(ctx, kindTicket, hashKey(token), v, a.cfg.Now().Add(ticketTTL)); err != nil {
		return "", fmt.Errorf("fido: storing the enrolment ticket: %w", err)
	}
	return a.public.String() + "/fido/passkeys?t=" + token, nil
}

func hashKey(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// openTicket takes a ticket (single use) and opens a passkeys page
// session for its subscriber: the session's secret, for the cookie.
func (a *Authenticator) openTicket(ctx context.Context, token string) (string, error) {
	if token == "" {
		return "", ErrCeremonyOver
	}
	r, err := a.cfg.Store.Take(ctx, kindTicket, hashKey(token))
	if errors.Is(err, state.ErrNotFound) {
		return "", ErrCeremonyOver
	}
	if err != nil {
		return "", err
	}
	secret := base64.RawURLEncoding.EncodeToString(randomBytes(32))
	if err := a.cfg.Store.Put(ctx, kindManage, hashKey(secret), r.Value, a.cfg.Now().Add(a.cfg.ManageTTL)); err != nil {
		return "", err
	}
	return secret, nil
}

// manageSession is the session of a passkeys page's cookie secret.
func (a *Authenticator) manageSession(ctx context.Context, secret string) (manageRecord, error) {
	var m manageRecord
	if secret == "" {
		return m, ErrCeremonyOver
	}
	r, err := a.cfg.Store.Get(ctx, kindManage, hashKey(secret))
	if errors.Is(err, state.ErrNotFound) {
		return m, ErrCeremonyOver
	}
	if err != nil {
		return m, err
	}
	return m, json.Unmarshal(r.Value, &m)
}

// Ceremony is a registration ceremony begun: its id, to hand back to
// FinishRegistration, and the options for navigator.credentials.create
// ({"publicKey": {...}}).
type Ceremony struct {
	ID      string          `json:"ceremony"`
	Options json.RawMessage `json:"options"`
}

// BeginRegistration begins registering a new passkey for msisdn, whom the
// caller vouches for. The options exclude the passkeys the subscriber has
// (an authenticator does not register twice) and ask for user
// verification as Config.UserVerification says.
func (a *Authenticator) BeginRegistration(ctx context.Context, msisdn uint64) (Ceremony, error) {
	// Creates the subscriber's record with its user handle if need be:
	// the handle must be the same at finish.
	rec, err := a.updateSubscriber(ctx, msisdn, func(rec *subscriberRecord) error {
		if len(rec.Passkeys) >= a.cfg.MaxPasskeys {
			return ErrTooManyPasskeys
		}
		return nil
	})
	if err != nil {
		return Ceremony{}, err
	}
	u := &user{msisdn: msisdn, rec: rec}
	creation, session, err := a.wa.BeginRegistration(u,
		webauthn.WithExclusions(webauthn.Credentials(u.WebAuthnCredentials()).CredentialDescriptors()))
	if err != nil {
		return Ceremony{}, fmt.Errorf("fido: beginning the registration: %w", err)
	}
	opts, err := json.Marshal(creation)
	if err != nil {
		return Ceremony{}, err
	}
	v, err := json.Marshal(registrationRecord{MSISDN: msisdn, Handle: rec.Handle, Session: *session})
	if err != nil {
		return Ceremony{}, err
	}
	id := base64.RawURLEncoding.EncodeToString(randomBytes(32))
	if err := a.cfg.Store.Put(ctx, kindRegistration, registrationKey(msisdn, id), v, a.cfg.Now().Add(a.cfg.EnrolTTL)); err != nil {
		return Ceremony{}, fmt.Errorf("fido: storing the registration: %w", err)
	}
	return Ceremony{ID: id, Options: opts}, nil
}

// registrationKey is a ceremony's key: under the subscriber's number, so
// that another subscriber's session neither finds nor spends it.
func registrationKey(msisdn uint64, id string) []byte {
	return append(msisdnKey(msisdn), hashKey(id)...)
}

// FinishRegistration verifies the attestation posted for ceremony (the
// PublicKeyCredential as JSON: clientDataJSON, attestationObject) and
// stores the new passkey for msisdn. The ceremony is single use and
// msisdn's own: another subscriber's, or one used or expired, is
// ErrCeremonyOver.
func (a *Authenticator) FinishRegistration(ctx context.Context, msisdn uint64, ceremony string, response []byte) (Passkey, error) {
	return a.finishRegistration(ctx, msisdn, ceremony, response, false)
}

func (a *Authenticator) finishRegistration(ctx context.Context, msisdn uint64, ceremony string, response []byte, phone bool) (Passkey, error) {
	r, err := a.cfg.Store.Take(ctx, kindRegistration, registrationKey(msisdn, ceremony))
	if errors.Is(err, state.ErrNotFound) {
		return Passkey{}, ErrCeremonyOver
	}
	if err != nil {
		return Passkey{}, err
	}
	var reg registrationRecord
	if err := json.Unmarshal(r.Value, &reg); err != nil {
		return Passkey{}, err
	}
	if reg.MSISDN != msisdn {
		return Passkey{}, ErrCeremonyOver
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(response)
	if err != nil {
		return Passkey{}, assertionError(err)
	}
	u := &user{msisdn: msisdn, rec: subscriberRecord{Handle: reg.Handle}}
	cred, err := a.wa.CreateCredential(u, reg.Session, parsed)
	if err != nil {
		return Passkey{}, assertionError(err)
	}
	if err := a.addPasskey(ctx, msisdn, reg.Handle, cred, phone); err != nil {
		return Passkey{}, err
	}
	return Passkey{ID: base64.RawURLEncoding.EncodeToString(cred.ID), Created: a.cfg.Now(), Format: cred.AttestationFormat, Phone: phone}, nil
}
