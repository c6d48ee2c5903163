package idgw

import (
	"errors"

	"github.com/gofiber/fiber/v2"
)

// Observer learns how each request to the gateway's OAuth endpoints ended;
// the node counts them. It is called once per request, after the answer
// is written, from the request's goroutine: it must be cheap and safe for
// concurrent use.
type Observer interface {
	ObserveOAuth(Observation)
}

// Observation is one answer of an OAuth endpoint. Every field has a
// bounded set of values, so each may be a metric label.
type Observation struct {
	// Endpoint is authorize, authorize_continue, token, revoke,
	// introspect, userinfo or premiuminfo.
	Endpoint string
	// GrantType is the token endpoint's grant_type when it is one of the
	// Mobile Connect grants, "none" when absent, "other" for anything
	// else; "" at the other endpoints.
	GrantType string
	// Status is the HTTP status of the answer.
	Status int
	// Error is the OAuth error the answer carried, "" for none.
	Error ErrorCode
}

// The endpoint names of Observation.
const (
	endpointAuthorize         = "authorize"
	endpointAuthorizeContinue = "authorize_continue"
	endpointToken             = "token"
	endpointRevoke            = "revoke"
	endpointIntrospect        = "introspect"
	endpointUserInfo          = "userinfo"
	endpointPremiumInfo       = "premiuminfo"
)

// errorCodeKey is the request local under which writeError leaves the code
// it answered, for observed.
type errorCodeKey struct{}

// observed runs h as endpoint and tells the observer how it answered.
func (g *Gateway) observed(endpoint string, h fiber.Handler) fiber.Handler {
	if g.cfg.Observer == nil {
		return h
	}
	return func(c *fiber.Ctx) error {
		o := Observation{Endpoint: endpoint}
		if endpoint == endpointToken {
			o.GrantType = grantTypeLabel(string(c.Request().PostArgs().Peek("grant_type")))
		}
		err := h(c)
		o.Status = c.Response().StatusCode()
		if err != nil {
			// The app's error handler answers it, as fiber's default does.
			o.Status = fiber.StatusInternalServerError
			var fe *fiber.Error
			if errors.As(err, &fe) {
				o.Status = fe.Code
			}
		}
		o.Error, _ = c.Locals(errorCodeKey{}).(ErrorCode)
		g.cfg.Observer.ObserveOAuth(o)
		return err
	}
}

// grantTypeLabel bounds a grant_type to the grants Mobile Connect clients
// use.
func grantTypeLabel(v string) string {
	switch v {
	case "":
		return "none"
	case grantAuthorizationCode, grantRefreshToken, "client_credentials",
		"urn:openid:params:grant-type:ciba", "urn:openid:params:mc:grant_type:server_initiated":
		return v
	}
	return "other"
}
