package subscribers

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"time"

	"github.com/gofiber/fiber/v2"
)

// Consents: what each SP was let have by a subscriber, as the operator's
// gateway records it (its state store, not this one). Customer care lists
// and withdraws them through the provisioning API; a withdrawal ends the
// SP's tokens and sessions of the subscriber at the gateway. The node gives
// the API a ConsentLedger over its gateway, so this package knows nothing
// of the gateway.

// Consent is one SP's consent record of a subscriber.
type Consent struct {
	ClientID     string         `json:"client_id"`
	SPName       string         `json:"sp_name"`
	Scopes       []ScopeConsent `json:"scopes"`
	Claims       []string       `json:"claims,omitempty"`
	FirstGranted time.Time      `json:"first_granted"`
	LastUsed     time.Time      `json:"last_used"`
	Expires      time.Time      `json:"expires"`
}

// ScopeConsent is when and by which authentication one scope was granted,
// and whether the person allowed it on the consent page.
type ScopeConsent struct {
	Scope         string    `json:"scope"`
	GrantedAt     time.Time `json:"granted_at"`
	ACR           string    `json:"acr"`
	AMR           []string  `json:"amr,omitempty"`
	OnConsentPage bool      `json:"on_consent_page"`
}

// ConsentLedger is where the consents are: the operator's gateway.
type ConsentLedger interface {
	Consents(ctx context.Context, m MSISDN) ([]Consent, error)
	// WithdrawConsent answers ErrNoConsent when there is none for the SP.
	WithdrawConsent(ctx context.Context, m MSISDN, clientID string) error
}

var (
	// ErrNoConsent: the subscriber has no consent record for the SP.
	ErrNoConsent = errors.New("subscribers: no consent of this subscriber for this client")
	// ErrNoLedger: the node's gateway is not running (yet).
	ErrNoLedger = newProblem(http.StatusServiceUnavailable, "unavailable", "the operator's gateway is not running on this node yet")
)

// clientIDPattern is the registry's rule for a client_id.
var clientIDPattern = regexp.MustCompile(`^[A-Za-z0-9._~-]{1,128}$`)

// consentsPage is the answer of GET /subscribers/{msisdn}/consents.
type consentsPage struct {
	Consents []Consent `json:"consents"`
}

func (a *API) listConsents(c *fiber.Ctx) error {
	m, err := a.consentSubscriber(c)
	if err != nil {
		return a.fail(c, err)
	}
	cs, err := a.Consents.Consents(c.UserContext(), m)
	if err != nil {
		return a.fail(c, err)
	}
	if cs == nil {
		cs = []Consent{}
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(consentsPage{Consents: cs})
}

func (a *API) withdrawConsent(c *fiber.Ctx) error {
	m, err := a.consentSubscriber(c)
	if err != nil {
		return a.fail(c, err)
	}
	id, err := url.PathUnescape(c.Params("client"))
	if err != nil || !clientIDPattern.MatchString(id) {
		return a.fail(c, invalid("client_id", "1-128 characters of A-Z, a-z, 0-9, '.', '_', '~' and '-'"))
	}
	switch err := a.Consents.WithdrawConsent(c.UserContext(), m, id); {
	case errors.Is(err, ErrNoConsent):
		return a.fail(c, newProblem(http.StatusNotFound, "not-found", "the subscriber has no consent for client "+id))
	case err != nil:
		return a.fail(c, err)
	}
	return c.SendStatus(http.StatusNoContent)
}

// consentSubscriber is the subscriber of a consent route: it must be one
// of the store's, and the ledger must be there.
func (a *API) consentSubscriber(c *fiber.Ctx) (MSISDN, error) {
	if a.Consents == nil {
		return 0, ErrNoLedger
	}
	m, err := pathMSISDN(c)
	if err != nil {
		return 0, err
	}
	if _, err := a.Store.Get(m); err != nil {
		return 0, err
	}
	return m, nil
}
