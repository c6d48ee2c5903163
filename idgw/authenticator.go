package idgw

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"time"

	"github.com/mcfed/mcfed/operator/state"
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
	// Browser says a person's browser started the login and shows the
	// gateway's pages (the waiting page, or the authenticator's own). An
	// authenticator answered on another device (a link tapped on the
	// phone) then has the person match what that page shows
	// (Started.Match), so that a tap alone cannot hand a login someone
	// else started to its starter. A headless SDK's login has no such
	// page: the person can only confirm.
	Browser bool

	// What the authenticator's pages and messages show the person.
	// Operator is the operator's display name and look (pages in the
	// gateway's layout: NewPageTemplate); Number the subscriber's number,
	// masked (MaskNumber); Language the person's language, "en", "de" or
	// "fr" (ui_locales, else the browser's Accept-Language).
	Operator Look
	Number   string
	Language string

	// Network is what the gateway knows of the network the authorize
	// request came through, for an authenticator that decides from it
	// (NetworkReader: seamless login). It is set only for the
	// authenticators the authorize request itself starts; a fallback
	// started later (at the continue URL, at a re-poll) and a
	// server-initiated login have the zero Network.
	Network Network

	// Staged: the gateway writes the records the authenticator keeps for
	// this challenge (Started.Records) together with the login's own, in
	// one step of the store (one commit, one round trip instead of two),
	// then calls Started.Deliver. An authenticator that does not stage
	// writes its records itself, as it does when Staged is false.
	Staged bool
}

// Network is the network an authorize request came through: its source
// address (internal/clientaddr: the connection's, or, behind the node's
// trusted proxies, the client's as they recorded it) and the request
// headers the authenticators asked for (NetworkReader.NetworkHeaders),
// such as the MSISDN an operator's mobile-data gateway enriches requests
// with.
type Network struct {
	ClientAddr netip.Addr
	Header     http.Header
}

// NetworkReader is an authenticator that decides from the network an
// authorize request came through (seamless login: the MSISDN header an
// operator's mobile-data gateway adds). The gateway copies the headers it
// names into Challenge.Network, skips it when the request's prompt has
// no_seam, and advertises no_seam only when one is configured.
type NetworkReader interface {
	NetworkHeaders() []string
}

// Started is an authenticator's answer to Start.
type Started struct {
	// State is opaque to the gateway and handed back to Check.
	State []byte
	// RedirectURL, when not empty, is where the browser goes next (the
	// authenticator's page); empty means out of band (the person answers on
	// the phone and the SDK re-polls the authorize URL).
	RedirectURL string
	// Match, when not empty, is a short number the browser's page shows:
	// the person picks it on the other device (Challenge.Browser).
	Match string
	// Decided says the authenticator decided at Start, with no step of
	// the person's (seamless: the network vouched for the number): the
	// gateway calls Check at once, showing no page, and Check answers
	// Succeeded or Failed.
	Decided bool

	// Records are, for a staged challenge (Challenge.Staged), the
	// records the authenticator keeps for it, for the gateway to write.
	// Deliver, when not nil, is what is left to do once they are written
	// (send the message: a tap that beats the send finds them), its error
	// as Start's would be; Abandon, when not nil, undoes what Start did
	// (a send reserved) when they could not be written. The gateway calls
	// exactly one of them.
	Records []state.Op
	Deliver func(ctx context.Context) error
	Abandon func(ctx context.Context)
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
	// Failure says, on a Failed outcome, why, for the person's page.
	Failure Failure
}

// Failure is why a challenge failed, as the gateway's page tells the
// person (Outcome.Reason is what the SP is told).
type Failure uint8

const (
	FailureOther           Failure = iota
	FailureExpired                 // the code or link expired
	FailureTooManyAttempts         // too many wrong answers: stopped
	FailureUsed                    // the code or link was used already
	FailureRefused                 // the person said no on the phone
)

// Decoy is an authenticator that can run a challenge that looks, to the
// person and to the SP, like one Start began (the same pages, the same
// answers on failure), but reaches no one and never succeeds: no SMS is
// sent, no code or link can answer it. The gateway runs it for a number it
// will not challenge (not a subscriber, suspended, challenged too often),
// so that /authorize answers the same until possession is proven and
// cannot be used to tell those numbers apart.
type Decoy interface {
	StartDecoy(ctx context.Context, ch Challenge) (Started, error)
}

// Watcher is an authenticator that can tell, without deciding the
// challenge, whether the person has answered out of band (the link in the
// SMS tapped) or the challenge is over: the gateway's waiting page then
// moves on by itself. An authenticator that is not a Watcher has its
// waiting page move on at every poll, to see.
type Watcher interface {
	Answered(state []byte) bool
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

// LimitError is Start's error when it refuses to challenge the subscriber
// again so soon: at most Limit challenges per Window (an SMS sending limit,
// against SMS pumping). It is a refusal for this subscriber, not an outage:
// when no other authenticator can serve, the SP is told access_denied with
// when to retry, and the person's page says so.
type LimitError struct {
	Limit   int
	Window  time.Duration
	RetryAt time.Time
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("at most %d challenges per %v to one subscriber; the next from %s",
		e.Limit, e.Window, e.RetryAt.UTC().Format(time.RFC3339))
}

// Wrapper is an authenticator that wraps another (the node counts each
// authenticator's starts and checks with one): the gateway looks for the
// optional interfaces (Decoy, Watcher, PageServer) through the wrappers,
// on the authenticator itself.
type Wrapper interface {
	Unwrap() Authenticator
}

// optional finds the optional interface T on a or on what a wraps.
func optional[T any](a Authenticator) (T, bool) {
	for a != nil {
		if t, ok := a.(T); ok {
			return t, true
		}
		w, ok := a.(Wrapper)
		if !ok {
			break
		}
		a = w.Unwrap()
	}
	var zero T
	return zero, false
}
