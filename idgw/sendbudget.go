package idgw

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/mcfed/mcfed/operator/state"
)

// Abuse budgets for what makes the operator send something to a
// subscriber (an SMS, a SIM prompt, a push): each login that starts an
// authenticator spends one unit of its SP's budget, of its source
// address's and of the operator's, on top of the authenticators' own
// per-number limits. They are counted in the operator's state store, so
// all its gateway nodes share them. A budget is spent before the
// subscriber is looked at, so the answer is the same for a subscriber and
// a number that is none (no membership oracle): temporarily_unavailable,
// and nothing is sent.

// SendBudgets are the budgets per Window; a zero limit is no budget.
type SendBudgets struct {
	// PerSP is the logins one SP may start, PerSource those one source
	// address may (the browser's, or the SP server's for SI and CIBA),
	// PerOperator those of all of them together.
	PerSP, PerSource, PerOperator int
	// Window is the fixed window the budgets are counted in (default an
	// hour).
	Window time.Duration
}

// DefaultSendBudgets are a node's budgets unless it is told otherwise:
// far above an honest SP's traffic on a small operator, low enough that a
// script cannot turn the SMSC into a spam cannon.
var DefaultSendBudgets = SendBudgets{PerSP: 10000, PerSource: 300, PerOperator: 100000, Window: time.Hour}

// BudgetObserver is told of each budget hit; the gateway's Observer may
// implement it (the node counts them as a metric).
type BudgetObserver interface {
	ObserveSendBudget(budget string)
}

const kindSendBudget state.Kind = "idgw.sendbudget"

// The budgets' names, in logs and metrics.
const (
	budgetSP       = "sp"
	budgetSource   = "source"
	budgetOperator = "operator"
)

// errSendBudget is a budget hit's answer.
func errSendBudget(retry time.Time) *OAuthError {
	e := newSafeError(CodeTemporarilyUnavailable, "too many sign-ins were started: retry after "+retry.UTC().Format(time.RFC3339))
	e.status = 429
	return e
}

// spendSendBudgets spends one unit of the SP's, the source's and the
// operator's budgets for a login about to reach a handset, in that order
// (a source over its budget does not spend its SP's), and answers the
// error to give when one is spent, after a log line and a metric.
func (g *Gateway) spendSendBudgets(ctx context.Context, clientID, source string) *OAuthError {
	b := g.cfg.SendBudgets
	window := b.Window
	if window <= 0 {
		window = time.Hour
	}
	now := g.now()
	start := now.Truncate(window)
	// One Spend, in that order: the store stops at the first budget
	// spent, and leaves it and the ones after it as they are.
	type budget struct {
		name  string
		limit int
	}
	var budgets []budget
	var counters []state.Counter
	for _, c := range []struct {
		name, id string
		limit    int
	}{{budgetSource, source, b.PerSource}, {budgetSP, clientID, b.PerSP}, {budgetOperator, g.cfg.OperatorID, b.PerOperator}} {
		if c.limit <= 0 || c.id == "" {
			continue
		}
		k := tokenKey(c.name + "\x00" + c.id + "\x00" + strconv.FormatInt(start.Unix(), 10))
		budgets = append(budgets, budget{c.name, c.limit})
		counters = append(counters, state.Counter{Kind: kindSendBudget, Key: k[:], Limit: int64(c.limit), Expires: start.Add(window)})
	}
	if len(counters) == 0 {
		return nil
	}
	hit, err := g.cfg.Store.Spend(ctx, counters...)
	if err != nil {
		// The store is down: the login could not be kept either.
		return ErrServerError(fmt.Errorf("counting a send budget: %w", err))
	}
	if hit < 0 {
		return nil
	}
	c := budgets[hit]
	if o, ok := g.cfg.Observer.(BudgetObserver); ok {
		o.ObserveSendBudget(c.name)
	}
	g.log.Warn("send budget spent: a login is refused and nothing is sent",
		"budget", c.name, "client_id", truncate(clientID, 128), "address", source,
		"limit", c.limit, "window", window, "retry_at", start.Add(window))
	return errSendBudget(start.Add(window))
}
