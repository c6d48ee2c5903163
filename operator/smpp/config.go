// Package smpp is an operator node's connection to its SMSC: an SMPP v3.4
// ESME client built on github.com/linxGnu/gosmpp. It binds as transceiver (to
// get delivery receipts) or transmitter, sends submit_sm (GSM 7-bit or UCS2 as
// the text needs, long texts split with a concatenation UDH), bounds the
// number of outstanding requests (the window), records delivery receipts
// against message ids, and reconnects with exponential back-off when the SMSC
// goes away. While it is not bound, Submit fails at once with an error that
// matches ErrNotConnected, so the node can report "SMSC unreachable".
package smpp

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// BindMode selects how the client binds.
type BindMode string

const (
	// BindTransceiver submits and receives delivery receipts (the default).
	BindTransceiver BindMode = "transceiver"
	// BindTransmitter only submits; no delivery receipts arrive.
	BindTransmitter BindMode = "transmitter"
)

// Config is the SMSC connection as an operator configures it (by flags).
type Config struct {
	Addr       string   // host:port of the SMSC
	SystemID   string   // ESME system_id (at most 15 characters)
	Password   string   // at most 8 characters
	SystemType string   // optional, at most 12 characters
	Bind       BindMode // default BindTransceiver

	SourceAddr string // sender shown on the phone (short code, MSISDN or alphanumeric)
	SourceTON  byte   // type of number of SourceAddr (5 alphanumeric, 1 international, ...)
	SourceNPI  byte   // numbering plan of SourceAddr (0 unknown, 1 E.164)

	Window        int           // outstanding submit_sm at most; default 10, 1..255
	EnquireLink   time.Duration // keep-alive period; default 30s
	ReconnectMin  time.Duration // first reconnect delay; default 500ms
	ReconnectMax  time.Duration // reconnect delay cap; default 30s
	SubmitTimeout time.Duration // wait for submit_sm_resp; default 10s
	DialTimeout   time.Duration // TCP connect plus bind; default 5s
	MaxParts      int           // longest text in SMS parts; default 6, at most 255
	// TrackFor is how long the client keeps a message's delivery status
	// (Status) after its submission; default 10 minutes, twice an SMS
	// code's default life: a receipt later than that serves no login,
	// and a node must not hold every message it ever sent.
	TrackFor time.Duration

	// OnReceipt, if set, is called for every delivery receipt, from the
	// client's receiving goroutine: it must not block.
	OnReceipt func(Receipt)
	// OnStateChange, if set, is called when the client binds or loses its bind.
	OnStateChange func(State)
}

// Defaults.
const (
	DefaultWindow        = 10
	DefaultEnquireLink   = 30 * time.Second
	DefaultReconnectMin  = 500 * time.Millisecond
	DefaultReconnectMax  = 30 * time.Second
	DefaultSubmitTimeout = 10 * time.Second
	DefaultDialTimeout   = 5 * time.Second
	DefaultMaxParts      = 6
	DefaultTrackFor      = 10 * time.Minute
)

// ConfigError is a configuration mistake; Field is the Config field's name.
type ConfigError struct {
	Field  string
	Reason string
}

func (e *ConfigError) Error() string { return "smpp: config " + e.Field + ": " + e.Reason }

// withDefaults fills unset fields.
func (c Config) withDefaults() Config {
	if c.Bind == "" {
		c.Bind = BindTransceiver
	}
	if c.Window == 0 {
		c.Window = DefaultWindow
	}
	if c.EnquireLink == 0 {
		c.EnquireLink = DefaultEnquireLink
	}
	if c.ReconnectMin == 0 {
		c.ReconnectMin = DefaultReconnectMin
	}
	if c.ReconnectMax == 0 {
		c.ReconnectMax = DefaultReconnectMax
	}
	if c.SubmitTimeout == 0 {
		c.SubmitTimeout = DefaultSubmitTimeout
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.MaxParts == 0 {
		c.MaxParts = DefaultMaxParts
	}
	if c.TrackFor == 0 {
		c.TrackFor = DefaultTrackFor
	}
	return c
}

// Validate reports the first configuration mistake, after defaults are applied.
func (c Config) Validate() error {
	c = c.withDefaults()
	bad := func(f, r string, a ...any) error { return &ConfigError{Field: f, Reason: fmt.Sprintf(r, a...)} }
	if c.Addr == "" {
		return bad("Addr", "required (host:port of the SMSC)")
	}
	if _, port, err := net.SplitHostPort(c.Addr); err != nil || port == "" {
		return bad("Addr", "%q is not host:port", c.Addr)
	}
	if c.SystemID == "" {
		return bad("SystemID", "required")
	}
	if len(c.SystemID) > 15 {
		return bad("SystemID", "at most 15 characters (SMPP v3.4), got %d", len(c.SystemID))
	}
	if len(c.Password) > 8 {
		return bad("Password", "at most 8 characters (SMPP v3.4), got %d", len(c.Password))
	}
	if len(c.SystemType) > 12 {
		return bad("SystemType", "at most 12 characters (SMPP v3.4), got %d", len(c.SystemType))
	}
	if c.Bind != BindTransceiver && c.Bind != BindTransmitter {
		return bad("Bind", "%q: want %q or %q", c.Bind, BindTransceiver, BindTransmitter)
	}
	if len(c.SourceAddr) > 20 {
		return bad("SourceAddr", "at most 20 characters, got %d", len(c.SourceAddr))
	}
	if c.TrackFor < 0 {
		return bad("TrackFor", "negative")
	}
	if c.SourceTON > 6 {
		return bad("SourceTON", "%d is not a type of number (0-6)", c.SourceTON)
	}
	if c.SourceNPI > 18 {
		return bad("SourceNPI", "%d is not a numbering plan (0-18)", c.SourceNPI)
	}
	if c.SourceTON == 5 && len(c.SourceAddr) > 11 {
		return bad("SourceAddr", "an alphanumeric sender (TON 5) is at most 11 characters")
	}
	if c.SourceTON == 1 && strings.Trim(c.SourceAddr, "0123456789") != "" {
		return bad("SourceAddr", "an international sender (TON 1) is digits only, got %q", c.SourceAddr)
	}
	if c.Window < 1 || c.Window > 255 {
		return bad("Window", "%d: want 1..255", c.Window)
	}
	if c.EnquireLink < 0 || c.ReconnectMin < 0 || c.ReconnectMax < 0 || c.SubmitTimeout < 0 || c.DialTimeout < 0 {
		return bad("durations", "must not be negative")
	}
	if c.ReconnectMax < c.ReconnectMin {
		return bad("ReconnectMax", "%v is less than ReconnectMin %v", c.ReconnectMax, c.ReconnectMin)
	}
	if c.MaxParts < 1 || c.MaxParts > 255 {
		return bad("MaxParts", "%d: want 1..255", c.MaxParts)
	}
	return nil
}

// Errors.
var (
	// ErrNotConnected: the client is not bound to the SMSC (it is reconnecting).
	// Match with errors.Is; errors.As to *NotConnectedError gives the cause.
	ErrNotConnected = errors.New("smpp: not connected to SMSC")
	// ErrClosed: Close was called.
	ErrClosed = errors.New("smpp: client closed")
	// ErrTooLong: the text needs more than MaxParts SMS parts.
	ErrTooLong = errors.New("smpp: text too long")
	// ErrBadAddress: the destination is not E.164 digits.
	ErrBadAddress = errors.New("smpp: destination is not an E.164 number")
	// ErrSubmitTimeout: no submit_sm_resp within SubmitTimeout.
	ErrSubmitTimeout = errors.New("smpp: no submit_sm_resp from SMSC in time")
)

// NotConnectedError says why the client is not bound. It matches ErrNotConnected.
type NotConnectedError struct {
	Addr  string
	Since time.Time // when the bind was lost (zero if never bound)
	Cause error     // the last connection error, if any
}

func (e *NotConnectedError) Error() string {
	s := "smpp: not connected to SMSC " + e.Addr
	if e.Cause != nil {
		s += ": " + e.Cause.Error()
	}
	return s
}

// Is makes errors.Is(err, ErrNotConnected) true.
func (e *NotConnectedError) Is(target error) bool { return target == ErrNotConnected }

// Unwrap returns the cause.
func (e *NotConnectedError) Unwrap() error { return e.Cause }

// BindError is a bind the SMSC refused (wrong system_id or password, ...).
type BindError struct {
	Addr   string
	Status uint32 // SMPP command_status, e.g. 0x0E ESME_RINVPASWD
	Name   string // e.g. "ESME_RINVPASWD"
	Desc   string // e.g. "Invalid Password"
}

func (e *BindError) Error() string {
	return fmt.Sprintf("smpp: SMSC %s refused the bind: %s (%s, 0x%08X)", e.Addr, e.Desc, e.Name, e.Status)
}

// StatusError is a submit_sm the SMSC refused.
type StatusError struct {
	Status uint32
	Name   string
	Desc   string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("smpp: SMSC refused submit_sm: %s (%s, 0x%08X)", e.Desc, e.Name, e.Status)
}
