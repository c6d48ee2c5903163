package idgw

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"sync"
	"syscall"
	"time"

	"github.com/mcfed/mcfed/internal/jose"
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

// Where a gateway may fetch a jwks_uri from. The URI is whatever an SP
// registered, and any caller who names the SP's client_id with an unknown
// kid makes the gateway fetch it: without limits that is a way to make the
// gateway reach its own network (SSRF). So:
//
//   - A production gateway fetches over https only, and only from public
//     addresses: the dialer checks every address it connects to, after DNS
//     resolution (so a name that resolves, or rebinds, to an internal
//     address is refused too). No proxy is used: a proxy would make the
//     connection the dialer refuses.
//   - A loopback deployment (its issuer's host is a loopback address or
//     "localhost": dev mode and tests) may also fetch from loopback, and
//     over plain http from a loopback host. Private addresses stay refused.
//   - Redirects are not followed: the registered URI is where the SP's keys
//     are, and an SP whose URI moved registers the new one. Following even
//     same-host redirects would let whatever answers there (an open
//     redirect, a stale path) choose what the gateway fetches.
//   - The caller learns only that the keys could not be fetched; why (the
//     dial error, the remote status) goes to the gateway's log at Debug.

// errJWKSUnavailable is all a client is told of a failed jwks_uri fetch.
var errJWKSUnavailable = errors.New("the client's jwks_uri could not be fetched")

// jwksFetcher fetches SPs' jwks_uri documents for one gateway.
type jwksFetcher struct {
	client *http.Client
	local  bool // a loopback deployment: loopback and plain http allowed
	log    *slog.Logger
}

// jwksFetcher is the gateway's fetcher: a loopback deployment's or a
// production one's, by its issuer.
func (g *Gateway) jwksFetcher() *jwksFetcher {
	local := loopbackIssuer(g.cfg.Issuer)
	client := jwksClient
	if local {
		client = loopbackJWKSClient
	}
	return &jwksFetcher{client: client, local: local, log: g.log}
}

// jwksClient and loopbackJWKSClient fetch jwks_uri documents for
// production and loopback gateways.
var jwksClient, loopbackJWKSClient = newJWKSClient(false), newJWKSClient(true)

func newJWKSClient(local bool) *http.Client {
	dialer := &net.Dialer{
		Timeout: jwksFetchTimeout,
		// Control runs for each address dialed, after resolution and
		// before the connection is attempted.
		Control: func(network, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return err
			}
			return checkJWKSAddr(ap.Addr(), local)
		},
	}
	return &http.Client{
		Timeout: jwksFetchTimeout,
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         dialer.DialContext,
			ForceAttemptHTTP2:   true,
			TLSHandshakeTimeout: jwksFetchTimeout,
			MaxIdleConns:        16,
			IdleConnTimeout:     90 * time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// loopbackIssuer reports whether a gateway with this issuer is a loopback
// deployment: its host is "localhost" or a loopback address.
func loopbackIssuer(issuer string) bool {
	u, err := url.Parse(issuer)
	return err == nil && isLoopbackHost(u.Hostname())
}

func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}

// nonPublic are special-purpose ranges (RFC 6890 and its IANA registries)
// that netip's predicates do not cover: no SP's keys are published there.
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),   // shared address space (carrier-grade NAT)
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"), // documentation
	netip.MustParsePrefix("203.0.113.0/24"),  // documentation
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, and the broadcast address
	netip.MustParsePrefix("2001::/23"),       // IETF protocol assignments (Teredo among them)
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
	netip.MustParsePrefix("2002::/16"),       // 6to4, which embeds an IPv4 address
	netip.MustParsePrefix("3fff::/20"),       // documentation
}

// globalUnicast6 is where IPv6's global unicast addresses are; outside it
// are, among others, NAT64 (64:ff9b::/96, which reaches IPv4 addresses),
// IPv4-compatible addresses and the deprecated site-local fec0::/10.
var globalUnicast6 = netip.MustParsePrefix("2000::/3")

// checkJWKSAddr refuses an address a jwks_uri may not be fetched from:
// anything but public unicast, except loopback for a loopback deployment.
func checkJWKSAddr(a netip.Addr, local bool) error {
	a = a.WithZone("").Unmap()
	switch {
	case !a.IsValid():
		return errors.New("no address")
	case a.IsLoopback() && local:
		return nil
	case !a.IsGlobalUnicast() || a.IsPrivate() || a.Is6() && !globalUnicast6.Contains(a):
		return fmt.Errorf("%s is not a public address", a)
	}
	for _, p := range nonPublic {
		if p.Contains(a) {
			return fmt.Errorf("%s is not a public address (%s)", a, p)
		}
	}
	return nil
}

// spKeySets caches SPs' parsed key sets: fetched from a jwks_uri for
// jwksCacheTTL, or parsed once from an inline JWKS (keyed by its digest, so
// an SP that re-registers new keys gets them at once).
type spKeySets struct {
	mu      sync.Mutex
	entries map[string]*keySetEntry
	swept   time.Time
}

// keySetEntry is one cached key set. Its mutex is never held over the
// network: a jwks_uri is fetched by a goroutine of its own, and requests
// keep using the cached set while it runs.
type keySetEntry struct {
	mu         sync.Mutex
	set        *jose.KeySet
	err        error         // an inline set's parse error
	refreshing chan struct{} // while a fetch runs; closed when it is done
	fetched    time.Time     // when set was fetched
	tried      time.Time     // when the last fetch was started
	used       time.Time
}

func newSPKeySets() *spKeySets { return &spKeySets{entries: map[string]*keySetEntry{}} }

// get returns the SP's key set. refetch asks for a fresh copy of a
// jwks_uri set (the assertion names a kid the set lacks), which comes only
// if the last fetch started jwksMinInterval ago.
//
// At most one fetch per URI runs at a time. Only the requests that need
// its result wait for it: the first one (nothing cached yet) and those
// with refetch. The others are served the cached set at once, even one
// past jwksCacheTTL while its refresh runs, so an unknown kid, which
// anyone can send, never holds up the SP's other requests.
func (c *spKeySets) get(ctx context.Context, f *jwksFetcher, sp *registry.ServiceProvider, now time.Time, refetch bool) (*jose.KeySet, error) {
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
	if stale && e.refreshing == nil && (e.tried.IsZero() || now.Sub(e.tried) >= jwksMinInterval) {
		e.tried = now
		e.refreshing = make(chan struct{})
		go e.refresh(ctx, f, sp.ClientID, sp.JWKSURI, now)
	}
	if done := e.refreshing; done != nil && (e.set == nil || refetch) {
		e.mu.Unlock()
		select {
		case <-done:
		case <-ctx.Done():
		}
		e.mu.Lock()
	}
	if e.set != nil && (now.Sub(e.fetched) < jwksCacheTTL || e.refreshing != nil) {
		return e.set, nil
	}
	// The last fetch failed (its reason is in the log).
	return nil, errJWKSUnavailable
}

// refresh fetches the entry's set from uri, for the request that started
// it and those that wait: neither the request's end nor its cancellation
// stops it, the fetch timeout does.
func (e *keySetEntry) refresh(ctx context.Context, f *jwksFetcher, clientID, uri string, started time.Time) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), jwksFetchTimeout)
	defer cancel()
	set, err := f.fetch(ctx, uri)
	if err != nil {
		f.log.Debug("idgw: the client's jwks_uri could not be fetched", "client_id", clientID, "jwks_uri", uri, "err", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if err == nil {
		e.set, e.fetched = set, started
	}
	close(e.refreshing)
	e.refreshing = nil
}

// entry finds or makes the cache entry of key, and now and then drops the
// idle ones.
func (c *spKeySets) entry(key string, now time.Time) *keySetEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now.Sub(c.swept) > keySetIdle {
		c.swept = now
		for k, e := range c.entries {
			e.mu.Lock()
			if now.Sub(e.used) > keySetIdle && e.refreshing == nil {
				delete(c.entries, k)
			}
			e.mu.Unlock()
		}
	}
	e := c.entries[key]
	if e == nil {
		e = &keySetEntry{used: now}
		c.entries[key] = e
	}
	return e
}

// fetch GETs a JWK set (where the gateway may: see above), in a bounded
// time and size. Its errors are for the log.
func (f *jwksFetcher) fetch(ctx context.Context, raw string) (*jose.KeySet, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	if err := checkJWKSURL(u, f.local); err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, raw, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		return nil, fmt.Errorf("answered %d to %s: redirects are not followed, the SP should register the URI its keys are at", resp.StatusCode, resp.Header.Get("Location"))
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("answered %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, jwksMaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading: %w", err)
	}
	if len(body) > jwksMaxBytes {
		return nil, fmt.Errorf("serves more than %d bytes", jwksMaxBytes)
	}
	set, err := jose.ParseJWKS(body)
	if err != nil {
		return nil, fmt.Errorf("serves no usable key set: %w", err)
	}
	return set, nil
}

// checkJWKSURL refuses a jwks_uri that is not https (keys fetched over
// http could be anyone's), except plain http to a loopback host in a
// loopback deployment.
func checkJWKSURL(u *url.URL, local bool) error {
	switch {
	case u.Host == "":
		return errors.New("not an absolute URL")
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && local && isLoopbackHost(u.Hostname()):
		return nil
	}
	return errors.New("must be https")
}
