package e164

import (
	"errors"
	"testing"
)

func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{
		"+447911123456":       "447911123456",
		"447911123456":        "447911123456",
		"00447911123456":      "447911123456",
		"tel:+447911123456":   "447911123456",
		"TEL:+44-7911-123456": "447911123456",
		" +44 7911 123456 ":   "447911123456",
		"+1 (201) 555-0123":   "12015550123",
		"0044 7911 123456":    "447911123456",
		"+447700900123":       "447700900123", // a form, not a verdict: Parse refuses it
		"+999":                "999",
		// The national prefix stays: only Parse knows where it is.
		"+44 (0)7911 123456": "4407911123456",
	} {
		got, err := Normalize(in)
		if err != nil || got != want {
			t.Errorf("Normalize(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// TestNormalizeErrors: a form Normalize refuses, Parse refuses with the same
// error, and every form Parse accepts Normalize accepts.
func TestNormalizeErrors(t *testing.T) {
	for in, want := range map[string]string{
		"":                  `"" is not a valid number: empty`,
		"   ":               `"   " is not a valid number: empty`,
		"+":                 `"+" is not a valid number: not a number`,
		"tel:":              `"tel:" is not a valid number: not a number`,
		"12ab":              `"12ab" is not a valid number: not a number`,
		"+1-800-FLOWERS":    `"+1-800-FLOWERS" is not a valid number: not a number`,
		"07911 123456":      `"07911 123456" is not a valid number: no country code (international form required)`,
		"+0044 7911 123456": `"+0044 7911 123456" is not a valid number: no country code (international form required)`,
		"+1234567890123456": `"+1234567890123456" is not a valid number: too long (more than 15 digits)`,
		"+12":               `"+12" is not a valid number: too short`,
		"0012":              `"0012" is not a valid number: too short`,
	} {
		_, err := Normalize(in)
		var e *Error
		if err == nil || err.Error() != want || !errors.As(err, &e) || e.Input != in {
			t.Errorf("Normalize(%q) error %v\n\twant %s", in, err, want)
		}
		if _, perr := Parse(in); perr == nil || perr.Error() != want {
			t.Errorf("Parse(%q) error %v, Normalize's %s", in, perr, want)
		}
	}
	for _, in := range []string{"+44 (0)7911.123.456", "+54 11 15 1234-5678", "tel:+80012345678", "0044 7911 123456"} {
		if _, err := Parse(in); err != nil {
			t.Fatalf("Parse(%q): %v", in, err)
		}
		if _, err := Normalize(in); err != nil {
			t.Errorf("Parse accepts %q, Normalize says %v", in, err)
		}
	}
}

// TestNormalizeNormalisedDigits: the path every stored or protocol number
// takes allocates nothing.
func TestNormalizeNormalisedDigits(t *testing.T) {
	for _, in := range []string{"+447911123456", "447911123456"} {
		var got string
		allocs := testing.AllocsPerRun(100, func() { got, _ = Normalize(in) })
		if got != "447911123456" || allocs != 0 {
			t.Errorf("Normalize(%q) = %q with %v allocations, want 447911123456 with none", in, got, allocs)
		}
	}
}

func TestParseCanonical(t *testing.T) {
	for _, n := range []uint64{447911123456, 12015550123, 447700900123, 999, 999999999999999} {
		if v, ok := ParseCanonical(Format(n)); !ok || v != n {
			t.Errorf("ParseCanonical(Format(%d)) = %d, %v", n, v, ok)
		}
	}
	for _, in := range []string{"", "+", "+12", "447911123456", "+0447911123456", "+44 7911 123456", "+1234567890123456", "++447911123456", "+44791112345a"} {
		if v, ok := ParseCanonical(in); ok {
			t.Errorf("ParseCanonical(%q) = %d, true; want false", in, v)
		}
	}
}
