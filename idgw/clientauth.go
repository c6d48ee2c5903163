package idgw

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"slices"
	"time"

	"github.com/mcfed/mcfed/internal/jose"
	"github.com/mcfed/mcfed/operator/state"
	"github.com/mcfed/mcfed/registry"
)

// Client authentication with a signed JWT, private_key_jwt (OIDC Core §9,
// RFC 7523 §2.2 and §3, RFC 7521 §4.2): the SP signs a short-lived
// assertion with a key it registered (ServiceProvider.JWKS inline, or
// published at JWKSURI) and sends it as client_assertion.

// clientAssertionType is the only client_assertion_type there is for JWTs.
const clientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

const (
	// assertionMaxAhead bounds exp: an assertion is good for at most ten
	// minutes from when it arrives, whatever it says. Clients make them
	// for one request (Nimbus and Spring default to one to five minutes,
	// CAMARA asks exp-iat <= 300 s); the bound also bounds how long a jti
	// is remembered, so the replay set cannot grow without limit.
	assertionMaxAhead = 10 * time.Minute
	// assertionSkew is the clock difference tolerated on exp, iat and nbf.
	assertionSkew   = time.Minute
	maxAssertionLen = 8 << 10
	maxJTILen       = 256
)

// assertionAlgs are the algorithms a client may sign with: asymmetric ones
// only, so the shared secret can never stand in for a key (no HS256), and
// never "none".
var assertionAlgs = []jose.Alg{jose.RS256, jose.PS256, jose.ES256}

// clientAuthMethods are the client authentication methods of the token,
// revocation and introspection endpoints, as the metadata announces them.
var clientAuthMethods = []string{"client_secret_basic", "client_secret_post", "private_key_jwt"}

func assertionAlgNames() []string {
	out := make([]string, len(assertionAlgs))
	for i, a := range assertionAlgs {
		out[i] = string(a)
	}
	return out
}

// errBadAssertion is the 401 invalid_client of RFC 7521 §4.2.1, saying what
// was wrong with the assertion.
func errBadAssertion(format string, args ...any) *OAuthError {
	return newError(CodeInvalidClient, "client assertion: "+fmt.Sprintf(format, args...))
}

// assertionClaims are the claims of a client assertion the gateway checks.
// Times are JSON numbers, possibly fractional (RFC 7519 NumericDate).
type assertionClaims struct {
	Iss string    `json:"iss"`
	Sub string    `json:"sub"`
	Aud audiences `json:"aud"`
	Exp *float64  `json:"exp"`
	Iat *float64  `json:"iat"`
	Nbf *float64  `json:"nbf"`
	JTI string    `json:"jti"`
}

// audiences is "aud", a string or an array of strings (RFC 7519 §4.1.3).
type audiences []string

func (a *audiences) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*a = audiences{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return errors.New("aud must be a string or an array of strings")
	}
	*a = many
	return nil
}

// endpoint is an endpoint where clients authenticate.
type endpoint int

const (
	tokenEndpoint endpoint = iota
	revocationEndpoint
	introspectionEndpoint
	backchannelEndpoint
)

// name is the endpoint's name in logs and observations.
func (e endpoint) name() string {
	switch e {
	case revocationEndpoint:
		return endpointRevoke
	case introspectionEndpoint:
		return endpointIntrospect
	case backchannelEndpoint:
		return endpointBackchannel
	}
	return endpointToken
}

// audiences is what an assertion sent to e may name as its aud: the token
// endpoint (RFC 7523 §3 and OIDC Core §9 name it), the issuer, or e itself.
func (g *Gateway) audiences(o *registry.Operator, e endpoint) []string {
	u := o.URLs()
	out := []string{u.Token, o.Issuer}
	switch e {
	case revocationEndpoint:
		out = append(out, u.Revocation)
	case introspectionEndpoint:
		out = append(out, g.paths.introspection)
	case backchannelEndpoint:
		out = append(out, g.backchannelURL())
	}
	return out
}

// authenticateAssertion authenticates the client of a request to e
// carrying client_assertion.
func (g *Gateway) authenticateAssertion(ctx context.Context, form url.Values, e endpoint) (*registry.ServiceProvider, *OAuthError) {
	assertion, typ := form.Get("client_assertion"), form.Get("client_assertion_type")
	switch {
	case assertion == "" || typ == "":
		return nil, errTokenRequest("client_assertion and client_assertion_type go together")
	case typ != clientAssertionType:
		return nil, errBadAssertion("client_assertion_type must be %s", clientAssertionType)
	case len(assertion) > maxAssertionLen:
		return nil, errBadAssertion("longer than %d bytes", maxAssertionLen)
	}
	// Which client it claims to be picks the keys; nothing else of the
	// unverified payload is used.
	var claimed struct {
		Sub string `json:"sub"`
	}
	raw, err := jose.UnverifiedPayload(assertion)
	if err != nil || json.Unmarshal(raw, &claimed) != nil || claimed.Sub == "" {
		return nil, errBadAssertion("not a signed JWT with a sub claim")
	}
	if id := form.Get("client_id"); id != "" && id != claimed.Sub {
		return nil, errBadAssertion("sub is not the client_id of the request")
	}
	sp := g.cfg.Registry.ServiceProvider(claimed.Sub)
	if sp == nil || sp.Status != registry.StatusActive || !sp.Accepts(g.cfg.OperatorID) {
		return nil, errInvalidClient(false)
	}
	now := g.now()
	payload, terr := g.clientAuth.verify(ctx, g.jwksFetcher(), sp, assertion, now)
	if terr != nil {
		return nil, terr
	}
	var c assertionClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, errBadAssertion("claims: %v", err)
	}
	o, err := g.operator()
	if err != nil {
		return nil, errOperatorUnregistered(err)
	}
	if terr := checkAssertionClaims(&c, sp.ClientID, g.audiences(o, e), now); terr != nil {
		return nil, terr
	}
	// Last, once everything else holds: a refused assertion does not spend
	// its jti.
	fresh, err := g.claimAssertion(ctx, sp.ClientID+"\x00"+c.JTI, seconds(*c.Exp).Add(assertionSkew))
	if err != nil {
		return nil, ErrServerError(fmt.Errorf("recording an assertion's jti: %w", err))
	}
	if !fresh {
		return nil, errBadAssertion("its jti was already used: make a new assertion for each request")
	}
	return sp, nil
}

// checkAssertionClaims checks a verified assertion's claims (RFC 7523 §3).
func checkAssertionClaims(c *assertionClaims, clientID string, audience []string, now time.Time) *OAuthError {
	switch {
	case c.Iss != clientID || c.Sub != clientID:
		return errBadAssertion("iss and sub must both be the client_id")
	case !slices.ContainsFunc(c.Aud, func(a string) bool { return a != "" && slices.Contains(audience, a) }):
		return errBadAssertion("aud must name this token endpoint (%s) or the issuer", audience[0])
	case c.Exp == nil:
		return errBadAssertion("exp is required")
	case !now.Before(seconds(*c.Exp).Add(assertionSkew)):
		return errBadAssertion("expired")
	case seconds(*c.Exp).After(now.Add(assertionMaxAhead + assertionSkew)):
		return errBadAssertion("exp is more than %s ahead: make assertions for one request", assertionMaxAhead)
	case c.Iat != nil && seconds(*c.Iat).After(now.Add(assertionSkew)):
		return errBadAssertion("iat is in the future")
	case c.Nbf != nil && seconds(*c.Nbf).After(now.Add(assertionSkew)):
		return errBadAssertion("not valid yet (nbf)")
	case c.JTI == "" || len(c.JTI) > maxJTILen:
		return errBadAssertion("jti is required, at most %d characters", maxJTILen)
	}
	return nil
}

// seconds converts a NumericDate; out-of-range values saturate, so they
// fail the checks instead of wrapping around.
func seconds(v float64) time.Time {
	switch {
	case v > math.MaxInt64/2/1e9:
		return time.Unix(0, math.MaxInt64/2)
	case v < 0:
		return time.Unix(0, 0)
	}
	return time.Unix(0, int64(v*1e9))
}

// clientAuthState is what private_key_jwt keeps on a node: the SPs' key
// sets and the assertions already used. Nothing of it is replicated: an
// assertion names one operator's token endpoint, which only that
// operator's node serves.
type clientAuthState struct {
	keys *spKeySets
}

func newClientAuthState() *clientAuthState {
	return &clientAuthState{keys: newSPKeySets()}
}

// verify checks the assertion's signature with the SP's keys, fetching
// them again once if the assertion names a key the cached set lacks (the
// SP rotated its keys).
func (s *clientAuthState) verify(ctx context.Context, f *jwksFetcher, sp *registry.ServiceProvider, assertion string, now time.Time) ([]byte, *OAuthError) {
	set, err := s.keys.get(ctx, f, sp, now, false)
	if err != nil {
		return nil, errBadAssertion("%v", err)
	}
	payload, _, err := jose.Verify(assertion, set, assertionAlgs...)
	if errors.Is(err, jose.ErrUnknownKid) && sp.JWKSURI != "" {
		if set, err = s.keys.get(ctx, f, sp, now, true); err != nil {
			return nil, errBadAssertion("%v", err)
		}
		payload, _, err = jose.Verify(assertion, set, assertionAlgs...)
	}
	switch {
	case errors.Is(err, jose.ErrAlgNotAllowed), errors.Is(err, jose.ErrUnsupportedAlg):
		return nil, errBadAssertion("sign with RS256, PS256 or ES256 and a registered key")
	case errors.Is(err, jose.ErrUnknownKid):
		return nil, errBadAssertion("kid is not one of the client's registered keys")
	case err != nil:
		return nil, errBadAssertion("the signature does not verify")
	}
	return payload, nil
}

// claimAssertion records the assertion key (client and jti) until expires
// and reports whether it was new: of the claims of one key on any of the
// operator's nodes, one wins (OIDC Core §9: jti).
func (g *Gateway) claimAssertion(ctx context.Context, key string, expires time.Time) (bool, error) {
	k := tokenKey("mcfed-jti\x00" + key)
	err := g.cfg.Store.Create(ctx, "idgw.jti", k[:], nil, expires)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, state.ErrExists):
		return false, nil
	}
	return false, err
}
