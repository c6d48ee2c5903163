// Package budget is the token bucket per key behind every failure budget
// and request throttle of a node: failed client authentications at the
// gateway's token, introspection and revocation endpoints and at
// discovery, discovery's per-SP throttle, and failed join and admin
// tokens on the admin listener. One mechanism, so that each of them
// behaves alike: past a budget the endpoint answers 429 with Retry-After
// in whole seconds (RetryAfter) and logs once when the budget runs out.
package budget

import (
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Throttle is a token bucket: Rate a second on average, Burst at once.
type Throttle struct {
	Rate  float64
	Burst int
}

// The failure budgets' defaults: what a key may fail at once, then how
// fast it gets failures back. An address gets 20, then one per 5 seconds;
// a client id, which many addresses can spend, 50, then one a second.
var (
	DefaultClientFailures  = Throttle{Rate: 1, Burst: 50}
	DefaultAddressFailures = Throttle{Rate: 0.2, Burst: 20}
)

// maxKeys bounds the keys tracked at once; past it, buckets that are full
// again are forgotten, and when none is, a new key goes unbudgeted rather
// than growing the map without end.
const maxKeys = 100_000

// Keyed is a token bucket per key (a client id, an address, an SP). The
// zero value is not usable: see New.
type Keyed struct {
	cfg Throttle
	now func() time.Time
	mu  sync.Mutex
	m   map[string]*rate.Limiter
}

// New returns a bucket per key of t (def when t is not set) on the clock
// now (time.Now when nil; tests pass their own, to refill without
// sleeping).
func New(t, def Throttle, now func() time.Time) *Keyed {
	if t.Rate <= 0 || t.Burst <= 0 {
		t = def
	}
	if now == nil {
		now = time.Now
	}
	return &Keyed{cfg: t, now: now, m: map[string]*rate.Limiter{}}
}

// limiter is key's bucket, made when create is set (nil when the table is
// full of live buckets: that key then goes unbudgeted).
func (b *Keyed) limiter(key string, create bool, now time.Time) *rate.Limiter {
	b.mu.Lock()
	defer b.mu.Unlock()
	lim := b.m[key]
	if lim != nil || !create {
		return lim
	}
	if len(b.m) >= maxKeys {
		for k, l := range b.m {
			if l.TokensAt(now) >= float64(b.cfg.Burst) {
				delete(b.m, k)
			}
		}
		if len(b.m) >= maxKeys {
			return nil
		}
	}
	lim = rate.NewLimiter(rate.Limit(b.cfg.Rate), b.cfg.Burst)
	b.m[key] = lim
	return lim
}

// Empty reports whether no key has spent anything yet (so that a caller
// can skip working out a key on the path every request takes).
func (b *Keyed) Empty() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.m) == 0
}

// Take spends one token of key, or reports how long until one is there
// (a request throttle: every request spends).
func (b *Keyed) Take(key string) (bool, time.Duration) {
	now := b.now()
	lim := b.limiter(key, true, now)
	if lim == nil {
		return true, 0
	}
	r := lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// Spent reports whether key has nothing left, and for how long (a
// failure budget: asked before the credentials are looked at). The empty
// key is never spent.
func (b *Keyed) Spent(key string) (bool, time.Duration) {
	if key == "" {
		return false, 0
	}
	now := b.now()
	lim := b.limiter(key, false, now)
	if lim == nil {
		return false, 0
	}
	if tokens := lim.TokensAt(now); tokens < 1 {
		return true, time.Duration(math.Ceil((1-tokens)/b.cfg.Rate*1e9)) * time.Nanosecond
	}
	return false, 0
}

// Spend records one failure of key; true when that spent the last of it
// (to log once, not at every refusal that follows).
func (b *Keyed) Spend(key string) bool {
	if key == "" {
		return false
	}
	now := b.now()
	lim := b.limiter(key, true, now)
	if lim == nil {
		return false
	}
	lim.AllowN(now, 1)
	return lim.TokensAt(now) < 1
}

// RetryAfter is wait in whole seconds, at least 1: the Retry-After of a
// 429 (RFC 9110 §10.2.3), rounded up so that a client that waits as told
// finds a token.
func RetryAfter(wait time.Duration) int {
	return max(1, int(math.Ceil(wait.Seconds())))
}
