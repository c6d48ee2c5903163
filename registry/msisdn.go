package registry

// MSISDN handling: numbers are kept as the uint64 value of their E.164 digits
// (country calling code followed by the national significant number, no '+',
// at most 15 digits, never a leading zero).
//
// Two paths decide whether a number is acceptable:
//
//   - ParseMSISDN, for single writes and user input at the edge, lexes what
//     people and SDKs send and then lets github.com/nyaruka/phonenumbers parse
//     and validate the number (about 20 µs per number).
//   - NumberValidator.Check, for bulk files, takes bare digits and mirrors
//     what phonenumbers.Parse + phonenumbers.IsValidNumber do, with the same
//     metadata compiled once: national prefix stripping with Go regexps (only
//     run when a number can start with the prefix), validity with one
//     deterministic automaton per country code (about 60-80 ns per number).
//     It must give the same verdict, the same value and the same reason as
//     ParseMSISDN for every digit string; msisdn_test.go checks that.
//
// Both paths run the same policy checks first (digitsPolicy) and build the
// same error text (the reason* helpers), so that only the phonenumbers logic
// proper is duplicated.

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// MaxMSISDNDigits is the longest number (country code included) the registry
// keeps: the E.164 limit, which also keeps every number inside a uint64.
const MaxMSISDNDigits = 15

// minDigits is the shortest digit string (country code included) worth
// handing to phonenumbers: it calls anything shorter "not a number" (a '+'
// must be followed by at least three digits).
const minDigits = 3

// Bounds phonenumbers puts on a national significant number.
const (
	minLengthNSN = phonenumbers.MIN_LENGTH_FOR_NSN // 2
	maxLengthNSN = phonenumbers.MAX_LENGTH_FOR_NSN // 17
)

// NumberError says why a phone number was refused.
type NumberError struct {
	Input  string // the text as given
	Reason string // e.g. "unknown country code 999", "not a valid number for GB"
}

func (e *NumberError) Error() string {
	return fmt.Sprintf("%q is not a valid number: %s", e.Input, e.Reason)
}

// Reasons that do not depend on the number's country.
const (
	reasonEmpty       = "empty"
	reasonNotANumber  = "not a number"
	reasonNoCC        = "no country code (international form required)"
	reasonTooLongE164 = "too long (more than 15 digits)"
	reasonTooShort    = "too short"
)

func reasonUnknownCC(digits []byte) string {
	if len(digits) > phonenumbers.MAX_LENGTH_COUNTRY_CODE {
		digits = digits[:phonenumbers.MAX_LENGTH_COUNTRY_CODE]
	}
	return "unknown country code " + string(digits)
}

func reasonTooShortForCC(cc int) string { return "too short for country code " + strconv.Itoa(cc) }
func reasonTooLongForCC(cc int) string  { return "too long for country code " + strconv.Itoa(cc) }
func reasonBadLengthForCC(cc int) string {
	return "invalid length for country code " + strconv.Itoa(cc)
}

// reasonNotValidFor is the reason for a number of a possible length that
// matches no number type: region is phonenumbers' region for the number, or
// the main region of the country code when no region claims it.
func reasonNotValidFor(cc int, region string) string {
	if region == "" || region == phonenumbers.REGION_CODE_FOR_NON_GEO_ENTITY {
		return "not a valid number for country code " + strconv.Itoa(cc)
	}
	return "not a valid number for " + region
}

// reasonForLength turns phonenumbers' IsPossibleNumberWithReason verdict into
// a reason; ok is false for IS_POSSIBLE (the caller then names the region).
func reasonForLength(cc int, vr phonenumbers.ValidationResult) (reason string, ok bool) {
	switch vr {
	case phonenumbers.TOO_SHORT, phonenumbers.IS_POSSIBLE_LOCAL_ONLY:
		return reasonTooShortForCC(cc), true
	case phonenumbers.TOO_LONG:
		return reasonTooLongForCC(cc), true
	case phonenumbers.INVALID_LENGTH:
		return reasonBadLengthForCC(cc), true
	case phonenumbers.INVALID_COUNTRY_CODE:
		return "unknown country code " + strconv.Itoa(cc), true
	}
	return "", false
}

// digitsPolicy applies the checks both paths make before any phonenumbers
// logic: an international "00" prefix is dropped when there was no '+', then
// the digits must be 3..15 long and must not start with 0. It returns the
// digits that follow the international prefix.
func digitsPolicy(d []byte, plus bool) ([]byte, string) {
	if !plus && len(d) >= 2 && d[0] == '0' && d[1] == '0' {
		d = d[2:]
	}
	switch {
	case len(d) == 0:
		return nil, reasonNotANumber
	case d[0] == '0':
		return nil, reasonNoCC
	case len(d) > MaxMSISDNDigits:
		return nil, reasonTooLongE164
	case len(d) < minDigits:
		return nil, reasonTooShort
	}
	return d, ""
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

// ParseMSISDN accepts what people and SDKs send: "+447911123456",
// "447911123456", "00447911123456", "tel:+447911123456", with spaces, dashes,
// dots or parentheses between digits; it returns the number's digit value
// (country code and national significant number, as in E.164). International
// form only (no default region): a number must carry its country code.
//
// Validation is phonenumbers' (Parse with a '+', then IsValidNumber). Like
// phonenumbers it drops or rewrites a national prefix written after the
// country code: "+44 (0)7911 123456" gives 447911123456, "+1 1 201 555 0123"
// 12015550123 and "+54 11 15 1234-5678" 5491112345678, so the value's digits
// are not always the input's.
//
// Errors are *NumberError, e.g. `"+4479" is not a valid number: too short
// for country code 44`, `... unknown country code 999`, `... not a valid
// number for GB`, `... not a number`.
func ParseMSISDN(s string) (uint64, error) {
	d, plus, reason := lexHuman(s)
	if reason == "" {
		d, reason = digitsPolicy(d, plus)
	}
	if reason != "" {
		return 0, &NumberError{Input: s, Reason: reason}
	}
	v, reason := slowValidate(d)
	if reason != "" {
		return 0, &NumberError{Input: s, Reason: reason}
	}
	return v, nil
}

// slowValidate runs phonenumbers on digits that passed digitsPolicy.
func slowValidate(d []byte) (uint64, string) {
	num, err := phonenumbers.Parse("+"+string(d), "")
	if err != nil {
		switch {
		case errors.Is(err, phonenumbers.ErrInvalidCountryCode):
			return 0, reasonUnknownCC(d)
		case errors.Is(err, phonenumbers.ErrTooShortNSN):
			return 0, reasonTooShortForCC(int(num.GetCountryCode()))
		case errors.Is(err, phonenumbers.ErrNumTooLong):
			return 0, reasonTooLongE164
		case errors.Is(err, phonenumbers.ErrNotANumber):
			return 0, reasonNotANumber
		case errors.Is(err, phonenumbers.ErrTooShortAfterIDD):
			return 0, reasonTooShort
		}
		return 0, err.Error()
	}
	cc := int(num.GetCountryCode())
	if !phonenumbers.IsValidNumber(num) {
		if r, ok := reasonForLength(cc, phonenumbers.IsPossibleNumberWithReason(num)); ok {
			return 0, r
		}
		region := phonenumbers.GetRegionCodeForNumber(num)
		if region == "" {
			region = phonenumbers.GetRegionCodeForCountryCode(cc)
		}
		return 0, reasonNotValidFor(cc, region)
	}
	return e164Value(cc, phonenumbers.GetNationalSignificantNumber(num))
}

// e164Value joins a country code and a national significant number (digits,
// possibly with leading zeros) into the stored value.
func e164Value[S string | []byte](cc int, nsn S) (uint64, string) {
	v := uint64(cc)
	n := len(nsn)
	for c := cc; c > 0; c /= 10 {
		n++
	}
	if n > MaxMSISDNDigits {
		return 0, reasonTooLongE164
	}
	for i := 0; i < len(nsn); i++ {
		v = v*10 + uint64(nsn[i]-'0')
	}
	return v, ""
}

// FormatMSISDN returns "+<digits>".
func FormatMSISDN(n uint64) string {
	var b [21]byte
	b[0] = '+'
	return string(strconv.AppendUint(b[:1], n, 10))
}

// ParsePrefix validates a number-range prefix like "+4479" or "4479": digits
// only (after an optional '+'), 1..15 digits, beginning with an assigned
// country calling code. It returns the digits' value and their count, since
// "4470" and "44700" are different ranges.
func ParsePrefix(s string) (value uint64, digits int, err error) {
	d := s
	if len(d) > 0 && d[0] == '+' {
		d = d[1:]
	}
	fail := func(why string) (uint64, int, error) {
		return 0, 0, fmt.Errorf("%q is not a valid number prefix: %s", s, why)
	}
	switch {
	case d == "":
		return fail("no digits")
	case len(d) > MaxMSISDNDigits:
		return fail("more than 15 digits")
	}
	for i := 0; i < len(d); i++ {
		if d[i] < '0' || d[i] > '9' {
			return fail("digits only (after an optional '+')")
		}
		value = value*10 + uint64(d[i]-'0')
	}
	if d[0] == '0' {
		return fail("no country code (a prefix starts with its country calling code)")
	}
	for i := 1; i <= phonenumbers.MAX_LENGTH_COUNTRY_CODE; i++ {
		if i > len(d) {
			return fail("shorter than its country calling code")
		}
		cc, _ := strconv.Atoi(d[:i])
		if len(phonenumbers.GetRegionCodesForCountryCode(cc)) > 0 {
			return value, len(d), nil
		}
	}
	return fail("does not begin with an assigned country calling code")
}
