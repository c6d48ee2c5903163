package e164

import (
	"errors"

	"github.com/nyaruka/phonenumbers"
)

// Bounds phonenumbers puts on a national significant number.
const (
	minLengthNSN = phonenumbers.MIN_LENGTH_FOR_NSN // 2
	maxLengthNSN = phonenumbers.MAX_LENGTH_FOR_NSN // 17
)

// Parse is Normalize followed by phonenumbers' verdict: it accepts what
// people and SDKs send ("+447911123456", "447911123456", "00447911123456",
// "tel:+447911123456", with spaces, dashes, dots or parentheses between
// digits) and returns the number's value (country code and national
// significant number, as in E.164) if phonenumbers calls it valid.
// International form only (no default region): a number must carry its
// country code.
//
// Validation is phonenumbers' (phonenumbers.Parse with a '+', then
// IsValidNumber). Like phonenumbers it drops or rewrites a national prefix
// written after the country code: "+44 (0)7911 123456" gives 447911123456,
// "+1 1 201 555 0123" 12015550123 and "+54 11 15 1234-5678" 5491112345678,
// so the value's digits are not always the input's.
//
// Errors are *Error, e.g. `"+4479" is not a valid number: too short for
// country code 44`, `... unknown country code 999`, `... not a valid number
// for GB`, `... not a number`.
func Parse(s string) (uint64, error) {
	d, reason := normalize(s)
	if reason == "" {
		var v uint64
		if v, reason = slowValidate(d); reason == "" {
			return v, nil
		}
	}
	return 0, &Error{Input: s, Reason: reason}
}

// slowValidate runs phonenumbers on normalised digits.
func slowValidate(d string) (uint64, string) {
	num, err := phonenumbers.Parse("+"+d, "")
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
	return valueOf(cc, phonenumbers.GetNationalSignificantNumber(num))
}
