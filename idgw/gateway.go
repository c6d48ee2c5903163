// Package idgw is an operator's Identity Gateway: the OpenID Connect
// authorization server of the Mobile Connect profile (metadata, JWKS,
// authorization, token, userinfo and premiuminfo endpoints), authenticator
// routing by Level of Assurance, the token manager and the access gateway.
//
// It reads the federation's registry (its own operator record, the SPs and
// the catalogue) through the Registry interface and reaches everything
// operator-specific through interfaces it defines (authenticators, the
// subscriber store, the data gateway, the opener of sealed login hints), so
// it imports none of their implementations. Signing goes through the jose
// package, the one place that touches the JOSE library.
package idgw

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/mcfed/mcfed/internal/budget"
	"github.com/mcfed/mcfed/internal/jose"
	"github.com/mcfed/mcfed/operator/state"
	"github.com/mcfed/mcfed/registry"
)

// Registry is what the gateway reads from the node's replica; every call
// must be safe for concurrent use and must not wait for Raft.
type Registry interface {
	Operator(id string) *registry.Operator
	ServiceProvider(clientID string) *registry.ServiceProvider
	Resolve(n uint64) (registry.Resolution, bool)
	Scopes(after string, limit int) registry.Page[registry.Scope]
	Product(id string) *registry.Product
}

// LoginHintOpener opens a login_hint=ENCR_MSISDN:<hex> sealed by discovery
// to this operator's key, returning the MSISDN's digits. clientID is the
// client_id of the request the hint came with: a form bound to an SP opens
// only for it.
type LoginHintOpener interface {
	OpenLoginHint(subscriberID, clientID string) (uint64, error)
}

// Config is what the node passes to New.
type Config struct {
	// OperatorID is the operator this gateway serves; its registry record
	// gives the issuer and endpoints.
	OperatorID string
	// Issuer is the gateway's issuer URL as this node serves it (its public
	// URL, with any path prefix). The endpoints mount at the default paths
	// under it; the operator's registry record should carry the same issuer.
	Issuer   string
	Registry Registry
	// Keys signs ID tokens; its JWKS is published.
	Keys       *jose.KeyRing
	LoginHints LoginHintOpener
	// Subscribers is the operator's subscriber store.
	Subscribers Subscribers
	// PCRIndex resolves login_hint=PCR:<pcr> (nil: PCR hints are refused
	// with invalid_request).
	PCRIndex PCRIndex
	// Addresses is the operator's network's address lookup behind CAMARA
	// login_hint=ipport: at the backchannel endpoints (ipport.go; nil:
	// those hints are refused with invalid_request).
	Addresses AddressResolver
	// Router holds the operator's authenticators in its order of
	// preference.
	Router *Router
	// Store keeps the login state: the operator's node-local state store
	// (operator/state), shared by its gateway nodes.
	Store Store
	// Claims is the data gateway behind userinfo and premiuminfo (nil: they
	// answer the subject only).
	Claims ClaimsSource
	// Throttle limits each client's userinfo and premiuminfo calls.
	Throttle Throttle
	// AuthFailures bounds failed client authentications at /token,
	// /introspect and /revoke (zero fields: the defaults).
	AuthFailures FailureBudget
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
	// Log gets failures that do not fail a request; default slog.Default().
	Log *slog.Logger
	// Observer learns how each OAuth endpoint answered (nil: nobody).
	Observer Observer
	// SendBudgets bound the logins that reach a handset per SP, source
	// address and operator (sendbudget.go; zero: none).
	SendBudgets SendBudgets
}

// Gateway serves one operator's OIDC endpoints. It is safe for concurrent
// use.
type Gateway struct {
	cfg    Config
	now    func() time.Time
	log    *slog.Logger
	paths  struct{ continueURL, status, consent, introspection, logout, logoutConfirm, services string }
	cookie sessionCookie

	routing  *RoutingRules // the operator's rules, read through a short cache
	sessions *table[*authSession]
	browsers *table[*browserSession] // session cookie id → sign-in
	polls    *table[string]          // poll key → session id
	codes    *table[*grant]
	consents *table[*pendingConsent] // consent page id → login waiting for it
	logouts  *table[*logoutPending]  // confirmation page id → logout waiting for it
	used     *table[storeKey]        // redeemed code → its token family, to revoke on replay
	access   *table[*accessToken]
	refresh  *table[*accessToken]
	families *familyStore
	// bc holds the server-initiated logins (bclogin.go).
	bc *table[*bcLogin]
	// locks serialise, on this node, the requests on one login session
	// (the browser's page and the SDK's re-polls); across nodes the
	// session's version does (authorize.go).
	locks   sessionLocks
	limiter *budget.Keyed
	// apiLimits are the catalogue's per-SP limits of its APIs (apilimits.go).
	apiLimits apiLimits
	failures  *failureBudgets
	// requestURIFetches throttles the request_uri fetches per client.
	requestURIFetches *budget.Keyed
	// clientAuth holds private_key_jwt's SP key sets and spent assertions.
	clientAuth *clientAuthState
	// secrets remembers the SPs' operator secrets already verified, so a
	// known one costs a hash instead of an Ed25519 verification.
	secrets *registry.SecretCache
	// logoutWake wakes this node's DeliverLogouts when it queued a logout
	// token (backchannel.go).
	logoutWake chan struct{}
}

// New checks cfg and returns a Gateway.
func New(cfg Config) (*Gateway, error) {
	var errs []error
	if cfg.OperatorID == "" {
		errs = append(errs, errors.New("idgw: Config.OperatorID is required"))
	}
	if cfg.Registry == nil {
		errs = append(errs, errors.New("idgw: Config.Registry is required"))
	}
	if _, err := url.Parse(cfg.Issuer); err != nil || cfg.Issuer == "" {
		errs = append(errs, fmt.Errorf("idgw: Config.Issuer %q is not a URL", cfg.Issuer))
	}
	if cfg.Keys == nil {
		errs = append(errs, errors.New("idgw: Config.Keys is required"))
	}
	if cfg.Subscribers == nil {
		errs = append(errs, errors.New("idgw: Config.Subscribers is required"))
	}
	if cfg.Router == nil {
		errs = append(errs, errors.New("idgw: Config.Router is required"))
	}
	if cfg.Store == nil {
		errs = append(errs, errors.New("idgw: Config.Store is required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	g := &Gateway{cfg: cfg, now: cfg.Now, log: cfg.Log, cookie: newSessionCookie(cfg.Issuer), logoutWake: make(chan struct{}, 1)}
	if g.now == nil {
		g.now = time.Now
	}
	if g.log == nil {
		g.log = slog.Default()
	}
	now := func() time.Time { return g.now() }
	g.makeTables()
	g.clientAuth = newClientAuthState()
	g.routing = NewRoutingRules(cfg.Store, cfg.Router)
	g.secrets = registry.NewSecretCache(0)
	g.limiter = budget.New(cfg.Throttle, defaultClientThrottle, now)
	g.failures = newFailureBudgets(cfg.AuthFailures, now)
	g.requestURIFetches = budget.New(requestURIFetchBudget, requestURIFetchBudget, now)
	u := (&registry.Operator{Issuer: cfg.Issuer}).URLs()
	g.paths.continueURL = u.Authorization + "/continue"
	g.paths.status = g.paths.continueURL + "/status"
	g.paths.consent = u.Authorization + "/consent"
	g.paths.introspection = strings.TrimRight(cfg.Issuer, "/") + "/introspect"
	g.paths.logout = strings.TrimRight(cfg.Issuer, "/") + "/logout"
	g.paths.logoutConfirm = g.paths.logout + "/confirm"
	g.paths.services = strings.TrimRight(cfg.Issuer, "/") + "/services"
	return g, nil
}

// operator returns this gateway's operator record, or an error when the
// registry does not (yet) hold it: the node serves nothing until its
// operator is registered.
func (g *Gateway) operator() (*registry.Operator, error) {
	o := g.cfg.Registry.Operator(g.cfg.OperatorID)
	if o == nil {
		return nil, fmt.Errorf("operator %q is not registered", g.cfg.OperatorID)
	}
	return o, nil
}

// makeTables binds the gateway's tables to its store, each kind named for
// what it holds.
func (g *Gateway) makeTables() {
	g.sessions = newTable(g, "idgw.session", sessionCodec(g))
	g.browsers = newTable(g, "idgw.browser", browserCodec)
	g.polls = newTable(g, "idgw.poll", stringCodec)
	g.codes = newTable(g, "idgw.code", grantCodec(g))
	g.consents = newTable(g, "idgw.consent", consentCodec(g))
	g.logouts = newTable(g, "idgw.logout-pending", logoutPendingCodec)
	g.used = newTable(g, "idgw.redeemed", keyCodec)
	g.families = &familyStore{store: g.cfg.Store, live: newTable(g, "idgw.family", familyCodec), rotated: newTable(g, "idgw.rotated", rotationCodec)}
	g.access = newTable(g, "idgw.access", tokenCodec)
	g.refresh = newTable(g, "idgw.refresh", tokenCodec)
	g.bc = newTable(g, "idgw.ciba", bcCodec(g))
}

func newTable[V any](g *Gateway, kind state.Kind, c codec[V]) *table[V] {
	return &table[V]{store: g.cfg.Store, kind: kind, codec: c, now: func() time.Time { return g.now() }, log: g.log}
}
