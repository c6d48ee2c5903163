package idgw

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/mcfed/mcfed/registry"
)

// refreshGrant swaps a refresh token for a new access token and a new
// refresh token of the same family, for the client it was issued to only
// (rotation, RFC 9700 §4.14.2: the old refresh token is spent and the
// access token issued with it ends). A spent refresh token presented
// again means two parties hold the family's tokens: the whole family is
// revoked, the latest pair included, and the answer is invalid_grant. The
// subscriber's standing is checked at each refresh (subscriberStanding).
func (g *Gateway) refreshGrant(ctx context.Context, sp *registry.ServiceProvider, form url.Values) (*tokenResponse, *OAuthError) {
	key := tokenKey(form.Get("refresh_token"))
	refused := errInvalidGrant("the refresh token is invalid, expired or not this client's")
	old, ok := g.liveToken(ctx, g.refresh, key)
	if !ok {
		if r, spent := g.families.rotatedFrom(ctx, key); spent {
			if g.now().Sub(r.at) < refreshRetryGrace {
				g.log.Info("token: a refresh token rotated a moment ago was presented again; refused, its family kept",
					"client_id", sp.ClientID)
				return nil, errInvalidGrant("the refresh token was already used")
			}
			g.revokeFamily(ctx, r.family)
			g.log.Warn("token: a rotated refresh token was presented again; its family is revoked",
				"client_id", sp.ClientID)
			return nil, errInvalidGrant("the refresh token was already used")
		}
		return nil, refused
	}
	// Check the owner and the standing before spending the token: another
	// client's attempt must not destroy it, and a suspended subscriber's
	// token serves again once the suspension is lifted.
	if old.clientID != sp.ClientID {
		return nil, refused
	}
	if _, l := g.subscriberStanding(ctx, old); l != nil {
		if l.fault != nil {
			return nil, ErrServerError(l.fault)
		}
		return nil, errInvalidGrant(l.reason)
	}
	// take settles concurrent refreshes: one wins, the others are refused
	// without revoking (a client retrying is not a thief).
	if old, ok = g.refresh.take(ctx, key); !ok {
		return nil, refused
	}
	access, refresh := newSecret(), newSecret()
	next := *old
	// The new pair carries only what the SP still holds: an operator's
	// policy may have narrowed its scopes since the login.
	next.scopes = stillGranted(old.scopes, sp)
	// The spent token's marker and the new pair, together.
	ops := append(g.families.spendOps(key, old.family, old.expires), g.pairOps(g.now(), next, access, refresh)...)
	if err := writeAll(ctx, g.cfg.Store, ops...); err != nil {
		// Not knowing the token as spent would let its replay pass
		// unnoticed: the family ends instead.
		g.revokeFamily(ctx, old.family)
		return nil, ErrServerError(fmt.Errorf("recording a rotated refresh token: %w", err))
	}
	prev, err := g.families.advance(ctx, old.family, tokenKey(access), tokenKey(refresh))
	if err != nil {
		// Revoked while we refreshed: the new pair goes with it.
		g.access.delete(ctx, tokenKey(access))
		g.refresh.delete(ctx, tokenKey(refresh))
		if errors.Is(err, errGone) {
			return nil, errInvalidGrant("the refresh token was revoked")
		}
		return nil, ErrServerError(fmt.Errorf("advancing a token family: %w", err))
	}
	g.access.delete(ctx, prev)
	return &tokenResponse{
		AccessToken: access, TokenType: "Bearer", ExpiresIn: int(accessTokenTTL.Seconds()),
		RefreshToken: refresh, Scope: strings.Join(next.scopes, " "),
	}, nil
}

// lookupToken finds an access or refresh token, the hint choosing which
// store is searched first (RFC 7009 §2.1).
func (g *Gateway) lookupToken(ctx context.Context, token, hint string) (*accessToken, bool) {
	key := tokenKey(token)
	order := []*table[*accessToken]{g.access, g.refresh}
	if hint == "refresh_token" {
		order[0], order[1] = order[1], order[0]
	}
	for _, s := range order {
		if t, ok := g.liveToken(ctx, s, key); ok {
			return t, true
		}
	}
	return nil, false
}

// revoke is RFC 7009 revocation: a client revokes its own access or
// refresh token, and its family goes too: every token the login led to.
// The answer is 200 whether or not the token was known, so it reveals
// nothing.
func (g *Gateway) revoke(ctx context.Context, r tokenRequest) *OAuthError {
	form := r.form
	sp, terr := g.authenticateClient(ctx, r, revocationEndpoint)
	if terr != nil {
		return terr
	}
	if form.Get("token") == "" {
		return errTokenRequest("token is required")
	}
	if t, ok := g.lookupToken(ctx, form.Get("token"), form.Get("token_type_hint")); ok && t.clientID == sp.ClientID {
		g.revokeFamily(ctx, t.family)
	}
	return nil
}

// introspect is RFC 7662 introspection, for the client a token was issued
// to; to anyone else every token is inactive, and so is a token whose
// subscriber may no longer use it (subscriberStanding). The answer is a
// map, so it marshals with its keys sorted.
func (g *Gateway) introspect(ctx context.Context, r tokenRequest) (map[string]any, *OAuthError) {
	form := r.form
	sp, terr := g.authenticateClient(ctx, r, introspectionEndpoint)
	if terr != nil {
		return nil, terr
	}
	inactive := map[string]any{"active": false}
	t, ok := g.lookupToken(ctx, form.Get("token"), form.Get("token_type_hint"))
	if !ok || t.clientID != sp.ClientID {
		return inactive, nil
	}
	if t.clientToken() {
		return withPurpose(map[string]any{
			"active": true, "scope": strings.Join(t.scopes, " "), "client_id": t.clientID,
			"sub": t.clientID, "exp": t.expires.Unix(), "iat": t.issued.Unix(), "token_type": "access_token",
		}, t.scopes), nil
	}
	sub, l := g.subscriberStanding(ctx, t)
	switch {
	case l != nil && l.fault != nil:
		return nil, ErrServerError(l.fault)
	case l != nil:
		return inactive, nil
	}
	typ := "access_token"
	if t.refresh {
		typ = "refresh_token"
	}
	return withPurpose(map[string]any{
		"active": true, "scope": strings.Join(t.scopes, " "), "client_id": t.clientID,
		"sub": pcr(sub.PCRSecret, t.clientID), "exp": t.expires.Unix(), "iat": t.issued.Unix(),
		"token_type": typ, "acr": t.acr,
	}, t.scopes), nil
}
