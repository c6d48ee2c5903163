package idgw

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/mcfed/mcfed/operator/state"
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
	// sid is the session id of the login (its ID token's sid claim): a
	// logout of that session ends the family.
	sid string
}

// familyStore keeps the token families and the refresh tokens they have
// rotated. Each method is one atomic step of the store.
type familyStore struct {
	store Store
	live  *table[tokenFamily]
	// rotated maps a spent refresh token to its family, and when it was
	// spent, for as long as the token would have lived, so that
	// presenting it again is recognised.
	rotated *table[rotation]
}

// familyBySPKind indexes the families by subscriber and SP: key
// "<msisdn>|<client_id>|<family id, hex>", no value, living as long as
// the family. A consent withdrawal or a logout finds a subscriber's
// families at one SP by a Scan of "<msisdn>|<client_id>|".
const familyBySPKind state.Kind = "idgw.family-by-sp"

func familyIndexPrefix(msisdn uint64, clientID string) []byte {
	return []byte(strconv.FormatUint(msisdn, 10) + "|" + clientID + "|")
}

func familyIndexKey(f tokenFamily, id storeKey) []byte {
	return append(familyIndexPrefix(f.msisdn, f.clientID), hex.EncodeToString(id[:])...)
}

// startOps are the writes that record a new family, and its entry in the
// index by subscriber and SP, and its id. It lives as long as its
// refresh token.
func (s *familyStore) startOps(f tokenFamily) (storeKey, []opOrErr) {
	id := tokenKey(newSecret())
	return id, []opOrErr{
		{op: state.Op{Kind: familyBySPKind, Key: familyIndexKey(f, id), Expires: s.live.now().Add(refreshTokenTTL)}},
		opOf(s.live.putOp(id, f, refreshTokenTTL)),
	}
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
	var fam tokenFamily
	err = s.live.update(ctx, id, refreshTokenTTL, func(f tokenFamily) (tokenFamily, error) {
		prev = f.access
		f.access, f.refresh = access, refresh
		fam = f
		return f, nil
	})
	if err == nil {
		// The index entry lives as long as the family now does.
		err = s.store.Put(ctx, familyBySPKind, familyIndexKey(fam, id), nil, s.live.now().Add(refreshTokenTTL))
	}
	return prev, err
}

// spendOps are the writes that remember that refresh, a token of family
// id that lives until expires, was rotated.
func (s *familyStore) spendOps(refresh, id storeKey, expires time.Time) []opOrErr {
	now := s.rotated.now()
	if ttl := expires.Sub(now); ttl > 0 {
		return []opOrErr{opOf(s.rotated.putOp(refresh, rotation{family: id, at: now}, ttl))}
	}
	return nil
}

// rotatedFrom returns the rotation of refresh when it is a token rotated
// already.
func (s *familyStore) rotatedFrom(ctx context.Context, refresh storeKey) (rotation, bool) {
	return s.rotated.get(ctx, refresh)
}

// rotation is a spent refresh token's record: its family and when it was
// spent.
type rotation struct {
	family storeKey
	at     time.Time
}

// rotationCodec stores a rotation as the family's 32 bytes and the time
// in Unix nanoseconds (8 bytes, big-endian).
var rotationCodec = codec[rotation]{
	enc: func(r rotation) ([]byte, error) {
		return binary.BigEndian.AppendUint64(append([]byte(nil), r.family[:]...), uint64(r.at.UnixNano())), nil
	},
	dec: func(b []byte) (rotation, error) {
		var r rotation
		if len(b) != len(r.family)+8 {
			return r, fmt.Errorf("idgw: a stored rotation has %d bytes", len(b))
		}
		copy(r.family[:], b)
		r.at = time.Unix(0, int64(binary.BigEndian.Uint64(b[len(r.family):])))
		return r, nil
	},
}

// refreshRetryGrace is how long after a rotation the rotated token is
// refused without revoking its family: a client that sent one refresh
// twice at once (a retry racing the first) is not a thief. Presented
// later, it is (RFC 9700 §4.14.2), as is a token whose rotation the store
// recorded before this field existed.
const refreshRetryGrace = 2 * time.Second

// end removes family id and its index entry and returns it, once: the
// caller ends its pair.
func (s *familyStore) end(ctx context.Context, id storeKey) (tokenFamily, bool) {
	f, ok := s.live.take(ctx, id)
	if ok {
		if err := s.store.Delete(ctx, familyBySPKind, familyIndexKey(f, id)); err != nil {
			s.live.log.Error("state store: a family's index entry was not deleted", "error", err)
		}
	}
	return f, ok
}

// endFamiliesAt revokes the families of subscriber msisdn at clientID
// (those of session sid only, when sid is not nil) and returns the
// distinct session ids of those it ended. It reads the index by
// subscriber and SP: no other state is searched.
func (g *Gateway) endFamiliesAt(ctx context.Context, msisdn uint64, clientID string, sid *string) ([]string, error) {
	prefix := familyIndexPrefix(msisdn, clientID)
	var sids []string
	var after []byte
	for {
		es, err := g.cfg.Store.Scan(ctx, familyBySPKind, prefix, after, 100)
		if err != nil {
			return sids, fmt.Errorf("finding the subscriber's token families: %w", err)
		}
		for _, e := range es {
			var id storeKey
			if _, err := hex.Decode(id[:], e.Key[len(prefix):]); err != nil {
				continue
			}
			f, ok := g.families.live.get(ctx, id)
			switch {
			case !ok:
				// Ended already; the entry goes with it.
				_ = g.cfg.Store.Delete(ctx, familyBySPKind, e.Key)
				continue
			case sid != nil && f.sid != *sid:
				continue
			}
			g.revokeFamily(ctx, id)
			if f.sid != "" && !slices.Contains(sids, f.sid) {
				sids = append(sids, f.sid)
			}
		}
		if len(es) < 100 {
			return sids, nil
		}
		after = es[len(es)-1].Key
	}
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
