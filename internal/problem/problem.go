// Package problem is the RFC 9457 problem details body that mcfed's HTTP
// APIs (the admin API, the operator's subscriber API) answer errors with.
package problem

import "net/http"

// Base prefixes every problem type: Base + "not-found", ...
const Base = "https://mcfed.dev/problems/"

// ContentType is the media type of a problem body.
const ContentType = "application/problem+json"

// Details is a problem details body. Besides RFC 9457's members it has the
// extension members mcfed's APIs use, each left out when empty.
type Details struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	// Line is the line of an imported file that the problem is about.
	Line int `json:"line,omitempty"`
	// Field is the invalid field of a body.
	Field string `json:"field,omitempty"`
	// Errors lists the bad lines of an imported file; More says there were
	// more than listed.
	Errors []RowError `json:"errors,omitempty"`
	More   bool       `json:"more,omitempty"`
	// Applied is how many rows of an import were committed before it failed.
	Applied *int `json:"applied,omitempty"`
}

// RowError is one bad line of an imported file.
type RowError struct {
	Line   int    `json:"line"`
	Field  string `json:"field,omitempty"`
	Detail string `json:"detail"`
}

// Error carries a ready problem through code that returns errors.
type Error struct{ Problem Details }

func (e *Error) Error() string { return e.Problem.Detail }

// New is a problem of type Base+kind with the status's text as its title.
func New(status int, kind, detail string) *Error {
	return &Error{Details{Type: Base + kind, Title: http.StatusText(status), Status: status, Detail: detail}}
}
