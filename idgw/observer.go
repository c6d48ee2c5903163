package idgw

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
