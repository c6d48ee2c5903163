package fido

import (
	"errors"
	"fmt"

	"github.com/mcfed/mcfed/idgw"
)

// Errors of the ceremonies; test with errors.Is.
var (
	// ErrNotEnrolled: Start for a subscriber with no passkey. It matches
	// idgw.ErrUnavailable, so routing falls back.
	ErrNotEnrolled = fmt.Errorf("fido: the subscriber has no passkey (%w)", idgw.ErrUnavailable)
	// ErrNoBrowser: Start for a login no browser shows (a headless SDK's):
	// a passkey is used in a browser's page. It matches
	// idgw.ErrUnavailable, so routing falls back.
	ErrNoBrowser = fmt.Errorf("fido: the login has no browser to use a passkey in (%w)", idgw.ErrUnavailable)
	// ErrBadReturnURL: a return URL that does not lie under Config.PublicURL.
	ErrBadReturnURL = errors.New("fido: return URL is not under the public URL")
	// ErrNoChallenge: no such login challenge, or it expired.
	ErrNoChallenge = errors.New("fido: no such sign-in challenge, or it expired")
	// ErrChallengeOver: the challenge succeeded already (an assertion is
	// good for one login) or ended after too many refused assertions.
	ErrChallengeOver = errors.New("fido: the sign-in challenge is over")
	// ErrCeremonyOver: no such registration ceremony, it expired, was
	// used, or is another subscriber's.
	ErrCeremonyOver = errors.New("fido: the registration is over or unknown; start again")
	// ErrCounter: the assertion's sign counter is not above the one
	// stored: a replayed assertion or a cloned authenticator.
	ErrCounter = errors.New("fido: the passkey's signature counter did not advance (a replay or a cloned authenticator)")
	// ErrNoPasskey: the subscriber has no such passkey.
	ErrNoPasskey = errors.New("fido: no such passkey")
	// ErrAlreadyRegistered: the credential is registered already.
	ErrAlreadyRegistered = errors.New("fido: this passkey is registered already")
	// ErrTooManyPasskeys: the subscriber holds Config.MaxPasskeys already.
	ErrTooManyPasskeys = errors.New("fido: too many passkeys; remove one first")
)

// AssertionError is a refused assertion or attestation: what the
// WebAuthn verification said (a wrong origin, another RP ID, a bad
// signature, a challenge that is not this ceremony's, ...).
type AssertionError struct {
	// Reason is go-webauthn's account, safe to log; the person is told
	// only that the passkey was not accepted.
	Reason string
	Err    error
}

func (e *AssertionError) Error() string { return "fido: refused: " + e.Reason }
func (e *AssertionError) Unwrap() error { return e.Err }
