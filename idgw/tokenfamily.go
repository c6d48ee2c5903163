package idgw

import "time"

// tokenFamily is everything one authorization code led to: the token pair
// the code issued and each pair its refreshes issued since (RFC 9700
// §4.14.2). Only the latest pair is live: a refresh spends the refresh
// token presented and ends the access token issued with it. Revoking the
// family (a rotated refresh token presented again, the code replayed, the
// client's revocation, a subscriber gone for good) ends its live pair at
// once, whatever refreshes happened since the code.
type tokenFamily struct {
	// clientID and msisdn say whose family it is, for a store that will
	// revoke a subscriber's families at an SP at once (consent withdrawal).
	clientID        string
	msisdn          uint64
	access, refresh storeKey // the live pair
}

// familyStore keeps the token families and the refresh tokens they have
// rotated. Each method is one step a durable store must make atomic
// (issue 17): today it is memory, as the tokens are.
type familyStore struct {
	live *ttlStore[tokenFamily]
	// rotated maps a spent refresh token to its family for as long as the
	// token would have lived, so that presenting it again is recognised.
	rotated *ttlStore[storeKey]
}

func newFamilyStore(now func() time.Time) *familyStore {
	return &familyStore{live: newTTLStore[tokenFamily](now), rotated: newTTLStore[storeKey](now)}
}

// start records a new family and returns its id. It lives as long as its
// refresh token.
func (s *familyStore) start(f tokenFamily) storeKey {
	id := tokenKey(newSecret())
	s.live.put(id, f, refreshTokenTTL)
	return id
}

// alive reports whether family id has not been revoked.
func (s *familyStore) alive(id storeKey) bool {
	_, ok := s.live.get(id)
	return ok
}

// advance makes access and refresh the live pair of family id, which then
// lives as long as the new refresh token, and returns the access token of
// the pair before; false when the family was revoked meanwhile.
func (s *familyStore) advance(id, access, refresh storeKey) (prev storeKey, ok bool) {
	ok = s.live.renew(id, func(f tokenFamily) tokenFamily {
		prev = f.access
		f.access, f.refresh = access, refresh
		return f
	}, refreshTokenTTL)
	return prev, ok
}

// spend remembers that refresh, a token of family id that lives until
// expires, was rotated.
func (s *familyStore) spend(refresh, id storeKey, expires time.Time) {
	if ttl := expires.Sub(s.rotated.now()); ttl > 0 {
		s.rotated.put(refresh, id, ttl)
	}
}

// rotatedFrom returns the family of refresh when it is a token rotated
// already.
func (s *familyStore) rotatedFrom(refresh storeKey) (storeKey, bool) {
	return s.rotated.get(refresh)
}

// end removes family id and returns it, once: the caller ends its pair.
func (s *familyStore) end(id storeKey) (tokenFamily, bool) {
	return s.live.take(id)
}

func (s *familyStore) sweep() {
	s.live.sweep()
	s.rotated.sweep()
}

// revokeFamily ends family id and its live pair: from then on none of the
// tokens the family ever issued is accepted anywhere.
func (g *Gateway) revokeFamily(id storeKey) {
	if f, ok := g.families.end(id); ok {
		g.access.delete(f.access)
		g.refresh.delete(f.refresh)
	}
}

// liveToken returns the token of store under key when it and its family
// are live: a revoked family's tokens are refused even before they are
// deleted.
func (g *Gateway) liveToken(store *ttlStore[*accessToken], key storeKey) (*accessToken, bool) {
	t, ok := store.get(key)
	if !ok || !g.families.alive(t.family) {
		return nil, false
	}
	return t, true
}
