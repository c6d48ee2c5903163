package idgw

import (
	"time"

	"github.com/mcfed/mcfed/internal/budget"
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

// failureBudgets keeps the budgets of failed client authentications.
type failureBudgets struct {
	client, address *budget.Keyed
}

func newFailureBudgets(b FailureBudget, now func() time.Time) *failureBudgets {
	return &failureBudgets{
		client:  budget.New(b.PerClient, budget.DefaultClientFailures, now),
		address: budget.New(b.PerAddress, budget.DefaultAddressFailures, now),
	}
}

// errTooManyFailures is the answer past a failure budget.
func errTooManyFailures(wait time.Duration) *OAuthError {
	e := newError(CodeSlowDown, "too many failed client authentications from this client or address; retry later")
	e.retryAfter = wait
	return e
}
