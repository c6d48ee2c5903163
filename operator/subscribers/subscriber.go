// Package subscribers is an operator's subscriber store and its provisioning
// API: who the operator's subscribers are, their attributes, ATP signals
// (SIM swap, last port), authenticator enrolments and the secret behind their
// pairwise customer references (PCRs).
//
// None of this enters the federation's registry: it lives in the
// operator's state store (operator/state: the node's state.db, or the
// PostgreSQL database the operator's gateway nodes share), so that any of
// the operator's nodes serves any of its subscribers, and no other
// operator's. A data directory's subscribers.db from before is copied in
// once (Migrate). Numbers are read and checked by internal/e164, as
// everywhere else in mcfed.
package subscribers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mcfed/mcfed/internal/e164"
)

// Status is where a subscriber stands.
type Status string

// Statuses. A deleted subscriber is a tombstone: its attributes are gone but
// its record stays, so its number's history (and version) is kept.
const (
	StatusActive    Status = "active"
	StatusSuspended Status = "suspended"
	StatusDeleted   Status = "deleted"
)

func (s Status) valid() bool {
	return s == StatusActive || s == StatusSuspended || s == StatusDeleted
}

// MSISDN is a number as the registry keeps it: the uint64 value of its E.164
// digits. In JSON it is "+<digits>"; on input anything e164.Parse
// accepts.
type MSISDN uint64

func (m MSISDN) String() string { return e164.Format(uint64(m)) }

// MarshalJSON writes "+<digits>".
func (m MSISDN) MarshalJSON() ([]byte, error) { return json.Marshal(m.String()) }

// UnmarshalJSON reads a number. The canonical "+<digits>" form (the form the
// store writes) is only converted, so that reading a stored record costs no
// validation; any other form goes through e164.Parse. Input from
// outside is validated in full by validate.
func (m *MSISDN) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return &FieldError{Field: "msisdn", Reason: "must be a string such as \"+447400123456\""}
	}
	if v, ok := e164.ParseCanonical(s); ok {
		*m = MSISDN(v)
		return nil
	}
	v, err := e164.Parse(s)
	if err != nil {
		return &FieldError{Field: "msisdn", Reason: err.Error(), err: err}
	}
	*m = MSISDN(v)
	return nil
}

// checkNumber reports whether m is a valid number: e164.Parse must accept
// its canonical form and keep its value.
func checkNumber(m MSISDN) error {
	v, err := e164.Parse(m.String())
	if err != nil {
		return &FieldError{Field: "msisdn", Reason: err.Error(), err: err}
	}
	if v != uint64(m) {
		return invalid("msisdn", "not in international form (did you mean %s?)", MSISDN(v))
	}
	return nil
}

// Address is an OpenID Connect address claim, without "formatted" (the data
// gateway builds that).
type Address struct {
	StreetAddress string `json:"street_address,omitempty"`
	Locality      string `json:"locality,omitempty"` // city
	Region        string `json:"region,omitempty"`   // state, county
	PostalCode    string `json:"postal_code,omitempty"`
	Country       string `json:"country,omitempty"`
}

// Attributes are what the data gateway may release about a subscriber, in
// the names of the OpenID Connect and Mobile Connect claims they feed.
type Attributes struct {
	Title                string   `json:"title,omitempty"`
	GivenName            string   `json:"given_name,omitempty"`
	MiddleName           string   `json:"middle_name,omitempty"`
	FamilyName           string   `json:"family_name,omitempty"`
	Email                string   `json:"email,omitempty"`
	EmailVerified        bool     `json:"email_verified,omitempty"`
	PhoneNumberAlternate string   `json:"phone_number_alternate,omitempty"`
	Birthdate            string   `json:"birthdate,omitempty"` // YYYY-MM-DD
	Address              *Address `json:"address,omitempty"`
	NationalIdentifier   string   `json:"national_identifier,omitempty"`
}

// Enrolment is one authenticator a subscriber is enrolled with. Data belongs
// to the authenticator (a FIDO credential, a SIM applet key reference, ...);
// the store keeps it as opaque JSON.
type Enrolment struct {
	Type      string          `json:"type"` // "sms", "fido", "simapplet", ...
	ID        string          `json:"id"`
	CreatedAt time.Time       `json:"created_at"`
	Data      json.RawMessage `json:"data,omitempty"`
}

// Subscriber is the provisioning API's representation of a subscriber. The
// PCR secret is deliberately not a field, so that no code path that shows a
// Subscriber can leak it; see Store.PCRSecret.
type Subscriber struct {
	MSISDN         MSISDN      `json:"msisdn"`
	Status         Status      `json:"status,omitempty"`
	Attributes     Attributes  `json:"attributes"`
	SIMSwapAt      *time.Time  `json:"sim_swap_at,omitempty"`
	LastPortAt     *time.Time  `json:"last_port_at,omitempty"`
	Authenticators []Enrolment `json:"authenticators,omitempty"`
	// Set by the store; ignored on input.
	CreatedAt time.Time `json:"created_at,omitzero"`
	UpdatedAt time.Time `json:"updated_at,omitzero"`
	Version   uint64    `json:"version,omitempty"`
}

// FieldError is invalid input, naming the field (a JSON path such as
// "attributes.birthdate") and why.
type FieldError struct {
	Field  string
	Reason string
	err    error
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }
func (e *FieldError) Unwrap() error { return e.err }

func invalid(field, format string, a ...any) *FieldError {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, a...)}
}

// Limits on attribute values: generous for any real name or address, small
// enough that a subscriber record stays a few kilobytes.
const (
	maxAttrLen       = 256
	maxEnrolments    = 32
	maxEnrolmentData = 16 << 10
)

// validate checks what a client may set, before anything is stored. It
// normalises the alternate number to "+<digits>". numberChecked says the
// MSISDN was already validated (bulk CSV rows, by e164.FastValidator).
func (s *Subscriber) validate(numberChecked bool) error {
	if s.MSISDN == 0 {
		return invalid("msisdn", "required")
	}
	if !numberChecked {
		if err := checkNumber(s.MSISDN); err != nil {
			return err
		}
	}
	if s.Status != "" && s.Status != StatusActive && s.Status != StatusSuspended {
		return invalid("status", "must be %q or %q (deletion is DELETE)", StatusActive, StatusSuspended)
	}
	a := &s.Attributes
	for _, f := range []struct {
		name string
		v    string
	}{
		{"title", a.Title}, {"given_name", a.GivenName}, {"middle_name", a.MiddleName},
		{"family_name", a.FamilyName}, {"email", a.Email},
		{"national_identifier", a.NationalIdentifier},
	} {
		if err := checkText("attributes."+f.name, f.v); err != nil {
			return err
		}
	}
	if a.Email != "" {
		if addr, err := mail.ParseAddress(a.Email); err != nil || addr.Address != a.Email {
			return invalid("attributes.email", "not an e-mail address")
		}
	}
	if a.Birthdate != "" {
		d, err := time.Parse(time.DateOnly, a.Birthdate)
		if err != nil || d.Format(time.DateOnly) != a.Birthdate {
			return invalid("attributes.birthdate", "must be a date YYYY-MM-DD")
		}
		if d.After(time.Now()) {
			return invalid("attributes.birthdate", "is in the future")
		}
	}
	if a.PhoneNumberAlternate != "" {
		v, err := e164.Parse(a.PhoneNumberAlternate)
		if err != nil {
			return &FieldError{Field: "attributes.phone_number_alternate", Reason: err.Error(), err: err}
		}
		a.PhoneNumberAlternate = e164.Format(v)
	}
	if ad := a.Address; ad != nil {
		for _, f := range []struct {
			name string
			v    string
		}{
			{"street_address", ad.StreetAddress}, {"locality", ad.Locality}, {"region", ad.Region},
			{"postal_code", ad.PostalCode}, {"country", ad.Country},
		} {
			if err := checkText("attributes.address."+f.name, f.v); err != nil {
				return err
			}
		}
		if *ad == (Address{}) {
			a.Address = nil
		}
	}
	now := time.Now()
	for _, f := range []struct {
		name string
		t    *time.Time
	}{{"sim_swap_at", s.SIMSwapAt}, {"last_port_at", s.LastPortAt}} {
		if f.t != nil && f.t.After(now.Add(time.Minute)) {
			return invalid(f.name, "is in the future")
		}
	}
	if len(s.Authenticators) > maxEnrolments {
		return invalid("authenticators", "more than %d", maxEnrolments)
	}
	seen := make(map[[2]string]bool, len(s.Authenticators))
	for i, e := range s.Authenticators {
		field := fmt.Sprintf("authenticators[%d]", i)
		switch {
		case e.Type == "" || len(e.Type) > 32:
			return invalid(field+".type", "required, at most 32 characters")
		case e.ID == "" || len(e.ID) > maxAttrLen:
			return invalid(field+".id", "required, at most %d characters", maxAttrLen)
		case len(e.Data) > maxEnrolmentData:
			return invalid(field+".data", "larger than %d bytes", maxEnrolmentData)
		case seen[[2]string{e.Type, e.ID}]:
			return invalid(field, "duplicate of type %q id %q", e.Type, e.ID)
		}
		seen[[2]string{e.Type, e.ID}] = true
	}
	return nil
}

func checkText(field, v string) error {
	if len(v) > maxAttrLen {
		return invalid(field, "longer than %d bytes", maxAttrLen)
	}
	if strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return invalid(field, "contains control characters")
	}
	// Stored as JSON, which would turn invalid bytes into U+FFFD: the
	// value kept would not be the value sent, and every load of the same
	// file would change it again.
	if !utf8.ValidString(v) {
		return invalid(field, "is not valid UTF-8")
	}
	return nil
}

// errUnknownField marks a JSON body that names a field the API does not have.
var errUnknownField = errors.New("unknown field")

// decodeSubscriber decodes one JSON subscriber, refusing unknown fields, and
// turns decoding failures into a *FieldError naming the field, since
// encoding/json does not name it for time values.
func decodeSubscriber(b []byte) (Subscriber, error) {
	var s Subscriber
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	err := dec.Decode(&s)
	if err == nil && dec.More() {
		err = errors.New("more than one JSON value")
	}
	if err == nil {
		return s, nil
	}
	var fe *FieldError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &fe):
		return s, fe
	case errors.As(err, &te) && te.Field != "":
		return s, &FieldError{Field: te.Field, Reason: "must be " + te.Type.String() + ", not a JSON " + te.Value, err: err}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return s, &FieldError{Field: name, Reason: "unknown field", err: errUnknownField}
	}
	// A bad time: find which one.
	var times struct {
		SIMSwapAt  json.RawMessage `json:"sim_swap_at"`
		LastPortAt json.RawMessage `json:"last_port_at"`
	}
	if json.Unmarshal(b, &times) == nil {
		for _, f := range []struct {
			name string
			raw  json.RawMessage
		}{{"sim_swap_at", times.SIMSwapAt}, {"last_port_at", times.LastPortAt}} {
			var t *time.Time
			if f.raw != nil && json.Unmarshal(f.raw, &t) != nil {
				return s, &FieldError{Field: f.name, Reason: "must be an RFC 3339 time such as \"2024-05-01T10:00:00Z\"", err: err}
			}
		}
	}
	return s, &FieldError{Field: "body", Reason: "not a valid subscriber: " + err.Error(), err: err}
}
