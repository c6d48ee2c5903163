package idgw

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"

	"github.com/mcfed/mcfed/operator/state"
)

// PCRIndex remembers which subscriber each PCR (the sub an SP received) was
// issued for, so that login_hint=PCR:<pcr> can be resolved: a PCR is an
// HMAC and cannot be reversed. It is node-local and must survive restarts
// (the operator's subscriber store keeps it).
type PCRIndex interface {
	// RememberPCR records that clientID knows the subscriber msisdn as pcr.
	RememberPCR(ctx context.Context, clientID, pcr string, msisdn uint64) error
	// LookupPCR returns the number pcr was recorded for, or ErrUnknownPCR.
	LookupPCR(ctx context.Context, clientID, pcr string) (uint64, error)
}

// PCRIndexOps is a PCRIndex kept in the gateway's Store, whose entry the
// gateway writes with the login's code, in one step of the store (one
// commit, one round trip): RememberPCROps returns the writes that record
// pcr, none when it is recorded already.
type PCRIndexOps interface {
	RememberPCROps(ctx context.Context, clientID, pcr string, msisdn uint64) ([]state.Op, error)
}

// ErrUnknownPCR: no PCR of that value was issued to that client.
var ErrUnknownPCR = errors.New("unknown PCR")

// errPCRUnknown is what the SP hears for a PCR that names nobody now: never
// issued, issued to another SP, or issued to a subscriber who has since
// left (deleted, the number recycled, or ported to another operator). One
// answer for all, so the hint reveals nothing about former
// subscribers. The spec maps bad login hints to invalid_request.
func errPCRUnknown() *OAuthError {
	return ErrInvalidRequest("login_hint PCR does not name a subscriber of this operator for this client")
}

// resolvePCRHint turns r's PCR hint into the subscriber's number, and
// returns the subscriber it read (its PCR secret with it), which the login
// keeps. The index only says which number the PCR was issued for; the PCR
// is recomputed from that subscriber's current secret and must match, so
// the new holder of a deleted and recycled number (who has a new secret;
// deletion destroyed the old one) is never matched by the previous
// holder's PCR.
func (g *Gateway) resolvePCRHint(ctx context.Context, r *AuthRequest) (Subscriber, *OAuthError) {
	if g.cfg.PCRIndex == nil {
		return Subscriber{}, ErrInvalidRequest("login_hint PCR is not accepted by this operator")
	}
	n, err := g.cfg.PCRIndex.LookupPCR(ctx, r.ClientID, r.PCR)
	switch {
	case errors.Is(err, ErrUnknownPCR):
		return Subscriber{}, errPCRUnknown()
	case err != nil:
		return Subscriber{}, ErrServerError(fmt.Errorf("looking up a PCR: %w", err))
	}
	sub, err := g.cfg.Subscribers.Subscriber(ctx, n)
	switch {
	case errors.Is(err, ErrUnknownSubscriber):
		return Subscriber{}, errPCRUnknown() // deleted since: its secret is gone
	case err != nil:
		return Subscriber{}, ErrServerError(fmt.Errorf("reading a subscriber: %w", err))
	case subtle.ConstantTimeCompare([]byte(pcr(sub.PCRSecret, r.ClientID)), []byte(r.PCR)) != 1:
		return Subscriber{}, errPCRUnknown() // the number has a new holder
	}
	// The number must still be this operator's; one ported out since
	// gets the same answer as one deleted.
	if res, ok := g.cfg.Registry.Resolve(n); !ok || res.Operator == nil || res.Operator.ID != g.cfg.OperatorID {
		return Subscriber{}, errPCRUnknown()
	}
	r.MSISDN = n
	return sub, nil
}

// subject is a subscriber as one login knows it: derived from the PCR
// secret, read once when the login starts and carried to its end (the
// code, then the token), so that a login reads the store for it once. It
// holds the sub the login's client gets and the tag of the holder a
// browser session records; the secret itself is not kept.
type subject struct {
	pcr    string
	holder [sha256.Size]byte
}

func subjectOf(secret []byte, clientID string) subject {
	return subject{pcr: pcr(secret, clientID), holder: holderTag(secret)}
}

// rememberPCR records the sub that clientID receives for the subscriber,
// so a later PCR hint finds the subscriber. A failure is logged, not
// returned: the login itself succeeded, and only a later PCR hint will
// miss.
func (g *Gateway) rememberPCR(ctx context.Context, clientID string, msisdn uint64, pcr string) {
	if g.cfg.PCRIndex == nil {
		return
	}
	if err := g.cfg.PCRIndex.RememberPCR(ctx, clientID, pcr, msisdn); err != nil {
		g.log.Error("idgw: recording a PCR for PCR login hints", "client_id", clientID, "err", err)
	}
}

// rememberPCROps is rememberPCR for a caller about to write: the writes
// that record the PCR (none when it is recorded already), for its next
// step of the store, when the index is in the store (PCRIndexOps);
// otherwise it records the PCR now.
func (g *Gateway) rememberPCROps(ctx context.Context, clientID string, msisdn uint64, pcr string) []opOrErr {
	idx, ok := g.cfg.PCRIndex.(PCRIndexOps)
	if !ok {
		g.rememberPCR(ctx, clientID, msisdn, pcr)
		return nil
	}
	ops, err := idx.RememberPCROps(ctx, clientID, pcr, msisdn)
	if err != nil {
		g.log.Error("idgw: recording a PCR for PCR login hints", "client_id", clientID, "err", err)
	}
	out := make([]opOrErr, len(ops))
	for i, op := range ops {
		out[i] = opOf(op, nil)
	}
	return out
}
