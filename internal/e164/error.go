package e164

import (
	"fmt"
	"strconv"

	"github.com/nyaruka/phonenumbers"
)

// Error says why a phone number was refused.
type Error struct {
	Input  string // the text as given
	Reason string // e.g. "unknown country code 999", "not a valid number for GB"
}

func (e *Error) Error() string {
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

func reasonUnknownCC[S string | []byte](digits S) string {
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
