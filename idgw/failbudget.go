package idgw

import (
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// FailureBudget bounds failed client authentications at the token,
// introspection and revocation endpoints, per client id and per source
// address. Only failures spend it: an SP that authenticates never meets
// it, whatever its rate. Past either budget the endpoint answers 429
// slow_down with Retry-After before looking at the credentials, so a
// guesser learns nothing more and goes no faster.
//
// The per-client budget is the larger one: anyone who knows a client id
// can spend it, and an SP locked out of its own tokens is the price. One
// address alone cannot keep it spent (its own budget refills slower than
// the client's), so a lockout needs many addresses that keep failing,
// which the metric and the log show.
type FailureBudget struct {
	PerClient  Throttle // default 50 failures at once, then 1 a second
	PerAddress Throttle // default 20 failures at once, then 1 per 5 seconds
}

// maxBudgetKeys bounds the clients and addresses tracked at once; past it,
// budgets that are whole again are forgotten.
const maxBudgetKeys = 100_000

// failureBudgets keeps the budgets of failed client authentications.
type failureBudgets struct {
	client, address *keyedBudget
}

func newFailureBudgets(b FailureBudget, now func() time.Time) *failureBudgets {
	if b.PerClient.Rate <= 0 || b.PerClient.Burst <= 0 {
		b.PerClient = Throttle{Rate: 1, Burst: 50}
	}
	if b.PerAddress.Rate <= 0 || b.PerAddress.Burst <= 0 {
		b.PerAddress = Throttle{Rate: 0.2, Burst: 20}
	}
	return &failureBudgets{client: newKeyedBudget(b.PerClient, now), address: newKeyedBudget(b.PerAddress, now)}
}

// keyedBudget is a token bucket per key, spent by failures.
type keyedBudget struct {
	cfg Throttle
	now func() time.Time
	mu  sync.Mutex
	m   map[string]*rate.Limiter
}

func newKeyedBudget(t Throttle, now func() time.Time) *keyedBudget {
	return &keyedBudget{cfg: t, now: now, m: map[string]*rate.Limiter{}}
}

// spent reports whether key has no failure left, and if so how long until
// it has one.
func (b *keyedBudget) spent(key string) (bool, time.Duration) {
	if key == "" {
		return false, 0
	}
	b.mu.Lock()
	lim := b.m[key]
	b.mu.Unlock()
	if lim == nil {
		return false, 0
	}
	now := b.now()
	tokens := lim.TokensAt(now)
	if tokens >= 1 {
		return false, 0
	}
	return true, time.Duration(math.Ceil((1-tokens)/b.cfg.Rate*1e9)) * time.Nanosecond
}

// spend records one failure of key and reports whether that used the last
// of its budget (to log once, not at every refusal).
func (b *keyedBudget) spend(key string) (exhausted bool) {
	if key == "" {
		return false
	}
	now := b.now()
	b.mu.Lock()
	lim := b.m[key]
	if lim == nil {
		if len(b.m) >= maxBudgetKeys {
			b.forgetWholeLocked(now)
		}
		if len(b.m) >= maxBudgetKeys {
			b.mu.Unlock()
			return false
		}
		lim = rate.NewLimiter(rate.Limit(b.cfg.Rate), b.cfg.Burst)
		b.m[key] = lim
	}
	b.mu.Unlock()
	lim.AllowN(now, 1)
	return lim.TokensAt(now) < 1
}

// forgetWholeLocked drops the keys whose budget has refilled.
func (b *keyedBudget) forgetWholeLocked(now time.Time) {
	for k, lim := range b.m {
		if lim.TokensAt(now) >= float64(b.cfg.Burst) {
			delete(b.m, k)
		}
	}
}

// errTooManyFailures is the answer past a failure budget.
func errTooManyFailures(wait time.Duration) *OAuthError {
	e := newError(CodeSlowDown, "too many failed client authentications from this client or address; retry later")
	e.retryAfter = wait
	return e
}
