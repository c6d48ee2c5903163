package admin

import (
	"errors"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/mcfed/mcfed/internal/budget"
	"github.com/mcfed/mcfed/internal/clientaddr"
	"github.com/mcfed/mcfed/raft"
)

// The admin listener's failure budget: per client address (clientaddr.Of:
// the connection's, or the client's behind a trusted proxy), spent by
// every bearer token that is neither the node's admin token nor a live
// issued credential (auth.go), and by every join refused for its token
// (raft.ErrBadJoinToken: unknown, used, expired, another node's, or a
// certificate that does not name the node). It is the gateway's and
// discovery's mechanism (internal/budget) with their address default:
// 20 failures at once, then one per 5 seconds.
//
// Past it, the address gets 429 (problem+json, Retry-After in seconds)
// before its token is looked at, the right token included, so guessing
// goes no faster and learns nothing; the metric is the listener's
// (mcfed_http_requests_total{listener="admin",status="429"}), and one
// warning is logged when the budget runs out. Other addresses are not
// affected. A node whose operator mistyped its join token a few times is
// never refused for that (each failed start spends one); one that kept
// trying waits at most 5 seconds, the Retry-After it is shown, per try.

// pathJoin is raft's join endpoint (raft.Node.Mount), whose refusals
// spend the budget; a join test fails if the two drift apart.
const pathJoin = "/v1/cluster/join"

// overBudget is the 429 for an address whose failures are spent (with
// its Retry-After set on c), or nil.
func (a *api) overBudget(c *fiber.Ctx, addr string) error {
	spent, wait := a.failed.Spent(addr)
	if !spent {
		return nil
	}
	secs := strconv.Itoa(budget.RetryAfter(wait))
	c.Set(fiber.HeaderRetryAfter, secs)
	return newProblem(fiber.StatusTooManyRequests, "too-many-failures",
		"too many failed authentications from this address; retry after "+secs+" s")
}

// authFailed spends a failure of addr, and logs (without the token) when
// that spent the last of its budget.
func (a *api) authFailed(c *fiber.Ctx, addr, what string) {
	if a.failed.Spend(addr) {
		a.log.WarnContext(c.UserContext(), "admin listener: authentication failures over budget: refusing with 429 for a while",
			"address", addr, "failed", what)
	}
}

// budgetJoin guards the join endpoint: a spent address is refused before
// the join is read, a join refused for its token spends.
func (a *api) budgetJoin(c *fiber.Ctx) error {
	addr := clientaddr.Of(c)
	if err := a.overBudget(c, addr); err != nil {
		return err
	}
	err := c.Next()
	if errors.Is(err, raft.ErrBadJoinToken) {
		a.authFailed(c, addr, "join token")
	}
	return err
}
