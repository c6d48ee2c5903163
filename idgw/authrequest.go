package idgw

import (
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/mcfed/mcfed/internal/e164"
	"github.com/mcfed/mcfed/registry"
)

// Limits on what an authorization request may carry. Every string parameter
// the gateway reads is bounded; claims, which the Java SDK may send twice
// and which hold JSON, get more room.
const (
	maxParamLen          = 2048
	maxClaimsLen         = 8192
	maxClaimsParams      = 2 // the Java SDK sends general + KYC claims
	maxClaimsPerSection  = 64
	maxClaimNameLen      = 128
	maxContextRunes      = 256
	maxBindingRunes      = 128
	maxClientNameRunes   = 128
	maxMaxAge            = 10 * 365 * 24 * 3600 // seconds; anything larger is nonsense
	defaultDisplay       = "page"
	defaultVersion       = "mc_v1.1"
	scopeOpenID          = "openid"
	scopeAuthn           = "mc_authn"
	scopeAuthz           = "mc_authz"
	pkceMethodS256       = "S256"
	minCodeChallengeLen  = 43
	maxCodeChallengeLen  = 128
	loginHintMSISDN      = "MSISDN:"
	loginHintEncrMSISDN  = "ENCR_MSISDN:"
	loginHintPCR         = "PCR:"
	loginHintTel         = "tel:"
	claimsSectionPremium = "premiuminfo"
)

// paramLimits lists every parameter the gateway reads, with its size
// limit. All of them are refused when repeated, except claims (up to
// maxClaimsParams).
var paramLimits = map[string]int{
	"client_id": maxParamLen, "redirect_uri": maxParamLen, "response_type": maxParamLen,
	"scope": maxParamLen, "state": maxParamLen, "nonce": maxParamLen, "version": maxParamLen,
	"acr_values": maxParamLen, "max_age": maxParamLen, "max-age": maxParamLen,
	"prompt": maxParamLen, "display": maxParamLen, "login_hint": maxParamLen,
	"login_hint_token": maxParamLen, "login_token_hint": maxParamLen, "claims": maxClaimsLen,
	"context": maxParamLen, "client_name": maxParamLen, "binding_message": maxParamLen,
	"code_challenge": maxParamLen, "code_challenge_method": maxParamLen,
	"correlation_id": maxParamLen, "ui_locales": maxParamLen, "claims_locales": maxParamLen,
	"id_token_hint": maxParamLen, "dtbs": maxParamLen,
}

// paramOrder is paramLimits' keys in a fixed order, so that the error a
// request gets does not depend on map iteration.
var paramOrder = func() []string {
	ks := make([]string, 0, len(paramLimits))
	for k := range paramLimits {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}()

// authVersions maps each accepted version spelling to the gateway's spelling:
// the Java SDK's Version.MC_V2_0 is "mc_v2_0" while PHP and the demos send
// "mc_v2.0" (spec §2.1).
var authVersions = map[string]string{
	"mc_v1.1": "mc_v1.1", "mc_v1.2": "mc_v1.2", "mc_v2.0": "mc_v2.0", "mc_v2_0": "mc_v2.0",
	"mc_di_r2_v2.3": "mc_di_r2_v2.3", "mc_di_v3.0": "mc_di_v3.0",
}

// Prompt is the set of prompt values of a request.
type Prompt uint8

// The prompt values the SDKs send (spec §2.2); mobile is PHP's headless
// mode.
const (
	PromptNone Prompt = 1 << iota
	PromptLogin
	PromptConsent
	PromptSelectAccount
	PromptNoSeam
	PromptMobile
)

var promptNames = map[string]Prompt{
	"none": PromptNone, "login": PromptLogin, "consent": PromptConsent,
	"select_account": PromptSelectAccount, "no_seam": PromptNoSeam, "mobile": PromptMobile,
}

// Has reports whether every value of q is in p.
func (p Prompt) Has(q Prompt) bool { return q != 0 && p&q == q }

var displayValues = []string{"page", "touch", "popup", "wap"}

// LoginHintKind says which form of login_hint a request carried.
type LoginHintKind uint8

const (
	HintNone       LoginHintKind = iota
	HintMSISDN                   // MSISDN:<digits>, with or without '+'
	HintEncrMSISDN               // ENCR_MSISDN:<hex>, sealed by discovery
	HintPCR                      // PCR:<pcr>, resolved later
	HintTel                      // tel:+E164 (CAMARA)
	HintIPPort                   // ipport:<address>[:<port>] (CAMARA, backchannel only; ipport.go)
)

func (k LoginHintKind) String() string {
	switch k {
	case HintMSISDN:
		return "MSISDN"
	case HintEncrMSISDN:
		return "ENCR_MSISDN"
	case HintPCR:
		return "PCR"
	case HintTel:
		return "tel"
	case HintIPPort:
		return "ipport"
	}
	return "none"
}

// AuthRequest is a validated authorization request. Its JSON form is
// part of the stored session and grant records (records.go): a zero field
// is left out, which any build reads back as the zero it was (half a
// login's record was its empty fields, decoded again at every step), and
// no field is renamed.
type AuthRequest struct {
	Client      *registry.ServiceProvider `json:"-"`
	ClientID    string
	RedirectURI string `json:",omitempty"` // byte-equal to one of Client.RedirectURIs
	// Scopes in the order asked, without duplicates; openid is among them.
	Scopes []string `json:",omitempty"`
	State  string   `json:",omitempty"`
	Nonce  string   `json:",omitempty"`
	// Version is the gateway's spelling (mc_v2_0 becomes mc_v2.0); mc_v1.1
	// when absent. RequestedVersion is what was sent.
	Version          string `json:",omitempty"`
	RequestedVersion string `json:",omitempty"`
	// ACR lists the requested Levels of Assurance (2, 3, 4) in order of
	// preference; [2] when acr_values is absent.
	ACR []int `json:",omitempty"`
	// LevelFloor is the least level the SP's policy holds this request to
	// (registry.ServiceProvider.LevelFloor; 0: none): ACR holds no level
	// below it.
	LevelFloor int `json:",omitempty"`
	// OperatorRule is the operator's routing rule routing applied to this
	// request (the authenticators it allows the SP, in order; nil: none),
	// for the refusal's words. Routing sets it; it is not kept.
	OperatorRule []string `json:"-"`
	// MaxAge is max_age or max-age when HasMaxAge.
	MaxAge    time.Duration `json:",omitempty"`
	HasMaxAge bool          `json:",omitempty"`
	Prompt    Prompt        `json:",omitempty"`
	Display   string        `json:",omitempty"`

	// LoginHint is login_hint as received; MSISDN is the subscriber's number
	// for the MSISDN, ENCR_MSISDN and tel kinds (resolved to this operator),
	// PCR the reference of a PCR hint, Address the device's address of an
	// ipport hint (ipport.go; not stored: MSISDN is, once resolved).
	LoginHint     string        `json:",omitempty"`
	LoginHintKind LoginHintKind `json:",omitempty"`
	MSISDN        uint64        `json:",omitempty"`
	PCR           string        `json:",omitempty"`
	Address       IPPort        `json:"-"`
	// LoginHintToken is login_hint_token, or PHP's login_token_hint, kept
	// unverified.
	LoginHintToken string `json:",omitempty"`

	// Claims is the merged claims parameter, nil when absent.
	// ClaimsMalformed says that part of it (e.g. the Java SDK's KYC array)
	// was not in the standard form and was kept only as far as it parsed.
	Claims          ClaimsRequest `json:",omitempty"`
	ClaimsMalformed bool          `json:",omitempty"`

	// CodeChallenge is the PKCE S256 challenge, "" without PKCE.
	CodeChallenge string `json:",omitempty"`

	CorrelationID string `json:",omitempty"`

	// Authz is an authorisation request (mc_authz, or context without
	// mc_authn): Context and ClientName are then set.
	Authz          bool   `json:",omitempty"`
	Context        string `json:",omitempty"`
	BindingMessage string `json:",omitempty"`
	ClientName     string `json:",omitempty"`

	UILocales     string `json:",omitempty"`
	ClaimsLocales string `json:",omitempty"`
	IDTokenHint   string `json:",omitempty"`
	DTBS          string `json:",omitempty"`

	ReceivedAt time.Time `json:",omitzero"`
}

// HasScope reports whether s was requested.
func (r *AuthRequest) HasScope(s string) bool { return slices.Contains(r.Scopes, s) }

// Fail returns e bound to r's validated redirect URI, state and
// correlation_id: what later stages (authenticators, consent) return.
func (r *AuthRequest) Fail(e *OAuthError) *OAuthError {
	return e.withRedirect(r.RedirectURI, r.State, r.CorrelationID)
}

// SuccessRedirectURL is redirect_uri?code=..&state=..&correlation_id=..
func (r *AuthRequest) SuccessRedirectURL(code string) (string, error) {
	return appendQuery(r.RedirectURI, "code", code, "state", r.State, "correlation_id", r.CorrelationID)
}

// first returns the first value of name, or "".
func firstArg(args url.Values, name string) string {
	if vs := args[name]; len(vs) > 0 {
		return vs[0]
	}
	return ""
}

// echoable returns v when it may be echoed back to the client (bounded,
// valid UTF-8), else "".
func echoable(v string) string {
	if len(v) > maxParamLen || !utf8.ValidString(v) {
		return ""
	}
	return v
}

// parseAuthRequest validates an authorization request's parameters. It
// reads the registry and may open a sealed login hint, and has no other
// effect. Errors found before the client and redirect_uri are known to be
// valid never redirect; every later one redirects with state and
// correlation_id.
func (g *Gateway) parseAuthRequest(args url.Values, now time.Time) (*AuthRequest, *OAuthError) {
	corr := echoable(firstArg(args, "correlation_id"))
	page := func(e *OAuthError) (*AuthRequest, *OAuthError) {
		return nil, e.withCorrelation(corr)
	}

	// 1. The client.
	ids := args["client_id"]
	switch {
	case len(ids) == 0 || ids[0] == "":
		return page(ErrInvalidRequest("client_id is missing"))
	case len(ids) > 1:
		return page(ErrInvalidRequest("client_id is repeated"))
	case len(ids[0]) > maxParamLen:
		return page(ErrInvalidRequest("client_id is unknown"))
	}
	sp := g.cfg.Registry.ServiceProvider(ids[0])
	if sp == nil {
		return page(ErrInvalidRequest("client_id is unknown"))
	}
	if sp.Status != registry.StatusActive || !sp.Accepts(g.cfg.OperatorID) {
		return page(ErrUnauthorizedClient("the client is not allowed to use this operator"))
	}

	// 2. The redirect URI: byte-equal to a registered one.
	uris := args["redirect_uri"]
	switch {
	case len(uris) == 0 || uris[0] == "":
		return page(ErrInvalidRequest("redirect_uri is missing"))
	case len(uris) > 1:
		return page(ErrInvalidRequest("redirect_uri is repeated"))
	case !slices.Contains(sp.RedirectURIs, uris[0]):
		return page(ErrInvalidRequest("redirect_uri is not registered for this client"))
	}
	r := &AuthRequest{
		Client: sp, ClientID: sp.ClientID, RedirectURI: uris[0],
		State: echoable(firstArg(args, "state")), CorrelationID: corr, ReceivedAt: now,
	}
	fail := func(e *OAuthError) (*AuthRequest, *OAuthError) { return nil, r.Fail(e) }

	// 3. Repeated and oversized parameters.
	for _, name := range paramOrder {
		vs := args[name]
		if len(vs) > 1 && !(name == "claims" && len(vs) <= maxClaimsParams) {
			return fail(ErrInvalidRequest(name + " is repeated"))
		}
		for _, v := range vs {
			if len(v) > paramLimits[name] {
				return fail(ErrInvalidRequest(name + " is too long"))
			}
			if !utf8.ValidString(v) {
				return fail(ErrInvalidRequest(name + " is not valid UTF-8"))
			}
		}
	}
	if a, b := args["max_age"], args["max-age"]; len(a) > 0 && len(b) > 0 && a[0] != b[0] {
		return fail(ErrInvalidRequest("max_age and max-age disagree"))
	}
	if a, b := args["login_hint_token"], args["login_token_hint"]; len(a) > 0 && len(b) > 0 && a[0] != b[0] {
		return fail(ErrInvalidRequest("login_hint_token and login_token_hint disagree"))
	}

	// 4. response_type.
	switch rt := firstArg(args, "response_type"); rt {
	case "code":
	case "":
		return fail(ErrInvalidRequest("response_type is missing"))
	default:
		return fail(ErrUnsupportedResponseType("response_type must be code"))
	}

	// 5. scope.
	if e := r.parseScope(firstArg(args, "scope")); e != nil {
		return fail(e)
	}

	// 6. state and nonce (the Java and PHP SDKs always send both).
	if firstArg(args, "state") == "" {
		return fail(ErrInvalidRequest("state is missing"))
	}
	if r.Nonce = firstArg(args, "nonce"); r.Nonce == "" {
		return fail(ErrInvalidRequest("nonce is missing"))
	}

	// 7. version.
	r.RequestedVersion = firstArg(args, "version")
	if r.RequestedVersion == "" {
		r.Version = defaultVersion
	} else if v, ok := authVersions[r.RequestedVersion]; ok {
		r.Version = v
	} else {
		return fail(ErrInvalidRequest("version is not supported"))
	}

	// 8. acr_values.
	acr, ok := parseACR(args["acr_values"])
	if !ok {
		return fail(ErrInvalidRequest("acr_values holds no supported level of assurance"))
	}
	r.ACR = acr

	// 9. max_age (PHP) or max-age (Java).
	ma := args["max_age"]
	if len(ma) == 0 {
		ma = args["max-age"]
	}
	if len(ma) > 0 {
		n, err := strconv.ParseUint(ma[0], 10, 32)
		if err != nil || n > maxMaxAge {
			return fail(ErrInvalidRequest("max_age must be a non-negative number of seconds"))
		}
		r.MaxAge, r.HasMaxAge = time.Duration(n)*time.Second, true
	}

	// 10. prompt and display.
	p, ok := parsePrompt(firstArg(args, "prompt"))
	if !ok {
		return fail(ErrInvalidRequest("prompt is not supported"))
	}
	r.Prompt = p
	r.Display = defaultDisplay
	if d := firstArg(args, "display"); d != "" {
		if !slices.Contains(displayValues, d) {
			return fail(ErrInvalidRequest("display is not supported"))
		}
		r.Display = d
	}

	// 11. claims.
	if cs := args["claims"]; len(cs) > 0 {
		claims, malformed, err := parseClaims(cs)
		if err != nil {
			return fail(ErrInvalidRequest("claims is not a JSON object"))
		}
		r.Claims, r.ClaimsMalformed = claims, malformed
	}

	// 12. Authorisation: context, client_name, binding_message.
	r.Context = firstArg(args, "context")
	r.ClientName = firstArg(args, "client_name")
	r.BindingMessage = firstArg(args, "binding_message")
	r.Authz = r.HasScope(scopeAuthz) || (r.Context != "" && !r.HasScope(scopeAuthn))
	if r.Authz && (r.Context == "" || r.ClientName == "") {
		return fail(ErrInvalidRequest("an authorisation request needs context and client_name"))
	}
	for _, f := range []struct {
		name, v string
		max     int
	}{{"context", r.Context, maxContextRunes}, {"client_name", r.ClientName, maxClientNameRunes}, {"binding_message", r.BindingMessage, maxBindingRunes}} {
		if !displayable(f.v, f.max) {
			return fail(ErrInvalidRequest(f.name + " is too long or holds control characters"))
		}
	}
	// The binding message goes into the operator's SMS and pages: a link
	// or a code-like number in it could pass for the operator's own.
	if why := SPTextProblem(r.BindingMessage); why != "" {
		return fail(ErrInvalidRequest("binding_message must not hold " + why + ": the subscriber would see it in the operator's SMS"))
	}

	// 13. PKCE: S256 only.
	cc, ccm := firstArg(args, "code_challenge"), firstArg(args, "code_challenge_method")
	switch {
	case cc == "" && ccm == "":
	case cc == "":
		return fail(ErrInvalidRequest("code_challenge_method without code_challenge"))
	case ccm != pkceMethodS256:
		return fail(ErrInvalidRequest("code_challenge_method must be S256"))
	case !validCodeChallenge(cc):
		return fail(ErrInvalidRequest("code_challenge is malformed"))
	default:
		r.CodeChallenge = cc
	}

	// 14. Kept as given.
	r.LoginHintToken = firstArg(args, "login_hint_token")
	if r.LoginHintToken == "" {
		r.LoginHintToken = firstArg(args, "login_token_hint")
	}
	r.UILocales = firstArg(args, "ui_locales")
	r.ClaimsLocales = firstArg(args, "claims_locales")
	r.IDTokenHint = firstArg(args, "id_token_hint")
	r.DTBS = firstArg(args, "dtbs")

	// 15. login_hint, last: it may cost an RSA decryption (and a
	// symmetric subscriber_id is bound to r.ClientID, read above).
	if e := g.parseLoginHint(r, firstArg(args, "login_hint")); e != nil {
		return fail(e)
	}
	return r, nil
}

// stillAllowed reports whether the registry still lets r through as
// parseAuthRequest found it would: the client active and accepting this
// operator, its redirect URI and scopes registered, the subscriber's
// number (from a login hint) this operator's. The rest of r depends only
// on its parameters. It opens nothing: the number is the one r holds.
func (g *Gateway) stillAllowed(r *AuthRequest) bool {
	sp := g.cfg.Registry.ServiceProvider(r.ClientID)
	if sp == nil || sp.Status != registry.StatusActive || !sp.Accepts(g.cfg.OperatorID) ||
		!slices.Contains(sp.RedirectURIs, r.RedirectURI) {
		return false
	}
	for _, s := range r.Scopes {
		// A dpv: purpose grants nothing: the SP does not register it.
		if s != scopeOpenID && !isPurpose(s) && !slices.Contains(sp.Scopes, s) {
			return false
		}
	}
	switch r.LoginHintKind {
	case HintMSISDN, HintEncrMSISDN, HintTel:
		res, ok := g.cfg.Registry.Resolve(r.MSISDN)
		return ok && res.Operator != nil && res.Operator.ID == g.cfg.OperatorID
	}
	return true
}

// parseScope fills r.Scopes. A missing or malformed scope, or one without
// openid, is invalid_scope; a well-formed scope the client may not ask for
// is access_denied, as the operator stub M answers (spec §2.2: "invalid
// scope, client not allowed → access_denied"). The registry only lets an
// SP list scopes of the catalogue (and refuses to delete a scope an SP
// lists), so checking the SP's list also checks the catalogue. openid is
// always allowed.
func (r *AuthRequest) parseScope(raw string) *OAuthError {
	if raw == "" {
		return ErrInvalidScope("scope is missing")
	}
	for _, s := range strings.Fields(raw) {
		if !validScopeToken(s) {
			return ErrInvalidScope("scope is malformed")
		}
		if !slices.Contains(r.Scopes, s) {
			r.Scopes = append(r.Scopes, s)
		}
	}
	if !slices.Contains(r.Scopes, scopeOpenID) {
		return ErrInvalidScope("scope must contain openid")
	}
	if e := checkPurposes(r.Scopes); e != nil {
		return e
	}
	for _, s := range r.Scopes {
		if _, purpose := purposeOf(s); s != scopeOpenID && !purpose && !slices.Contains(r.Client.Scopes, s) {
			return ErrAccessDenied("a requested scope is not allowed for this client")
		}
	}
	return nil
}

// validScopeToken is RFC 6749's scope-token: %x21 / %x23-5B / %x5D-7E.
func validScopeToken(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// parseACR reads acr_values: a space-separated preference list of which the
// gateway keeps 2, 3 and 4, in order, once each. Absent means [2] (the
// SDKs' default); present with no supported level is refused.
func parseACR(vs []string) ([]int, bool) {
	if len(vs) == 0 || strings.TrimSpace(vs[0]) == "" {
		return []int{2}, len(vs) == 0
	}
	var out []int
	for _, f := range strings.Fields(vs[0]) {
		var n int
		switch f {
		case "2":
			n = 2
		case "3":
			n = 3
		case "4":
			n = 4
		default:
			continue
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out, len(out) > 0
}

// parsePrompt reads a space-separated prompt list; none excludes the
// others (OpenID Connect Core §3.1.2.1).
func parsePrompt(raw string) (Prompt, bool) {
	var p Prompt
	for _, f := range strings.Fields(raw) {
		v, ok := promptNames[f]
		if !ok {
			return 0, false
		}
		p |= v
	}
	if p.Has(PromptNone) && p != PromptNone {
		return 0, false
	}
	return p, true
}

// displayable reports whether s can be shown to the subscriber: valid
// UTF-8 (checked before), at most max characters, no control characters.
func displayable(s string, max int) bool {
	if utf8.RuneCountInString(s) > max {
		return false
	}
	for _, c := range s {
		if unicode.IsControl(c) {
			return false
		}
	}
	return true
}

// validCodeChallenge: 43-128 characters of RFC 3986's unreserved set
// (RFC 7636 §4.2).
func validCodeChallenge(s string) bool {
	if len(s) < minCodeChallengeLen || len(s) > maxCodeChallengeLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	return true
}

// hasPrefixFold is strings.HasPrefix ignoring ASCII case.
func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// parseLoginHint reads login_hint into r. The number of an MSISDN,
// ENCR_MSISDN or tel hint must be this operator's subscriber's.
func (g *Gateway) parseLoginHint(r *AuthRequest, hint string) *OAuthError {
	r.LoginHint = hint
	if hint == "" {
		return nil
	}
	var n uint64
	switch {
	case hasPrefixFold(hint, loginHintEncrMSISDN):
		sealed := hint[len(loginHintEncrMSISDN):]
		if sealed == "" || !isHexDigits(sealed) {
			return ErrInvalidRequest("login_hint ENCR_MSISDN is malformed")
		}
		if g.cfg.LoginHints == nil {
			return ErrInvalidRequest("login_hint ENCR_MSISDN is not accepted by this operator")
		}
		v, err := g.cfg.LoginHints.OpenLoginHint(sealed, r.ClientID)
		if err != nil || v == 0 {
			return ErrInvalidRequest("login_hint ENCR_MSISDN could not be decrypted")
		}
		r.LoginHintKind, n = HintEncrMSISDN, v
	case hasPrefixFold(hint, loginHintMSISDN):
		v, err := e164.Parse(hint[len(loginHintMSISDN):])
		if err != nil {
			return ErrInvalidRequest("login_hint MSISDN is not a valid international number")
		}
		r.LoginHintKind, n = HintMSISDN, v
	case hasPrefixFold(hint, loginHintPCR):
		pcr := hint[len(loginHintPCR):]
		if pcr == "" || !displayable(pcr, maxParamLen) || strings.ContainsAny(pcr, " \t") {
			return ErrInvalidRequest("login_hint PCR is malformed")
		}
		r.LoginHintKind, r.PCR = HintPCR, pcr
		return nil
	case hasPrefixFold(hint, loginHintTel):
		rest := hint[len(loginHintTel):]
		if !strings.HasPrefix(rest, "+") {
			return ErrInvalidRequest("login_hint tel must be tel:+<E.164 number>")
		}
		v, err := e164.Parse(rest)
		if err != nil {
			return ErrInvalidRequest("login_hint tel is not a valid international number")
		}
		r.LoginHintKind, n = HintTel, v
	default:
		return ErrInvalidRequest("login_hint format is not supported")
	}
	r.MSISDN = n
	res, ok := g.cfg.Registry.Resolve(n)
	if !ok || res.Operator == nil || res.Operator.ID != g.cfg.OperatorID {
		return ErrAccessDenied("not a subscriber of this operator")
	}
	return nil
}

func isHexDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}
