package idgw

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
)

// ClaimsRequest is a merged claims parameter: section (userinfo, id_token,
// premiuminfo) → claim name → its request (null or an object with
// essential/value/values), kept as raw JSON.
type ClaimsRequest map[string]map[string]json.RawMessage

// claimsSections are the claims parameter members the gateway keeps;
// others are ignored (OpenID Connect Core §5.5).
var claimsSections = []string{"userinfo", "id_token", claimsSectionPremium}

var errClaims = errors.New("claims is not a JSON object")

// parseClaims merges the claims parameters (the Java SDK sends a general one
// and a KYC one). Each must be a JSON object; within it, the sections
// userinfo, id_token and premiuminfo are kept. A section given as an array
// (the Java SDK's KYC form {"premiuminfo":[{"<v>":{"value":"<v>"}},{}]}) is
// read element by element, keeping the objects; anything else that does not
// fit the standard form is dropped and reported as malformed. When two
// parameters request the same claim, the first wins.
func parseClaims(params []string) (ClaimsRequest, bool, error) {
	out := ClaimsRequest{}
	malformed := false
	for _, p := range params {
		var top map[string]json.RawMessage
		if err := json.Unmarshal([]byte(p), &top); err != nil || top == nil {
			return nil, false, errClaims
		}
		for _, name := range claimsSections {
			raw, ok := top[name]
			if !ok {
				continue
			}
			raw = bytes.TrimSpace(raw)
			switch {
			case len(raw) > 0 && raw[0] == '{':
				var sec map[string]json.RawMessage
				if json.Unmarshal(raw, &sec) != nil {
					malformed = true
					continue
				}
				if mergeClaims(out, name, sec) {
					malformed = true
				}
			case len(raw) > 0 && raw[0] == '[':
				malformed = true
				var elems []json.RawMessage
				if json.Unmarshal(raw, &elems) != nil {
					continue
				}
				for _, el := range elems {
					var sec map[string]json.RawMessage
					if json.Unmarshal(el, &sec) != nil {
						continue
					}
					mergeClaims(out, name, sec)
				}
			case string(raw) == "null":
			default:
				malformed = true
			}
		}
	}
	return out, malformed, nil
}

// mergeClaims adds sec's claims to out[section], keeping claims whose name
// is sane and whose request is null or an object; it reports whether it
// dropped any.
func mergeClaims(out ClaimsRequest, section string, sec map[string]json.RawMessage) (dropped bool) {
	names := make([]string, 0, len(sec))
	for k := range sec {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, name := range names {
		req := bytes.TrimSpace(sec[name])
		if name == "" || len(name) > maxClaimNameLen || !displayable(name, maxClaimNameLen) ||
			!(string(req) == "null" || (len(req) > 0 && req[0] == '{')) {
			dropped = true
			continue
		}
		m := out[section]
		if m == nil {
			m = map[string]json.RawMessage{}
			out[section] = m
		}
		if _, dup := m[name]; dup {
			continue
		}
		if len(m) >= maxClaimsPerSection {
			dropped = true
			continue
		}
		m[name] = json.RawMessage(slices.Clone(req))
	}
	return dropped
}
