package e164

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/nyaruka/phonenumbers"
)

// reasonOf returns the reason of a *Error ("" for nil); any other
// error comes out as a reason no path produces.
func reasonOf(err error) string {
	if err == nil {
		return ""
	}
	var ne *Error
	if !errors.As(err, &ne) {
		return fmt.Sprintf("<%T is not a *Error: %v>", err, err)
	}
	return ne.Reason
}

// compareFastSlow checks that Check(s) of every validator and Parse(s)
// agree on verdict, value and error; it returns a description of the first
// mismatch, or "".
func compareFastSlow(vs []*Validator, s string) string {
	sv, serr := Parse(s)
	sr := reasonOf(serr)
	for i, v := range vs {
		fv, ferr := v.Check([]byte(s))
		fr := reasonOf(ferr)
		if fv != sv || fr != sr {
			return fmt.Sprintf("%q: fast#%d (%d, %q), slow (%d, %q)", s, i, fv, fr, sv, sr)
		}
		if ferr != nil && ferr.Error() != serr.Error() {
			return fmt.Sprintf("%q: fast#%d error %q, slow error %q", s, i, ferr, serr)
		}
	}
	return ""
}

// raceEnabled reports whether the test binary was built with -race, which
// makes phonenumbers (and so every slow-path comparison) about 25 times
// slower: the comparison tests then draw smaller samples.
var raceEnabled = sync.OnceValue(func() bool {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "-race" {
				return s.Value == "true"
			}
		}
	}
	return false
})

// compareAll runs compareFastSlow on every input, on all cores, and returns
// the mismatches.
func compareAll(vs []*Validator, inputs []string) []string {
	workers := runtime.GOMAXPROCS(0)
	bad := make([][]string, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(inputs); i += workers {
				if m := compareFastSlow(vs, inputs[i]); m != "" {
					bad[w] = append(bad[w], m)
				}
			}
		}()
	}
	wg.Wait()
	return slices.Concat(bad...)
}

var regexpValidator = sync.OnceValues(func() (*Validator, error) { return newValidator(false) })

// validators returns the validator FastValidator builds (automata) and one
// that keeps to the regexps (what a code gets when its automaton cannot be
// built): both must agree with Parse.
func validators(t testing.TB) []*Validator {
	t.Helper()
	rv, err := regexpValidator()
	if err != nil {
		t.Fatal(err)
	}
	return []*Validator{FastValidator(), rv}
}

// TestFastValidatorAutomata: every country code should get an automaton;
// one that does not still validates correctly (with regexps), but 10-20
// times slower.
func TestFastValidatorAutomata(t *testing.T) {
	v := FastValidator()
	n, states := 0, 0
	for code, c := range v.codes {
		if c == nil {
			continue
		}
		n++
		if c.dfa == nil {
			_, err := buildDFA(c.regions)
			t.Errorf("+%d has no automaton: %v", code, err)
			continue
		}
		states += len(c.dfa.validLens)
	}
	if n < 200 {
		t.Errorf("only %d country codes", n)
	}
	t.Logf("%d country codes, %d automaton states", n, states)
}

func TestFastValidatorKnownCases(t *testing.T) {
	vs := validators(t)
	v := vs[0]
	cases := []struct {
		name, in string
		want     uint64 // 0: refused
		reason   string // when refused
	}{
		{"UK mobile (GG range, +44)", "+447911123456", 447911123456, ""},
		{"UK mobile (GB range)", "+447400123456", 447400123456, ""},
		{"UK mobile without +", "447911123456", 447911123456, ""},
		{"UK mobile with 00", "00447911123456", 447911123456, ""},
		{"UK national prefix after country code", "+4407911123456", 447911123456, ""},
		{"UK drama range", "+447700900123", 0, "not a valid number for GB"},
		{"UK mobile one digit short (a possible length for fixed lines)", "+44791112345", 0, "not a valid number for GB"},
		{"UK mobile one digit long", "+4479111234567", 0, "too long for country code 44"},
		{"UK far too short", "+4479", 0, "too short for country code 44"},
		{"UK national number of one digit", "+447", 0, "too short for country code 44"},
		{"Isle of Man mobile", "+447624123456", 447624123456, ""},
		{"US (555-01xx is a fictional range, but phonenumbers accepts it)", "+12015550123", 12015550123, ""},
		{"US with national prefix 1", "+112015550123", 12015550123, ""},
		{"US invalid area code", "+11235550123", 0, "not a valid number for US"},
		{"Canada", "+14165550123", 14165550123, ""},
		{"Jamaica (leading digits 876)", "+18762091234", 18762091234, ""},
		{"German mobile", "+4915112345678", 4915112345678, ""},
		{"German fixed line Berlin", "+493012345678", 493012345678, ""},
		{"Italian fixed line, leading zero", "+390612345678", 390612345678, ""},
		{"Italian mobile", "+393123456789", 393123456789, ""},
		{"Vatican (shares +39)", "+390669812345", 390669812345, ""},
		{"Indian mobile", "+919876543210", 919876543210, ""},
		{"Indian mobile one digit short", "+91987654321", 0, "not a valid number for IN"},
		{"Indian number too short", "+9198765", 0, "too short for country code 91"},
		{"Finland, 3-digit code", "+358401234567", 358401234567, ""},
		{"Aland Islands (shares +358)", "+35818123456", 35818123456, ""},
		{"Argentina mobile", "+5491112345678", 5491112345678, ""},
		{"Argentina mobile written with 15", "+54111512345678", 5491112345678, ""},
		{"Brazil: 90 prefix dropped", "+559040041234", 5540041234, ""},
		{"Austria: types match, general desc does not", "+434351000", 0, "not a valid number for AT"},
		{"Mexico old mobile prefix 1 is no longer valid", "+5215512345678", 0, "too long for country code 52"},
		{"International toll free", "+80012345678", 80012345678, ""},
		{"International toll free too short", "+8001234567", 0, "too short for country code 800"},
		{"unknown country code 999", "+9991234567", 0, "unknown country code 999"},
		{"unknown country code 28x", "+2801234567", 0, "unknown country code 280"},
		{"too long", "+4479111234567890", 0, "too long (more than 15 digits)"},
		{"too short", "+44", 0, "too short"},
		{"no country code", "07911123456", 0, "no country code (international form required)"},
		{"00 then 0", "000447911123456", 0, "no country code (international form required)"},
		{"empty", "", 0, "empty"},
		{"plus only", "+", 0, "not a number"},
		{"00 only", "00", 0, "not a number"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if m := compareFastSlow(vs, c.in); m != "" {
				t.Fatal(m)
			}
			got, err := v.Check([]byte(c.in))
			if got != c.want || reasonOf(err) != c.reason {
				t.Fatalf("Check(%q) = %d, %v; want %d, reason %q", c.in, got, err, c.want, c.reason)
			}
			if err == nil && Format(got) != "+"+strconv.FormatUint(c.want, 10) {
				t.Fatalf("Format(%d) = %q", got, Format(got))
			}
		})
	}
}

func TestFastValidatorRefusesNonDigits(t *testing.T) {
	v := FastValidator()
	for in, reason := range map[string]string{
		"+44 7911 123456":   `unexpected ' ' at offset 3 (a bulk field holds digits with an optional leading '+')`,
		"44-7911-123456":    `unexpected '-' at offset 2 (a bulk field holds digits with an optional leading '+')`,
		"tel:+447911123456": `unexpected 't' at offset 0 (a bulk field holds digits with an optional leading '+')`,
		"447911123456\r":    `unexpected '\r' at offset 12 (a bulk field holds digits with an optional leading '+')`,
		"++447911123456":    `unexpected '+' at offset 1 (a bulk field holds digits with an optional leading '+')`,
		"abc":               `unexpected 'a' at offset 0 (a bulk field holds digits with an optional leading '+')`,
	} {
		_, err := v.Check([]byte(in))
		if got := reasonOf(err); got != reason {
			t.Errorf("Check(%q): reason %q, want %q", in, got, reason)
		}
	}
}

// TestFastValidatorShortStrings compares the two paths on every digit string
// of up to 4 digits, bare, with '+' and with "00" (under -race, every 4-digit
// string only bare, and a seventh of them).
func TestFastValidatorShortStrings(t *testing.T) {
	var inputs []string
	for n, limit := 0, 1; n <= 4; n, limit = n+1, limit*10 {
		for i := 0; i < limit; i++ {
			d := fmt.Sprintf("%0*d", n, i)[:n]
			switch {
			case !raceEnabled() || n < 4:
				inputs = append(inputs, d, "+"+d, "00"+d)
			case i%7 == 0:
				inputs = append(inputs, d)
			}
		}
	}
	reportMismatches(t, compareAll(validators(t), inputs), len(inputs))
}

// exampleNumbers returns the example national numbers of every number type
// of every region and non-geographic entity in phonenumbers' metadata, with
// their country code.
func exampleNumbers(t testing.TB) (ccs []int, nsns []string) {
	coll, err := phonenumbers.MetadataCollection()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range coll.GetMetadata() {
		for _, d := range []*phonenumbers.PhoneNumberDesc{
			m.GetGeneralDesc(), m.GetFixedLine(), m.GetMobile(), m.GetTollFree(), m.GetPremiumRate(),
			m.GetSharedCost(), m.GetPersonalNumber(), m.GetVoip(), m.GetPager(), m.GetUan(), m.GetVoicemail(),
		} {
			if ex := d.GetExampleNumber(); ex != "" {
				ccs = append(ccs, int(m.GetCountryCode()))
				nsns = append(nsns, ex)
			}
		}
	}
	return ccs, nsns
}

// TestFastValidatorExampleNumbers runs every example number of the metadata
// (all regions, all types) and variants of it through both paths.
func TestFastValidatorExampleNumbers(t *testing.T) {
	vs := validators(t)
	ccs, nsns := exampleNumbers(t)
	if len(ccs) < 1000 {
		t.Fatalf("only %d example numbers", len(ccs))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var inputs []string
	for i, nsn := range nsns {
		cc := strconv.Itoa(ccs[i])
		if v, err := vs[0].Check([]byte(cc + nsn)); err != nil || Format(v) != "+"+cc+nsn {
			t.Errorf("example number +%s%s: %d, %v", cc, nsn, v, err)
		}
		variants := []string{
			cc + nsn,                         // as is
			"+" + cc + "0" + nsn,             // with a national prefix
			cc + nsn[:len(nsn)-1],            // one digit short
			cc + nsn + "0",                   // one digit long
			"+" + cc + "1" + nsn,             // NANPA-style prefix
			"+" + cc + "8" + nsn,             // RU/KZ-style prefix
			cc + nsn + "12",                  // two digits long
			"00" + cc + nsn,                  // with 00
			cc + randomDigits(rng, len(nsn)), // same length, random digits
			cc + nsn[:1] + randomDigits(rng, len(nsn)-1),                   // same first digit
			cc + nsn[:len(nsn)/2] + randomDigits(rng, len(nsn)-len(nsn)/2), // same first half
		}
		if raceEnabled() {
			variants = variants[:3]
		}
		inputs = append(inputs, variants...)
	}
	reportMismatches(t, compareAll(vs, inputs), len(inputs))
	t.Logf("%d example numbers, %d inputs", len(nsns), len(inputs))
}

func randomDigits(rng *rand.Rand, n int) string {
	if n <= 0 {
		return ""
	}
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('0' + rng.IntN(10))
	}
	return string(b)
}

// numberRanges are starts of real number ranges of about 20 countries (and
// of the codes that several regions share), with the usual total length.
var numberRanges = []struct {
	prefix string
	length int // usual digits, country code included
}{
	// United Kingdom and the Crown dependencies (+44 shared by GB, GG, IM, JE).
	{"447", 12}, {"4474", 12}, {"4475", 12}, {"4479", 12}, {"4420", 12}, {"44161", 12}, {"441", 11},
	{"44770090", 12}, {"447781", 12}, {"447624", 12}, {"441534", 12}, {"441481", 12}, {"4407", 13}, {"44800", 12},
	// NANPA (+1 shared by US, CA and the Caribbean).
	{"1201", 11}, {"1212", 11}, {"1415", 11}, {"1416", 11}, {"1604", 11}, {"1876", 11}, {"1268", 11},
	{"1787", 11}, {"1800", 11}, {"1900", 11}, {"11", 12}, {"1", 11},
	// Germany and Austria: variable length.
	{"4915", 13}, {"4916", 12}, {"4917", 12}, {"4930", 12}, {"4989", 11}, {"49", 11}, {"490", 12},
	{"494930", 10}, {"43", 12}, {"43435", 10}, {"43664", 12},
	// Italy and the Vatican: leading zero.
	{"393", 12}, {"3906", 12}, {"3902", 11}, {"390", 11}, {"39066982", 12}, {"3904", 12}, {"393", 13},
	// France, Spain, Netherlands, Belgium, Poland, Portugal, Ireland.
	{"336", 11}, {"337", 11}, {"331", 11}, {"330", 12}, {"346", 11}, {"347", 11}, {"349", 11},
	{"316", 11}, {"324", 11}, {"48", 11}, {"3519", 12}, {"3538", 12},
	// India, China, Japan, Indonesia.
	{"919", 12}, {"918", 12}, {"917", 12}, {"916", 12}, {"911", 12},
	{"861", 13}, {"8610", 12}, {"8621", 12}, {"8190", 12}, {"8180", 12}, {"813", 11}, {"810", 12},
	{"628", 13}, {"6221", 11},
	// Brazil (national prefix with carrier codes), Mexico, Argentina (15 transform).
	{"55119", 13}, {"5521", 12}, {"550", 14}, {"5590", 15}, {"5590", 12}, {"55904004", 12}, {"55903003", 12}, {"521", 13}, {"5255", 12}, {"5281", 12},
	{"549", 13}, {"54911", 13}, {"5411", 12}, {"541115", 14}, {"540", 13}, {"54", 12},
	// Russia and Kazakhstan (+7 shared), national prefix 8.
	{"79", 11}, {"7495", 11}, {"77", 11}, {"78", 12}, {"7", 11},
	// Africa and the Middle East.
	{"23480", 13}, {"23470", 13}, {"2348", 13}, {"278", 11}, {"2721", 11}, {"2547", 12}, {"9715", 12},
	{"2126", 12}, {"2125288", 12}, {"212", 12}, {"2908", 8}, {"290", 8}, {"261", 12}, {"241", 11},
	// Australia and the territories sharing +61, New Zealand.
	{"614", 11}, {"612", 11}, {"6189164", 11}, {"6189162", 11}, {"61", 11}, {"642", 11},
	// Nordics: Finland/Aland (+358), Norway/Svalbard (+47), Sweden.
	{"3584", 12}, {"35818", 11}, {"3589", 11}, {"358", 11}, {"474", 10}, {"4779", 10}, {"47", 10}, {"467", 11},
	// Shared codes in the French overseas and the former Netherlands Antilles.
	{"262", 12}, {"262269", 12}, {"262639", 12}, {"590", 12}, {"590690", 12}, {"599", 10}, {"5999", 10},
	{"5997", 10}, {"378", 11}, {"37889", 9}, {"672", 9}, {"6723", 9},
	// Non-geographic codes.
	{"800", 11}, {"808", 11}, {"870", 12}, {"8816", 12}, {"882", 12}, {"883", 12}, {"979", 12},
	// Unassigned codes and junk.
	{"999", 12}, {"99", 11}, {"9", 10}, {"28", 11}, {"0", 11}, {"00", 13},
}

func genNumber(rng *rand.Rand) string {
	r := numberRanges[rng.IntN(len(numberRanges))]
	n := r.length + rng.IntN(6) - 3 // usual length -3..+2
	p := r.prefix
	if n < len(p) {
		p = p[:max(n, 0)]
	}
	s := p + randomDigits(rng, n-len(p))
	switch rng.IntN(10) {
	case 0:
		s = "+" + s
	case 1:
		s = "00" + s
	}
	return s
}

func reportMismatches(t *testing.T, bad []string, total int) {
	t.Helper()
	if len(bad) == 0 {
		return
	}
	const show = 40
	for i, m := range bad {
		if i == show {
			t.Errorf("... and %d more", len(bad)-show)
			break
		}
		t.Error(m)
	}
	if total > 0 {
		t.Errorf("%d mismatches out of %d numbers", len(bad), total)
	}
}

// TestFastValidatorRandom compares the two paths on 200k numbers drawn near
// real ranges: random lengths around the usual one, random digits (5k
// under -race, where the point is to run the validators concurrently).
func TestFastValidatorRandom(t *testing.T) {
	total := 200_000
	if raceEnabled() {
		total = 5_000
	}
	vs := validators(t)
	rng := rand.New(rand.NewPCG(42, 1))
	inputs := make([]string, total)
	for i := range inputs {
		inputs[i] = genNumber(rng)
	}
	bad := compareAll(vs, inputs)
	reportMismatches(t, bad, total)
	valid := 0
	for _, s := range inputs {
		if _, err := vs[0].Check([]byte(s)); err == nil {
			valid++
		}
	}
	t.Logf("%d numbers, %d valid, %d mismatches", total, valid, len(bad))
	if valid < total/10 || valid > total*9/10 {
		t.Errorf("generator is off: %d of %d numbers valid", valid, total)
	}
}

func TestErrorMessage(t *testing.T) {
	_, err := FastValidator().Check([]byte("9991234567"))
	if err == nil || !strings.HasPrefix(err.Error(), `"9991234567" is not a valid number: `) {
		t.Fatalf("error %v", err)
	}
}
