package admin

import (
	"errors"

	"github.com/gofiber/fiber/v2"

	"github.com/mcfed/mcfed/internal/problem"
	"github.com/mcfed/mcfed/raft"
	"github.com/mcfed/mcfed/registry"
)

func newProblem(status int, kind, detail string) *problem.Error {
	return problem.New(status, kind, detail)
}

func badRequest(detail string) *problem.Error { return newProblem(400, "invalid", detail) }

// problemFor maps any error a handler returns to a problem: registry
// refusals by their code, the write path's errors by their kind, fiber's
// own errors by their status, and the rest as 500 without leaking
// internals.
func problemFor(err error) problem.Details {
	var pe *problem.Error
	if errors.As(err, &pe) {
		return pe.Problem
	}
	switch registry.CodeOf(err) {
	case registry.CodeInvalid:
		return badRequest(err.Error()).Problem
	case registry.CodeNotFound:
		return newProblem(404, "not-found", err.Error()).Problem
	case registry.CodeConflict:
		return newProblem(409, "conflict", err.Error()).Problem
	case registry.CodeStale:
		return newProblem(409, "stale", err.Error()).Problem
	case registry.CodeForbidden:
		return newProblem(403, "forbidden", err.Error()).Problem
	}
	var remote *raft.RemoteError
	var fe *fiber.Error
	var me *raft.MembershipError
	if errors.As(err, &me) {
		return membershipProblem(me)
	}
	switch {
	case errors.Is(err, raft.ErrNotLeader):
		return newProblem(503, "no-leader", err.Error()).Problem
	case errors.Is(err, raft.ErrBadJoinToken):
		return newProblem(403, "join-token", err.Error()).Problem
	case errors.Is(err, raft.ErrUnauthenticated):
		return newProblem(401, "unauthorized", err.Error()).Problem
	case errors.Is(err, raft.ErrCredentialsPending):
		return newProblem(503, "credentials-pending", err.Error()).Problem
	case errors.Is(err, raft.ErrNodeAuth):
		return newProblem(502, "node-auth", err.Error()).Problem
	case errors.As(err, &remote):
		return newProblem(502, "forward", remote.Error()).Problem
	case errors.As(err, &fe):
		kind := "http"
		if fe.Code == fiber.StatusRequestEntityTooLarge {
			kind = "too-large"
		}
		return newProblem(fe.Code, kind, fe.Message).Problem
	}
	return newProblem(500, "internal", "internal error; the node's log has the details").Problem
}

// membershipProblem answers a promotion or demotion that Raft's
// configuration or the followers' state refused.
func membershipProblem(e *raft.MembershipError) problem.Details {
	switch {
	case errors.Is(e, raft.ErrUnknownMember):
		return newProblem(404, "unknown-member", e.Error()).Problem
	case errors.Is(e, raft.ErrAlreadyVoter):
		return newProblem(409, "already-voter", e.Error()).Problem
	case errors.Is(e, raft.ErrNotVoter):
		return newProblem(409, "not-voter", e.Error()).Problem
	case errors.Is(e, raft.ErrNotCaughtUp):
		return newProblem(409, "not-caught-up", e.Error()).Problem
	}
	return newProblem(409, "quorum-at-risk", e.Error()).Problem
}
