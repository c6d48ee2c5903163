package idgw

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/mcfed/mcfed/internal/budget"
	"github.com/mcfed/mcfed/registry"
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
	// Subscriber is the subscriber as this request read it (its
	// standing), whose Record a source may release from instead of
	// reading it again.
	Subscriber *Subscriber
}

// Throttle limits each client's userinfo and premiuminfo calls: Rate a
// second on average, Burst at once (default 100 a second, 200 at once),
// unless the catalogue's API of the endpoint says otherwise (apilimits.go).
type Throttle = budget.Throttle

var defaultClientThrottle = Throttle{Rate: 100, Burst: 200}

// bearerRequest is what userinfo and premiuminfo read of an HTTP request:
// the Authorization header, and the access_token of a form body (RFC 6750
// §2.2: a POST of application/x-www-form-urlencoded), when there is one.
type bearerRequest struct {
	authorization string
	formToken     []string
}

// bearerToken is the access token of r, by exactly one of RFC 6750's
// methods (§2: a client must not use more than one).
func (r bearerRequest) bearerToken() (string, *OAuthError) {
	h := r.authorization
	header := len(h) >= 7 && strings.EqualFold(h[:7], "bearer ")
	switch {
	case len(r.formToken) > 1 || (header && len(r.formToken) > 0):
		return "", errTokenRequest("send the access token once: in the Authorization header or in the form body")
	case header:
		return strings.TrimSpace(h[7:]), nil
	case len(r.formToken) == 1 && r.formToken[0] != "":
		return r.formToken[0], nil
	}
	return "", errNoAccessToken()
}

// userInfo serves userinfo or premiuminfo (endpoint) to the bearer of the
// access token: the token's granted scopes, narrowed to those the SP still
// holds, go to the data gateway; the subject is the token's PCR. The SP's
// and the subscriber's standing are read again at every call: a token of
// an SP suspended, no longer accepted or declined by the operator since,
// or of a subscriber suspended, deleted or ported out since, is
// invalid_token (subscriberStanding).
func (g *Gateway) userInfo(ctx context.Context, endpoint string, r bearerRequest) (map[string]any, *OAuthError) {
	raw, oerr := r.bearerToken()
	if oerr != nil {
		return nil, oerr
	}
	t, ok := g.liveToken(ctx, g.access, tokenKey(raw))
	if !ok {
		return nil, errInvalidToken("The access token is invalid, expired or revoked")
	}
	sp := g.standingClient(t.clientID)
	if sp == nil {
		return nil, errInvalidToken("The client may no longer use this token")
	}
	if ok, wait := g.endpointLimiter(endpoint).Take(t.clientID); !ok {
		return nil, errSlowDown(wait)
	}
	sub, l := g.subscriberStanding(ctx, t)
	switch {
	case l != nil && l.fault != nil:
		return nil, newError(CodeTemporarilyUnavailable, "the subscriber store did not answer").WithParent(l.fault)
	case l != nil:
		return nil, errInvalidToken("The subscriber may no longer use this token: " + l.reason)
	}
	out := map[string]any{}
	var err error
	if g.cfg.Claims != nil {
		out, err = g.cfg.Claims.Claims(ctx, ClaimsQuery{
			MSISDN: t.msisdn, Endpoint: endpoint, Scopes: stillGranted(t.scopes, sp), Claims: t.claims, Subscriber: &sub,
		})
		if errors.Is(err, ErrUnknownSubscriber) {
			// Deleted or suspended since the token was issued.
			return nil, errInvalidToken("The subscriber's account does not allow this").WithParent(err)
		}
		if err != nil {
			return nil, newError(CodeTemporarilyUnavailable, "the attribute source did not answer").WithParent(err)
		}
	}
	out["sub"] = pcr(sub.PCRSecret, t.clientID)
	return out, nil
}

// standingClient is the SP clientID as the operator sees it now, or nil
// when it may no longer use what it was issued: unknown, suspended, no
// longer accepted, or declined by the operator's policy (the registry view
// answers nil for a declined SP).
func (g *Gateway) standingClient(clientID string) *registry.ServiceProvider {
	sp := g.cfg.Registry.ServiceProvider(clientID)
	if sp == nil || sp.Status != registry.StatusActive || !sp.Accepts(g.cfg.OperatorID) {
		return nil
	}
	return sp
}

// stillGranted narrows granted scopes to those sp still holds (an
// operator's policy may have narrowed them since); openid always stays.
func stillGranted(granted []string, sp *registry.ServiceProvider) []string {
	out := make([]string, 0, len(granted))
	for _, s := range granted {
		if s == scopeOpenID || slices.Contains(sp.Scopes, s) {
			out = append(out, s)
		}
	}
	return out
}
