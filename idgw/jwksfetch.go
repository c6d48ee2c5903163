package idgw

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/mcfed/mcfed/jose"
	"github.com/mcfed/mcfed/registry"
)

// Fetching an SP's jwks_uri.
const (
	jwksFetchTimeout = 5 * time.Second
	jwksMaxBytes     = 64 << 10
	// jwksCacheTTL is how long a fetched set is used before it is fetched
	// again: a key the SP withdraws stops working within this time.
	jwksCacheTTL = 10 * time.Minute
	// jwksMinInterval is the least time between two fetches of one URI,
	// whatever the clients send: unknown kids and failures do not make the
	// gateway hammer a URL.
	jwksMinInterval = 30 * time.Second
	// keySetIdle drops the cache entry of a key set no client used for
	// this long (an SP that changed or dropped its keys).
	keySetIdle = time.Hour
)

// jwksClient fetches jwks_uri documents: a bounded time, a few redirects.
var jwksClient = &http.Client{
	Timeout: jwksFetchTimeout,
	CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if len(via) >= 3 {
			return errors.New("more than 3 redirects")
		}
		return checkJWKSURL(req.URL)
	},
}

// spKeySets caches SPs' parsed key sets: fetched from a jwks_uri for
// jwksCacheTTL, or parsed once from an inline JWKS (keyed by its digest, so
// an SP that re-registers new keys gets them at once).
type spKeySets struct {
	mu      sync.Mutex
	entries map[string]*keySetEntry
	swept   time.Time
}

type keySetEntry struct {
	mu      sync.Mutex // held while fetching: one fetch per URI at a time
	set     *jose.KeySet
	err     error     // of the last attempt
	fetched time.Time // when set was fetched
	tried   time.Time // when the last fetch was attempted
	used    time.Time
}

func newSPKeySets() *spKeySets { return &spKeySets{entries: map[string]*keySetEntry{}} }

// get returns the SP's key set. refetch asks for a fresh copy of a
// jwks_uri set, which comes only if the last fetch is jwksMinInterval old.
func (c *spKeySets) get(ctx context.Context, sp *registry.ServiceProvider, now time.Time, refetch bool) (*jose.KeySet, error) {
	key := sp.JWKSURI
	if len(sp.JWKS) > 0 {
		sum := sha256.Sum256(sp.JWKS)
		key = "inline:" + string(sum[:])
	}
	if key == "" {
		return nil, errors.New("the client has registered no keys (jwks or jwks_uri)")
	}
	e := c.entry(key, now)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.used = now
	if len(sp.JWKS) > 0 {
		if e.set == nil && e.err == nil {
			e.set, e.err = jose.ParseJWKS(sp.JWKS)
		}
		if e.err != nil {
			return nil, fmt.Errorf("the client's registered jwks is unusable: %w", e.err)
		}
		return e.set, nil
	}
	stale := e.set == nil || now.Sub(e.fetched) >= jwksCacheTTL || refetch
	if stale && (e.tried.IsZero() || now.Sub(e.tried) >= jwksMinInterval) {
		e.tried = now
		set, err := fetchJWKS(ctx, sp.JWKSURI)
		if e.err = err; err == nil {
			e.set, e.fetched = set, now
		}
	}
	switch {
	case e.set != nil && now.Sub(e.fetched) < jwksCacheTTL:
		return e.set, nil
	case e.err != nil: // the last attempt failed: its error until the next may start
		return nil, e.err
	}
	return nil, errors.New("the client's jwks_uri could not be fetched")
}

// entry finds or makes the cache entry of key, and now and then drops the
// idle ones.
func (c *spKeySets) entry(key string, now time.Time) *keySetEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now.Sub(c.swept) > keySetIdle {
		c.swept = now
		for k, e := range c.entries {
			if e.mu.TryLock() {
				if now.Sub(e.used) > keySetIdle {
					delete(c.entries, k)
				}
				e.mu.Unlock()
			}
		}
	}
	e := c.entries[key]
	if e == nil {
		e = &keySetEntry{used: now}
		c.entries[key] = e
	}
	return e
}

// fetchJWKS GETs a JWK set: https only (http for loopback, as in dev mode
// and tests), a bounded time and size.
func fetchJWKS(ctx context.Context, raw string) (*jose.KeySet, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("the client's jwks_uri: %w", err)
	}
	if err := checkJWKSURL(u); err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, raw, nil)
	if err != nil {
		return nil, fmt.Errorf("the client's jwks_uri: %w", err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := jwksClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("the client's jwks_uri could not be fetched: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("the client's jwks_uri answered %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, jwksMaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("the client's jwks_uri could not be read: %w", err)
	}
	if len(body) > jwksMaxBytes {
		return nil, fmt.Errorf("the client's jwks_uri serves more than %d bytes", jwksMaxBytes)
	}
	set, err := jose.ParseJWKS(body)
	if err != nil {
		return nil, fmt.Errorf("the client's jwks_uri serves no usable key set: %w", err)
	}
	return set, nil
}

// checkJWKSURL refuses plain http except to a loopback address: keys
// fetched over http could be anyone's.
func checkJWKSURL(u *url.URL) error {
	if u.Scheme == "https" {
		return nil
	}
	if ip := net.ParseIP(u.Hostname()); u.Scheme == "http" && (u.Hostname() == "localhost" || ip != nil && ip.IsLoopback()) {
		return nil
	}
	return errors.New("the client's jwks_uri must be https")
}
