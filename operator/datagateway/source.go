package datagateway

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/mcfed/mcfed/idgw"
)

// Errors a Source answers with; test with errors.Is. Both are also
// idgw.ErrUnknownSubscriber, so the gateway answers the token's holder that
// its token no longer stands for anyone (401), not that the service failed.
var (
	// ErrNotFound: the source holds no subscriber with that number (a
	// deleted subscriber included).
	ErrNotFound = fmt.Errorf("datagateway: subscriber not found: %w", idgw.ErrUnknownSubscriber)
	// ErrSuspended: the subscriber exists but is suspended; nothing of it
	// is released.
	ErrSuspended = fmt.Errorf("datagateway: subscriber suspended: %w", idgw.ErrUnknownSubscriber)
)

// Source is where the data gateway reads a subscriber's attributes: the
// node's own subscriber store (StoreSource, the default) or an operator's
// CRM (HTTPSource). Implementations must be safe for concurrent use. Any
// error other than ErrNotFound means the source could not answer (the
// Identity Gateway turns it into 503).
type Source interface {
	Attributes(ctx context.Context, msisdn uint64) (Record, error)
}

// Record is what an operator holds about a subscriber, in the names of the
// OpenID Connect and Mobile Connect claims it feeds. Empty strings and zero
// times are "not held": the claims they would feed are left out.
//
// The JSON form is what HTTPSource reads from a CRM (see there).
type Record struct {
	Title                string  `json:"title,omitempty"`
	GivenName            string  `json:"given_name,omitempty"`
	MiddleName           string  `json:"middle_name,omitempty"`
	FamilyName           string  `json:"family_name,omitempty"`
	Email                string  `json:"email,omitempty"`
	EmailVerified        bool    `json:"email_verified,omitempty"`
	PhoneNumber          string  `json:"phone_number,omitempty"` // E.164, "+<digits>"
	PhoneNumberAlternate string  `json:"phone_number_alternate,omitempty"`
	Birthdate            string  `json:"birthdate,omitempty"` // YYYY-MM-DD
	Address              Address `json:"address,omitzero"`
	NationalIdentifier   string  `json:"national_identifier,omitempty"`
	// ATP signals: when the SIM was last changed and the number last
	// ported in; zero when the operator holds none.
	SIMSwapAt  time.Time `json:"sim_swap_at,omitzero"`
	LastPortAt time.Time `json:"last_port_at,omitzero"`
}

// Address is a postal address, as the OpenID Connect address claim's
// members. Formatted may be left empty: the gateway builds it from the
// parts.
type Address struct {
	StreetAddress string `json:"street_address,omitempty"`
	Locality      string `json:"locality,omitempty"` // city, town
	Region        string `json:"region,omitempty"`   // state, county
	PostalCode    string `json:"postal_code,omitempty"`
	Country       string `json:"country,omitempty"`
	Formatted     string `json:"formatted,omitempty"`
}

// IsZero reports whether no part of the address is held.
func (a Address) IsZero() bool { return a == Address{} }

// FullName is the displayable name: given, middle and family names.
func (r *Record) FullName() string {
	return joinNonEmpty(" ", r.GivenName, r.MiddleName, r.FamilyName)
}

// formatted is the address's formatted member: the one held, or street,
// "locality region postal code" and country on separate lines.
func (a Address) formatted() string {
	if a.Formatted != "" {
		return a.Formatted
	}
	return joinNonEmpty("\n", a.StreetAddress, joinNonEmpty(" ", a.Locality, a.Region, a.PostalCode), a.Country)
}

func joinNonEmpty(sep string, parts ...string) string {
	var b strings.Builder
	for _, p := range parts {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteString(sep)
		}
		b.WriteString(p)
	}
	return b.String()
}
