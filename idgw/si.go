package idgw

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mcfed/mcfed/registry"
)

// Mobile Connect server-initiated login (SI) at si_authorization_endpoint:
// the SP sends a signed request object (request=<JWT>, or request_uri where
// the gateway fetches it: requesturi.go; with client_id and perhaps a copy
// of the parameters outside it) as a GET query, a POST with
// the query and an empty body, a POST form or a POST JSON body; the
// gateway answers {auth_req_id, expires_in, correlation_id} and later
// POSTs the tokens or the error to the request's notification_uri, one
// the SP registered (notify.go).

const (
	// requestObjectMaxAhead bounds a request object's exp, and so how long
	// its jti is remembered.
	requestObjectMaxAhead = time.Hour
	// requestObjectNoExp is the life given to a request object that has
	// iat and no exp (some SI clients send none): its replay window.
	requestObjectNoExp = 5 * time.Minute
	responseTypeSI     = "mc_si_async_code"
)

// siAuthorize is the SI endpoint, args being the query, form and JSON
// body's parameters together.
func (g *Gateway) siAuthorize(ctx context.Context, args url.Values, source string) (*bcAnswer, *OAuthError) {
	corr := echoable(firstArg(args, "correlation_id"))
	fail := func(e *OAuthError) (*bcAnswer, *OAuthError) { return nil, e.withCorrelation(corr) }
	id := firstArg(args, "client_id")
	if id == "" || len(args["client_id"]) > 1 {
		return fail(bcError(CodeInvalidRequest, "client_id is missing or repeated"))
	}
	sp := g.cfg.Registry.ServiceProvider(id)
	if sp == nil {
		return fail(newError(CodeInvalidClient, "client_id is unknown"))
	}
	if sp.Status != registry.StatusActive || !sp.Accepts(g.cfg.OperatorID) {
		return fail(bcError(CodeUnauthorizedClient, "the client is not allowed to use this operator"))
	}
	ro, e := g.signedRequest(ctx, sp, args)
	if e != nil {
		return fail(e)
	}
	if ro == "" {
		return fail(bcError(CodeInvalidRequest, "request (the signed request object) or request_uri is required"))
	}
	now := g.now()
	o, err := g.operator()
	if err != nil {
		return fail(errOperatorUnregistered(err))
	}
	claims, e := g.requestObject(ctx, sp, ro, g.requestAudiences(o.URLs().SIAuthorization), now, true)
	if e != nil {
		return fail(e)
	}
	if c := claims.Get("client_id"); c != "" && c != sp.ClientID {
		return fail(bcError(CodeInvalidRequestObject, "the request object's client_id is not the request's"))
	}
	if claims.Get("correlation_id") == "" && corr != "" {
		claims.Set("correlation_id", corr)
	}
	corr = echoable(claims.Get("correlation_id"))
	for _, rt := range []string{claims.Get("response_type"), firstArg(args, "response_type")} {
		if rt != "" && rt != responseTypeSI {
			return fail(newError(CodeUnsupportedResponseType, "response_type must be "+responseTypeSI))
		}
	}
	notify := claims.Get("notification_uri")
	switch {
	case notify == "":
		return fail(bcError(CodeInvalidRequest, "notification_uri is required"))
	case !slices.Contains(sp.NotificationURIs, notify):
		return fail(bcError(CodeInvalidRequest, "notification_uri is not registered for this client"))
	}
	token := claims.Get("client_notification_token")
	if token == "" || len(token) > 1024 {
		return fail(bcError(CodeInvalidRequest, "client_notification_token is required, at most 1024 characters"))
	}
	if claims.Get("nonce") == "" {
		return fail(bcError(CodeInvalidRequestObject, "nonce is required"))
	}
	req, expires, e := g.parseBackchannel(ctx, claims, sp, now)
	if e != nil {
		return fail(e)
	}
	req.State = echoable(claims.Get("state"))
	b := &bcLogin{req: req, mode: modePush, expires: expires, notifyURI: notify, notifyToken: token, source: source}
	if e := g.startBackchannel(ctx, b); e != nil {
		return fail(e)
	}
	return g.answerOf(b), nil
}

// requestAudiences are what a request object sent to endpoint may name as
// its aud: the issuer (with or without its final slash, as clients spell
// it) or the endpoint itself.
func (g *Gateway) requestAudiences(endpoint string) []string {
	o, err := g.operator()
	if err != nil {
		return []string{endpoint}
	}
	return []string{o.Issuer, strings.TrimRight(o.Issuer, "/"), endpoint}
}

// requestObject verifies a request object the SP signed (OIDC Core §6.1,
// RFC 9101) with a key it registered (jwks or jwks_uri), checks its iss,
// aud (one of audience), exp, iat and nbf, spends its jti (its nonce, when
// it has none and nonceIsID) once across the operator's nodes, and answers
// its claims as parameters.
func (g *Gateway) requestObject(ctx context.Context, sp *registry.ServiceProvider, token string, audience []string, now time.Time, nonceIsID bool) (url.Values, *OAuthError) {
	if len(token) > requestObjectMaxBytes {
		return nil, bcError(CodeInvalidRequestObject, "the request object is longer than 16 KiB")
	}
	payload, e := g.verifySPJWT(ctx, sp, token)
	if e != nil {
		return nil, bcError(CodeInvalidRequestObject, "request object: "+e.Description)
	}
	var raw map[string]json.RawMessage
	var c struct {
		Iss   string    `json:"iss"`
		Aud   audiences `json:"aud"`
		Exp   *float64  `json:"exp"`
		Iat   *float64  `json:"iat"`
		Nbf   *float64  `json:"nbf"`
		JTI   string    `json:"jti"`
		Nonce string    `json:"nonce"`
	}
	if json.Unmarshal(payload, &raw) != nil || json.Unmarshal(payload, &c) != nil {
		return nil, bcError(CodeInvalidRequestObject, "the request object's claims are not a JSON object")
	}
	var exp time.Time
	switch {
	case c.Exp != nil:
		exp = seconds(*c.Exp)
	case c.Iat != nil:
		exp = seconds(*c.Iat).Add(requestObjectNoExp)
	}
	replay := c.JTI
	if replay == "" && nonceIsID {
		replay = "nonce:" + c.Nonce
	}
	bad := func(why string) (url.Values, *OAuthError) {
		return nil, bcError(CodeInvalidRequestObject, "request object: "+why)
	}
	switch {
	case c.Iss != sp.ClientID:
		return bad("iss must be the client_id")
	case !slices.ContainsFunc(c.Aud, func(a string) bool { return a != "" && slices.Contains(audience, a) }):
		return bad("aud must name this operator's issuer (" + audience[0] + ")")
	case exp.IsZero():
		return bad("exp is required")
	case !now.Before(exp.Add(assertionSkew)):
		return bad("expired")
	case exp.After(now.Add(requestObjectMaxAhead + assertionSkew)):
		return bad("exp is more than an hour ahead")
	case c.Iat != nil && seconds(*c.Iat).After(now.Add(assertionSkew)):
		return bad("iat is in the future")
	case c.Nbf != nil && seconds(*c.Nbf).After(now.Add(assertionSkew)):
		return bad("not valid yet (nbf)")
	case replay == "" || replay == "nonce:" || len(replay) > maxJTILen:
		return bad(fmt.Sprintf("jti is required, at most %d characters", maxJTILen))
	}
	fresh, err := g.claimAssertion(ctx, "request-object\x00"+sp.ClientID+"\x00"+replay, exp.Add(assertionSkew))
	if err != nil {
		return nil, ErrServerError(fmt.Errorf("recording a request object's jti: %w", err))
	}
	if !fresh {
		return bad("its jti was already used: sign a new request object for each request")
	}
	out := url.Values{}
	for k, v := range raw {
		if s, ok := claimString(k, v); ok {
			out.Set(k, s)
		}
	}
	return out, nil
}

// claimString is a request object claim as a parameter: a string as it
// is, a number in decimal (an SI client sends acr_values 3), a list of
// strings space-separated, an object (claims) as its JSON.
func claimString(name string, v json.RawMessage) (string, bool) {
	var s string
	if json.Unmarshal(v, &s) == nil {
		return s, true
	}
	var n json.Number
	if json.Unmarshal(v, &n) == nil {
		if i, err := strconv.ParseInt(n.String(), 10, 64); err == nil {
			return strconv.FormatInt(i, 10), true
		}
		return n.String(), true
	}
	var list []string
	if json.Unmarshal(v, &list) == nil {
		return strings.Join(list, " "), true
	}
	if name == "claims" && len(v) > 0 && v[0] == '{' {
		return string(v), true
	}
	return "", false
}

// verifySPJWT verifies a JWT the SP signed with its registered keys
// (those of private_key_jwt) and answers its payload.
func (g *Gateway) verifySPJWT(ctx context.Context, sp *registry.ServiceProvider, token string) ([]byte, *OAuthError) {
	payload, e := g.clientAuth.verify(ctx, g.jwksFetcher(), sp, token, g.now())
	if e != nil {
		return nil, newError(CodeInvalidRequest, strings.TrimPrefix(e.Description, "client assertion: "))
	}
	return payload, nil
}
