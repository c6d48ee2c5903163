// Package e164 reads, checks and writes phone numbers in international form
// (ITU-T E.164): country calling code followed by the national significant
// number, at most 15 digits, never a leading zero. A number is carried as the
// uint64 value of those digits.
//
// Three entry points, from cheap to thorough:
//
//   - Normalize is the one place where a number as people type it or as a
//     protocol carries it ("+44 7911 123456", "tel:+447911123456",
//     "00447911123456", "447911123456") becomes E.164 digits. It checks the
//     form only (no lookup of the numbering plan), in well under a
//     microsecond; digits already normalised cost no allocation.
//   - Parse normalises and then lets github.com/nyaruka/phonenumbers decide
//     whether the number is valid (about 20 µs per number): single writes
//     and user input at the edge.
//   - Validator.Check (FastValidator) takes bare digits, as bulk files hold
//     them, and mirrors what phonenumbers.Parse + phonenumbers.IsValidNumber
//     do with the same metadata compiled once: national prefix stripping with
//     Go regexps (only run when a number can start with the prefix), validity
//     with one deterministic automaton per country code (about 60-80 ns per
//     number). It must give the same verdict, the same value and the same
//     reason as Parse for every digit string; validator_test.go checks that.
//
// Parse and Check run the same policy checks first (digitsPolicy) and build
// the same error text (the reason* helpers), so that only the phonenumbers
// logic proper is duplicated.
//
// The package imports no other package of the project: the registry, the
// discovery service, the gateway and the operator's systems all use it.
package e164

import "strconv"

// MaxDigits is the longest number (country code included): the E.164 limit,
// which also keeps every number inside a uint64.
const MaxDigits = 15

// minDigits is the shortest digit string (country code included) worth
// handing to phonenumbers: it calls anything shorter "not a number" (a '+'
// must be followed by at least three digits).
const minDigits = 3

// Format returns the canonical form of a number: "+<digits>".
func Format(n uint64) string {
	var b [21]byte
	b[0] = '+'
	return string(strconv.AppendUint(b[:1], n, 10))
}

// ParseCanonical reads back what Format writes ("+" then 3 to 15 digits, no
// leading zero) without judging whether the number is valid: it is for
// numbers a program stored or sent, which were validated when they came in
// (and must stay readable if the numbering plan changes since). Anything
// else, typed input above all, goes through Normalize or Parse.
func ParseCanonical(s string) (uint64, bool) {
	if len(s) < 1+minDigits || len(s) > 1+MaxDigits || s[0] != '+' || s[1] == '0' {
		return 0, false
	}
	var v uint64
	for i := 1; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		v = v*10 + uint64(s[i]-'0')
	}
	return v, true
}

// valueOf joins a country code and a national significant number (digits,
// possibly with leading zeros) into a number's value.
func valueOf[S string | []byte](cc int, nsn S) (uint64, string) {
	v := uint64(cc)
	n := len(nsn)
	for c := cc; c > 0; c /= 10 {
		n++
	}
	if n > MaxDigits {
		return 0, reasonTooLongE164
	}
	for i := 0; i < len(nsn); i++ {
		v = v*10 + uint64(nsn[i]-'0')
	}
	return v, ""
}
