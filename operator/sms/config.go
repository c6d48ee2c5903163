package sms

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/mcfed/mcfed/idgw"
)

// Mode is how the person answers the SMS.
type Mode string

const (
	// ModeOTP: the SMS carries a code that the person types into this
	// package's page, which posts it back to the gateway.
	ModeOTP Mode = "otp"
	// ModeURL: the SMS carries a one-time link; tapping it on the phone
	// approves the sign-in, out of band (the gateway shows its waiting page).
	ModeURL Mode = "url"
	// ModeOTPURL: both; either the code or the link succeeds.
	ModeOTPURL Mode = "otp+url"
)

func (m Mode) hasCode() bool { return m == ModeOTP || m == ModeOTPURL }
func (m Mode) hasLink() bool { return m == ModeURL || m == ModeOTPURL }

// Defaults.
const (
	DefaultCodeLength  = 6
	DefaultTTL         = 5 * time.Minute
	DefaultMaxAttempts = 3
	DefaultSendLimit   = 5
	DefaultSendWindow  = 15 * time.Minute
)

// Config configures an SMS authenticator.
type Config struct {
	// Mode: ModeOTP, ModeURL or ModeOTPURL. Required.
	Mode Mode
	// CodeLength is the number of digits of a code (4 to 10; default 6).
	CodeLength int
	// TTL is how long a code or link is valid (default 5 minutes).
	TTL time.Duration
	// MaxAttempts is how many wrong codes end a challenge (1 to 20;
	// default 3).
	MaxAttempts int
	// SendLimit is the most SMS sent to one MSISDN per SendWindow, against
	// SMS pumping (default 5 per 15 minutes). Past it Start fails with an
	// error matching ErrSendLimit and idgw.ErrUnavailable.
	SendLimit  int
	SendWindow time.Duration
	// PublicURL is the node's public base URL (http or https, any path
	// prefix) where Mount's pages are served: <PublicURL>/sms/otp and
	// <PublicURL>/sms/link/<token>. Return URLs must lie under it.
	PublicURL string
	// OperatorName is shown on the pages and signs the SMS when the
	// challenge does not name the operator (idgw.Challenge.Operator).
	OperatorName string
	// Store keeps the challenges, link taps and send log: the operator's
	// state store (operator/state), shared by the nodes that should answer
	// each other's challenges and share the send limit. Required.
	Store Store
	// Log is where store failures are logged; default slog.Default().
	Log *slog.Logger
	// Now is the clock (tests); default time.Now. It should be the
	// Store's: what expires for one expires for the other.
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	if c.CodeLength == 0 {
		c.CodeLength = DefaultCodeLength
	}
	if c.TTL == 0 {
		c.TTL = DefaultTTL
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.SendLimit == 0 {
		c.SendLimit = DefaultSendLimit
	}
	if c.SendWindow == 0 {
		c.SendWindow = DefaultSendWindow
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	return c
}

// validate checks a Config with defaults applied and returns the parsed
// public URL (no trailing slash in its path).
func (c Config) validate() (*url.URL, error) {
	var errs []error
	bad := func(f, r string, a ...any) {
		errs = append(errs, fmt.Errorf("sms: config %s: %s", f, fmt.Sprintf(r, a...)))
	}
	switch c.Mode {
	case ModeOTP, ModeURL, ModeOTPURL:
	default:
		bad("Mode", "%q: want %q, %q or %q", c.Mode, ModeOTP, ModeURL, ModeOTPURL)
	}
	if c.CodeLength < 4 || c.CodeLength > 10 {
		bad("CodeLength", "%d: want 4..10 digits", c.CodeLength)
	}
	if c.TTL < 0 {
		bad("TTL", "must not be negative")
	}
	if c.MaxAttempts < 1 || c.MaxAttempts > 20 {
		bad("MaxAttempts", "%d: want 1..20", c.MaxAttempts)
	}
	if c.SendLimit < 1 {
		bad("SendLimit", "%d: want at least 1", c.SendLimit)
	}
	if c.SendWindow < 0 {
		bad("SendWindow", "must not be negative")
	}
	if c.Store == nil {
		bad("Store", "required (the operator's state store)")
	}
	u, err := idgw.ParsePublicURL(c.PublicURL)
	if err != nil {
		bad("PublicURL", "%v", err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u, nil
}
