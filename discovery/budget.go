package discovery

import (
	"net/http"
	"strconv"
	"time"

	"github.com/mcfed/mcfed/internal/budget"
)

// Throttle is a token bucket: Rate a second on average, Burst at once.
type Throttle = budget.Throttle

// Defaults of Config.Throttle and Config.AuthFailures. The per-SP rate is
// above what one node answers (35k req/s with sealing, 73k without, in
// the README's figures), so the load generator's honest traffic never
// meets it; a consortium that wants to slow an SP walking the ported
// numbers sets it lower.
var (
	DefaultThrottle        = Throttle{Rate: 100_000, Burst: 100_000}
	DefaultClientFailures  = budget.DefaultClientFailures
	DefaultAddressFailures = budget.DefaultAddressFailures
)

// FailureBudget bounds failed SP authentications per client id and per
// source address. Only failures spend it; past either budget the answer
// is 429 before the credentials are looked at.
type FailureBudget struct {
	PerClient  Throttle
	PerAddress Throttle
}

// errTooMany is the answer past a budget: 429, with Retry-After in whole
// seconds, in the Discovery API's error body.
func errTooMany(desc string, wait time.Duration) *protoError {
	secs := budget.RetryAfter(wait)
	return &protoError{status: http.StatusTooManyRequests, code: codeSlowDown,
		desc: desc + "; retry after " + strconv.Itoa(secs) + " s", outcome: OutcomeThrottled, retryAfter: secs}
}
