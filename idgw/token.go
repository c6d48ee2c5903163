package idgw

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/mcfed/mcfed/internal/budget"
	"github.com/mcfed/mcfed/internal/jose"
	"github.com/mcfed/mcfed/internal/spsecret"
	"github.com/mcfed/mcfed/registry"
)

// The grant types of the token endpoint.
const (
	grantAuthorizationCode = "authorization_code"
	grantRefreshToken      = "refresh_token"
)

// Token lifetimes.
const (
	accessTokenTTL  = time.Hour
	refreshTokenTTL = 30 * 24 * time.Hour
	idTokenTTL      = time.Hour
	// redeemedCodeTTL is how long a redeemed code is remembered so that a
	// replay revokes everything it led to (its token family). A replay is
	// refused at any time (the code is gone); remembering it ten times the
	// code's own lifetime covers a stolen code raced against its owner,
	// without holding an entry per login for the refresh token's thirty
	// days.
	redeemedCodeTTL = 10 * codeTTL
)

// accessToken is what an opaque access or refresh token stands for.
type accessToken struct {
	clientID string
	msisdn   uint64
	// holder is the digest of the subscriber's PCR secret at the login
	// (holderTag): a deleted subscriber's secret is destroyed and a
	// recycled number gets a new one, so a token never serves the
	// number's next holder.
	holder [sha256.Size]byte
	scopes []string
	claims ClaimsRequest
	acr    int
	issued time.Time
	// authTime is when the subscriber authenticated for the login the
	// token's family began with: a SIM change since ends the family.
	authTime time.Time
	expires  time.Time
	refresh  bool     // a refresh token, not an access token
	family   storeKey // the family of the code that led to it (tokenFamily)
}

// authenticateClient authenticates the client of a request to endpoint
// within the failure budgets (FailureBudget): a client id or source
// address that failed too often is refused with 429 before its
// credentials are looked at, and a failed authentication spends both.
func (g *Gateway) authenticateClient(ctx context.Context, r tokenRequest, endpoint endpoint) (*registry.ServiceProvider, *OAuthError) {
	id := r.claimedClientID()
	for _, b := range []struct {
		budget *budget.Keyed
		key    string
	}{{g.failures.client, id}, {g.failures.address, r.source}} {
		if spent, wait := b.budget.Spent(b.key); spent {
			return nil, errTooManyFailures(wait)
		}
	}
	sp, e := g.checkClient(ctx, r, endpoint)
	if e != nil && e.Code == CodeInvalidClient {
		byClient, byAddress := g.failures.client.Spend(id), g.failures.address.Spend(r.source)
		if byClient || byAddress {
			// Once per budget spent; the refusals that follow are counted
			// by the observer (429 slow_down). No credential is logged.
			g.log.Warn("client authentication failures over budget: refusing with 429 for a while",
				"client_id", truncate(id, 128), "address", r.source, "endpoint", endpoint.name(),
				"client_budget_spent", byClient, "address_budget_spent", byAddress)
		}
	}
	return sp, e
}

// claimedClientID is the client id a request names (the Basic user or the
// form's client_id), authenticated or not: the key of its failure budget.
func (r tokenRequest) claimedClientID() string {
	h := r.authorization
	if len(h) > 6 && strings.EqualFold(h[:6], "basic ") {
		if raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(h[6:])); err == nil {
			id, _, _ := strings.Cut(string(raw), ":")
			if id, err := url.QueryUnescape(id); err == nil {
				return id
			}
		}
	}
	return r.form.Get("client_id")
}

// truncate cuts s to n bytes, for logging what a client sent.
func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// checkClient authenticates the client of a request to endpoint by
// private_key_jwt (clientauth.go), or by client_secret_basic and
// client_secret_post (both at once only when they name the same client and
// secret). The secret must be the SP's secret for this operator, derived
// from its own (registry.SecretCache.CheckOperatorSecret): not its own, not
// another operator's; a legacy SP's one secret is checked against its hash.
// A secret and an assertion together are refused (RFC 6749 §2.3: one method
// per request).
func (g *Gateway) checkClient(ctx context.Context, r tokenRequest, endpoint endpoint) (*registry.ServiceProvider, *OAuthError) {
	h, form := r.authorization, r.form
	basic := len(h) > 6 && strings.EqualFold(h[:6], "basic ")
	if form.Has("client_assertion") || form.Has("client_assertion_type") {
		if basic || form.Has("client_secret") {
			return nil, errTokenRequest("authenticate with a client secret or a client assertion, not both")
		}
		return g.authenticateAssertion(ctx, form, endpoint)
	}
	var basicID, basicSecret string
	if basic {
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(h[6:]))
		if err != nil {
			return nil, errInvalidClient(true)
		}
		id, secret, ok := strings.Cut(string(raw), ":")
		if !ok {
			return nil, errInvalidClient(true)
		}
		// RFC 6749 §2.3.1: both parts are form-urlencoded before base64.
		if basicID, err = url.QueryUnescape(id); err != nil {
			return nil, errInvalidClient(true)
		}
		if basicSecret, err = url.QueryUnescape(secret); err != nil {
			return nil, errInvalidClient(true)
		}
	}
	postID, postSecret := form.Get("client_id"), form.Get("client_secret")
	id, secret := basicID, basicSecret
	switch {
	case basic && postSecret != "" && (postID != basicID || postSecret != basicSecret):
		return nil, errTokenRequest("client_secret_basic and client_secret_post disagree")
	case !basic && postSecret != "":
		id, secret = postID, postSecret
	case !basic:
		return nil, errInvalidClient(false)
	}
	if basic && postID != "" && postID != basicID {
		return nil, errTokenRequest("client_id disagrees with the Authorization header")
	}
	sp := g.cfg.Registry.ServiceProvider(id)
	if sp == nil {
		// Check against a stand-in anyway, so an unknown client takes as
		// long as a wrong secret (a hash, or an Ed25519 verification for a
		// secret of the derived form); the answer is invalid_client
		// whatever the check says.
		g.secrets.CheckOperatorSecret(&unknownClient, g.cfg.OperatorID, secret)
		return nil, errInvalidClient(basic)
	}
	// An SP registered with keys only has no secret: every secret is
	// refused.
	if !g.secrets.CheckOperatorSecret(sp, g.cfg.OperatorID, secret) || sp.Status != registry.StatusActive || !sp.Accepts(g.cfg.OperatorID) {
		return nil, errInvalidClient(basic)
	}
	return sp, nil
}

// unknownClient stands in for a client id no SP has. What checking a secret
// against it says is never used, so its key may be of a secret anyone
// knows.
var unknownClient = registry.ServiceProvider{ClientID: "unknown", SecretKey: spsecret.PublicKey("no such client")}

// tokenRequest is what the token, revocation and introspection endpoints
// read of an HTTP request.
type tokenRequest struct {
	form url.Values
	// authorization is the Authorization header.
	authorization string
	// source is the client's address, for the failure budget.
	source string
}

// token is the token endpoint: the authorization_code and refresh_token
// grants.
func (g *Gateway) token(ctx context.Context, r tokenRequest) (*tokenResponse, *OAuthError) {
	form := r.form
	for k, vs := range form {
		if len(vs) > 1 {
			return nil, errTokenRequest("parameter " + k + " is repeated")
		}
	}
	sp, terr := g.authenticateClient(ctx, r, tokenEndpoint)
	if terr != nil {
		return nil, terr
	}
	switch form.Get("grant_type") {
	case grantAuthorizationCode:
	case grantRefreshToken:
		return g.refreshGrant(ctx, sp, form)
	case grantCIBA:
		return g.cibaGrant(ctx, sp, form.Get("auth_req_id"))
	case grantClientCredentials:
		return g.clientCredentialsGrant(ctx, sp, r)
	case "":
		return nil, errTokenRequest("grant_type is required")
	default:
		return nil, errUnsupportedGrantType()
	}
	code := form.Get("code")
	gr, ok := g.codes.take(ctx, tokenKey(code))
	if !ok {
		// A code presented twice: revoke everything it led to, the
		// refreshes since included (RFC 6749 §4.1.2, RFC 9700 §4.14.2).
		if family, replayed := g.used.take(ctx, tokenKey(code)); replayed {
			g.revokeFamily(ctx, family)
		}
		return nil, errInvalidGrant("the code is invalid, expired or already used")
	}
	if gr.req.ClientID != sp.ClientID {
		return nil, errInvalidGrant("the code was issued to another client")
	}
	if form.Get("redirect_uri") != gr.req.RedirectURI {
		return nil, errInvalidGrant("redirect_uri does not match the authorization request")
	}
	if err := checkPKCE(gr.req.CodeChallenge, form.Get("code_verifier")); err != nil {
		return nil, err
	}
	return g.issueTokens(ctx, sp, code, gr)
}

// checkPKCE verifies the S256 code_verifier against the challenge of the
// authorization request (RFC 7636 §4.6).
func checkPKCE(challenge, verifier string) *OAuthError {
	switch {
	case challenge == "" && verifier == "":
		return nil
	case challenge == "":
		return errInvalidGrant("code_verifier sent for a request without code_challenge")
	case verifier == "":
		return errInvalidGrant("code_verifier is required")
	}
	sum := sha256.Sum256([]byte(verifier))
	if subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(challenge)) != 1 {
		return errInvalidGrant("code_verifier does not match code_challenge")
	}
	return nil
}

// idTokenClaims are the ID token's claims (spec §2.4), in the order they are
// written.
type idTokenClaims struct {
	Iss             string   `json:"iss"`
	Sub             string   `json:"sub"`
	Aud             []string `json:"aud"`
	Azp             string   `json:"azp"`
	Exp             int64    `json:"exp"`
	Iat             int64    `json:"iat"`
	AuthTime        int64    `json:"auth_time"`
	Nonce           string   `json:"nonce,omitempty"` // a CIBA request has none
	ACR             string   `json:"acr"`
	AMR             []string `json:"amr"`
	AtHash          string   `json:"at_hash"`
	HashedLoginHint string   `json:"hashed_login_hint,omitempty"`
	// Sid is the login's session (Back-Channel Logout 1.0 §2.1): what a
	// logout token names to end it.
	Sid string `json:"sid,omitempty"`
}

func (g *Gateway) issueTokens(ctx context.Context, sp *registry.ServiceProvider, code string, gr *grant) (*tokenResponse, *OAuthError) {
	o, err := g.operator()
	if err != nil {
		return nil, errOperatorUnregistered(err)
	}
	alg := jose.RS256
	if sp.IDTokenAlg != "" {
		alg = jose.Alg(sp.IDTokenAlg)
	}
	key := g.cfg.Keys.Active(alg)
	if key == nil {
		return nil, newError(CodeServerError, "no signing key for the client's algorithm")
	}
	now := g.now()
	access, refresh := newSecret(), newSecret()
	claims := idTokenClaims{
		Iss: o.Issuer, Sub: gr.subject.pcr, Aud: []string{sp.ClientID}, Azp: sp.ClientID,
		Exp: now.Add(idTokenTTL).Unix(), Iat: now.Unix(), AuthTime: gr.authTime.Unix(), Nonce: gr.req.Nonce,
		ACR: strconv.Itoa(gr.acr), AMR: gr.amr, AtHash: jose.AtHash(access, alg), Sid: gr.sid,
	}
	if gr.req.LoginHint != "" {
		sum := sha256.Sum256([]byte(gr.req.LoginHint))
		claims.HashedLoginHint = hex.EncodeToString(sum[:])
	}
	idToken, err := jose.Sign(key, claims)
	if err != nil {
		return nil, newError(CodeServerError, "signing failed").WithParent(err)
	}
	// The family, the code's marker and the tokens are written together:
	// a replay of the code finds the marker of a family that exists.
	family, ops := g.families.startOps(tokenFamily{clientID: sp.ClientID, msisdn: gr.msisdn, access: tokenKey(access), refresh: tokenKey(refresh), sid: gr.sid})
	ops = append(ops, opOf(g.used.putOp(tokenKey(code), family, redeemedCodeTTL)))
	ops = append(ops, g.pairOps(now, accessToken{clientID: sp.ClientID, msisdn: gr.msisdn, holder: gr.subject.holder,
		scopes: gr.req.Scopes, claims: gr.req.Claims, acr: gr.acr, authTime: gr.authTime, family: family}, access, refresh)...)
	if err := writeAll(ctx, g.cfg.Store, ops...); err != nil {
		return nil, ErrServerError(fmt.Errorf("storing tokens: %w", err))
	}
	return &tokenResponse{
		AccessToken: access, TokenType: "Bearer", ExpiresIn: int(accessTokenTTL.Seconds()),
		IDToken: idToken, RefreshToken: refresh, Scope: strings.Join(gr.req.Scopes, " "),
		CorrelationID: gr.req.CorrelationID,
	}, nil
}

// tokenResponse is a successful token response (RFC 6749 §5.1, spec §2.3);
// a struct, not a map, so it marshals without sorting keys.
type tokenResponse struct {
	AccessToken   string `json:"access_token"`
	TokenType     string `json:"token_type"`
	ExpiresIn     int    `json:"expires_in"`
	IDToken       string `json:"id_token,omitempty"`
	RefreshToken  string `json:"refresh_token,omitempty"`
	Scope         string `json:"scope"`
	CorrelationID string `json:"correlation_id,omitempty"`
}

// pairOps are the writes that record an access token and the refresh
// token issued with it, both of t's family, from t's subscriber,
// client and grant.
func (g *Gateway) pairOps(now time.Time, t accessToken, access, refresh string) []opOrErr {
	at := t
	at.issued, at.expires, at.refresh = now, now.Add(accessTokenTTL), false
	rt := at
	rt.expires, rt.refresh = now.Add(refreshTokenTTL), true
	return []opOrErr{opOf(g.access.putOp(tokenKey(access), &at, accessTokenTTL)),
		opOf(g.refresh.putOp(tokenKey(refresh), &rt, refreshTokenTTL))}
}

// pcr is the pairwise customer reference of a subscriber for one SP: stable
// per subscriber and SP, unlinkable across SPs, never the MSISDN.
func pcr(secret []byte, clientID string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("mcfed-pcr\x00" + clientID))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}
