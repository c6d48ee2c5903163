package discovery

import (
	"net/http"
)

// protoError is a Discovery API error: what the SDKs read from the body
// (error, description, error_description) and the HTTP status they branch on.
type protoError struct {
	status  int
	code    string
	desc    string
	outcome string
	// retryAfter, when not 0, is sent as Retry-After (seconds).
	retryAfter int
}

func (e *protoError) Error() string { return e.code + ": " + e.desc }

// Error codes. Not_Found_Entity is the code the GSMA sandbox answers and the
// Java SDK's fixtures expect; the others are OAuth 2.0's.
const (
	codeNotFound       = "Not_Found_Entity"
	codeInvalidRequest = "invalid_request"
	codeInvalidClient  = "invalid_client"
	codeServerError    = "server_error"
	// codeTemporarilyUnavailable is OAuth 2.0's code for a server that
	// cannot answer now but will (RFC 6749 §4.1.2.1).
	codeTemporarilyUnavailable = "temporarily_unavailable"
	// codeSlowDown: too many requests, or too many failed
	// authentications, from this SP or address (the code RFC 8628 and
	// CIBA give a client that must wait).
	codeSlowDown = "slow_down"
)

func errUnauthorized(desc string) *protoError {
	return &protoError{status: http.StatusUnauthorized, code: codeInvalidClient, desc: desc, outcome: OutcomeUnauthorized}
}

func errBadRequest(desc string) *protoError {
	return &protoError{status: http.StatusBadRequest, code: codeInvalidRequest, desc: desc, outcome: OutcomeBadRequest}
}

// errNotFound is the answer for a number, network or operator of no member
// the SP may use. The description is the sandbox's, word for word: SDK demo
// apps show it to users.
var errNotFound = &protoError{status: http.StatusNotFound, code: codeNotFound, desc: "Operator Not Found", outcome: OutcomeNotFound}

var (
	errBadCredentials = errUnauthorized("client authentication failed: unknown client, wrong secret or suspended client")
	errRedirect       = errBadRequest("Invalid_Redirect_URL: Redirect_URL is not a redirect URI registered for this client")
	errInternal       = &protoError{status: http.StatusInternalServerError, code: codeServerError, desc: "the node could not build the answer", outcome: OutcomeError}
)

// appendError renders e as the body every SDK reads: description for Java
// and PHP (PHP fails without it), error_description and an empty response
// object for Android, and the correlation id echoed when the request had one.
func appendError(b []byte, e *protoError, correlationID []byte, hasCorrelation bool) []byte {
	b = append(b, `{"error":`...)
	b = appendJSONString(b, e.code)
	b = append(b, `,"description":`...)
	b = appendJSONString(b, e.desc)
	b = append(b, `,"error_description":`...)
	b = appendJSONString(b, e.desc)
	if hasCorrelation {
		b = append(b, `,"correlation_id":`...)
		b = appendJSONString(b, correlationID)
	}
	return append(b, `,"response":{}}`...)
}
