package idgw

import (
	"context"
	"net/url"
	"strings"

	"github.com/mcfed/mcfed/registry"
)

// refreshGrant swaps a refresh token for a new access token and a new
// refresh token (rotation: the old refresh token is spent), for the client
// it was issued to only.
func (g *Gateway) refreshGrant(sp *registry.ServiceProvider, form url.Values) (*tokenResponse, *OAuthError) {
	key := tokenKey(form.Get("refresh_token"))
	// Check the owner before spending the token: another client's attempt
	// must not destroy it. take then settles concurrent refreshes: one wins.
	old, ok := g.refresh.get(key)
	if ok && old.clientID == sp.ClientID {
		old, ok = g.refresh.take(key)
	}
	if !ok || old.clientID != sp.ClientID {
		return nil, errInvalidGrant("the refresh token is invalid, expired or not this client's")
	}
	g.access.delete(old.sibling)
	access, refresh := newSecret(), newSecret()
	// The new pair carries only what the SP still holds: an operator's
	// policy may have narrowed its scopes since the login.
	scopes := stillGranted(old.scopes, sp)
	g.storePair(g.now(), old.clientID, old.msisdn, scopes, old.claims, old.acr, access, refresh)
	return &tokenResponse{
		AccessToken: access, TokenType: "Bearer", ExpiresIn: int(accessTokenTTL.Seconds()),
		RefreshToken: refresh, Scope: strings.Join(scopes, " "),
	}, nil
}

// lookupToken finds an access or refresh token, the hint choosing which
// store is searched first (RFC 7009 §2.1).
func (g *Gateway) lookupToken(token, hint string) (key storeKey, t *accessToken, ok bool) {
	key = tokenKey(token)
	order := []*ttlStore[*accessToken]{g.access, g.refresh}
	if hint == "refresh_token" {
		order[0], order[1] = order[1], order[0]
	}
	for _, s := range order {
		if t, ok := s.get(key); ok {
			return key, t, true
		}
	}
	return storeKey{}, nil, false
}

// revoke is RFC 7009 revocation: a client revokes its own access or
// refresh token, and the token issued with it goes too. The answer is 200
// whether or not the token was known, so it reveals nothing.
func (g *Gateway) revoke(ctx context.Context, r tokenRequest) *OAuthError {
	form := r.form
	sp, terr := g.authenticateClient(ctx, r, revocationEndpoint)
	if terr != nil {
		return terr
	}
	if form.Get("token") == "" {
		return errTokenRequest("token is required")
	}
	if key, t, ok := g.lookupToken(form.Get("token"), form.Get("token_type_hint")); ok && t.clientID == sp.ClientID {
		for _, s := range []*ttlStore[*accessToken]{g.access, g.refresh} {
			s.delete(key)
			s.delete(t.sibling)
		}
	}
	return nil
}

// introspect is RFC 7662 introspection, for the client a token was issued
// to; to anyone else every token is inactive. The answer is a map, so it
// marshals with its keys sorted.
func (g *Gateway) introspect(ctx context.Context, r tokenRequest) (map[string]any, *OAuthError) {
	form := r.form
	sp, terr := g.authenticateClient(ctx, r, introspectionEndpoint)
	if terr != nil {
		return nil, terr
	}
	inactive := map[string]any{"active": false}
	_, t, ok := g.lookupToken(form.Get("token"), form.Get("token_type_hint"))
	if !ok || t.clientID != sp.ClientID {
		return inactive, nil
	}
	secret, err := g.cfg.Subscribers.PCRSecret(ctx, t.msisdn)
	if err != nil {
		return inactive, nil
	}
	typ := "access_token"
	if t.refresh {
		typ = "refresh_token"
	}
	return map[string]any{
		"active": true, "scope": strings.Join(t.scopes, " "), "client_id": t.clientID,
		"sub": pcr(secret, t.clientID), "exp": t.expires.Unix(), "iat": t.issued.Unix(),
		"token_type": typ, "acr": t.acr,
	}, nil
}
