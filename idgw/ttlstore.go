package idgw

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"sync"
	"time"
)

// ttlStore keeps the gateway's node-local state (authorization sessions,
// codes, access and refresh tokens) in memory, each entry with an expiry.
// None of it enters the registry; a node restart ends the sessions and
// tokens it issued, which SDKs handle as an expired token.
//
// Keys are the SHA-256 of the secret values (tokenKey), so a heap dump does
// not hand out live codes or tokens.
type ttlStore[V any] struct {
	mu  sync.Mutex
	m   map[storeKey]ttlEntry[V]
	now func() time.Time
}

type ttlEntry[V any] struct {
	v       V
	expires time.Time
}

func newTTLStore[V any](now func() time.Time) *ttlStore[V] {
	return &ttlStore[V]{m: map[storeKey]ttlEntry[V]{}, now: now}
}

func (s *ttlStore[V]) put(key storeKey, v V, ttl time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[key] = ttlEntry[V]{v: v, expires: s.now().Add(ttl)}
}

// get returns an unexpired entry.
func (s *ttlStore[V]) get(key storeKey) (V, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[key]
	if !ok || !s.now().Before(e.expires) {
		var zero V
		return zero, false
	}
	return e.v, true
}

// take returns an unexpired entry and removes it, atomically: of any number
// of concurrent takers of a single-use code, one wins.
func (s *ttlStore[V]) take(key storeKey) (V, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[key]
	delete(s.m, key)
	if !ok || !s.now().Before(e.expires) {
		var zero V
		return zero, false
	}
	return e.v, true
}

// update replaces an unexpired entry's value, keeping its expiry.
func (s *ttlStore[V]) update(key storeKey, fn func(V) V) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[key]
	if !ok || !s.now().Before(e.expires) {
		return false
	}
	e.v = fn(e.v)
	s.m[key] = e
	return true
}

// renew replaces an unexpired entry's value and gives it ttl from now;
// false, and nothing stored, when the entry is gone.
func (s *ttlStore[V]) renew(key storeKey, fn func(V) V, ttl time.Duration) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	e, ok := s.m[key]
	if !ok || !now.Before(e.expires) {
		return false
	}
	s.m[key] = ttlEntry[V]{v: fn(e.v), expires: now.Add(ttl)}
	return true
}

func (s *ttlStore[V]) delete(key storeKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, key)
}

// sweep drops expired entries; the gateway runs it periodically so memory
// follows the live sessions, not every one ever made.
func (s *ttlStore[V]) sweep() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	now, n := s.now(), 0
	for k, e := range s.m {
		if !now.Before(e.expires) {
			delete(s.m, k)
			n++
		}
	}
	return n
}

func (s *ttlStore[V]) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

// newSecret returns 256 random bits, base64url: codes, tokens, session ids.
func newSecret() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// tokenKey is what the stores index a secret by.
func tokenKey(secret string) storeKey {
	return sha256.Sum256([]byte(secret))
}

// storeKey is a ttlStore key: a SHA-256, held by value so that storing a
// token costs no allocation for its key (the token stores are the
// gateway's largest live heap, and the collector scans it).
type storeKey = [sha256.Size]byte
