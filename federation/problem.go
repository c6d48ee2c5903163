package federation

import (
	"errors"
	"net/http"

	"github.com/gofiber/fiber/v2"

	"github.com/mcfed/mcfed/raft"
	"github.com/mcfed/mcfed/registry"
)

// problem is an RFC 9457 problem details body, the error format of the
// admin API.
type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	// Line is the line of an imported file that the problem is about.
	Line int `json:"line,omitempty"`
	// Errors lists the bad lines of an imported file.
	Errors []rowError `json:"errors,omitempty"`
	// Applied is how many rows of an import were committed before it failed.
	Applied *int `json:"applied,omitempty"`
}

// problemError is an error the admin API answers with as problem+json.
type problemError struct{ p problem }

func (e *problemError) Error() string { return e.p.Detail }

const problemBase = "https://mcfed.dev/problems/"

func newProblem(status int, kind, detail string) *problemError {
	return &problemError{problem{Type: problemBase + kind, Title: http.StatusText(status), Status: status, Detail: detail}}
}

func badRequest(detail string) *problemError { return newProblem(400, "invalid", detail) }

// problemFor maps any error a handler returns to a problem: registry
// refusals by their code, raft's lack of a leader as 503, fiber's own errors
// by their status, and the rest as 500 without leaking internals.
func problemFor(err error) problem {
	var pe *problemError
	if errors.As(err, &pe) {
		return pe.p
	}
	switch registry.CodeOf(err) {
	case registry.CodeInvalid:
		return badRequest(err.Error()).p
	case registry.CodeNotFound:
		return newProblem(404, "not-found", err.Error()).p
	case registry.CodeConflict:
		return newProblem(409, "conflict", err.Error()).p
	case registry.CodeStale:
		return newProblem(409, "stale", err.Error()).p
	}
	var remote *raft.RemoteError
	switch {
	case errors.Is(err, raft.ErrNotLeader):
		return newProblem(503, "no-leader", err.Error()).p
	case errors.Is(err, raft.ErrBadJoinToken):
		return newProblem(403, "join-token", err.Error()).p
	case errors.Is(err, raft.ErrClusterAuth):
		return newProblem(502, "cluster-auth", err.Error()).p
	case errors.As(err, &remote):
		return newProblem(502, "forward", remote.Error()).p
	}
	var fe *fiber.Error
	if errors.As(err, &fe) {
		kind := "http"
		if fe.Code == fiber.StatusRequestEntityTooLarge {
			kind = "too-large"
		}
		return newProblem(fe.Code, kind, fe.Message).p
	}
	return newProblem(500, "internal", "internal error; the node's log has the details").p
}

// writeProblem answers with a problem+json body.
func writeProblem(c *fiber.Ctx, p problem) error {
	c.Status(p.Status)
	c.Set(fiber.HeaderContentType, "application/problem+json")
	return c.JSON(p, "application/problem+json")
}
