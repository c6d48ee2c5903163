package fido

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"

	"github.com/mcfed/mcfed/idgw"
	"github.com/mcfed/mcfed/operator/state"
)

// Defaults.
const (
	DefaultLoginTTL    = 3 * time.Minute
	DefaultEnrolTTL    = 5 * time.Minute
	DefaultManageTTL   = 15 * time.Minute
	DefaultMaxAttempts = 3
	DefaultMaxPasskeys = 10
)

// Config configures a FIDO authenticator. The node's authenticator table
// builds it from the operator's configuration.
type Config struct {
	// PublicURL is the node's public base URL (http or https, any path
	// prefix) where Mount's pages are served: <PublicURL>/fido/...; return
	// URLs must lie under it. It is the gateway's origin. Required.
	PublicURL string `json:"public_url"`
	// RPID is the WebAuthn relying party ID: the gateway's host or a
	// registrable suffix of it (default: PublicURL's host). Browsers refuse
	// an IP address as an RP ID: a node reached at 127.0.0.1 serves
	// passkeys only under a name (localhost).
	RPID string `json:"rp_id"`
	// RPName is the name the person's authenticator shows at enrolment
	// (default: OperatorName, else "Mobile Connect").
	RPName string `json:"rp_name"`
	// Origins are the origins (scheme://host[:port]) whose pages may run
	// the ceremonies (default: PublicURL's origin). Each must be on RPID.
	Origins []string `json:"origins"`
	// OperatorName is shown on the pages when the gateway gives no look.
	OperatorName string `json:"operator_name"`
	// UserVerification is what the authenticator must do besides proving
	// possession: "required" (default: a biometric or the device's PIN,
	// the second factor LoA3 needs), "preferred" or "discouraged".
	UserVerification string `json:"user_verification"`
	// LoginTTL is how long a login challenge lasts (default 3 minutes),
	// EnrolTTL a registration ceremony (default 5 minutes), ManageTTL the
	// passkeys page opened after a login (default 15 minutes).
	LoginTTL  time.Duration `json:"login_ttl"`
	EnrolTTL  time.Duration `json:"enrol_ttl"`
	ManageTTL time.Duration `json:"manage_ttl"`
	// MaxAttempts is how many refused assertions end a login challenge
	// (default 3); MaxPasskeys how many passkeys a subscriber may hold
	// (default 10).
	MaxAttempts int `json:"max_attempts"`
	MaxPasskeys int `json:"max_passkeys"`
	// Push, when set, reaches the subscribers' phones: a login of a
	// subscriber with a passkey on the phone (EnrolPhone) is pushed there
	// (phone.go). Without it only the browser's passkeys serve.
	Push Pusher `json:"-"`
	// Store is the operator's node-local state store: credentials,
	// challenges and ceremonies. Required.
	Store state.Store `json:"-"`
	// Now is the clock (tests); default time.Now.
	Now func() time.Time `json:"-"`
}

func (c Config) withDefaults() Config {
	c.Origins = slices.Clone(c.Origins) // validate normalises them in place
	if c.LoginTTL == 0 {
		c.LoginTTL = DefaultLoginTTL
	}
	if c.EnrolTTL == 0 {
		c.EnrolTTL = DefaultEnrolTTL
	}
	if c.ManageTTL == 0 {
		c.ManageTTL = DefaultManageTTL
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.MaxPasskeys == 0 {
		c.MaxPasskeys = DefaultMaxPasskeys
	}
	if c.UserVerification == "" {
		c.UserVerification = string(protocol.VerificationRequired)
	}
	if c.RPName == "" {
		c.RPName = c.OperatorName
	}
	if c.RPName == "" {
		c.RPName = "Mobile Connect"
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// validate checks a Config with defaults applied, fills RPID and Origins
// from PublicURL when they are empty, and returns the parsed public URL
// (no trailing slash in its path). It reports every error at once.
func (c *Config) validate() (*url.URL, error) {
	var errs []error
	bad := func(f, r string, a ...any) {
		errs = append(errs, fmt.Errorf("fido: config %s: %s", f, fmt.Sprintf(r, a...)))
	}
	u, err := idgw.ParsePublicURL(c.PublicURL)
	switch {
	case err != nil:
		bad("PublicURL", "%v", err)
	default:
		if c.RPID == "" {
			c.RPID = u.Hostname()
		}
		if len(c.Origins) == 0 {
			c.Origins = []string{u.Scheme + "://" + u.Host}
		}
	}
	if c.RPID != "" {
		if net.ParseIP(c.RPID) != nil {
			bad("RPID", "%q is an IP address: WebAuthn needs a domain name (localhost for a node on loopback)", c.RPID)
		} else if err := protocol.ValidateRPID(c.RPID); err != nil {
			bad("RPID", "%q: %v", c.RPID, err)
		}
	}
	for _, o := range c.Origins {
		ou, err := url.Parse(o)
		if err != nil || (ou.Scheme != "https" && ou.Scheme != "http") || ou.Host == "" || (ou.Path != "" && ou.Path != "/") ||
			ou.RawQuery != "" || ou.User != nil {
			bad("Origins", "%q: want scheme://host[:port]", o)
			continue
		}
		h := strings.ToLower(ou.Hostname())
		if rp := strings.ToLower(c.RPID); rp != "" && h != rp && !strings.HasSuffix(h, "."+rp) {
			bad("Origins", "%q is not on the RP ID %q (its host must be the RP ID or under it)", o, c.RPID)
		}
	}
	switch protocol.UserVerificationRequirement(c.UserVerification) {
	case protocol.VerificationRequired, protocol.VerificationPreferred, protocol.VerificationDiscouraged:
	default:
		bad("UserVerification", "%q: want required, preferred or discouraged", c.UserVerification)
	}
	if c.LoginTTL < 0 || c.EnrolTTL < 0 || c.ManageTTL < 0 {
		bad("LoginTTL/EnrolTTL/ManageTTL", "must not be negative")
	}
	if c.MaxAttempts < 1 || c.MaxAttempts > 20 {
		bad("MaxAttempts", "%d: want 1..20", c.MaxAttempts)
	}
	if c.MaxPasskeys < 1 || c.MaxPasskeys > 100 {
		bad("MaxPasskeys", "%d: want 1..100", c.MaxPasskeys)
	}
	if c.Store == nil {
		bad("Store", "required (the node-local state store)")
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	for i, o := range c.Origins {
		c.Origins[i] = strings.TrimRight(o, "/")
	}
	return u, nil
}
