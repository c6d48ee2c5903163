package idgw

import (
	"context"
	"errors"
	"net/url"
)

// Authenticator proves that the person holding a subscriber's phone is
// there, at some Level of Assurance: SMS with a code or a link, a SIM
// applet, FIDO. The gateway reaches one only through this interface and
// through redirections, as operators' existing adaptors are reached, so a
// new authenticator plugs in without the authorization server changing.
//
// The flow: the gateway calls Start with the challenge; the authenticator
// returns its opaque state (kept by the gateway with the session: OTP hash,
// attempts, a transaction id) and, when it needs the person's browser, a
// page to redirect to. It then learns the outcome from Check, called with
// the state and what came back (the form the person submitted on the
// gateway's page, a tapped link, or nothing when the SDK re-polls the
// authorize URL for an out-of-band authenticator).
type Authenticator interface {
	Start(ctx context.Context, ch Challenge) (Started, error)
	Check(ctx context.Context, state []byte, answer url.Values) (Outcome, error)
}

// AuthenticatorInfo is what routing knows of an authenticator.
type AuthenticatorInfo struct {
	// Name identifies it in policies and logs ("sms-otp", "sim-pin", ...).
	Name string
	// LoA is the Level of Assurance a success achieves (2, 3 or 4); it
	// becomes the ID token's acr.
	LoA int
	// AMR are the ID token's amr values for a success (e.g. "OTP_OK").
	AMR []string
	// Enrolment is the enrolment type the subscriber needs ("" when every
	// active subscriber can use it, as with SMS to the MSISDN itself).
	Enrolment string
}

// Challenge is what an authenticator needs to challenge a subscriber.
type Challenge struct {
	MSISDN uint64
	// SPName is shown to the person ("Log in to <SPName>?").
	SPName string
	// BindingMessage and Context come with an authorisation (mc_authz).
	BindingMessage string
	Context        string
	// ReturnURL is where the authenticator's page sends the browser back
	// when it is done; Check is then called.
	ReturnURL string
}

// Started is an authenticator's answer to Start.
type Started struct {
	// State is opaque to the gateway and handed back to Check.
	State []byte
	// RedirectURL, when not empty, is where the browser goes next (the
	// authenticator's page); empty means out of band (the person answers on
	// the phone and the SDK re-polls the authorize URL).
	RedirectURL string
}

// Outcome is the result of Check.
type Outcome struct {
	Status OutcomeStatus
	// State replaces the session's state (attempt counters and the like).
	State []byte
	// Reason is a safe, user-facing reason for a failure.
	Reason string
	// RedirectURL, when set on a Pending outcome, sends the browser back to
	// the authenticator's page (a wrong code: the form again) rather than
	// to the gateway's waiting page.
	RedirectURL string
	// AMR, when set on success, replaces AuthenticatorInfo.AMR: what was
	// actually used (the code or the link of an OTP+URL SMS).
	AMR []string
}

// OutcomeStatus says where a challenge stands.
type OutcomeStatus int

const (
	// Pending: no answer yet (poll again, or show the page again).
	Pending OutcomeStatus = iota
	// Succeeded: the person proved presence at the authenticator's LoA.
	Succeeded
	// Failed: the challenge is over without success (expired, too many
	// attempts, refused by the person); routing may fall back.
	Failed
)

// ErrUnavailable is returned by Start when the authenticator cannot serve
// now (its SMSC or MSSP is down): routing falls back to the next one.
var ErrUnavailable = errors.New("authenticator unavailable")
