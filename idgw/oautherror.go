package idgw

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// ErrorCode is an OAuth 2.0 / OpenID Connect error code, the "error" of an
// answer.
type ErrorCode string

// The error codes the gateway answers: RFC 6749 §4.1.2.1 and §5.2, OpenID
// Connect Core §3.1.2.6, RFC 6750 §3.1, and the Mobile Connect mapping of
// the operator stub M (spec §2.2). No other code is ever sent, so a code
// is also a bounded metric label.
const (
	CodeInvalidRequest          ErrorCode = "invalid_request"
	CodeInvalidClient           ErrorCode = "invalid_client"
	CodeInvalidGrant            ErrorCode = "invalid_grant"
	CodeUnauthorizedClient      ErrorCode = "unauthorized_client"
	CodeUnsupportedGrantType    ErrorCode = "unsupported_grant_type"
	CodeAccessDenied            ErrorCode = "access_denied"
	CodeUnsupportedResponseType ErrorCode = "unsupported_response_type"
	CodeInvalidScope            ErrorCode = "invalid_scope"
	CodeServerError             ErrorCode = "server_error"
	CodeTemporarilyUnavailable  ErrorCode = "temporarily_unavailable"
	CodeLoginRequired           ErrorCode = "login_required"
	CodeConsentRequired         ErrorCode = "consent_required"
	CodeInteractionRequired     ErrorCode = "interaction_required"
	// CodeInvalidToken: a bearer token that is unknown, expired or
	// revoked (RFC 6750 §3.1).
	CodeInvalidToken ErrorCode = "invalid_token"
	// CodeSlowDown: a client over its rate at userinfo or premiuminfo
	// (the code RFC 8628 §3.5 gives to polling too fast).
	CodeSlowDown ErrorCode = "slow_down"
)

// OAuthError is a protocol error as a value, the one error type of every
// endpoint of the gateway. It knows whether it may be sent back to the
// client's redirect URI: only once the client and the redirect_uri were
// validated (zitadel/oidc's redirectDisabled, inverted). Before that it is
// answered as a 400 page and never as a redirect, so the authorization
// endpoint cannot be used as an open redirector. How an endpoint answers
// it (redirect, page, JSON, WWW-Authenticate) is writeError's choice.
//
// Code and Description are sent to the client; an internal cause is kept
// apart (WithParent, Unwrap) for logs. The authorization endpoint's
// descriptions are fixed, safe texts of this package (the exported
// constructors keep only what RFC 6749 allows there).
type OAuthError struct {
	Code        ErrorCode
	Description string

	// status is the HTTP status of a JSON answer (token, revocation,
	// introspection, userinfo); the authorization endpoint answers 302 or
	// 400 whatever it is.
	status int
	// basicChallenge: the client authenticated with HTTP Basic, so the
	// answer carries WWW-Authenticate: Basic (RFC 6749 §5.2).
	basicChallenge bool
	// retryAfter, when set, is sent as Retry-After.
	retryAfter time.Duration

	redirect      bool
	redirectURI   string // a registered redirect URI of the client
	state         string
	correlationID string
	cause         error
}

func (e *OAuthError) Error() string {
	if e.Description == "" {
		return string(e.Code)
	}
	return string(e.Code) + ": " + e.Description
}

// Unwrap returns the internal cause, if any (for logs, never for clients).
func (e *OAuthError) Unwrap() error { return e.cause }

// WithParent returns a copy of e that keeps cause for logs; the client
// never sees it.
func (e *OAuthError) WithParent(cause error) *OAuthError {
	c := *e
	c.cause = cause
	return &c
}

// Redirects reports whether the error is answered by a redirect to the
// client's redirect URI.
func (e *OAuthError) Redirects() bool { return e.redirect }

// RedirectURI is the validated redirect URI the error goes back to, or "".
func (e *OAuthError) RedirectURI() string {
	if !e.redirect {
		return ""
	}
	return e.redirectURI
}

// State and CorrelationID are the values echoed with the error.
func (e *OAuthError) State() string         { return e.state }
func (e *OAuthError) CorrelationID() string { return e.correlationID }

// withRedirect returns a copy of e that redirects to redirectURI, which
// the caller must have checked is registered for the client.
func (e *OAuthError) withRedirect(redirectURI, state, correlationID string) *OAuthError {
	c := *e
	c.redirect = redirectURI != ""
	c.redirectURI = redirectURI
	c.state = state
	c.correlationID = correlationID
	return &c
}

// withCorrelation returns a copy of e carrying correlationID, for the page
// of a non-redirectable error.
func (e *OAuthError) withCorrelation(correlationID string) *OAuthError {
	c := *e
	c.correlationID = correlationID
	return &c
}

// WithoutRedirect returns a copy of e that is never redirected.
func (e *OAuthError) WithoutRedirect() *OAuthError {
	c := *e
	c.redirect = false
	c.redirectURI = ""
	return &c
}

// DefaultToServerError returns err as the OAuthError it is or wraps, or
// else a server_error that keeps err for logs and hides it from the client
// (zitadel/oidc's DefaultToServerError).
func DefaultToServerError(err error) *OAuthError {
	var e *OAuthError
	if errors.As(err, &e) {
		return e
	}
	return ErrServerError(err)
}

// newError is an error of code with desc as given, answered with the
// code's usual status.
func newError(code ErrorCode, desc string) *OAuthError {
	return &OAuthError{Code: code, Description: desc, status: statusOf(code)}
}

// statusOf is the HTTP status a JSON answer of code gets.
func statusOf(code ErrorCode) int {
	switch code {
	case CodeInvalidClient, CodeInvalidToken:
		return http.StatusUnauthorized
	case CodeServerError:
		return http.StatusInternalServerError
	case CodeTemporarilyUnavailable:
		return http.StatusServiceUnavailable
	case CodeSlowDown:
		return http.StatusTooManyRequests
	}
	return http.StatusBadRequest
}

// newSafeError is newError with desc cut to what error_description may
// hold.
func newSafeError(code ErrorCode, desc string) *OAuthError {
	return newError(code, safeDescription(desc))
}

// ErrInvalidRequest: a parameter is missing, repeated, malformed or
// unsupported.
func ErrInvalidRequest(desc string) *OAuthError { return newSafeError(CodeInvalidRequest, desc) }

// ErrInvalidScope: the scope is missing or malformed.
func ErrInvalidScope(desc string) *OAuthError { return newSafeError(CodeInvalidScope, desc) }

// ErrAccessDenied: the user, the operator or the client's registration
// refuses the request.
func ErrAccessDenied(desc string) *OAuthError { return newSafeError(CodeAccessDenied, desc) }

// ErrUnauthorizedClient: the client may not use this gateway.
func ErrUnauthorizedClient(desc string) *OAuthError {
	return newSafeError(CodeUnauthorizedClient, desc)
}

// ErrUnsupportedResponseType: response_type is not "code".
func ErrUnsupportedResponseType(desc string) *OAuthError {
	return newSafeError(CodeUnsupportedResponseType, desc)
}

// ErrServerError hides cause from the client behind a fixed text; cause is
// kept for logs.
func ErrServerError(cause error) *OAuthError {
	return newError(CodeServerError, "the identity gateway could not process the request").WithParent(cause)
}

// ErrTemporarilyUnavailable: the gateway or the authenticator is busy or
// down; cause is kept for logs.
func ErrTemporarilyUnavailable(cause error) *OAuthError {
	return newError(CodeTemporarilyUnavailable, "the identity gateway is temporarily unavailable, try again later").WithParent(cause)
}

// ErrLoginRequired: prompt=none and the user must authenticate.
func ErrLoginRequired(desc string) *OAuthError { return newSafeError(CodeLoginRequired, desc) }

// ErrConsentRequired: prompt=none and the user must consent.
func ErrConsentRequired(desc string) *OAuthError { return newSafeError(CodeConsentRequired, desc) }

// ErrInteractionRequired: prompt=none and the user must interact.
func ErrInteractionRequired(desc string) *OAuthError {
	return newSafeError(CodeInteractionRequired, desc)
}

// The token, revocation and introspection endpoints' errors (RFC 6749
// §5.2). Their descriptions are sent as they have always been.

// errInvalidClient: client authentication failed; basic says the client
// tried HTTP Basic, which the answer then challenges.
func errInvalidClient(basic bool) *OAuthError {
	e := newError(CodeInvalidClient, "client authentication failed")
	e.basicChallenge = basic
	return e
}

func errInvalidGrant(desc string) *OAuthError { return newError(CodeInvalidGrant, desc) }

func errTokenRequest(desc string) *OAuthError { return newError(CodeInvalidRequest, desc) }

func errUnsupportedGrantType() *OAuthError {
	return newError(CodeUnsupportedGrantType, "this endpoint takes authorization_code, refresh_token, client_credentials and urn:openid:params:grant-type:ciba")
}

// errOperatorUnregistered: this node's operator is not (yet) in the
// registry.
func errOperatorUnregistered(cause error) *OAuthError {
	return newError(CodeTemporarilyUnavailable, "the operator is not registered").WithParent(cause)
}

// The bearer endpoints' errors (userinfo, premiuminfo; RFC 6750 §3).

func errNoAccessToken() *OAuthError { return newError(CodeInvalidRequest, "No Access Token") }

func errInvalidToken(desc string) *OAuthError { return newError(CodeInvalidToken, desc) }

func errSlowDown(wait time.Duration) *OAuthError {
	e := newError(CodeSlowDown, "too many requests for this client")
	e.retryAfter = wait
	return e
}

// safeDescription keeps only the characters RFC 6749 allows in
// error_description (%x20-21 / %x23-5B / %x5D-7E) and bounds the length.
func safeDescription(s string) string {
	const max = 256
	var b strings.Builder
	for i := 0; i < len(s) && b.Len() < max; i++ {
		c := s[i]
		if c >= 0x20 && c <= 0x7e && c != '"' && c != '\\' {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// appendQuery adds kv (name, value pairs; empty values are left out) to the
// query of a registered redirect URI, keeping its own query as it is.
func appendQuery(redirectURI string, kv ...string) (string, error) {
	u, err := url.Parse(redirectURI)
	if err != nil {
		return "", err
	}
	var q strings.Builder
	q.WriteString(u.RawQuery)
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			continue
		}
		if q.Len() > 0 {
			q.WriteByte('&')
		}
		q.WriteString(url.QueryEscape(kv[i]))
		q.WriteByte('=')
		q.WriteString(url.QueryEscape(kv[i+1]))
	}
	u.RawQuery = q.String()
	u.ForceQuery = false
	return u.String(), nil
}

// ErrorRedirectURL is where a redirectable error sends the user agent:
// redirect_uri?error=..&error_description=..&state=..&correlation_id=..
// It returns "" for an error that must not be redirected.
func (e *OAuthError) ErrorRedirectURL() string {
	if !e.redirect || e.redirectURI == "" {
		return ""
	}
	loc, err := appendQuery(e.redirectURI,
		"error", string(e.Code),
		"error_description", e.Description,
		"state", e.state,
		"correlation_id", e.correlationID)
	if err != nil {
		return ""
	}
	return loc
}
