package idgw

import (
	"context"
	"errors"
	"time"
)

// Subscribers is the gateway's view of its operator's subscriber store.
//
// A request reads a subscriber once and passes what it read along (the
// login it starts, the claims it releases): each read is a round trip to
// the operator's state store.
type Subscribers interface {
	// Subscriber returns the subscriber with msisdn, its PCR secret and
	// its enrolments, or ErrUnknownSubscriber: what starting a login
	// needs, in one lookup.
	Subscriber(ctx context.Context, msisdn uint64) (Subscriber, error)
	// Standing is Subscriber without the enrolments (routing's alone):
	// what a token's use checks (subscriberStanding).
	Standing(ctx context.Context, msisdn uint64) (Subscriber, error)
	// PCRSecret is the subscriber's secret for pairwise customer
	// references (the ID token's sub): a new holder of a recycled number
	// gets a new one.
	PCRSecret(ctx context.Context, msisdn uint64) ([]byte, error)
}

// Subscriber is what the authorization server needs to know of one.
type Subscriber struct {
	MSISDN uint64
	// Active is false for a suspended or deleted subscriber: no login.
	Active bool
	// Enrolments are the authenticator enrolment types the subscriber has
	// ("sim-applet", "fido", ...), for routing.
	Enrolments []string
	// SIMSwapAt is when the subscriber's SIM last changed (the operator's
	// SIM-swap signal, for account takeover protection); zero when never.
	// A login authenticated before it no longer serves: tokens, single
	// sign-on.
	SIMSwapAt time.Time
	// PCRSecret is the subscriber's secret for PCRs (as PCRSecret gives
	// it), read with the record.
	PCRSecret []byte
	// Record is the subscriber store's own record, as this lookup read
	// it, for the data gateway (ClaimsQuery.Subscriber), which then need
	// not read it again; nil when the store gives none.
	Record any
}

// ErrUnknownSubscriber: the operator has no such subscriber.
var ErrUnknownSubscriber = errors.New("unknown subscriber")
