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
	"encoding/binary"
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
	"sync"

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

// ---------------------------------------------------------------------------
// Fast path.

// NumberValidator is the fast path for bulk files: it mirrors
// phonenumbers.Parse("+"+digits) followed by phonenumbers.IsValidNumber with
// phonenumbers' own metadata, every pattern compiled once. It is safe for
// concurrent use; build it once (FastValidator).
type NumberValidator struct {
	codes [1000]*callingCode // by country calling code; nil when unassigned
}

type callingCode struct {
	code    int
	mainID  string         // phonenumbers' main region for the code ("001" for non-geographic codes)
	main    *regionRules   // main region (or the non-geographic entity): national prefix and length reasons
	regions []*regionRules // phonenumbers' order; regions[0] == main
	strip   *prefixStripper
	dfa     *digitDFA // nil: use the regexps
}

// regionRules holds one PhoneMetadata, compiled.
type regionRules struct {
	id        string
	ldPattern string         // leading digits ("" when none, or when the code has one region)
	ld        *regexp.Regexp // "^(?:ld)"

	genPattern string
	genLens    uint32  // general desc possible lengths, as a bit set
	genList    []int32 // the same, in metadata order (testNumberLength)
	genLocal   []int32 // general desc possible_length_local_only
	gen        *regexp.Regexp

	// The number types getNumberTypeHelper tries (mobile left out when the
	// metadata says mobile and fixed line share a pattern), and types[n]:
	// one alternation of the patterns of every type whose possible lengths
	// allow n digits (nil when none does).
	typeDescs []typeDesc
	types     [maxLengthNSN + 1]*regexp.Regexp
}

type typeDesc struct {
	pattern string
	lens    uint32 // possible lengths; 0: whatever the general desc allows
}

// prefixStripper mirrors maybeStripNationalPrefixAndCarrierCode for the
// main region of a country code.
type prefixStripper struct {
	re        *regexp.Regexp // "^(?:national_prefix_for_parsing)"
	transform []byte
	first     [10]bool // digits a match can start with (true everywhere if it can match empty)
	gen       *regexp.Regexp
	rules     *regionRules
}

var fastValidator = sync.OnceValue(func() *NumberValidator {
	v, err := newNumberValidator(true)
	if err != nil {
		panic("registry: building the MSISDN validator from phonenumbers metadata: " + err.Error())
	}
	return v
})

// FastValidator returns the process-wide NumberValidator, built on first use
// (about 50 ms; the validator holds about 2.5 MB).
func FastValidator() *NumberValidator { return fastValidator() }

// newNumberValidator compiles phonenumbers' metadata; withDFA false keeps
// to the regexps (the tests compare both).
func newNumberValidator(withDFA bool) (*NumberValidator, error) {
	coll, err := phonenumbers.MetadataCollection()
	if err != nil {
		return nil, err
	}
	regionMeta := map[string]*phonenumbers.PhoneMetadata{}
	nonGeo := map[int]*phonenumbers.PhoneMetadata{}
	for _, m := range coll.GetMetadata() {
		if m.GetId() == phonenumbers.REGION_CODE_FOR_NON_GEO_ENTITY {
			nonGeo[int(m.GetCountryCode())] = m
		} else {
			regionMeta[m.GetId()] = m
		}
	}
	b := &metaCompiler{cache: map[string]*regexp.Regexp{}}
	v := &NumberValidator{}
	for code := range phonenumbers.GetSupportedCallingCodes() {
		if code <= 0 || code >= len(v.codes) {
			return nil, fmt.Errorf("country code %d out of range", code)
		}
		ids := phonenumbers.GetRegionCodesForCountryCode(code)
		if len(ids) == 0 {
			continue
		}
		c := &callingCode{code: code, mainID: ids[0]}
		for i, id := range ids {
			var m *phonenumbers.PhoneMetadata
			if id == phonenumbers.REGION_CODE_FOR_NON_GEO_ENTITY {
				m = nonGeo[code]
			} else {
				m = regionMeta[id]
			}
			if m == nil {
				// phonenumbers would find no metadata either: such a
				// region never validates a number (and as the main
				// region, strips nothing).
				if i == 0 {
					c.regions = append(c.regions, nil)
				}
				continue
			}
			r, err := b.region(id, m, len(ids) > 1)
			if err != nil {
				return nil, fmt.Errorf("%s (+%d): %w", id, code, err)
			}
			c.regions = append(c.regions, r)
			if i == 0 {
				c.main = r
				if c.strip, err = b.stripper(m, r); err != nil {
					return nil, fmt.Errorf("%s (+%d): %w", id, code, err)
				}
			}
		}
		if withDFA {
			c.dfa, _ = buildDFA(c.regions)
		}
		if c.dfa == nil {
			// Without an automaton the code keeps to the regexps, which
			// give the same verdicts, only slower.
			for _, r := range c.regions {
				if r == nil {
					continue
				}
				if err := b.compileTypes(r); err != nil {
					return nil, fmt.Errorf("%s (+%d): %w", r.id, code, err)
				}
			}
		}
		v.codes[code] = c
	}
	return v, nil
}

type metaCompiler struct {
	cache map[string]*regexp.Regexp
}

func (b *metaCompiler) compile(expr string) (*regexp.Regexp, error) {
	if re, ok := b.cache[expr]; ok {
		return re, nil
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, err
	}
	b.cache[expr] = re
	return re, nil
}

// unmatchable reports a pattern that cannot match a string of digits: phonenumbers
// writes "NA" for number types a region does not have.
func unmatchable(pattern string) bool { return pattern == "" || pattern == "NA" }

func (b *metaCompiler) region(id string, m *phonenumbers.PhoneMetadata, shared bool) (*regionRules, error) {
	r := &regionRules{id: id}
	var err error
	if ld := m.GetLeadingDigits(); shared && ld != "" {
		r.ldPattern = ld
		if r.ld, err = b.compile("^(?:" + ld + ")"); err != nil {
			return nil, err
		}
	}
	g := m.GetGeneralDesc()
	r.genList = g.GetPossibleLength()
	r.genLocal = g.GetPossibleLengthLocalOnly()
	r.genPattern = g.GetNationalNumberPattern()
	r.genLens = lengthSet(r.genList)
	if r.gen, err = b.compile("^(?:" + g.GetNationalNumberPattern() + ")$"); err != nil {
		return nil, err
	}
	descs := []*phonenumbers.PhoneNumberDesc{
		m.GetPremiumRate(), m.GetTollFree(), m.GetSharedCost(), m.GetVoip(),
		m.GetPersonalNumber(), m.GetPager(), m.GetUan(), m.GetVoicemail(),
		m.GetFixedLine(),
	}
	if !m.GetSameMobileAndFixedLinePattern() {
		descs = append(descs, m.GetMobile())
	}
	for _, d := range descs {
		if d != nil && !unmatchable(d.GetNationalNumberPattern()) {
			r.typeDescs = append(r.typeDescs, typeDesc{d.GetNationalNumberPattern(), lengthSet(d.GetPossibleLength())})
		}
	}
	return r, nil
}

// compileTypes compiles the number-type alternations the regexp path needs.
func (b *metaCompiler) compileTypes(r *regionRules) error {
	for n := minLengthNSN; n <= maxLengthNSN; n++ {
		if r.genLens&(1<<n) == 0 {
			continue // the general desc already refuses this length
		}
		var alts []string
		for _, d := range r.typeDescs {
			if d.allows(n) {
				alts = append(alts, "(?:"+d.pattern+")")
			}
		}
		if len(alts) == 0 {
			continue
		}
		var err error
		if r.types[n], err = b.compile("^(?:" + strings.Join(alts, "|") + ")$"); err != nil {
			return err
		}
	}
	return nil
}

func (d typeDesc) allows(n int) bool { return d.lens == 0 || d.lens&(1<<n) != 0 }

func lengthSet(l []int32) uint32 {
	var s uint32
	for _, n := range l {
		if n >= 0 && n < 32 {
			s |= 1 << n
		}
	}
	return s
}

func (b *metaCompiler) stripper(m *phonenumbers.PhoneMetadata, r *regionRules) (*prefixStripper, error) {
	p := m.GetNationalPrefixForParsing()
	if p == "" {
		return nil, nil
	}
	re, err := b.compile("^(?:" + p + ")")
	if err != nil {
		return nil, err
	}
	s := &prefixStripper{re: re, transform: []byte(m.GetNationalPrefixTransformRule()), gen: r.gen, rules: r}
	parsed, err := syntax.Parse(p, syntax.Perl)
	if err != nil {
		return nil, err
	}
	set, nullable := firstDigits(parsed)
	for i := range s.first {
		s.first[i] = nullable || set&(1<<i) != 0
	}
	return s, nil
}

// firstDigits over-approximates the digits a match of re can start with, and
// whether it can match the empty string. Anything it does not understand
// counts as "any digit, maybe empty", which only costs a regexp run.
func firstDigits(re *syntax.Regexp) (set uint16, nullable bool) {
	const all = 1<<10 - 1
	switch re.Op {
	case syntax.OpNoMatch:
		return 0, false
	case syntax.OpEmptyMatch, syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText,
		syntax.OpEndText, syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return 0, true
	case syntax.OpLiteral:
		if len(re.Rune) == 0 {
			return 0, true
		}
		if re.Flags&syntax.FoldCase != 0 {
			return all, false
		}
		if r := re.Rune[0]; r >= '0' && r <= '9' {
			return 1 << (r - '0'), false
		}
		return 0, false
	case syntax.OpCharClass:
		for i := 0; i+1 < len(re.Rune); i += 2 {
			for d := rune('0'); d <= '9'; d++ {
				if re.Rune[i] <= d && d <= re.Rune[i+1] {
					set |= 1 << (d - '0')
				}
			}
		}
		return set, false
	case syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		return all, false
	case syntax.OpCapture, syntax.OpPlus:
		return firstDigits(re.Sub[0])
	case syntax.OpStar, syntax.OpQuest:
		set, _ = firstDigits(re.Sub[0])
		return set, true
	case syntax.OpRepeat:
		if re.Max == 0 {
			return 0, true
		}
		set, nullable = firstDigits(re.Sub[0])
		return set, nullable || re.Min == 0
	case syntax.OpConcat:
		for _, sub := range re.Sub {
			s, n := firstDigits(sub)
			set |= s
			if !n {
				return set, false
			}
		}
		return set, true
	case syntax.OpAlternate:
		for _, sub := range re.Sub {
			s, n := firstDigits(sub)
			set |= s
			nullable = nullable || n
		}
		return set, nullable
	}
	return all, true
}

// Check takes a CSV field: digits with an optional leading '+' and nothing
// else (bulk files are machine-made: spaces and the like are refused). It
// returns the value ParseMSISDN would return for the same text, or a
// *NumberError with the reason ParseMSISDN would give. Like ParseMSISDN it
// treats a leading "00" (without '+') as an international prefix.
func (v *NumberValidator) Check(field []byte) (uint64, error) {
	d, plus := field, false
	if len(d) > 0 && d[0] == '+' {
		d, plus = d[1:], true
	}
	for i, c := range d {
		if c < '0' || c > '9' {
			at := i
			if plus {
				at++
			}
			return 0, &NumberError{Input: string(field), Reason: fmt.Sprintf(
				"unexpected %q at offset %d (a bulk field holds digits with an optional leading '+')",
				rune(field[at]), at)}
		}
	}
	if len(field) == 0 {
		return 0, &NumberError{Input: "", Reason: reasonEmpty}
	}
	d, reason := digitsPolicy(d, plus)
	if reason == "" {
		var val uint64
		if val, reason = v.validate(d); reason == "" {
			return val, nil
		}
	}
	return 0, &NumberError{Input: string(field), Reason: reason}
}

// validate mirrors slowValidate: d is 3..15 digits, no leading zero.
func (v *NumberValidator) validate(d []byte) (uint64, string) {
	// extractCountryCode: the first of the 1-, 2- and 3-digit prefixes
	// that is an assigned code (assigned codes are prefix-free).
	var c *callingCode
	code, i := 0, 0
	for i < phonenumbers.MAX_LENGTH_COUNTRY_CODE && i < len(d) {
		code = code*10 + int(d[i]-'0')
		i++
		if c = v.codes[code]; c != nil {
			break
		}
	}
	if c == nil {
		return 0, reasonUnknownCC(d)
	}
	nsn := d[i:]
	// parseHelper: the national number must have 2 digits before and after
	// an optional national prefix is dropped.
	if len(nsn) < minLengthNSN {
		return 0, reasonTooShortForCC(c.code)
	}
	if c.strip != nil {
		nsn = c.strip.apply(nsn)
		if len(nsn) < minLengthNSN {
			return 0, reasonTooShortForCC(c.code)
		}
		if len(nsn) > maxLengthNSN {
			return 0, reasonTooLongE164
		}
	}
	if !c.valid(nsn) {
		if r, ok := reasonForLength(c.code, c.possible(nsn)); ok {
			return 0, r
		}
		return 0, reasonNotValidFor(c.code, c.regionFor(nsn))
	}
	return e164Value(c.code, nsn)
}

// apply mirrors maybeStripNationalPrefixAndCarrierCode followed by
// parseHelper's decision to keep the shorter number only when its length is
// possible (or too long) for the region.
func (s *prefixStripper) apply(nsn []byte) []byte {
	if len(nsn) == 0 || !s.first[nsn[0]-'0'] {
		return nsn
	}
	groups := s.re.FindSubmatchIndex(nsn)
	if groups == nil {
		return nsn
	}
	viable := s.gen.Match(nsn)
	last := len(groups)/2 - 1
	var out []byte
	if len(s.transform) == 0 || groups[last*2] < 0 {
		if groups[1] == 0 {
			return nsn // an empty match strips nothing
		}
		out = nsn[groups[1]:]
		if viable && !s.gen.Match(out) {
			return nsn
		}
	} else {
		out = s.re.ReplaceAll(nsn, s.transform)
		if viable && !s.gen.Match(out) {
			return nsn
		}
	}
	switch s.rules.testLength(len(out)) {
	case phonenumbers.TOO_SHORT, phonenumbers.IS_POSSIBLE_LOCAL_ONLY, phonenumbers.INVALID_LENGTH:
		return nsn
	}
	return out
}

// valid mirrors IsValidNumber: GetRegionCodeForNumber picks the region
// (the only one; or the first, in order, whose leading digits match, or
// which has no leading digits and validates the number), and the number
// must be of some type in that region.
func (c *callingCode) valid(nsn []byte) bool {
	if c.dfa != nil {
		return c.dfa.valid(nsn)
	}
	if len(c.regions) == 1 {
		return c.regions[0].valid(nsn)
	}
	for _, r := range c.regions {
		if r == nil {
			continue
		}
		if r.ld != nil {
			if r.ld.Match(nsn) {
				return r.valid(nsn)
			}
		} else if r.valid(nsn) {
			return true
		}
	}
	return false
}

// regionFor mirrors GetRegionCodeForNumber for an invalid number, falling
// back to the main region as slowValidate does.
func (c *callingCode) regionFor(nsn []byte) string {
	if len(c.regions) > 1 {
		for _, r := range c.regions {
			if r != nil && r.ld != nil && r.ld.Match(nsn) {
				return r.id
			}
		}
	}
	return c.mainID
}

// possible mirrors IsPossibleNumberWithReason (main region only).
func (c *callingCode) possible(nsn []byte) phonenumbers.ValidationResult {
	if c.main == nil || c.main.genPattern == "" {
		switch {
		case len(nsn) < minLengthNSN:
			return phonenumbers.TOO_SHORT
		case len(nsn) > maxLengthNSN:
			return phonenumbers.TOO_LONG
		}
		return phonenumbers.IS_POSSIBLE
	}
	return c.main.testLength(len(nsn))
}

// valid mirrors getNumberTypeHelper(nsn, metadata) != UNKNOWN.
func (r *regionRules) valid(nsn []byte) bool {
	n := len(nsn)
	if r == nil || n > maxLengthNSN || r.genLens&(1<<n) == 0 {
		return false
	}
	t := r.types[n]
	return t != nil && t.Match(nsn) && r.gen.Match(nsn)
}

// testLength mirrors testNumberLength(number, metadata, UNKNOWN).
func (r *regionRules) testLength(n int) phonenumbers.ValidationResult {
	l := r.genList
	if len(l) == 0 || l[0] == -1 {
		return phonenumbers.INVALID_LENGTH
	}
	for _, x := range r.genLocal {
		if int(x) == n {
			return phonenumbers.IS_POSSIBLE_LOCAL_ONLY
		}
	}
	switch {
	case int(l[0]) == n:
		return phonenumbers.IS_POSSIBLE
	case int(l[0]) > n:
		return phonenumbers.TOO_SHORT
	case int(l[len(l)-1]) < n:
		return phonenumbers.TOO_LONG
	}
	for _, x := range l[1:] {
		if int(x) == n {
			return phonenumbers.IS_POSSIBLE
		}
	}
	return phonenumbers.INVALID_LENGTH
}

// ---------------------------------------------------------------------------
// One automaton per country code.
//
// Go's regexp costs 0.3-1.8 µs per number here (most patterns are large
// alternations that neither the one-pass nor the backtracking matcher
// takes). All the patterns IsValidNumber consults for a country code (every
// region's general desc, number types and leading digits) only ever see
// digits, so they compile into one deterministic automaton over '0'..'9',
// by the subset construction on the regexp/syntax programs that Go's regexp
// runs itself. Each state records, for every length of national number, the
// verdict of the region-choosing logic on the set of patterns that match a
// number ending there; a check is then one table step per digit.

// maxDFAStates bounds one country code's automaton; a code whose automaton
// would be larger keeps the regexps (none does with the current metadata).
const maxDFAStates = 1 << 17

type digitDFA struct {
	next      []uint32 // next[state*10+digit]; state 0 is dead, 1 is the start
	validLens []uint32 // bit n: a national number of n digits ending in this state is valid
}

func (d *digitDFA) valid(nsn []byte) bool {
	if len(nsn) > maxLengthNSN {
		return false
	}
	s := uint32(1)
	for _, c := range nsn {
		s = d.next[s*10+uint32(c-'0')]
	}
	return d.validLens[s]&(1<<len(nsn)) != 0
}

// dfaComponent is one pattern of the automaton: a region's general desc,
// one of its number types, or its leading digits (turned into a fully
// anchored "ld[0-9]*", which is what a prefix match means on digits).
type dfaComponent struct {
	prog   *syntax.Prog
	region int
	kind   byte // compGeneral, compType, compLeading
	lens   uint32
}

const (
	compGeneral byte = iota
	compType
	compLeading
)

// Items of a state are (component, instruction) pairs.
const pcBits = 20

func item(comp, pc int) uint32 { return uint32(comp)<<pcBits | uint32(pc) }
func itemComp(it uint32) int   { return int(it >> pcBits) }
func itemPC(it uint32) int     { return int(it & (1<<pcBits - 1)) }

type dfaBuilder struct {
	comps   []dfaComponent
	regions []*regionRules
	stamp   [][]uint32 // per component, per instruction: last closure that visited it
	gen     uint32
	stack   []uint32
}

func buildDFA(regions []*regionRules) (*digitDFA, error) {
	b := &dfaBuilder{regions: regions}
	add := func(region int, kind byte, lens uint32, pattern string) error {
		re, err := syntax.Parse(pattern, syntax.Perl)
		if err != nil {
			return err
		}
		prog, err := syntax.Compile(re.Simplify())
		if err != nil {
			return err
		}
		if len(prog.Inst) >= 1<<pcBits {
			return fmt.Errorf("pattern too large for the automaton")
		}
		b.comps = append(b.comps, dfaComponent{prog: prog, region: region, kind: kind, lens: lens})
		b.stamp = append(b.stamp, make([]uint32, len(prog.Inst)))
		return nil
	}
	for i, r := range regions {
		if r == nil {
			continue
		}
		if r.ldPattern != "" {
			if err := add(i, compLeading, 0, "^(?:"+r.ldPattern+")[0-9]*$"); err != nil {
				return nil, err
			}
		}
		if err := add(i, compGeneral, r.genLens, "^(?:"+r.genPattern+")$"); err != nil {
			return nil, err
		}
		for _, t := range r.typeDescs {
			if err := add(i, compType, t.lens, "^(?:"+t.pattern+")$"); err != nil {
				return nil, err
			}
		}
	}
	if len(b.comps) >= 1<<(32-pcBits) {
		return nil, fmt.Errorf("too many patterns for the automaton")
	}

	d := &digitDFA{next: make([]uint32, 20), validLens: make([]uint32, 2)}
	ids := map[string]uint32{"": 0}
	var sets [][]uint32 // by state
	sets = append(sets, nil)
	b.gen++
	var start []uint32
	for ci, c := range b.comps {
		var err error
		if start, err = b.closure(start, ci, c.prog.Start, true); err != nil {
			return nil, err
		}
	}
	sortItems(start)
	ids[itemsKey(start)] = 1
	sets = append(sets, start)
	vl, err := b.validLens(start)
	if err != nil {
		return nil, err
	}
	d.validLens[1] = vl

	var next []uint32
	for s := 1; s < len(sets); s++ {
		for digit := 0; digit < 10; digit++ {
			next = next[:0]
			b.gen++
			r := rune('0' + digit)
			for _, it := range sets[s] {
				c := b.comps[itemComp(it)]
				inst := &c.prog.Inst[itemPC(it)]
				switch inst.Op {
				case syntax.InstRune, syntax.InstRune1, syntax.InstRuneAny, syntax.InstRuneAnyNotNL:
					if inst.MatchRune(r) {
						if next, err = b.closure(next, itemComp(it), int(inst.Out), false); err != nil {
							return nil, err
						}
					}
				}
			}
			sortItems(next)
			key := itemsKey(next)
			id, ok := ids[key]
			if !ok {
				if len(sets) >= maxDFAStates {
					return nil, fmt.Errorf("more than %d states", maxDFAStates)
				}
				id = uint32(len(sets))
				ids[key] = id
				set := append([]uint32(nil), next...)
				sets = append(sets, set)
				vl, err := b.validLens(set)
				if err != nil {
					return nil, err
				}
				d.validLens = append(d.validLens, vl)
				d.next = append(d.next, make([]uint32, 10)...)
			}
			d.next[s*10+digit] = id
		}
	}
	return d, nil
}

// closure adds to set the instructions that consume a digit, match, or wait
// for the end of the input, reachable from pc without consuming input.
func (b *dfaBuilder) closure(set []uint32, comp, pc int, atBegin bool) ([]uint32, error) {
	prog, stamp := b.comps[comp].prog, b.stamp[comp]
	b.stack = append(b.stack[:0], uint32(pc))
	for len(b.stack) > 0 {
		pc := b.stack[len(b.stack)-1]
		b.stack = b.stack[:len(b.stack)-1]
		if stamp[pc] == b.gen {
			continue
		}
		stamp[pc] = b.gen
		inst := &prog.Inst[pc]
		switch inst.Op {
		case syntax.InstAlt, syntax.InstAltMatch:
			b.stack = append(b.stack, inst.Arg, inst.Out)
		case syntax.InstNop, syntax.InstCapture:
			b.stack = append(b.stack, inst.Out)
		case syntax.InstFail:
		case syntax.InstMatch, syntax.InstRune, syntax.InstRune1, syntax.InstRuneAny, syntax.InstRuneAnyNotNL:
			set = append(set, item(comp, int(pc)))
		case syntax.InstEmptyWidth:
			const begin, end = syntax.EmptyBeginText | syntax.EmptyBeginLine, syntax.EmptyEndText | syntax.EmptyEndLine
			op := syntax.EmptyOp(inst.Arg)
			switch {
			case op&^(begin|end) != 0:
				return nil, fmt.Errorf("unsupported assertion in pattern")
			case op&begin != 0 && !atBegin:
			case op&end != 0:
				set = append(set, item(comp, int(pc))) // decided at the end of the input
			default:
				b.stack = append(b.stack, inst.Out)
			}
		default:
			return nil, fmt.Errorf("unsupported instruction %v", inst.Op)
		}
	}
	return set, nil
}

// matchesAtEnd reports whether the item leads to a match when the input ends
// here (never at its start: a national number has at least 2 digits).
func (b *dfaBuilder) matchesAtEnd(it uint32) bool {
	prog := b.comps[itemComp(it)].prog
	seen := map[uint32]bool{}
	stack := []uint32{uint32(itemPC(it))}
	for len(stack) > 0 {
		pc := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[pc] {
			continue
		}
		seen[pc] = true
		inst := &prog.Inst[pc]
		switch inst.Op {
		case syntax.InstMatch:
			return true
		case syntax.InstAlt, syntax.InstAltMatch:
			stack = append(stack, inst.Arg, inst.Out)
		case syntax.InstNop, syntax.InstCapture:
			stack = append(stack, inst.Out)
		case syntax.InstEmptyWidth:
			if syntax.EmptyOp(inst.Arg)&(syntax.EmptyBeginText|syntax.EmptyBeginLine) == 0 {
				stack = append(stack, inst.Out)
			}
		}
	}
	return false
}

// validLens evaluates IsValidNumber for every national-number length on
// the patterns that match when the input ends in this state.
func (b *dfaBuilder) validLens(set []uint32) (uint32, error) {
	matched := map[int]bool{}
	for _, it := range set {
		if !matched[itemComp(it)] && b.matchesAtEnd(it) {
			matched[itemComp(it)] = true
		}
	}
	if len(matched) == 0 {
		return 0, nil
	}
	type regionMatch struct {
		general, leading bool
		typeLens         uint32 // lengths for which some matching type allows the number
	}
	rm := make([]regionMatch, len(b.regions))
	for ci := range matched {
		c := b.comps[ci]
		switch c.kind {
		case compGeneral:
			rm[c.region].general = true
		case compLeading:
			rm[c.region].leading = true
		case compType:
			if c.lens == 0 {
				rm[c.region].typeLens = ^uint32(0)
			} else {
				rm[c.region].typeLens |= c.lens
			}
		}
	}
	validIn := func(i, n int) bool {
		r := b.regions[i]
		return r != nil && rm[i].general && r.genLens&(1<<n) != 0 && rm[i].typeLens&(1<<n) != 0
	}
	var lens uint32
	for n := minLengthNSN; n <= maxLengthNSN; n++ {
		ok := false
		if len(b.regions) == 1 {
			ok = validIn(0, n)
		} else {
			for i, r := range b.regions {
				if r == nil {
					continue
				}
				if r.ldPattern != "" {
					if rm[i].leading {
						ok = validIn(i, n)
						break
					}
				} else if validIn(i, n) {
					ok = true
					break
				}
			}
		}
		if ok {
			lens |= 1 << n
		}
	}
	return lens, nil
}

func sortItems(s []uint32) { slices.Sort(s) }

func itemsKey(s []uint32) string {
	b := make([]byte, 0, 4*len(s))
	for _, it := range s {
		b = binary.LittleEndian.AppendUint32(b, it)
	}
	return string(b)
}
