package discovery

import (
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/mcfed/mcfed/internal/budget"
	"github.com/mcfed/mcfed/internal/e164"
	"github.com/mcfed/mcfed/registry"
)

// Registry is what discovery reads from the node's replica. Every method
// must be safe for concurrent use and must not wait for Raft; the node passes
// a view that always reads its current registry (a restore swaps it).
type Registry interface {
	// Resolve finds the operator serving an E.164 number (its digits as an
	// integer), ported numbers first.
	Resolve(n uint64) (registry.Resolution, bool)
	OperatorByNetwork(mcc, mnc string) *registry.Operator
	OperatorByIP(a netip.Addr) *registry.Operator
	Operator(id string) *registry.Operator
	// Operators lists operators a page at a time (the selection page).
	Operators(after string, limit int) registry.Page[registry.Operator]
	ServiceProvider(clientID string) *registry.ServiceProvider
	// AcceptedBy reports whether operator accepts the SP: the SP names it
	// and the operator has not declined it.
	AcceptedBy(operator string, sp *registry.ServiceProvider) bool
	// NodeSealKey finds a node's published X25519 seal key by id (the
	// symmetric subscriber_id, symseal.go).
	NodeSealKey(kid string) (registry.SealKey, bool)
	// AppliedIndex is the log index of the last command the replica
	// applied, published only once the command's changes are readable:
	// discovery keeps what it read of an SP while it stays the same
	// (spcache.go).
	AppliedIndex() uint64
}

// Config is what a node passes to New.
type Config struct {
	Registry Registry
	// PublicURL is this node's public base URL (scheme, host, optional path
	// prefix), for the operator-selection links.
	PublicURL string
	// TTL is how long an SP may cache an answer; the answer's ttl is now+TTL
	// in epoch milliseconds. Default 1 hour.
	TTL time.Duration
	// Metrics may be nil.
	Metrics Metrics
	// SelectionKey MACs operator-selection sessions. Nodes behind one
	// public name must share it; at least 32 bytes. When empty, New draws a
	// random key, and sessions survive only as long as this process.
	SelectionKey []byte
	// SelectionTTL is how long a person has to pick an operator. Default
	// 10 minutes.
	SelectionTTL time.Duration
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
	// Readiness, when set, gates the answers that read the replica: 503
	// until it says ready. Nil means always ready.
	Readiness Readiness
	// Throttle is each SP's budget of discovery requests on this node
	// (zero: DefaultThrottle); past it, 429 with Retry-After.
	Throttle Throttle
	// AuthFailures bounds failed SP authentications per client id and per
	// source address (zero fields: DefaultClientFailures,
	// DefaultAddressFailures).
	AuthFailures FailureBudget
	// Log gets a line when a failure budget is spent; default
	// slog.Default().
	Log *slog.Logger

	// The symmetric subscriber_id (symseal.go). SealKey is this node's
	// X25519 key, published on its registry.Node record; nil: RSA only.
	// SubscriberIDLifetime is how long a symmetric subscriber_id opens:
	// default TTL (an SP may start a login with a cached answer until the
	// answer's ttl, and no later), at most MaxSubscriberIDLifetime.
	SealKey              *SealKeyPair
	SubscriberIDLifetime time.Duration
}

// Service serves the Discovery API, the operator-selection page and the
// Telco Finder. It is safe for concurrent use.
type Service struct {
	reg          Registry
	publicURL    string
	ttl          time.Duration
	metrics      Metrics
	now          func() time.Time
	wallClock    bool // now is time.Now
	sessions     sessionCodec
	keys         sealingKeys
	sym          *symSealer    // nil: RSA only
	subTTL       time.Duration // a symmetric subscriber_id's lifetime
	fragments    fragments
	secrets      *registry.SecretCache // SPs' secrets verified, operator secrets derived
	sps          spCache               // SPs and their acceptance, per applied index
	selectionURL string                // publicURL + selectionPath
	readiness    Readiness
	log          *slog.Logger
	// perSP is each SP's request budget; failedClient and failedAddress
	// the failure budgets.
	perSP, failedClient, failedAddress *budget.Keyed
}

// Paths the service mounts.
const (
	discoveryPath   = "/v2/discovery"
	selectionPath   = "/v2/discovery/users/operator-selection"
	telcoFinderPath = "/telco-finder/v1/search"
)

// New checks cfg and returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Registry == nil {
		return nil, errors.New("discovery: Config.Registry is required")
	}
	u, err := url.Parse(cfg.PublicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("discovery: PublicURL %q must be an absolute http(s) URL without query or fragment", cfg.PublicURL)
	}
	key := cfg.SelectionKey
	switch {
	case len(key) == 0:
		key = make([]byte, 32)
		rand.Read(key) // crypto/rand.Read never fails (Go 1.24+)
	case len(key) < 32:
		return nil, fmt.Errorf("discovery: SelectionKey has %d bytes, want at least 32", len(key))
	}
	s := &Service{
		reg:       cfg.Registry,
		publicURL: strings.TrimRight(cfg.PublicURL, "/"),
		ttl:       cfg.TTL,
		metrics:   cfg.Metrics,
		now:       cfg.Now,
		readiness: cfg.Readiness,
		secrets:   registry.NewSecretCache(0),
		sps:       spCache{reg: cfg.Registry},
	}
	if s.ttl <= 0 {
		s.ttl = time.Hour
	}
	if s.metrics == nil {
		s.metrics = noMetrics{}
	}
	if s.now == nil {
		s.now, s.wallClock = time.Now, true
	}
	s.log = cfg.Log
	if s.log == nil {
		s.log = slog.Default()
	}
	now := func() time.Time { return s.now() }
	s.perSP = budget.New(cfg.Throttle, DefaultThrottle, now)
	s.failedClient = budget.New(cfg.AuthFailures.PerClient, DefaultClientFailures, now)
	s.failedAddress = budget.New(cfg.AuthFailures.PerAddress, DefaultAddressFailures, now)
	sttl := cfg.SelectionTTL
	if sttl <= 0 {
		sttl = 10 * time.Minute
	}
	s.sessions = sessionCodec{key: key, ttl: sttl}
	if err := s.configureSym(cfg); err != nil {
		return nil, err
	}
	s.selectionURL = s.publicURL + selectionPath
	// The number validator compiles its tables on first use; pay that
	// here rather than in the first SP's request.
	e164.FastValidator()
	return s, nil
}

// Mount registers the service's routes on the node's public app: the router
// that PublicURL reaches (the selection links are PublicURL + the route).
func (s *Service) Mount(r fiber.Router) {
	for _, p := range []string{discoveryPath, discoveryPath + "/"} {
		r.Get(p, s.handleDiscovery)
		r.Post(p, s.handleDiscovery)
	}
	r.Get(selectionPath, s.handleSelectionPage)
	r.Post(selectionPath, s.handleSelectionChoice)
	r.Post(telcoFinderPath, s.handleTelcoFinder)
}

// clock is the time now for a request received at start: start itself
// when the clock is the wall clock (a request reads it once, not twice).
func (s *Service) clock(start time.Time) time.Time {
	if s.wallClock {
		return start
	}
	return s.now()
}

// routable reports whether discovery may send the SP to op: a member in
// good standing that accepts the SP (the SP names it and it has not
// declined the SP).
func (s *Service) routable(op *registry.Operator, sp *registry.ServiceProvider) bool {
	return op != nil && op.Status == registry.StatusActive && s.reg.AcceptedBy(op.ID, sp)
}

// routableFor is routable for a cached SP (spcache.go).
func (s *Service) routableFor(op *registry.Operator, e *spEntry) bool {
	return op != nil && op.Status == registry.StatusActive && s.sps.acceptedBy(e, op.ID)
}

// authenticate returns the SP whose Basic credentials these are, or nil when
// they are wrong, unknown or the SP is suspended (which callers do not tell
// apart, so a probe learns nothing about which client ids exist). The
// secret must be the SP's own: an operator secret derived from it, which
// every gateway of that operator sees, does not open discovery.
// The verified secret derives the serving operator's (SecretCache.OperatorSecretFor).
func (s *Service) authenticate(clientID, secret []byte) (*spEntry, registry.OwnSecret) {
	e := s.sps.serviceProvider(clientID)
	if e == nil || e.sp.Status != registry.StatusActive {
		return nil, registry.OwnSecret{}
	}
	own, ok := s.secrets.Verify(e.sp, secret)
	if !ok {
		return nil, registry.OwnSecret{}
	}
	return e, own
}

// registeredRedirect reports whether u is exactly one of the SP's redirect
// URIs (no prefix or normalisation games: RFC 6749 §3.1.2.3's simple string
// comparison).
func registeredRedirect(sp *registry.ServiceProvider, u []byte) bool {
	for _, r := range sp.RedirectURIs {
		if string(u) == r {
			return true
		}
	}
	return false
}
