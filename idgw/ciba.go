package idgw

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/mcfed/mcfed/internal/e164"
	"github.com/mcfed/mcfed/internal/jose"
	"github.com/mcfed/mcfed/registry"
)

// OpenID CIBA Core 1.0 (Client-Initiated Backchannel Authentication): the
// backchannel authentication endpoint and the CIBA grant of /token, in the
// poll and ping modes (push is Mobile Connect SI's, si.go). The SP
// authenticates as at /token (private_key_jwt, or its secret); the login
// runs as bclogin.go says.

// grantCIBA is the CIBA grant type (CIBA Core §10.1).
const grantCIBA = "urn:openid:params:grant-type:ciba"

// The observer's names of the server-initiated endpoints.
const (
	endpointBackchannel = "bc_authorize"
	endpointSIAuthorize = "si_authorize"
)

// backchannelAuthorize is the backchannel authentication endpoint: the
// authenticated SP's request (a form, or a signed request object in
// request or at request_uri) starts a login on the subscriber's handset.
func (g *Gateway) backchannelAuthorize(ctx context.Context, r tokenRequest) (*bcAnswer, *OAuthError) {
	for k, vs := range r.form {
		if len(vs) > 1 {
			return nil, bcError(CodeInvalidRequest, "parameter "+k+" is repeated")
		}
	}
	sp, e := g.authenticateClient(ctx, r, backchannelEndpoint)
	if e != nil {
		return nil, e
	}
	now := g.now()
	args := r.form
	ro, e := g.signedRequest(ctx, sp, args)
	if e != nil {
		return nil, e
	}
	if ro != "" {
		// A signed request (CIBA Core §7.1.1; or by reference, RFC 9101
		// §5.2): its claims are the request; the form then holds only the
		// client's authentication.
		claims, e := g.requestObject(ctx, sp, ro, g.requestAudiences(g.backchannelURL()), now, false)
		if e != nil {
			return nil, e
		}
		args = claims
	}
	if args.Get("user_code") != "" {
		return nil, bcError(CodeInvalidRequest, "user_code is not supported (backchannel_user_code_parameter_supported is false)")
	}
	mode := bcModeOf(sp)
	token := args.Get("client_notification_token")
	if mode == modePing && token == "" {
		return nil, bcError(CodeInvalidRequest, "client_notification_token is required in the ping mode")
	}
	if len(token) > 1024 {
		return nil, bcError(CodeInvalidRequest, "client_notification_token is longer than 1024 characters")
	}
	req, expires, e := g.parseBackchannel(ctx, args, sp, now)
	if e != nil {
		return nil, e
	}
	b := &bcLogin{req: req, mode: mode, expires: expires, source: r.source}
	if mode == modePing {
		b.notifyURI, b.notifyToken = sp.BackchannelClientNotificationEndpoint, token
	}
	if e := g.startBackchannel(ctx, b); e != nil {
		return nil, e
	}
	return g.answerOf(b), nil
}

// cibaGrant is the CIBA grant at /token (CIBA Core §10-11): the SP's
// token request for an auth_req_id it got from the backchannel endpoint.
// Polling faster than the login's interval is slow_down, and the interval
// grows; a login not yet answered is authorization_pending; a refusal is
// access_denied, a timeout expired_token. The tokens or the error are
// answered once: the login's record is taken, and a second request for the
// auth_req_id is invalid_grant.
func (g *Gateway) cibaGrant(ctx context.Context, sp *registry.ServiceProvider, id string) (*tokenResponse, *OAuthError) {
	if id == "" {
		return nil, errTokenRequest("auth_req_id is required")
	}
	key := tokenKey(id)
	now := g.now()
	var e *OAuthError
	err := g.bc.update(ctx, key, 0, func(b *bcLogin) (*bcLogin, error) {
		switch {
		case b.req.ClientID != sp.ClientID:
			e = errInvalidGrant("the auth_req_id was issued to another client")
		case b.mode == modePush:
			e = errInvalidGrant("the result of this request is delivered to its notification_uri")
		case b.mode == modePoll && b.status == bcPending && !b.lastPoll.IsZero() && now.Sub(b.lastPoll) < b.interval:
			b.interval += bcSlowDownStep
			e = bcError(CodeSlowDown, "poll at most every "+b.interval.String())
		}
		if e != nil && e.Code != CodeSlowDown {
			return nil, errRefusedPoll // nothing to write
		}
		b.lastPoll = now
		return b, nil
	})
	switch {
	case e != nil:
		return nil, e
	case err != nil:
		return nil, errInvalidGrant("the auth_req_id is unknown, expired or already used")
	}
	b, ok := g.advance(ctx, key)
	if !ok {
		return nil, errInvalidGrant("the auth_req_id is unknown, expired or already used")
	}
	if b.status == bcPending {
		if !now.Before(b.expires) {
			// Another node holds the lease; the login is over all the same.
			g.bc.take(ctx, key)
			return nil, bcError(CodeExpiredToken, "the subscriber did not answer in time")
		}
		return nil, bcError(CodeAuthorizationPending, "the subscriber has not answered yet")
	}
	// Decided: of the requests that see it, on any node, the one that
	// takes the record answers it.
	b, ok = g.bc.take(ctx, key)
	if !ok {
		return nil, errInvalidGrant("the auth_req_id is unknown, expired or already used")
	}
	if b.status == bcFailed {
		return nil, bcError(b.errCode, b.errDesc)
	}
	g.rememberPCR(ctx, b.req.ClientID, b.msisdn, b.subject.pcr)
	return g.issueTokens(ctx, sp, "mcfed-ciba\x00"+id, b.grant())
}

// errRefusedPoll leaves a login as it was when a token request for it is
// refused before it is looked at.
var errRefusedPoll = errors.New("idgw: the CIBA token request is refused")

// loginHintTokenNumber reads a login_hint_token: a JWT the SP signed with
// a registered key, naming the subscriber as a subject identifier (RFC
// 9493: {"sub_id": {"format": "phone_number", "phone_number": "+..."}}),
// or in a phone_number claim. It answers the number in E.164.
func (g *Gateway) loginHintTokenNumber(ctx context.Context, sp *registry.ServiceProvider, token string, now time.Time) (string, *OAuthError) {
	payload, e := g.verifySPJWT(ctx, sp, token)
	if e != nil {
		return "", bcError(CodeInvalidRequest, "login_hint_token: "+e.Description)
	}
	var c struct {
		Exp   *float64 `json:"exp"`
		SubID struct {
			Format      string `json:"format"`
			PhoneNumber string `json:"phone_number"`
		} `json:"sub_id"`
		PhoneNumber string `json:"phone_number"`
	}
	if json.Unmarshal(payload, &c) != nil {
		return "", bcError(CodeInvalidRequest, "login_hint_token: the claims are not a JSON object")
	}
	if c.Exp != nil && !now.Before(seconds(*c.Exp).Add(assertionSkew)) {
		return "", bcError(CodeExpiredLoginHintToken, "login_hint_token has expired")
	}
	n := c.PhoneNumber
	if c.SubID.Format == "phone_number" {
		n = c.SubID.PhoneNumber
	}
	v, err := e164.Parse(n)
	if err != nil {
		return "", bcError(CodeInvalidRequest, "login_hint_token names no valid phone number (sub_id of format phone_number)")
	}
	return e164.Format(v), nil
}

// CodeExpiredLoginHintToken is CIBA Core §13's error for a stale
// login_hint_token.
const CodeExpiredLoginHintToken ErrorCode = "expired_login_hint_token"

// idTokenHintSubject reads an id_token_hint: an ID token this gateway
// issued to the client (possibly expired, CIBA Core §7.1), whose sub is
// the subscriber's PCR for it.
func (g *Gateway) idTokenHintSubject(token, clientID string, now time.Time) (string, *OAuthError) {
	payload, _, err := jose.VerifyJWKS(token, g.cfg.Keys.JWKS(now), jose.Algs...)
	if err != nil {
		return "", bcError(CodeInvalidRequest, "id_token_hint is not an ID token of this operator")
	}
	var c struct {
		Iss string    `json:"iss"`
		Sub string    `json:"sub"`
		Aud audiences `json:"aud"`
	}
	o, oerr := g.operator()
	if oerr != nil {
		return "", errOperatorUnregistered(oerr)
	}
	if json.Unmarshal(payload, &c) != nil || c.Iss != o.Issuer || c.Sub == "" || !slices.Contains(c.Aud, clientID) {
		return "", bcError(CodeInvalidRequest, "id_token_hint was not issued to this client by this operator")
	}
	return c.Sub, nil
}
