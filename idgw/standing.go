package idgw

import (
	"context"
	"crypto/subtle"
	"errors"
	"time"
)

// lapse is why a token's subscriber may no longer use it.
type lapse struct {
	reason string
	// permanent: the subscriber is deleted, the number recycled or ported
	// out; the family is dropped, as it can never serve again. A
	// suspension is not: the tokens serve again once it is lifted.
	permanent bool
	// fault is set when the subscriber store failed: nobody's standing is
	// known, and the caller answers that it is unavailable.
	fault error
}

// subscriberStanding checks, at each use of a token of family id, that
// the subscriber it was issued for still may use it: the number still
// resolves to this operator (not ported out), the subscriber is the one
// who logged in (not deleted, the number not recycled) and is active (not
// suspended). It returns the subscriber as it read it, the PCR secret for
// the token's subject with it, for the rest of the request. A permanent
// lapse revokes the family, freeing its memory at once. The reads are the
// registry's in-memory resolution and one lookup of the subscriber store
// (its record and secret), cheap enough for every refresh, introspection
// and userinfo call; no event has to reach the gateway for a token to
// stop.
func (g *Gateway) subscriberStanding(ctx context.Context, t *accessToken) (Subscriber, *lapse) {
	if t.clientToken() {
		// A client_credentials token serves no subscriber's data.
		return Subscriber{}, &lapse{reason: "the token is the client's own and names no subscriber"}
	}
	sub, l := g.lapseOf(ctx, t)
	if l != nil && l.permanent {
		g.revokeFamily(ctx, t.family)
	}
	return sub, l
}

// lapseOf is subscriberStanding's check.
func (g *Gateway) lapseOf(ctx context.Context, t *accessToken) (Subscriber, *lapse) {
	if res, ok := g.cfg.Registry.Resolve(t.msisdn); !ok || res.Operator == nil || res.Operator.ID != g.cfg.OperatorID {
		return Subscriber{}, &lapse{reason: "the number is no longer this operator's", permanent: true}
	}
	sub, err := g.cfg.Subscribers.Standing(ctx, t.msisdn)
	if err != nil {
		return Subscriber{}, storeLapse(err)
	}
	switch h := holderTag(sub.PCRSecret); {
	case subtle.ConstantTimeCompare(h[:], t.holder[:]) != 1:
		return Subscriber{}, &lapse{reason: "the number has another holder now", permanent: true}
	case !sub.Active:
		return Subscriber{}, &lapse{reason: "the subscriber's account does not allow this"}
	case simChangedSince(sub, t.authTime, t.issued):
		// Whoever holds the new SIM is not known to be who logged in:
		// the login's tokens end for good (account takeover protection).
		return Subscriber{}, &lapse{reason: "the subscriber's SIM changed since the login", permanent: true}
	}
	return sub, nil
}

// simChangedSince reports whether sub's SIM changed after a login at
// authTime (or, for a token stored without it, after issued).
func simChangedSince(sub Subscriber, authTime, issued time.Time) bool {
	if authTime.IsZero() {
		authTime = issued
	}
	return !sub.SIMSwapAt.IsZero() && sub.SIMSwapAt.After(authTime)
}

// storeLapse is the lapse a subscriber store's error means: the
// subscriber deleted, or the store failing.
func storeLapse(err error) *lapse {
	if errors.Is(err, ErrUnknownSubscriber) {
		return &lapse{reason: "the subscriber is no longer known", permanent: true}
	}
	return &lapse{reason: "the subscriber store did not answer", fault: err}
}
