package idgw

import (
	"context"
	"time"
)

// tokenFamily is everything one authorization code led to: the token pair
// the code issued and each pair its refreshes issued since (RFC 9700
// §4.14.2). Only the latest pair is live: a refresh spends the refresh
// token presented and ends the access token issued with it. Revoking the
// family (a rotated refresh token presented again, the code replayed, the
// client's revocation, a subscriber gone for good) ends its live pair at
// once, whatever refreshes happened since the code.
type tokenFamily struct {
	// clientID and msisdn say whose family it is.
	clientID        string
	msisdn          uint64
	access, refresh storeKey // the live pair
}

// familyStore keeps the token families and the refresh tokens they have
// rotated. Each method is one atomic step of the store.
type familyStore struct {
	live *table[tokenFamily]
	// rotated maps a spent refresh token to its family for as long as the
	// token would have lived, so that presenting it again is recognised.
	rotated *table[storeKey]
}

// start records a new family and returns its id. It lives as long as its
// refresh token.
func (s *familyStore) start(ctx context.Context, f tokenFamily) (storeKey, error) {
	id := tokenKey(newSecret())
	return id, s.live.put(ctx, id, f, refreshTokenTTL)
}

// alive reports whether family id has not been revoked.
func (s *familyStore) alive(ctx context.Context, id storeKey) bool {
	_, ok := s.live.get(ctx, id)
	return ok
}

// advance makes access and refresh the live pair of family id, which then
// lives as long as the new refresh token, and returns the access token of
// the pair before; errGone when the family was revoked meanwhile.
func (s *familyStore) advance(ctx context.Context, id, access, refresh storeKey) (prev storeKey, err error) {
	err = s.live.update(ctx, id, refreshTokenTTL, func(f tokenFamily) (tokenFamily, error) {
		prev = f.access
		f.access, f.refresh = access, refresh
		return f, nil
	})
	return prev, err
}

// spend remembers that refresh, a token of family id that lives until
// expires, was rotated.
func (s *familyStore) spend(ctx context.Context, refresh, id storeKey, expires time.Time) error {
	if ttl := expires.Sub(s.rotated.now()); ttl > 0 {
		return s.rotated.put(ctx, refresh, id, ttl)
	}
	return nil
}

// rotatedFrom returns the family of refresh when it is a token rotated
// already.
func (s *familyStore) rotatedFrom(ctx context.Context, refresh storeKey) (storeKey, bool) {
	return s.rotated.get(ctx, refresh)
}

// end removes family id and returns it, once: the caller ends its pair.
func (s *familyStore) end(ctx context.Context, id storeKey) (tokenFamily, bool) {
	return s.live.take(ctx, id)
}

// revokeFamily ends family id and its live pair: from then on none of the
// tokens the family ever issued is accepted anywhere (liveToken checks the
// family, so a pair whose deletion failed is refused all the same).
func (g *Gateway) revokeFamily(ctx context.Context, id storeKey) {
	if f, ok := g.families.end(ctx, id); ok {
		g.access.delete(ctx, f.access)
		g.refresh.delete(ctx, f.refresh)
	}
}

// liveToken returns the token of store under key when it and its family
// are live: a revoked family's tokens are refused even before they are
// deleted.
func (g *Gateway) liveToken(ctx context.Context, store *table[*accessToken], key storeKey) (*accessToken, bool) {
	t, ok := store.get(ctx, key)
	if !ok || !g.families.alive(ctx, t.family) {
		return nil, false
	}
	return t, true
}
