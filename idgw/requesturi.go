package idgw

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/mcfed/mcfed/internal/budget"
	"github.com/mcfed/mcfed/registry"
)

// Request objects by reference (RFC 9101 §5.2; OIDC Core §6.2): instead
// of request, the SP sends request_uri, where the gateway GETs the signed
// request object. At /authorize, /si-authorize and /bc-authorize alike:
//
//   - Only a URI the SP registered (request_uris) is fetched, matched
//     exactly: a gateway that fetched whatever a request names would be a
//     proxy into its own network for anyone who knows a client_id. An SP
//     that registered none is told request_uri_not_supported; one whose
//     request names another of its URIs, invalid_request_uri.
//   - The fetch is a jwks_uri's (jwksfetch.go): https to public addresses
//     only, every address checked after resolution, no proxy, no
//     redirects, in jwksFetchTimeout; plain http and loopback only for a
//     loopback deployment. The body is at most a request object's 16 KiB.
//   - Nothing is cached: a request object's jti is spent at its first
//     use, so the SP serves a new object for each request.
//   - What the fetched object says is verified as an object sent by value
//     (requestObject): the SP's keys, iss, aud, exp, jti once.

// CodeInvalidRequestURI is RFC 9101 §6.2's error for a request_uri that
// is not one the SP registered, or that could not be fetched.
const CodeInvalidRequestURI ErrorCode = "invalid_request_uri"

// requestURIFetchBudget bounds the request_uri fetches of one SP on one
// node: 20 a second, 40 at once (an SP whose own traffic needs more sends
// its request objects by value).
var requestURIFetchBudget = budget.Throttle{Rate: 20, Burst: 40}

// requestObjectMaxBytes bounds a request object, by value or fetched.
const requestObjectMaxBytes = 16 << 10

// signedRequest is the signed request object args carry for sp: request,
// or what its request_uri serves. "" when args carry neither.
func (g *Gateway) signedRequest(ctx context.Context, sp *registry.ServiceProvider, args url.Values) (string, *OAuthError) {
	byValue, byRef := args["request"], args["request_uri"]
	switch {
	case len(byValue) > 0 && len(byRef) > 0:
		return "", bcError(CodeInvalidRequest, "give request or request_uri, not both")
	case len(byValue) > 1 || len(byRef) > 1:
		return "", bcError(CodeInvalidRequest, "request or request_uri is repeated")
	case len(byValue) == 1:
		return byValue[0], nil
	case len(byRef) == 0:
		return "", nil
	}
	raw := byRef[0]
	switch {
	case len(sp.RequestURIs) == 0:
		return "", bcError(CodeRequestURINotSupported, "request_uri is not supported for this client, which registered no request_uris: send the request object by value in request")
	case !slices.Contains(sp.RequestURIs, raw):
		return "", bcError(CodeInvalidRequestURI, "request_uri is not one of the client's registered request_uris")
	}
	// Anyone who knows a client_id can name its request_uri: the fetches
	// for one SP are throttled on each node, so that the gateway cannot be
	// made to hammer the SP's server.
	if ok, _ := g.requestURIFetches.Take(sp.ClientID); !ok {
		g.log.Warn("idgw: request_uri fetches for the client are over their budget", "client_id", sp.ClientID)
		return "", bcError(CodeTemporarilyUnavailable, "too many request_uri fetches for this client; retry later")
	}
	ro, err := g.fetchRequestObject(ctx, raw)
	if err != nil {
		g.log.Info("idgw: a request_uri could not be fetched", "client_id", sp.ClientID, "request_uri", raw, "error", err)
		return "", bcError(CodeInvalidRequestURI, "the request object could not be fetched from request_uri")
	}
	return ro, nil
}

// fetchRequestObject GETs the request object at raw where the gateway may
// connect (the jwks_uri rules), in a bounded time and size. Its errors
// are for the log.
func (g *Gateway) fetchRequestObject(ctx context.Context, raw string) (string, error) {
	f := g.jwksFetcher()
	u, err := url.Parse(raw)
	if err != nil {
		return "", err
	}
	if err := checkJWKSURL(u, f.local); err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, jwksFetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, raw, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Accept", "application/oauth-authz-req+jwt, application/jwt")
	resp, err := f.client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("answered %d (redirects are not followed)", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, requestObjectMaxBytes+1))
	if err != nil {
		return "", fmt.Errorf("reading: %w", err)
	}
	if len(body) > requestObjectMaxBytes {
		return "", fmt.Errorf("serves more than %d bytes", requestObjectMaxBytes)
	}
	return strings.TrimSpace(string(body)), nil
}
