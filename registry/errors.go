package registry

import (
	"errors"
	"fmt"
)

// Code classifies why the registry refused a command, so that callers can
// answer in their protocol (an HTTP status, a problem type) without parsing
// messages.
type Code string

const (
	// CodeInvalid: the command is malformed or a field fails validation.
	CodeInvalid Code = "invalid"
	// CodeNotFound: the command names an entity that does not exist.
	CodeNotFound Code = "not_found"
	// CodeConflict: the command contradicts the registry's state (a prefix
	// already held by another operator, an operator still referenced, ...).
	CodeConflict Code = "conflict"
	// CodeStale: a conditional write found the row changed since the
	// caller read it; read again and retry.
	CodeStale Code = "stale"
	// CodeForbidden: the command's author may not make it (authorize.go).
	CodeForbidden Code = "forbidden"
)

// Error is a refusal by the registry. Refusals are deterministic: every
// replica applying the same command to the same state refuses it the same way.
type Error struct {
	Code    Code
	Message string
}

func (e *Error) Error() string { return e.Message }

func invalidf(format string, args ...any) error {
	return &Error{Code: CodeInvalid, Message: fmt.Sprintf(format, args...)}
}

func notFoundf(format string, args ...any) error {
	return &Error{Code: CodeNotFound, Message: fmt.Sprintf(format, args...)}
}

func conflictf(format string, args ...any) error {
	return &Error{Code: CodeConflict, Message: fmt.Sprintf(format, args...)}
}

func stalef(format string, args ...any) error {
	return &Error{Code: CodeStale, Message: fmt.Sprintf(format, args...)}
}

func forbiddenf(format string, args ...any) error {
	return &Error{Code: CodeForbidden, Message: fmt.Sprintf(format, args...)}
}

// CodeOf returns the Code of a registry refusal anywhere in err's chain, or ""
// when err is not a refusal (an I/O error, a Raft error).
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}
