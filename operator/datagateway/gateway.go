// Package datagateway is an operator's data gateway: it answers the
// Identity Gateway's userinfo and premiuminfo requests (idgw.ClaimsSource)
// from the operator's attribute sources, the node's subscriber store
// (StoreSource, the default) or the operator's CRM over HTTP (HTTPSource).
//
// # Scopes and claims
//
// Each endpoint releases its own kind of claim (spec §2.5, §4):
//
// userinfo releases the standard OpenID Connect claims, and only for the
// standard scopes:
//
//	openid   nothing beyond sub (which the Identity Gateway adds)
//	profile  name, given_name, family_name, middle_name, birthdate
//	email    email, email_verified
//	phone    phone_number, phone_number_verified
//	address  address {street_address, locality, region, postal_code, country, formatted}
//
// premiuminfo releases the Mobile Connect identity products, as the flat
// fields the GSMA Java SDK maps, and only for their scopes:
//
//	mc_identity_phonenumber, mc_phonenumber
//	    phone_number
//	mc_identity_signup, mc_identity_signupplus, mc_signup
//	    title, given_name, family_name, middle_name, street_address, city,
//	    state, postal_code, country, email, phone_number, birthdate
//	mc_identity_nationalid, mc_nationalid
//	    national_identifier, title, given_name, family_name, middle_name,
//	    street_address, city, state, postal_code, country
//	mc_atp, mc_kyc_plain, mc_kyc_hashed
//	    sim_change_date, last_port_date (the ATP signals, below)
//	mc_kyc_plain, mc_kyc_hashed
//	    <claim>_match for each KYC claim the SP sent (below)
//
// So a standard scope releases nothing on premiuminfo and an identity scope
// nothing on userinfo: an SP asking for an identity product reads
// premiuminfo, as the SDKs do. A claim the subscriber's operator does not
// hold is left out rather than sent empty (OpenID Connect Core §5.3.2).
// phone_number is the number the subscriber holds at the operator ("+"
// and digits; the MSISDN unless the source says otherwise), and
// phone_number_verified is true when it is the MSISDN the subscriber
// authenticated with.
//
// # The claims parameter narrows
//
// When the authorization request's claims parameter has a section for the
// endpoint (its "userinfo" member for userinfo, "premiuminfo" for
// premiuminfo) that names claims, only the named claims among those the
// granted scopes release are released: a claims request can narrow what a
// scope releases, never widen it. When a KYC scope is granted, premiuminfo
// entries carrying a value or values are KYC match input and do not narrow.
//
// # KYC match
//
// With mc_kyc_plain, the SP sends the values it holds in the claims
// parameter's premiuminfo section ({"given_name":{"value":"John"}, ...}); with
// mc_kyc_hashed, the lowercase-hex SHA-256 of their normalised form in the
// _hashed claims ({"given_name_hashed":{"value":"<hex>"}}). The claims are
// the GSMA SDKs' KYC claims: name, given_name, family_name, address,
// houseno_or_housename, postal_code, town, country, birthdate and their
// _hashed variants (each variant only under its own scope). premiuminfo
// answers "<claim>_match": "true" or "false" for each one sent with a value
// (the hashed ones as "<claim>_hashed_match"), and nothing of what the
// operator holds. "false" also when the operator holds no value for the
// claim. See kyc.go for the comparison and normalisation. Entries that do
// not name a KYC claim or carry no usable value are ignored, which is how
// the Java SDK's malformed KYC form (claims named by their values) ends up:
// it cannot crash the gateway, its values are never echoed, and whatever
// well-formed claims came with it are answered.
//
// # ATP signals (mcfed-specific)
//
// With mc_atp, or either KYC scope, premiuminfo carries the operator's
// account-takeover-protection signals under names of mcfed's own (no
// public Mobile Connect source fixes them):
//
//	sim_change_date  when the subscriber's SIM was last changed (SIM swap)
//	last_port_date   when the number was last ported in
//
// both RFC 3339 UTC timestamps at second precision, and absent when the
// operator has no such event on record.
package datagateway

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/mcfed/mcfed/idgw"
)

// Endpoints, as idgw.ClaimsQuery.Endpoint names them.
const (
	EndpointUserInfo    = "userinfo"
	EndpointPremiumInfo = "premiuminfo"
)

// Scopes the gateway knows.
const (
	ScopeKYCPlain  = "mc_kyc_plain"
	ScopeKYCHashed = "mc_kyc_hashed"
	ScopeATP       = "mc_atp"
)

// ATP claim names (mcfed-specific).
const (
	ClaimSIMChangeDate = "sim_change_date"
	ClaimLastPortDate  = "last_port_date"
)

var (
	signupClaims = []string{"title", "given_name", "family_name", "middle_name", "street_address",
		"city", "state", "postal_code", "country", "email", "phone_number", "birthdate"}
	nationalIDClaims = []string{"national_identifier", "title", "given_name", "family_name",
		"middle_name", "street_address", "city", "state", "postal_code", "country"}
	atpClaims = []string{ClaimSIMChangeDate, ClaimLastPortDate}

	// scopeClaims is, per endpoint, what each scope releases.
	scopeClaims = map[string]map[string][]string{
		EndpointUserInfo: {
			"profile": {"name", "given_name", "family_name", "middle_name", "birthdate"},
			"email":   {"email", "email_verified"},
			"phone":   {"phone_number", "phone_number_verified"},
			"address": {"address"},
		},
		EndpointPremiumInfo: {
			"mc_identity_phonenumber": {"phone_number"},
			"mc_phonenumber":          {"phone_number"},
			"mc_identity_signup":      signupClaims,
			"mc_identity_signupplus":  signupClaims,
			"mc_signup":               signupClaims,
			"mc_identity_nationalid":  nationalIDClaims,
			"mc_nationalid":           nationalIDClaims,
			ScopeATP:                  atpClaims,
			ScopeKYCPlain:             atpClaims,
			ScopeKYCHashed:            atpClaims,
		},
	}
)

// ClaimsFor returns the claims the scopes release on the endpoint, sorted,
// before any narrowing by a claims request and without KYC match results.
// It is nil for an unknown endpoint.
func ClaimsFor(endpoint string, scopes []string) []string {
	byScope, ok := scopeClaims[endpoint]
	if !ok {
		return nil
	}
	set := map[string]bool{}
	for _, s := range scopes {
		for _, c := range byScope[s] {
			set[c] = true
		}
	}
	return slices.Sorted(maps.Keys(set))
}

// Gateway is the data gateway: *Gateway is an idgw.ClaimsSource.
type Gateway struct {
	src Source
}

var _ idgw.ClaimsSource = (*Gateway)(nil)

// New returns a data gateway reading attributes from src (a *StoreSource
// over the node's subscriber store by default, or an *HTTPSource).
func New(src Source) *Gateway {
	if src == nil {
		panic("datagateway: nil Source")
	}
	return &Gateway{src: src}
}

// Claims answers a userinfo or premiuminfo request: the claims the granted
// scopes release on q.Endpoint, narrowed by the claims request, plus KYC
// match results and ATP signals on premiuminfo. The source is not asked
// when nothing is to be released (openid alone). A source error, ErrNotFound
// and ErrSuspended included, is returned wrapped.
func (g *Gateway) Claims(ctx context.Context, q idgw.ClaimsQuery) (map[string]any, error) {
	if _, ok := scopeClaims[q.Endpoint]; !ok {
		return nil, fmt.Errorf("datagateway: unknown endpoint %q", q.Endpoint)
	}
	section := q.Claims[q.Endpoint]
	premium := q.Endpoint == EndpointPremiumInfo
	kycPlain := premium && slices.Contains(q.Scopes, ScopeKYCPlain)
	kycHashed := premium && slices.Contains(q.Scopes, ScopeKYCHashed)

	release := ClaimsFor(q.Endpoint, q.Scopes)
	if named := narrowing(section, kycPlain || kycHashed); named != nil {
		release = slices.DeleteFunc(release, func(c string) bool { return !named[c] })
	}
	var kyc []kycInput
	if kycPlain || kycHashed {
		kyc = kycInputs(section, kycPlain, kycHashed)
	}
	out := map[string]any{}
	if len(release) == 0 && len(kyc) == 0 {
		return out, nil
	}

	rec, err := g.attributes(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("datagateway: %w", err)
	}
	msisdn := "+" + fmt.Sprint(q.MSISDN)
	for _, c := range release {
		if v, ok := claimValue(c, &rec, msisdn); ok {
			out[c] = v
		}
	}
	for _, in := range kyc {
		out[in.claim+"_match"] = matchString(in.match(&rec))
	}
	return out, nil
}

// preread is a Source that can release from the subscriber's record as
// the request read it already (idgw.Subscriber.Record): StoreSource.
type preread interface {
	AttributesOf(msisdn uint64, rec any) (Record, bool, error)
}

// attributes asks the source for q's subscriber, from the record q
// carries when the source can read it.
func (g *Gateway) attributes(ctx context.Context, q idgw.ClaimsQuery) (Record, error) {
	if p, ok := g.src.(preread); ok && q.Subscriber != nil && q.Subscriber.Record != nil {
		if rec, ok, err := p.AttributesOf(q.MSISDN, q.Subscriber.Record); ok {
			return rec, err
		}
	}
	return g.src.Attributes(ctx, q.MSISDN)
}

// narrowing returns the claims a claims-request section names, or nil when
// it names none. With KYC granted, entries carrying a value are KYC input
// and left out.
func narrowing(section map[string]json.RawMessage, kyc bool) map[string]bool {
	var named map[string]bool
	for name, raw := range section {
		if kyc && hasValue(raw) {
			continue
		}
		if named == nil {
			named = map[string]bool{}
		}
		named[name] = true
	}
	return named
}

// claimValue is the value of claim c for the record, and whether the
// operator holds one.
func claimValue(c string, r *Record, msisdn string) (any, bool) {
	str := func(s string) (any, bool) { return s, s != "" }
	phone := r.PhoneNumber
	if phone == "" {
		phone = msisdn
	}
	switch c {
	case "name":
		return str(r.FullName())
	case "title":
		return str(r.Title)
	case "given_name":
		return str(r.GivenName)
	case "family_name":
		return str(r.FamilyName)
	case "middle_name":
		return str(r.MiddleName)
	case "birthdate":
		return str(r.Birthdate)
	case "email":
		return str(r.Email)
	case "email_verified":
		return r.EmailVerified, r.Email != ""
	case "phone_number":
		return str(phone)
	case "phone_number_verified":
		return phone == msisdn, true
	case "address":
		if r.Address.IsZero() {
			return nil, false
		}
		a := map[string]any{}
		for k, v := range map[string]string{
			"street_address": r.Address.StreetAddress, "locality": r.Address.Locality,
			"region": r.Address.Region, "postal_code": r.Address.PostalCode,
			"country": r.Address.Country, "formatted": r.Address.formatted(),
		} {
			if v != "" {
				a[k] = v
			}
		}
		return a, true
	case "street_address":
		return str(r.Address.StreetAddress)
	case "city":
		return str(r.Address.Locality)
	case "state":
		return str(r.Address.Region)
	case "postal_code":
		return str(r.Address.PostalCode)
	case "country":
		return str(r.Address.Country)
	case "national_identifier":
		return str(r.NationalIdentifier)
	case ClaimSIMChangeDate:
		return timeClaim(r.SIMSwapAt)
	case ClaimLastPortDate:
		return timeClaim(r.LastPortAt)
	}
	return nil, false
}

func timeClaim(t time.Time) (any, bool) {
	if t.IsZero() {
		return nil, false
	}
	return t.UTC().Truncate(time.Second).Format(time.RFC3339), true
}

func matchString(ok bool) string {
	if ok {
		return "true"
	}
	return "false"
}
