package e164

import (
	"fmt"
	"regexp"
	"regexp/syntax"
	"strings"
	"sync"

	"github.com/nyaruka/phonenumbers"
)

// Validator is the fast path for bulk files: it mirrors
// phonenumbers.Parse("+"+digits) followed by phonenumbers.IsValidNumber with
// phonenumbers' own metadata, every pattern compiled once. It is safe for
// concurrent use; build it once (FastValidator).
type Validator struct {
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

var fastValidator = sync.OnceValue(func() *Validator {
	v, err := newValidator(true)
	if err != nil {
		panic("e164: building the validator from phonenumbers metadata: " + err.Error())
	}
	return v
})

// FastValidator returns the process-wide Validator, built on first use
// (about 50 ms; the validator holds about 2.5 MB).
func FastValidator() *Validator { return fastValidator() }

// newValidator compiles phonenumbers' metadata; withDFA false keeps
// to the regexps (the tests compare both).
func newValidator(withDFA bool) (*Validator, error) {
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
	v := &Validator{}
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
// returns the value Parse would return for the same text, or a
// *Error with the reason Parse would give. Like Parse it
// treats a leading "00" (without '+') as an international prefix.
func (v *Validator) Check(field []byte) (uint64, error) {
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
			return 0, &Error{Input: string(field), Reason: fmt.Sprintf(
				"unexpected %q at offset %d (a bulk field holds digits with an optional leading '+')",
				rune(field[at]), at)}
		}
	}
	if len(field) == 0 {
		return 0, &Error{Input: "", Reason: reasonEmpty}
	}
	d, reason := digitsPolicy(d, plus)
	if reason == "" {
		var val uint64
		if val, reason = v.validate(d); reason == "" {
			return val, nil
		}
	}
	return 0, &Error{Input: string(field), Reason: reason}
}

// validate mirrors slowValidate: d is 3..15 digits, no leading zero.
func (v *Validator) validate(d []byte) (uint64, string) {
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
	return valueOf(c.code, nsn)
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
