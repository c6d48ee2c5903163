package discovery

import (
	"net/http"

	"github.com/gofiber/fiber/v2"
)

// Readiness says whether the node's replica may answer: a node that has
// just started, or that lags or has halted, holds a partial registry, and
// an answer from it would call a valid SP invalid_client or send a ported
// number to its old operator. Discovery answers 503 until it is ready.
type Readiness interface {
	Ready() bool
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
	if s.readiness == nil || s.readiness.Ready() {
		return true
	}
	c.Set(fiber.HeaderRetryAfter, retryAfterSeconds)
	return false
}
