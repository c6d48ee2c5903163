package fido

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/mcfed/mcfed/internal/e164"
	"github.com/mcfed/mcfed/operator/state"
)

// The kinds of records this package keeps in the operator's state store.
// Credentials are node-local (the operator's), never in the registry.
const (
	// kindCredential: a subscriber's passkeys, one record per subscriber
	// (key: the MSISDN, 8 bytes big-endian), so that adding, removing and
	// the sign counter's update are each one atomic step.
	kindCredential state.Kind = "fido.credential"
	// kindCredentialID: credential ID → MSISDN, so that one credential
	// cannot be registered to two subscribers.
	kindCredentialID state.Kind = "fido.credential-id"
	kindChallenge    state.Kind = "fido.challenge"    // a login challenge, by its id
	kindRegistration state.Kind = "fido.registration" // a registration ceremony, by its id
	kindTicket       state.Kind = "fido.ticket"       // an enrolment ticket, by its token's hash
	kindManage       state.Kind = "fido.manage"       // a passkeys page session, by its cookie's hash
)

// never is the expiry of records that live until removed (the store's
// records all have one; 2200 is within its Unix-nanosecond range).
var never = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)

// subscriberRecord is a subscriber's passkeys and the user handle their
// authenticators know them by: random, so that it says nothing of the
// number (WebAuthn §14.6.1).
type subscriberRecord struct {
	Handle   []byte    `json:"handle"`
	Passkeys []passkey `json:"passkeys"`
}

// passkey is one registered credential with when it was added and last
// used.
type passkey struct {
	Credential webauthn.Credential `json:"credential"`
	Created    time.Time           `json:"created"`
	LastUsed   time.Time           `json:"last_used,omitzero"`
	// Phone: the operator enrolled it on the subscriber's phone
	// (EnrolPhone); a login pushes to the phone (phone.go).
	Phone bool `json:"phone,omitempty"`
}

// Passkey is what the passkeys page and the gateway see of a registered
// credential.
type Passkey struct {
	// ID is the credential ID, base64url without padding.
	ID       string
	Created  time.Time
	LastUsed time.Time // zero until first used
	// Format is the attestation format it was registered with ("none",
	// "packed", ...).
	Format string
	// Phone: it is on the subscriber's phone, reached by a push.
	Phone bool
}

func msisdnKey(msisdn uint64) []byte { return binary.BigEndian.AppendUint64(nil, msisdn) }

// user is a subscriber as go-webauthn sees one.
type user struct {
	msisdn uint64
	rec    subscriberRecord
}

func (u *user) WebAuthnID() []byte          { return u.rec.Handle }
func (u *user) WebAuthnName() string        { return e164.Format(u.msisdn) }
func (u *user) WebAuthnDisplayName() string { return e164.Format(u.msisdn) }
func (u *user) WebAuthnCredentials() []webauthn.Credential {
	out := make([]webauthn.Credential, len(u.rec.Passkeys))
	for i, p := range u.rec.Passkeys {
		out[i] = p.Credential
	}
	return out
}

// loadSubscriber reads msisdn's record; found is false when there is none
// (no passkey ever registered).
func (a *Authenticator) loadSubscriber(ctx context.Context, msisdn uint64) (rec subscriberRecord, found bool, err error) {
	r, err := a.cfg.Store.Get(ctx, kindCredential, msisdnKey(msisdn))
	if errors.Is(err, state.ErrNotFound) {
		return subscriberRecord{}, false, nil
	}
	if err != nil {
		return subscriberRecord{}, false, fmt.Errorf("fido: reading passkeys: %w", err)
	}
	if err := json.Unmarshal(r.Value, &rec); err != nil {
		return subscriberRecord{}, false, fmt.Errorf("fido: a malformed passkeys record: %w", err)
	}
	return rec, true, nil
}

// updateSubscriber applies fn to msisdn's record (a new one with a fresh
// user handle when there is none) as one atomic step.
func (a *Authenticator) updateSubscriber(ctx context.Context, msisdn uint64, fn func(rec *subscriberRecord) error) (subscriberRecord, error) {
	var out subscriberRecord
	_, err := a.cfg.Store.Update(ctx, kindCredential, msisdnKey(msisdn), func(old state.Record, found bool) (state.Record, error) {
		var rec subscriberRecord
		if found {
			if err := json.Unmarshal(old.Value, &rec); err != nil {
				return state.Record{}, fmt.Errorf("fido: a malformed passkeys record: %w", err)
			}
		}
		if len(rec.Handle) == 0 {
			rec.Handle = make([]byte, 32)
			rand.Read(rec.Handle)
		}
		if err := fn(&rec); err != nil {
			return state.Record{}, err
		}
		out = rec
		// Kept with no passkey too: the handle stays the subscriber's.
		v, err := json.Marshal(rec)
		if err != nil {
			return state.Record{}, err
		}
		return state.Record{Value: v, Expires: never}, nil
	})
	return out, err
}

// Passkeys lists msisdn's passkeys, oldest first.
func (a *Authenticator) Passkeys(ctx context.Context, msisdn uint64) ([]Passkey, error) {
	rec, _, err := a.loadSubscriber(ctx, msisdn)
	if err != nil {
		return nil, err
	}
	out := make([]Passkey, 0, len(rec.Passkeys))
	for _, p := range rec.Passkeys {
		out = append(out, Passkey{ID: base64.RawURLEncoding.EncodeToString(p.Credential.ID), Created: p.Created,
			LastUsed: p.LastUsed, Format: p.Credential.AttestationFormat, Phone: p.Phone})
	}
	return out, nil
}

// Enrolled says whether msisdn has a passkey: the gateway's subscriber
// view adds Enrolment ("fido") to its enrolments when it does, so that
// routing offers this authenticator only to those who can use it.
func (a *Authenticator) Enrolled(ctx context.Context, msisdn uint64) (bool, error) {
	rec, _, err := a.loadSubscriber(ctx, msisdn)
	return len(rec.Passkeys) > 0, err
}

// RemovePasskey removes msisdn's passkey id (base64url, as Passkeys
// gives it): it can no longer sign in, including in a login challenge
// already started. ErrNoPasskey when msisdn has no such passkey.
func (a *Authenticator) RemovePasskey(ctx context.Context, msisdn uint64, id string) error {
	raw, err := base64.RawURLEncoding.DecodeString(id)
	if err != nil || len(raw) == 0 {
		return ErrNoPasskey
	}
	_, err = a.updateSubscriber(ctx, msisdn, func(rec *subscriberRecord) error {
		i := slices.IndexFunc(rec.Passkeys, func(p passkey) bool { return bytes.Equal(p.Credential.ID, raw) })
		if i < 0 {
			return ErrNoPasskey
		}
		rec.Passkeys = slices.Delete(rec.Passkeys, i, i+1)
		return nil
	})
	if err != nil {
		return err
	}
	// The ID is free again only once no subscriber holds it.
	if err := a.cfg.Store.Delete(ctx, kindCredentialID, raw); err != nil {
		return fmt.Errorf("fido: freeing the credential ID: %w", err)
	}
	return nil
}

// addPasskey stores cred for msisdn, refusing an ID registered to anyone
// already and more than MaxPasskeys.
func (a *Authenticator) addPasskey(ctx context.Context, msisdn uint64, handle []byte, cred *webauthn.Credential, phone bool) error {
	if err := a.cfg.Store.Create(ctx, kindCredentialID, cred.ID, msisdnKey(msisdn), never); err != nil {
		if errors.Is(err, state.ErrExists) {
			return ErrAlreadyRegistered
		}
		return fmt.Errorf("fido: reserving the credential ID: %w", err)
	}
	now := a.cfg.Now()
	_, err := a.updateSubscriber(ctx, msisdn, func(rec *subscriberRecord) error {
		if !bytes.Equal(rec.Handle, handle) {
			// The record was replaced since the ceremony began (its
			// passkeys all removed): the authenticator holds another handle.
			return ErrCeremonyOver
		}
		if len(rec.Passkeys) >= a.cfg.MaxPasskeys {
			return ErrTooManyPasskeys
		}
		rec.Passkeys = append(rec.Passkeys, passkey{Credential: *cred, Created: now, Phone: phone})
		return nil
	})
	if err != nil {
		a.cfg.Store.Delete(ctx, kindCredentialID, cred.ID)
		return err
	}
	return nil
}

// recordUse stores the outcome of a verified assertion: the sign counter
// it carried (refused when a concurrent or earlier login already saw one
// as high, the mark of a replay or a cloned authenticator), the flags and
// when. Checked again here, inside the atomic update, because two
// assertions may have been verified at once against the same stored
// counter.
func (a *Authenticator) recordUse(ctx context.Context, msisdn uint64, verified *webauthn.Credential, counter uint32) error {
	now := a.cfg.Now()
	_, err := a.updateSubscriber(ctx, msisdn, func(rec *subscriberRecord) error {
		i := slices.IndexFunc(rec.Passkeys, func(p passkey) bool { return bytes.Equal(p.Credential.ID, verified.ID) })
		if i < 0 {
			return ErrNoPasskey // removed meanwhile
		}
		p := &rec.Passkeys[i]
		if stored := p.Credential.Authenticator.SignCount; (counter != 0 || stored != 0) && counter <= stored {
			return ErrCounter
		}
		p.Credential.Authenticator.SignCount = counter
		p.Credential.Flags = verified.Flags
		p.LastUsed = now
		return nil
	})
	return err
}
