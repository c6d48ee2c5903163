package registry

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"regexp"
	"slices"
	"strings"

	memdb "github.com/hashicorp/go-memdb"

	"github.com/mcfed/mcfed/internal/spsecret"
)

// IDTokenAlgs are the algorithms an SP may register for its ID tokens
// (id_token_signed_response_alg; RS256 when it names none): what the
// gateways' metadata advertises, and sign with.
var IDTokenAlgs = []string{"RS256", "PS256", "ES256"}

// ServiceProvider is an SP registered once with the federation: a bank, a
// shop or an app that logs its users in with Mobile Connect.
type ServiceProvider struct {
	ClientID string `json:"client_id"`
	Name     string `json:"name"`
	// SecretKey is the public key derived from the SP's secret
	// (spsecret.PublicKey), "ed25519:<base64url>": what the registry keeps
	// of an SP's secret. Discovery checks the secret against it and each
	// operator's gateway checks that operator's derived secret with it
	// (spsecret.go). Public, like any public key.
	SecretKey string `json:"secret_key,omitempty"`
	// SecretHash is HashSecret of a legacy SP's one secret, which every
	// gateway and discovery accept as it is: the form of SPs registered
	// before SecretKey, kept working until they rotate (POST
	// .../secret). An SP has at most one of the two.
	SecretHash   string   `json:"secret_hash"`
	RedirectURIs []string `json:"redirect_uris"`
	// JWKS or JWKSURI hold the SP's public keys, for private_key_jwt and
	// signed request objects.
	JWKS    json.RawMessage `json:"jwks,omitempty"`
	JWKSURI string          `json:"jwks_uri,omitempty"`
	// IDTokenAlg is how the SP wants its ID tokens signed: RS256 (the
	// default, what every SDK verifies), PS256 or ES256.
	IDTokenAlg string `json:"id_token_signed_response_alg,omitempty"`
	// PostLogoutRedirectURIs are where a gateway may send the browser
	// after an RP-initiated logout (OpenID RP-Initiated Logout 1.0 §3),
	// matched exactly, under the rules of redirect_uris.
	PostLogoutRedirectURIs []string `json:"post_logout_redirect_uris,omitempty"`
	// BackchannelLogoutURI is where gateways POST a logout token when the
	// person's session at the SP ends (OpenID Back-Channel Logout 1.0
	// §2.2): at a logout, or when the person withdraws consent;
	// BackchannelLogoutSessionRequired says the SP needs the sid claim in
	// it.
	BackchannelLogoutURI             string `json:"backchannel_logout_uri,omitempty"`
	BackchannelLogoutSessionRequired bool   `json:"backchannel_logout_session_required,omitempty"`
	// Server-initiated login (registry/backchannel.go; idgw/bclogin.go): the notification URIs a
	// Mobile Connect SI request may name, and the SP's OpenID CIBA token
	// delivery mode ("poll", the default, or "ping") with, for ping, its
	// client notification endpoint.
	NotificationURIs                      []string `json:"notification_uris,omitempty"`
	BackchannelTokenDeliveryMode          string   `json:"backchannel_token_delivery_mode,omitempty"`
	BackchannelClientNotificationEndpoint string   `json:"backchannel_client_notification_endpoint,omitempty"`
	// RequestURIs are where the SP publishes signed request objects a
	// gateway may fetch (RFC 9101 §5.2, request_uri at /authorize,
	// /si-authorize and /bc-authorize; OIDC Registration's request_uris):
	// a request_uri that is not one of them is refused, so a client
	// cannot make a gateway fetch an address of its choosing.
	RequestURIs []string `json:"request_uris,omitempty"`
	// Scopes the SP may ask for; each must be in the catalogue.
	Scopes []string `json:"scopes"`
	// Products are the catalogue's products the SP takes (their ids);
	// MinLoA is a level of assurance its logins must reach whatever they
	// ask (0: none of its own). A request is held to the greater of
	// MinLoA and the lowest min_loa of the SP's products that cover its
	// scopes (ServiceProvider.LevelFloor).
	Products []string `json:"products,omitempty"`
	MinLoA   int      `json:"min_loa,omitempty"`
	// Developer is the organisation that owns the SP (a developer's id,
	// developers.go): while it is suspended, so is the SP.
	Developer string `json:"developer,omitempty"`
	// Operators that accept the SP; "*" is every member.
	Operators []string `json:"operators"`
	Status    Status   `json:"status"`
	Meta
}

// AllOperators in ServiceProvider.Operators accepts the SP at every member.
const AllOperators = "*"

// MinSecretLength is the shortest client secret mcfed accepts. Secrets are
// hashed or derived with one round of SHA-256, not a password hash:
// discovery checks a secret on every request and bcrypt's cost would cap it
// at a few hundred requests a second. That is sound only for secrets with
// the entropy of a key, which this length with CheckGivenSecret's entropy
// estimate (and the admin API generating secrets by default) ensures.
const MinSecretLength = 32

// HashSecret returns the form of a secret the registry stores for admin
// credentials, node credentials, join tokens and legacy SPs (an SP's secret
// is now stored as a public key: SecretKey).
func HashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// CheckSecret reports whether secret is the SP's own client secret (what
// it presents at discovery), in time that does not depend on how much of it
// matches. It does the whole derivation every time; the request paths use a
// SecretCache.
func (sp *ServiceProvider) CheckSecret(secret string) bool {
	if sp.SecretKey != "" {
		return spsecret.CheckSecret(sp.SecretKey, secret)
	}
	return subtle.ConstantTimeCompare([]byte(HashSecret(secret)), []byte(sp.SecretHash)) == 1
}

// Legacy reports whether the SP has the one federation-wide secret of SPs
// registered before per-operator secrets.
func (sp *ServiceProvider) Legacy() bool { return sp.SecretKey == "" && sp.SecretHash != "" }

// Accepts reports whether operator accepts the SP.
func (sp *ServiceProvider) Accepts(operator string) bool {
	for _, o := range sp.Operators {
		if o == AllOperators || o == operator {
			return true
		}
	}
	return false
}

var (
	clientIDPattern   = regexp.MustCompile(`^[A-Za-z0-9._~-]{1,128}$`)
	secretHashPattern = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
)

// Validate checks the fields a caller supplies; scopes and operators are
// checked against the registry when the command is applied.
func (sp *ServiceProvider) Validate() error {
	if !clientIDPattern.MatchString(sp.ClientID) {
		return invalidf("client_id %q: use 1-128 characters of A-Z, a-z, 0-9, '.', '_', '~' and '-'", sp.ClientID)
	}
	if sp.MinLoA != 0 && (sp.MinLoA < 2 || sp.MinLoA > 4) {
		return invalidf("min_loa %d: use 2, 3 or 4 (or leave it out)", sp.MinLoA)
	}
	if len(sp.Products) > 64 || slices.ContainsFunc(sp.Products, func(p string) bool { return p == "" }) {
		return invalidf("products: at most 64 product ids, none empty")
	}
	if err := checkName("SP name", sp.Name); err != nil {
		return err
	}
	// An SP authenticates with a client secret, with its keys
	// (private_key_jwt), or both: a secret is optional only for an SP
	// with keys. Its secret is in one form, never both.
	inline := jwksKeyCount(sp.JWKS) > 0
	switch {
	case sp.SecretKey != "" && sp.SecretHash != "":
		return invalidf("give secret_key or secret_hash, not both")
	case sp.SecretKey != "":
		if _, ok := spsecret.ParseKey(sp.SecretKey); !ok {
			return invalidf("secret_key must be ed25519:<43 base64url characters>")
		}
	case sp.SecretHash != "" || !inline && sp.JWKSURI == "":
		if !secretHashPattern.MatchString(sp.SecretHash) {
			return invalidf("an SP needs secret_key (ed25519:<base64url>) or secret_hash (sha256:<64 hex digits>); only an SP with jwks or jwks_uri may have neither")
		}
	}
	if inline && sp.JWKSURI != "" {
		return invalidf("give jwks or jwks_uri, not both")
	}
	if len(sp.RedirectURIs) == 0 {
		return invalidf("an SP needs at least one redirect URI")
	}
	for _, u := range sp.RedirectURIs {
		if err := checkRedirectURI(u); err != nil {
			return err
		}
	}
	if sp.JWKSURI != "" {
		if err := checkURL("jwks_uri", sp.JWKSURI); err != nil {
			return err
		}
	}
	for _, u := range sp.PostLogoutRedirectURIs {
		if err := checkRedirectURI(u); err != nil {
			return err
		}
	}
	if sp.BackchannelLogoutURI != "" {
		if err := checkURL("backchannel_logout_uri", sp.BackchannelLogoutURI); err != nil {
			return err
		}
	}
	if sp.BackchannelLogoutSessionRequired && sp.BackchannelLogoutURI == "" {
		return invalidf("backchannel_logout_session_required needs a backchannel_logout_uri")
	}
	if err := checkJWKS("jwks", sp.JWKS); err != nil {
		return err
	}
	if err := sp.checkBackchannel(); err != nil {
		return err
	}
	if sp.IDTokenAlg != "" && !slices.Contains(IDTokenAlgs, sp.IDTokenAlg) {
		return invalidf("id_token_signed_response_alg %q: use one of %s", sp.IDTokenAlg, strings.Join(IDTokenAlgs, ", "))
	}
	return checkStatus(sp.Status)
}

// jwksKeyCount is how many keys a JWK set holds; 0 for none, null or
// anything that is not a set.
func jwksKeyCount(raw json.RawMessage) int {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if len(raw) == 0 || json.Unmarshal(raw, &set) != nil {
		return 0
	}
	return len(set.Keys)
}

// checkRedirectURI accepts absolute URIs without a fragment (RFC 6749
// §3.1.2), including the custom schemes of mobile apps. It is what the
// replicated apply checks, so it stays as lenient as the oldest log's SPs:
// the stricter rule of RFC 9700 (CheckRedirectURI) is applied to new writes,
// before their command is made.
func checkRedirectURI(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Fragment != "" || len(raw) > 2048 ||
		((u.Scheme == "http" || u.Scheme == "https") && u.Host == "") || strings.ContainsAny(raw, " \t\r\n") {
		return invalidf("redirect URI %q must be absolute, without a fragment", raw)
	}
	return nil
}

// refusedSchemes are schemes a browser runs or reads locally rather than
// hands to an app: never a place to send an authorization code.
var refusedSchemes = map[string]bool{
	"javascript": true, "data": true, "file": true, "vbscript": true, "blob": true, "about": true,
	"filesystem": true, "view-source": true,
}

// CheckRedirectURI is the rule a redirect URI registered or changed now
// must meet (RFC 9700 §2.1 and §4.1.3, RFC 8252 §7): https; plain http only
// to a loopback host (127.0.0.1, [::1], localhost), for native apps and
// development; or a private-use scheme in reverse-DNS form
// (com.example.app:/cb). Never a fragment, userinfo or a wildcard: the
// gateway matches redirect URIs exactly, and a '*' would only ever match
// itself or mislead whoever reads the registration.
func CheckRedirectURI(raw string) error {
	if err := checkRedirectURI(raw); err != nil {
		return err
	}
	refuse := func(why string) error { return invalidf("redirect URI %q: %s", raw, why) }
	u, _ := url.Parse(raw) // checkRedirectURI parsed it
	switch {
	case strings.ContainsAny(raw, "#"):
		return refuse("a fragment is not allowed")
	case strings.ContainsAny(raw, "*"):
		return refuse("wildcards are not allowed: register each URI exactly")
	case u.User != nil:
		return refuse("userinfo (user@host) is not allowed")
	case strings.IndexFunc(raw, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0:
		return refuse("control characters are not allowed")
	}
	switch scheme := strings.ToLower(u.Scheme); {
	case scheme == "https":
		return nil
	case scheme == "http":
		switch u.Hostname() {
		case "127.0.0.1", "::1", "localhost":
			return nil
		}
		return refuse("plain http is allowed only to a loopback host (127.0.0.1, [::1] or localhost): use https")
	case refusedSchemes[scheme]:
		return refuse("the " + scheme + ": scheme is not allowed")
	case !strings.Contains(scheme, "."):
		return refuse("use https, loopback http, or a private-use scheme in reverse-DNS form such as com.example.app:/cb")
	}
	return nil
}

// CheckRedirectURIs applies CheckRedirectURI to each of the SP's redirect
// URIs and post-logout redirect URIs, answering for the first it refuses,
// and CheckBackchannelLogoutURI to its back-channel logout URI.
func (sp *ServiceProvider) CheckRedirectURIs() error {
	for _, u := range append(slices.Clone(sp.RedirectURIs), sp.PostLogoutRedirectURIs...) {
		if err := CheckRedirectURI(u); err != nil {
			return err
		}
	}
	if sp.BackchannelLogoutURI != "" {
		return CheckBackchannelLogoutURI(sp.BackchannelLogoutURI)
	}
	return nil
}

// CheckBackchannelLogoutURI is the rule a back-channel logout URI
// registered now must meet: an absolute https URL (plain http only to a
// loopback host, for development), without a fragment (Back-Channel
// Logout 1.0 §2.2) or userinfo. Gateways POST logout tokens to it from
// their own network, so they also refuse, when they deliver, any address
// that is not public (as for jwks_uri).
func CheckBackchannelLogoutURI(raw string) error {
	if err := checkURL("backchannel_logout_uri", raw); err != nil {
		return err
	}
	u, _ := url.Parse(raw)
	switch {
	case u.User != nil:
		return invalidf("backchannel_logout_uri %q: userinfo (user@host) is not allowed", raw)
	case u.Scheme == "https":
		return nil
	}
	switch u.Hostname() {
	case "127.0.0.1", "::1", "localhost":
		return nil
	}
	return invalidf("backchannel_logout_uri %q: plain http is allowed only to a loopback host: use https", raw)
}

// RedirectCheck is an SP registered before CheckRedirectURI, with the
// redirect URIs the rule now refuses and why.
type RedirectCheck struct {
	ClientID string       `json:"client_id"`
	Name     string       `json:"name"`
	Status   Status       `json:"status"`
	Refused  []RefusedURI `json:"refused"`
}

// RefusedURI is one redirect URI CheckRedirectURI refuses.
type RefusedURI struct {
	RedirectURI string `json:"redirect_uri"`
	Reason      string `json:"reason"`
}

// RedirectChecks lists, a page at a time in client id order, the SPs with
// a redirect URI that CheckRedirectURI refuses: the migration check that
// lets a federation fix registrations older than the rule.
func (r *Registry) RedirectChecks(after string, limit int) Page[RedirectCheck] {
	refused := func(sp *ServiceProvider) []RefusedURI {
		var out []RefusedURI
		for _, u := range sp.RedirectURIs {
			if err := CheckRedirectURI(u); err != nil {
				out = append(out, RefusedURI{RedirectURI: u, Reason: err.Error()})
			}
		}
		return out
	}
	p := list(r.db, tableSPs, func(sp *ServiceProvider) string { return sp.ClientID }, after, limit,
		func(sp *ServiceProvider) bool { return len(refused(sp)) > 0 })
	out := Page[RedirectCheck]{Next: p.Next}
	for _, sp := range p.Items {
		out.Items = append(out.Items, &RedirectCheck{ClientID: sp.ClientID, Name: sp.Name, Status: sp.Status, Refused: refused(sp)})
	}
	return out
}

func applyPutSP(tx *writeTxn, body []byte) error {
	var sp ServiceProvider
	if err := decodeJSON(body, &sp); err != nil {
		return err
	}
	if err := sp.Validate(); err != nil {
		return err
	}
	for _, s := range sp.Scopes {
		if get[Scope](tx.Txn, tableScopes, s) == nil {
			return notFoundf("scope %q is not in the catalogue", s)
		}
	}
	for _, o := range sp.Operators {
		if o != AllOperators && get[Operator](tx.Txn, tableOperators, o) == nil {
			return notFoundf("operator %q does not exist", o)
		}
	}
	if sp.Developer != "" && get[Developer](tx.Txn, tableDevelopers, sp.Developer) == nil {
		return notFoundf("developer %q does not exist", sp.Developer)
	}
	for _, p := range sp.Products {
		if get[Product](tx.Txn, tableProducts, p) == nil {
			return notFoundf("product %q is not in the catalogue", p)
		}
	}
	return put(tx, tableSPs, get[ServiceProvider](tx.Txn, tableSPs, sp.ClientID), &sp)
}

func applyDeleteSP(tx *writeTxn, body []byte) error {
	var k Key
	if err := decodeJSON(body, &k); err != nil {
		return err
	}
	// Operators' policies about the SP go with it: a new SP registered
	// later under the same client id starts from no operator's decision.
	if _, err := tx.DeleteAll(tableSPPolicies, "sp", k.Key); err != nil {
		return err
	}
	return deleteByKey[ServiceProvider](tx, body, tableSPs, "service provider")
}

// deleteByKey applies a delete command for a table whose rows nothing else
// references.
func deleteByKey[T any](tx *writeTxn, body []byte, table, what string) error {
	var k Key
	if err := decodeJSON(body, &k); err != nil {
		return err
	}
	v := get[T](tx.Txn, table, k.Key)
	if v == nil {
		return notFoundf("%s %q does not exist", what, k.Key)
	}
	return tx.Delete(table, v)
}

// ServiceProvider returns the SP with client id, or nil, with the standing
// it has now: suspended while its developer is, whatever its own status
// (a copy then; the record keeps its own, which comes back when the
// developer is activated again). Discovery and the gateways read SPs
// through it, so a suspended developer's apps are refused everywhere.
func (r *Registry) ServiceProvider(clientID string) *ServiceProvider {
	txn := r.db.Txn(false)
	return withStanding(txn, get[ServiceProvider](txn, tableSPs, clientID))
}

// withStanding is sp with the standing it has now: suspended, as a copy,
// while its developer is.
func withStanding(txn *memdb.Txn, sp *ServiceProvider) *ServiceProvider {
	if sp == nil || sp.Developer == "" || sp.Status != StatusActive {
		return sp
	}
	if d := get[Developer](txn, tableDevelopers, sp.Developer); d != nil && d.Status != StatusActive {
		cp := *sp
		cp.Status = StatusSuspended
		return &cp
	}
	return sp
}

// ServiceProviderRecord returns the SP with client id as registered, its
// own status unchanged by its developer's, or nil: what the admin API
// shows and replaces.
func (r *Registry) ServiceProviderRecord(clientID string) *ServiceProvider {
	return get[ServiceProvider](r.db.Txn(false), tableSPs, clientID)
}

// ServiceProviders lists SPs in client id order, a page at a time.
func (r *Registry) ServiceProviders(after string, limit int) Page[ServiceProvider] {
	return list(r.db, tableSPs, func(sp *ServiceProvider) string { return sp.ClientID }, after, limit, nil)
}
