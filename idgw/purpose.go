package idgw

import "strings"

// CAMARA's purpose in scope: one dpv:<Purpose> value (a purpose of the
// W3C Data Privacy Vocabulary, e.g. dpv:FraudPreventionAndDetection) says
// why the SP asks. It grants nothing, so it is not one of the SP's
// registered scopes; it is shown on the consent page and kept in the
// access token (introspection's purpose).

const purposePrefix = "dpv:"

// purposeOf is a scope's purpose, when it is a dpv: value.
func purposeOf(scope string) (string, bool) {
	p, ok := strings.CutPrefix(scope, purposePrefix)
	if !ok || p == "" {
		return "", false
	}
	for _, c := range p {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return "", false
		}
	}
	return p, true
}

// checkPurposes refuses a malformed dpv: value and more than one purpose.
func checkPurposes(scopes []string) *OAuthError {
	n := 0
	for _, s := range scopes {
		if _, ok := purposeOf(s); ok {
			n++
		} else if strings.HasPrefix(s, purposePrefix) {
			return ErrInvalidScope("a dpv: purpose is letters and digits")
		}
	}
	if n > 1 {
		return ErrInvalidScope("at most one dpv: purpose")
	}
	return nil
}

// withPurpose adds the purpose of scopes, if any, to an introspection
// answer m.
func withPurpose(m map[string]any, scopes []string) map[string]any {
	for _, s := range scopes {
		if _, ok := purposeOf(s); ok {
			m["purpose"] = s
		}
	}
	return m
}
