package idgw

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// ClaimsSource is the data gateway: it turns the scopes a subscriber granted
// into the claims userinfo or premiuminfo release. The operator's attribute
// sources sit behind it.
type ClaimsSource interface {
	Claims(ctx context.Context, q ClaimsQuery) (map[string]any, error)
}

// ClaimsQuery is one userinfo or premiuminfo request, after the bearer
// token was checked.
type ClaimsQuery struct {
	MSISDN uint64
	// Endpoint is "userinfo" or "premiuminfo".
	Endpoint string
	// Scopes are those granted with the token; Claims what the
	// authorization request's claims parameter asked for.
	Scopes []string
	Claims ClaimsRequest
}

// Throttle limits each client's userinfo and premiuminfo calls: Rate a
// second on average, Burst at once.
type Throttle struct {
	Rate  float64
	Burst int
}

// clientLimiter holds one token bucket per client id.
type clientLimiter struct {
	cfg Throttle
	mu  sync.Mutex
	m   map[string]*rate.Limiter
}

func newClientLimiter(t Throttle) *clientLimiter {
	if t.Rate <= 0 {
		t.Rate = 100
	}
	if t.Burst <= 0 {
		t.Burst = 200
	}
	return &clientLimiter{cfg: t, m: map[string]*rate.Limiter{}}
}

// allow reports whether the client may call now, and if not, after how long.
func (l *clientLimiter) allow(client string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	lim, ok := l.m[client]
	if !ok {
		lim = rate.NewLimiter(rate.Limit(l.cfg.Rate), l.cfg.Burst)
		l.m[client] = lim
	}
	l.mu.Unlock()
	r := lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// userInfo serves userinfo or premiuminfo (endpoint) to the bearer of the
// access token in authorization (the Authorization header): the token's
// granted scopes go to the data gateway; the subject is the token's PCR.
func (g *Gateway) userInfo(ctx context.Context, endpoint, authorization string) (map[string]any, *OAuthError) {
	h := authorization
	if len(h) < 7 || !strings.EqualFold(h[:7], "bearer ") {
		return nil, errNoAccessToken()
	}
	t, ok := g.access.get(tokenKey(strings.TrimSpace(h[7:])))
	if !ok {
		return nil, errInvalidToken("The access token is invalid, expired or revoked")
	}
	if ok, wait := g.limiter.allow(t.clientID, g.now()); !ok {
		return nil, errSlowDown(wait)
	}
	secret, err := g.cfg.Subscribers.PCRSecret(ctx, t.msisdn)
	if err != nil {
		return nil, errInvalidToken("The subscriber is no longer known").WithParent(err)
	}
	out := map[string]any{}
	if g.cfg.Claims != nil {
		out, err = g.cfg.Claims.Claims(ctx, ClaimsQuery{
			MSISDN: t.msisdn, Endpoint: endpoint, Scopes: t.scopes, Claims: t.claims,
		})
		if errors.Is(err, ErrUnknownSubscriber) {
			// Deleted or suspended since the token was issued.
			return nil, errInvalidToken("The subscriber's account does not allow this").WithParent(err)
		}
		if err != nil {
			return nil, newError(CodeTemporarilyUnavailable, "the attribute source did not answer").WithParent(err)
		}
	}
	out["sub"] = pcr(secret, t.clientID)
	return out, nil
}
