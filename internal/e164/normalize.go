package e164

import "strings"

// Normalize returns the E.164 digits (without '+') of a number as people
// type it and protocols carry it: optional surrounding white space, an
// optional "tel:" prefix, an optional '+', then digits with spaces, dashes,
// dots or parentheses between them; without a '+', a leading "00" is the
// international prefix and is dropped. The digits must be 3 to 15 long and
// must not start with 0 (that would be a national number, without its
// country code).
//
// It judges the form only, not the numbering plan: Parse does that, and
// also drops a national prefix written after the country code, which
// Normalize keeps ("+44 (0)7911 123456" normalises to 4407911123456 but
// parses to 447911123456). Use Normalize where digits are all that is
// needed (an SMS destination, an inbox key, a discovery request) and Parse
// where the number must exist.
//
// Digits already normalised, with or without a '+', are returned as a
// substring of s, without allocating. Errors are *Error, with the same
// reasons Parse gives for the same form.
func Normalize(s string) (string, error) {
	d, reason := normalize(s)
	if reason != "" {
		return "", &Error{Input: s, Reason: reason}
	}
	return d, nil
}

// normalize is Normalize without the error value: the digits, or the reason
// they are refused.
func normalize(s string) (digits, reason string) {
	if d, ok := normalized(s); ok {
		return d, ""
	}
	d, plus, reason := lexHuman(s)
	if reason == "" {
		d, reason = digitsPolicy(d, plus)
	}
	return string(d), reason
}

// normalized reports whether s is already in normal form, save an optional
// '+': 3 to 15 digits, no leading zero (so no "00" prefix either).
func normalized(s string) (string, bool) {
	d := strings.TrimPrefix(s, "+")
	if len(d) < minDigits || len(d) > MaxDigits || d[0] == '0' {
		return "", false
	}
	for i := 0; i < len(d); i++ {
		if d[i] < '0' || d[i] > '9' {
			return "", false
		}
	}
	return d, true
}

// lexHuman extracts the digits of a number as people and SDKs write it:
// optional surrounding white space, an optional "tel:" prefix, an optional
// '+', then digits with spaces, dashes, dots or parentheses between them.
func lexHuman(s string) (digits []byte, plus bool, reason string) {
	t := strings.TrimSpace(s)
	if t == "" {
		return nil, false, reasonEmpty
	}
	if len(t) >= 4 && strings.EqualFold(t[:4], "tel:") {
		t = t[4:]
	}
	if len(t) > 0 && t[0] == '+' {
		plus, t = true, t[1:]
	}
	digits = make([]byte, 0, len(t))
	for i := 0; i < len(t); i++ {
		switch c := t[i]; {
		case c >= '0' && c <= '9':
			digits = append(digits, c)
		case c == ' ' || c == '-' || c == '.' || c == '(' || c == ')':
		default:
			return nil, false, reasonNotANumber
		}
	}
	return digits, plus, ""
}

// digitsPolicy applies the checks Normalize, Parse and Check make before any
// phonenumbers logic: an international "00" prefix is dropped when there was
// no '+', then the digits must be 3..15 long and must not start with 0. It
// returns the digits that follow the international prefix.
func digitsPolicy(d []byte, plus bool) ([]byte, string) {
	if !plus && len(d) >= 2 && d[0] == '0' && d[1] == '0' {
		d = d[2:]
	}
	switch {
	case len(d) == 0:
		return nil, reasonNotANumber
	case d[0] == '0':
		return nil, reasonNoCC
	case len(d) > MaxDigits:
		return nil, reasonTooLongE164
	case len(d) < minDigits:
		return nil, reasonTooShort
	}
	return d, ""
}
