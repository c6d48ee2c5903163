package raft

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/mcfed/mcfed/internal/problem"
	"github.com/mcfed/mcfed/registry"
)

// Nodes answer each other's internal requests with a typed code, which the
// caller reads, never a message or a problem type to be parsed: a refusal by
// the leader's registry comes back as the same *registry.Error, a lost
// leadership as ErrNotLeader (the caller retries with whoever leads next),
// and so on. The code travels as an extension member of the admin
// listener's RFC 9457 problem, so that its answers keep one format.
type wireError struct {
	problem.Details
	Code string `json:"code"`
}

func newWireError(status int, kind, code, message string) wireError {
	return wireError{problem.New(status, kind, message).Problem, code}
}

// Codes of wireError. They are the protocol between nodes of different
// versions: add codes, never change one.
const (
	codeNotLeader   = "not_leader"
	codeInvalid     = "invalid"
	codeNotFound    = "not_found"
	codeConflict    = "conflict"
	codeStale       = "stale"
	codeClusterAuth = "cluster_auth"
	codeJoinToken   = "join_token"
	codeTooLarge    = "too_large"
	codeInternal    = "internal"
	codeForbidden   = "forbidden"
	// codeUnauthenticated: the leader refused the credential a write was
	// made with (not the forwarding node's: that is codeClusterAuth, the
	// node-to-node authentication of every version).
	codeUnauthenticated = "unauthenticated"
	codePending         = "credentials_pending"
)

// refusals pairs the registry's refusal kinds with their wire codes; the
// table, not the registry's own spelling, is the protocol.
var refusals = []struct {
	reg    registry.Code
	wire   string
	status int
	kind   string
}{
	{registry.CodeInvalid, codeInvalid, http.StatusBadRequest, "invalid"},
	{registry.CodeNotFound, codeNotFound, http.StatusNotFound, "not-found"},
	{registry.CodeConflict, codeConflict, http.StatusConflict, "conflict"},
	{registry.CodeStale, codeStale, http.StatusConflict, "stale"},
	{registry.CodeForbidden, codeForbidden, http.StatusForbidden, "forbidden"},
}

// errTooLarge: a forwarded command over maxCommandBytes.
var errTooLarge = errors.New("the command is larger than a node forwards")

// RemoteError is a failure of the leader that has no code of its own (an
// internal error there, or an answer that was not a node's): the write may
// or may not have been committed.
type RemoteError struct {
	Status  int
	Message string
}

func (e *RemoteError) Error() string {
	return fmt.Sprintf("the leader answered %d: %s", e.Status, e.Message)
}

// toWire is how a node answers an internal request that failed.
func toWire(err error) wireError {
	if c := registry.CodeOf(err); c != "" {
		for _, r := range refusals {
			if r.reg == c {
				return newWireError(r.status, r.kind, r.wire, err.Error())
			}
		}
	}
	switch {
	case errors.Is(err, ErrNotLeader):
		return newWireError(http.StatusServiceUnavailable, "no-leader", codeNotLeader, err.Error())
	case errors.Is(err, ErrBadJoinToken):
		return newWireError(http.StatusForbidden, "join-token", codeJoinToken, err.Error())
	case errors.Is(err, ErrNodeAuth):
		return newWireError(http.StatusUnauthorized, "unauthorized", codeClusterAuth, "internal endpoints need a member's node credential")
	case errors.Is(err, ErrUnauthenticated):
		return newWireError(http.StatusUnauthorized, "unauthorized", codeUnauthenticated, err.Error())
	case errors.Is(err, ErrCredentialsPending):
		return newWireError(http.StatusServiceUnavailable, "credentials-pending", codePending, err.Error())
	case errors.Is(err, errTooLarge):
		return newWireError(http.StatusRequestEntityTooLarge, "too-large", codeTooLarge, err.Error())
	}
	return newWireError(http.StatusInternalServerError, "internal", codeInternal, "internal error; the leader's log has the details")
}

// fromWire turns the answer of another node's internal endpoint back into
// the error it stands for.
func fromWire(status int, body []byte) error {
	var w wireError
	_ = json.Unmarshal(body, &w)
	for _, r := range refusals {
		if r.wire == w.Code {
			return &registry.Error{Code: r.reg, Message: w.Detail}
		}
	}
	switch w.Code {
	case codeNotLeader:
		return fmt.Errorf("leader: %s: %w", w.Detail, ErrNotLeader)
	case codeJoinToken:
		return &joinRefusal{w.Detail}
	case codeClusterAuth:
		return ErrNodeAuth
	case codeUnauthenticated:
		return fmt.Errorf("%s: %w", w.Detail, ErrUnauthenticated)
	case codePending:
		return ErrCredentialsPending
	case codeTooLarge:
		return errTooLarge
	}
	if w.Code == "" && status == http.StatusServiceUnavailable {
		// Not a node's answer (a proxy between the nodes): try again.
		return fmt.Errorf("leader answered %d: %w", status, ErrNotLeader)
	}
	return &RemoteError{Status: status, Message: w.Detail}
}
