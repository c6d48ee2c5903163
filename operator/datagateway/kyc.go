package datagateway

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"unicode"
)

// KYC match: comparing what an SP sends with what the operator holds.
//
// Plain claims compare case- and whitespace-insensitively: both sides are
// normalised by fold (Unicode lower case, every white space removed); the
// composite claims name and address also drop the separators , . and ;.
//
// Hashed claims carry the lowercase (or uppercase) hex SHA-256 of the
// normalised value, fold(value) being the canonical form SPs should hash
// ("John Smith" → sha256("johnsmith")). For interoperability the digest is
// also accepted over the value as held, over it trimmed, and over it lower-
// cased with runs of white space made one space ("john smith"). A value
// that is not 64 hex digits does not match.
//
// Held values the comparison tries, per claim:
//
//	name                  given+family, given+middle+family
//	given_name, family_name, birthdate, postal_code, country: the held value
//	town                  the address's locality
//	houseno_or_housename  the street address, its leading house number
//	                      ("10" of "10 Downing Street") and its part before
//	                      the first comma ("Rose Cottage" of "Rose Cottage,
//	                      High Street")
//	address               street+postal code, +town, +country; street+town+
//	                      postal code(+country); street+town+region+postal
//	                      code+country; the same with the house number or
//	                      name for the street; the formatted address
//
// A claim the operator holds no value for does not match. All candidates
// are compared, as SHA-256 digests and in constant time, whatever the
// outcome.

// kycClaim describes one KYC claim name.
type kycClaim struct {
	base   string // the claim without _hashed
	hashed bool
}

var kycClaims = func() map[string]kycClaim {
	m := map[string]kycClaim{}
	for _, b := range []string{"name", "given_name", "family_name", "address", "houseno_or_housename",
		"postal_code", "town", "country", "birthdate"} {
		m[b] = kycClaim{base: b}
		m[b+"_hashed"] = kycClaim{base: b, hashed: true}
	}
	return m
}()

// maxKYCValues bounds the values one claim's "values" may offer.
const maxKYCValues = 8

// kycInput is one KYC claim an SP sent, with its values.
type kycInput struct {
	claim  string
	kind   kycClaim
	values []string
}

// kycInputs reads the KYC claims of a premiuminfo section, in name order:
// known KYC claims allowed by the granted scope with at least one string
// (or number) value. Anything else is ignored.
func kycInputs(section map[string]json.RawMessage, plain, hashed bool) []kycInput {
	var out []kycInput
	for _, name := range slices.Sorted(maps.Keys(section)) {
		kind, ok := kycClaims[name]
		if !ok || (kind.hashed && !hashed) || (!kind.hashed && !plain) {
			continue
		}
		if vals := requestValues(section[name]); len(vals) > 0 {
			out = append(out, kycInput{claim: name, kind: kind, values: vals})
		}
	}
	return out
}

// claimRequest is an individual claim request (OpenID Connect Core §5.5.1).
type claimRequest struct {
	Value  json.RawMessage   `json:"value"`
	Values []json.RawMessage `json:"values"`
}

// hasValue reports whether a claim request carries a value or values.
func hasValue(raw json.RawMessage) bool {
	return len(requestValues(raw)) > 0
}

// requestValues are the non-empty string (or number) values of a claim
// request; nil for anything else.
func requestValues(raw json.RawMessage) []string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return nil
	}
	var r claimRequest
	if json.Unmarshal(raw, &r) != nil {
		return nil
	}
	var out []string
	add := func(v json.RawMessage) {
		if s, ok := scalar(v); ok && strings.TrimSpace(s) != "" && len(out) < maxKYCValues {
			out = append(out, s)
		}
	}
	add(r.Value)
	for _, v := range r.Values {
		add(v)
	}
	return out
}

// scalar is a JSON string's text, or a JSON number's literal.
func scalar(v json.RawMessage) (string, bool) {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return "", false
	}
	var s string
	if v[0] == '"' {
		if json.Unmarshal(v, &s) != nil {
			return "", false
		}
		return s, true
	}
	var n json.Number
	if json.Unmarshal(v, &n) != nil {
		return "", false
	}
	return n.String(), true
}

// match reports whether any of the SP's values matches what r holds.
func (in kycInput) match(r *Record) bool {
	cands, composite := heldCandidates(in.kind.base, r)
	if len(cands) == 0 {
		return false
	}
	var held [][32]byte
	for _, c := range cands {
		if in.kind.hashed {
			for _, v := range hashForms(c, composite) {
				held = append(held, sha256.Sum256([]byte(v)))
			}
		} else {
			held = append(held, sha256.Sum256([]byte(normal(c, composite))))
		}
	}
	matched := 0
	for _, v := range in.values {
		var sent [32]byte
		if in.kind.hashed {
			b, err := hex.DecodeString(strings.TrimSpace(v))
			if err != nil || len(b) != sha256.Size {
				continue
			}
			copy(sent[:], b)
		} else {
			sent = sha256.Sum256([]byte(normal(v, composite)))
		}
		for i := range held {
			matched |= subtle.ConstantTimeCompare(sent[:], held[i][:])
		}
	}
	return matched == 1
}

// heldCandidates are the forms of the held value a claim may match, and
// whether the claim is composite.
func heldCandidates(base string, r *Record) (cands []string, composite bool) {
	add := func(parts ...string) {
		for _, p := range parts {
			if strings.TrimSpace(p) == "" {
				return // a combination needs all its parts
			}
		}
		for _, sep := range []string{" ", ", "} {
			c := joinNonEmpty(sep, parts...)
			if !slices.Contains(cands, c) {
				cands = append(cands, c)
			}
		}
	}
	a := r.Address
	switch base {
	case "name":
		add(r.GivenName, r.FamilyName)
		add(r.GivenName, r.MiddleName, r.FamilyName)
		return cands, true
	case "given_name":
		add(r.GivenName)
	case "family_name":
		add(r.FamilyName)
	case "birthdate":
		add(r.Birthdate)
	case "postal_code":
		add(a.PostalCode)
	case "country":
		add(a.Country)
	case "town":
		add(a.Locality)
	case "houseno_or_housename":
		for _, h := range houseForms(a.StreetAddress) {
			add(h)
		}
	case "address":
		streets := []string{a.StreetAddress}
		for _, h := range houseForms(a.StreetAddress) {
			if !slices.Contains(streets, h) {
				streets = append(streets, h)
			}
		}
		for _, s := range streets {
			add(s, a.PostalCode)
			add(s, a.PostalCode, a.Locality)
			add(s, a.PostalCode, a.Locality, a.Country)
			add(s, a.Locality, a.PostalCode)
			add(s, a.Locality, a.PostalCode, a.Country)
			add(s, a.Locality, a.Region, a.PostalCode, a.Country)
		}
		if a.Formatted != "" {
			add(a.Formatted)
		}
		return cands, true
	}
	return cands, false
}

// houseForms are the street address, its leading house number and its
// part before the first comma.
func houseForms(street string) []string {
	street = strings.TrimSpace(street)
	if street == "" {
		return nil
	}
	forms := []string{street}
	addForm := func(f string) {
		f = strings.Trim(strings.TrimSpace(f), ",.;")
		if f != "" && !slices.Contains(forms, f) {
			forms = append(forms, f)
		}
	}
	if first := strings.Fields(street)[0]; first[0] >= '0' && first[0] <= '9' {
		addForm(first)
	}
	if before, _, ok := strings.Cut(street, ","); ok {
		addForm(before)
	}
	return forms
}

// fold is the canonical normalised form: lower case, no white space.
func fold(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return unicode.ToLower(r)
	}, s)
}

// normal is fold, dropping separators too for composite claims.
func normal(s string, composite bool) string {
	s = fold(s)
	if composite {
		s = strings.Map(func(r rune) rune {
			if r == ',' || r == '.' || r == ';' {
				return -1
			}
			return r
		}, s)
	}
	return s
}

// hashForms are the forms of a held value whose digest a hashed claim may
// carry.
func hashForms(c string, composite bool) []string {
	forms := []string{}
	for _, f := range []string{
		fold(c),
		normal(c, composite),
		c,
		strings.TrimSpace(c),
		strings.ToLower(strings.Join(strings.Fields(c), " ")),
	} {
		if !slices.Contains(forms, f) {
			forms = append(forms, f)
		}
	}
	return forms
}
