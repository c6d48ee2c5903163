package idgw

import (
	"context"
	"net/url"
	"strconv"
	"time"
)

// Signed authorization requests at /authorize (JAR, RFC 9101; the CAMARA
// security profile): the SP sends its parameters as a request object it
// signed with a key it registered, in request (by value) or at a
// request_uri it registered (by reference: requesturi.go).

// jarMaxLife is the longest a request object at /authorize may live
// (exp - iat): CAMARA's 300 s.
const jarMaxLife = 300 * time.Second

// CodeRequestURINotSupported is OIDC Core §6.2's refusal of request_uri.
const CodeRequestURINotSupported ErrorCode = "request_uri_not_supported"

// jarClaims are the request object's claims that are about the object
// itself, not parameters of the authorization request.
var jarClaims = []string{"iss", "aud", "exp", "iat", "nbf", "jti"}

// authorizeRequestObject turns a request carrying a signed request object
// into the parameters it stands for: the object's claims, verified as the
// SI request object is (requestObject: the SP's keys, iss, aud, exp, jti
// spent once across the operator's nodes), with exp - iat at most 300 s.
// The object's parameters are the request (RFC 9101 §6.3); a parameter
// also sent outside it must be the same (OIDC Core §6.1 has client_id,
// response_type and scope repeated), else the request is refused. No
// error redirects: the redirect_uri is not trusted until the object is.
func (g *Gateway) authorizeRequestObject(ctx context.Context, args url.Values) (url.Values, *OAuthError) {
	corr := echoable(firstArg(args, "correlation_id"))
	fail := func(e *OAuthError) (url.Values, *OAuthError) {
		return nil, e.withCorrelation(corr).WithoutRedirect()
	}
	id := firstArg(args, "client_id")
	if id == "" || len(args["client_id"]) > 1 {
		return fail(ErrInvalidRequest("client_id is missing or repeated"))
	}
	sp := g.cfg.Registry.ServiceProvider(id)
	if sp == nil {
		return fail(ErrInvalidRequest("client_id is unknown"))
	}
	if _, err := g.operator(); err != nil {
		return fail(errOperatorUnregistered(err))
	}
	ro, e := g.signedRequest(ctx, sp, args)
	if e != nil {
		return fail(e)
	}
	if ro == "" {
		return fail(ErrInvalidRequest("request is empty"))
	}
	claims, e := g.requestObject(ctx, sp, ro, g.requestAudiences(g.authorizationURL()), g.now(), false)
	if e != nil {
		return fail(e)
	}
	iat, errI := strconv.ParseFloat(claims.Get("iat"), 64)
	exp, errE := strconv.ParseFloat(claims.Get("exp"), 64)
	switch {
	case errI != nil || errE != nil:
		return fail(newSafeError(CodeInvalidRequestObject, "request object: iat and exp are required"))
	case seconds(exp).Sub(seconds(iat)) > jarMaxLife:
		return fail(newSafeError(CodeInvalidRequestObject, "request object: exp - iat is more than 300 seconds"))
	}
	for _, k := range jarClaims {
		claims.Del(k)
	}
	out := url.Values{}
	for k, vs := range args {
		if k == "request" || k == "request_uri" {
			continue
		}
		if c, ok := claims[k]; ok && (len(vs) != 1 || vs[0] != c[0]) {
			return fail(newSafeError(CodeInvalidRequestObject, "request object: "+k+" outside it is not the one inside"))
		}
		out[k] = vs
	}
	for k, v := range claims {
		out[k] = v
	}
	if out.Get("client_id") != sp.ClientID {
		return fail(newSafeError(CodeInvalidRequestObject, "request object: client_id is not the request's"))
	}
	return out, nil
}

// authorizationURL is the operator's authorization endpoint, "" when the
// operator is not registered.
func (g *Gateway) authorizationURL() string {
	o, err := g.operator()
	if err != nil {
		return ""
	}
	return o.URLs().Authorization
}
