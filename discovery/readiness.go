package discovery

import (
	"net/http"

	"github.com/gofiber/fiber/v2"
)

// Readiness says whether the node's replica may answer: a node that has
// just started holds the registry it had on disk, or part of the backlog,
// and an answer from it would call a valid SP invalid_client or send a
// ported number to its old operator. Discovery answers 503 until the
// replica has caught up with the federation (and when it halted on a
// command it cannot read). A replica that caught up keeps answering through
// a leader election, as discovery always has.
type Readiness interface {
	CaughtUp() bool
}

// retryAfterSeconds is what a 503 tells the SP to wait: a node catches up
// in well under a second when nothing is wrong.
const retryAfterSeconds = "1"

var (
	errNotReady = &protoError{status: http.StatusServiceUnavailable, code: codeTemporarilyUnavailable,
		desc: "this node is catching up with the federation; retry shortly", outcome: OutcomeUnavailable}
	camaraNotReady = &camaraError{Status: http.StatusServiceUnavailable, Code: "UNAVAILABLE",
		Message: "This node is catching up with the federation; retry shortly."}
)

// ready reports whether the service may answer from the replica, and sets
// Retry-After on c when it may not.
func (s *Service) ready(c *fiber.Ctx) bool {
	if s.readiness == nil || s.readiness.CaughtUp() {
		return true
	}
	c.Set(fiber.HeaderRetryAfter, retryAfterSeconds)
	return false
}
