package idgw

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/mcfed/mcfed/registry"
)

// The client_credentials grant (RFC 6749 §4.4) for server-to-server APIs
// such as CAMARA's Telco Finder: the SP itself is the resource owner, so
// the token names no subscriber (no id_token, no refresh token; its sub
// at introspection is the client), and only private_key_jwt authenticates
// it (the CAMARA security profile).
const grantClientCredentials = "client_credentials"

// clientCredentialsGrant issues an access token to sp, authenticated by a
// client assertion, for the scopes it asks for among those it may use (all
// of them when it names none); openid is refused, there being no one to
// identify.
func (g *Gateway) clientCredentialsGrant(ctx context.Context, sp *registry.ServiceProvider, r tokenRequest) (*tokenResponse, *OAuthError) {
	if !r.form.Has("client_assertion") {
		return nil, newError(CodeUnauthorizedClient, "the client_credentials grant needs private_key_jwt client authentication")
	}
	var scopes []string
	raw := r.form.Get("scope")
	if raw == "" {
		for _, s := range sp.Scopes {
			if s != scopeOpenID {
				scopes = append(scopes, s)
			}
		}
	}
	for _, s := range strings.Fields(raw) {
		switch {
		case !validScopeToken(s):
			return nil, newError(CodeInvalidScope, "scope is malformed")
		case s == scopeOpenID:
			return nil, newError(CodeInvalidScope, "openid needs a subscriber's login: use the authorization code or CIBA grant")
		case !slices.Contains(sp.Scopes, s) && !isPurpose(s):
			return nil, newError(CodeInvalidScope, "a requested scope is not allowed for this client")
		case !slices.Contains(scopes, s):
			scopes = append(scopes, s)
		}
	}
	if len(scopes) == 0 {
		return nil, newError(CodeInvalidScope, "the client may use no scope without a subscriber")
	}
	now := g.now()
	access := newSecret()
	// A family of its own, so that revoking the token ends it as it ends
	// any other (tokenFamily).
	family, ops := g.families.startOps(tokenFamily{clientID: sp.ClientID, access: tokenKey(access)})
	t := accessToken{clientID: sp.ClientID, scopes: scopes, issued: now, expires: now.Add(accessTokenTTL), family: family}
	ops = append(ops, opOf(g.access.putOp(tokenKey(access), &t, accessTokenTTL)))
	if err := writeAll(ctx, g.cfg.Store, ops...); err != nil {
		return nil, ErrServerError(fmt.Errorf("storing an access token: %w", err))
	}
	return &tokenResponse{AccessToken: access, TokenType: "Bearer", ExpiresIn: int(accessTokenTTL.Seconds()),
		Scope: strings.Join(scopes, " ")}, nil
}

// clientToken says t is the client's own (client_credentials): it names
// no subscriber.
func (t *accessToken) clientToken() bool { return t.msisdn == 0 }

func isPurpose(s string) bool { _, ok := purposeOf(s); return ok }
