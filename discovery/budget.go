package discovery

import (
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Throttle is a token bucket: Rate a second on average, Burst at once.
type Throttle struct {
	Rate  float64
	Burst int
}

// Defaults of Config.Throttle and Config.AuthFailures. The per-SP rate is
// above what one node answers (35k req/s with sealing, 73k without, in
// the README's figures), so the load generator's honest traffic never
// meets it; a consortium that wants to slow an SP walking the ported
// numbers sets it lower.
var (
	DefaultThrottle        = Throttle{Rate: 100_000, Burst: 100_000}
	DefaultClientFailures  = Throttle{Rate: 1, Burst: 50}
	DefaultAddressFailures = Throttle{Rate: 0.2, Burst: 20}
	maxBudgetKeys          = 100_000
)

// FailureBudget bounds failed SP authentications per client id and per
// source address. Only failures spend it; past either budget the answer
// is 429 before the credentials are looked at.
type FailureBudget struct {
	PerClient  Throttle
	PerAddress Throttle
}

// keyedBudget is a token bucket per key (an SP, a client id, an address).
type keyedBudget struct {
	cfg Throttle
	now func() time.Time
	mu  sync.Mutex
	m   map[string]*rate.Limiter
}

func newKeyedBudget(t, def Throttle, now func() time.Time) *keyedBudget {
	if t.Rate <= 0 || t.Burst <= 0 {
		t = def
	}
	return &keyedBudget{cfg: t, now: now, m: map[string]*rate.Limiter{}}
}

// limiter is key's bucket, made when create is set (nil when the table is
// full of live buckets: that key then goes unbudgeted).
func (b *keyedBudget) limiter(key string, create bool, now time.Time) *rate.Limiter {
	b.mu.Lock()
	defer b.mu.Unlock()
	lim := b.m[key]
	if lim != nil || !create {
		return lim
	}
	if len(b.m) >= maxBudgetKeys {
		for k, l := range b.m {
			if l.TokensAt(now) >= float64(b.cfg.Burst) {
				delete(b.m, k)
			}
		}
		if len(b.m) >= maxBudgetKeys {
			return nil
		}
	}
	lim = rate.NewLimiter(rate.Limit(b.cfg.Rate), b.cfg.Burst)
	b.m[key] = lim
	return lim
}

// empty reports whether no key has spent anything yet (so the caller can
// skip working out a key).
func (b *keyedBudget) empty() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.m) == 0
}

// take spends one token of key, or reports how long until one is there.
func (b *keyedBudget) take(key string) (bool, time.Duration) {
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

// spent reports whether key has nothing left, and for how long.
func (b *keyedBudget) spent(key string) (bool, time.Duration) {
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

// spend records one failure of key; true when that spent the last of it.
func (b *keyedBudget) spend(key string) bool {
	now := b.now()
	lim := b.limiter(key, true, now)
	if lim == nil {
		return false
	}
	lim.AllowN(now, 1)
	return lim.TokensAt(now) < 1
}

// errTooMany is the answer past a budget: 429, with Retry-After in whole
// seconds, in the Discovery API's error body.
func errTooMany(desc string, wait time.Duration) *protoError {
	secs := max(1, int(math.Ceil(wait.Seconds())))
	return &protoError{status: http.StatusTooManyRequests, code: codeSlowDown,
		desc: desc + "; retry after " + strconv.Itoa(secs) + " s", outcome: OutcomeThrottled, retryAfter: secs}
}
