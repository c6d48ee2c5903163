package e164

import (
	"fmt"
	"strconv"

	"github.com/nyaruka/phonenumbers"
)

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
	case len(d) > MaxDigits:
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
