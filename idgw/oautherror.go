package idgw

import (
	"bytes"
	"html/template"
	"net/url"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// OAuth 2.0 / OpenID Connect error codes the authorization endpoint answers
// (RFC 6749 §4.1.2.1, OpenID Connect Core §3.1.2.6), with the Mobile Connect
// mapping of the operator stub M (spec §2.2).
const (
	CodeInvalidRequest          = "invalid_request"
	CodeUnauthorizedClient      = "unauthorized_client"
	CodeAccessDenied            = "access_denied"
	CodeUnsupportedResponseType = "unsupported_response_type"
	CodeInvalidScope            = "invalid_scope"
	CodeServerError             = "server_error"
	CodeTemporarilyUnavailable  = "temporarily_unavailable"
	CodeLoginRequired           = "login_required"
	CodeConsentRequired         = "consent_required"
	CodeInteractionRequired     = "interaction_required"
)

// OAuthError is a protocol error as a value. It knows whether it may be sent
// back to the client's redirect URI: only once the client and the
// redirect_uri were validated (zitadel/oidc's redirectDisabled, inverted).
// Before that it is answered as a 400 page and never as a redirect, so the
// authorization endpoint cannot be used as an open redirector.
//
// Code and Description are sent to the client; Description is always a
// fixed, safe text of this package, never an internal error or a value the
// request carried. An internal cause is kept apart (Unwrap) for logs.
type OAuthError struct {
	Code        string
	Description string

	redirect      bool
	redirectURI   string // a registered redirect URI of the client
	state         string
	correlationID string
	cause         error
}

func (e *OAuthError) Error() string {
	if e.Description == "" {
		return e.Code
	}
	return e.Code + ": " + e.Description
}

// Unwrap returns the internal cause, if any (for logs, never for clients).
func (e *OAuthError) Unwrap() error { return e.cause }

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

func newOAuthError(code, desc string) *OAuthError {
	return &OAuthError{Code: code, Description: safeDescription(desc)}
}

// ErrInvalidRequest: a parameter is missing, repeated, malformed or
// unsupported.
func ErrInvalidRequest(desc string) *OAuthError { return newOAuthError(CodeInvalidRequest, desc) }

// ErrInvalidScope: the scope is missing or malformed.
func ErrInvalidScope(desc string) *OAuthError { return newOAuthError(CodeInvalidScope, desc) }

// ErrAccessDenied: the user, the operator or the client's registration
// refuses the request.
func ErrAccessDenied(desc string) *OAuthError { return newOAuthError(CodeAccessDenied, desc) }

// ErrUnauthorizedClient: the client may not use this gateway.
func ErrUnauthorizedClient(desc string) *OAuthError {
	return newOAuthError(CodeUnauthorizedClient, desc)
}

// ErrUnsupportedResponseType: response_type is not "code".
func ErrUnsupportedResponseType(desc string) *OAuthError {
	return newOAuthError(CodeUnsupportedResponseType, desc)
}

// ErrServerError hides cause from the client behind a fixed text; cause is
// kept for logs.
func ErrServerError(cause error) *OAuthError {
	e := newOAuthError(CodeServerError, "the identity gateway could not process the request")
	e.cause = cause
	return e
}

// ErrTemporarilyUnavailable: the gateway or the authenticator is busy or
// down; cause is kept for logs.
func ErrTemporarilyUnavailable(cause error) *OAuthError {
	e := newOAuthError(CodeTemporarilyUnavailable, "the identity gateway is temporarily unavailable, try again later")
	e.cause = cause
	return e
}

// ErrLoginRequired: prompt=none and the user must authenticate.
func ErrLoginRequired(desc string) *OAuthError { return newOAuthError(CodeLoginRequired, desc) }

// ErrConsentRequired: prompt=none and the user must consent.
func ErrConsentRequired(desc string) *OAuthError { return newOAuthError(CodeConsentRequired, desc) }

// ErrInteractionRequired: prompt=none and the user must interact.
func ErrInteractionRequired(desc string) *OAuthError {
	return newOAuthError(CodeInteractionRequired, desc)
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
		"error", e.Code,
		"error_description", e.Description,
		"state", e.state,
		"correlation_id", e.correlationID)
	if err != nil {
		return ""
	}
	return loc
}

var errorPage = template.Must(template.New("error").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Mobile Connect: request refused</title>
<style>body{font-family:sans-serif;max-width:36em;margin:2em auto;padding:0 1em;color:#222}code{background:#eee;padding:0 .2em}</style>
</head>
<body>
<h1>This sign-in request cannot be completed</h1>
<p>{{.Description}}</p>
<p>Error: <code>{{.Code}}</code></p>
{{if .CorrelationID}}<p>Reference: <code>{{.CorrelationID}}</code></p>{{end}}
<p>Please return to the application you came from and try again.</p>
</body>
</html>
`))

// renderErrorPage is the 400 page of a non-redirectable error: no external
// assets, every value escaped by html/template.
func renderErrorPage(e *OAuthError) []byte {
	var b bytes.Buffer
	data := struct{ Code, Description, CorrelationID string }{e.Code, e.Description, e.correlationID}
	if err := errorPage.Execute(&b, data); err != nil {
		return []byte("Bad request")
	}
	return b.Bytes()
}

// writeAuthError answers an authorization-endpoint error: a 302 to the
// validated redirect URI when e may be redirected, else a 400 HTML page
// without any Location header.
func writeAuthError(c *fiber.Ctx, e *OAuthError) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set("Pragma", "no-cache")
	if loc := e.ErrorRedirectURL(); loc != "" {
		c.Set(fiber.HeaderLocation, loc)
		return c.SendStatus(fiber.StatusFound)
	}
	c.Response().Header.Del(fiber.HeaderLocation)
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	c.Set(fiber.HeaderXFrameOptions, "DENY")
	c.Set(fiber.HeaderContentSecurityPolicy, "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
	return c.Status(fiber.StatusBadRequest).Send(renderErrorPage(e))
}
