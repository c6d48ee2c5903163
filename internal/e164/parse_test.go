package e164

import "testing"

func TestParseForms(t *testing.T) {
	for in, want := range map[string]uint64{
		"+447911123456":        447911123456,
		"447911123456":         447911123456,
		"00447911123456":       447911123456,
		"tel:+447911123456":    447911123456,
		"TEL:+44-7911-123456":  447911123456,
		" +44 7911 123456 ":    447911123456,
		"+44 (0) 7911 123456":  447911123456,
		"+44 (0)7911.123.456":  447911123456,
		"0044 7911 123456":     447911123456,
		"+44-7911-123-456":     447911123456,
		"+1 (201) 555-0123":    12015550123,
		"+1 1 201 555 0123":    12015550123,
		"+39 06 1234 5678":     390612345678,
		"+54 11 15 1234-5678":  5491112345678,
		"+49 (0)151 1234 5678": 4915112345678,
		"tel:+80012345678":     80012345678,
	} {
		got, err := Parse(in)
		if err != nil || got != want {
			t.Errorf("Parse(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for in, want := range map[string]string{
		"+4479":              `"+4479" is not a valid number: too short for country code 44`,
		"+999 123 4567":      `"+999 123 4567" is not a valid number: unknown country code 999`,
		"+447700900123":      `"+447700900123" is not a valid number: not a valid number for GB`,
		"+44 7911 12345a":    `"+44 7911 12345a" is not a valid number: not a number`,
		"hello":              `"hello" is not a valid number: not a number`,
		"+1-800-FLOWERS":     `"+1-800-FLOWERS" is not a valid number: not a number`,
		"+44 7911 123456;x":  `"+44 7911 123456;x" is not a valid number: not a number`,
		"":                   `"" is not a valid number: empty`,
		"   ":                `"   " is not a valid number: empty`,
		"+":                  `"+" is not a valid number: not a number`,
		"tel:":               `"tel:" is not a valid number: not a number`,
		"07911 123456":       `"07911 123456" is not a valid number: no country code (international form required)`,
		"+0044 7911 123456":  `"+0044 7911 123456" is not a valid number: no country code (international form required)`,
		"+44 7911 1234567 8": `"+44 7911 1234567 8" is not a valid number: too long for country code 44`,
		"+1234567890123456":  `"+1234567890123456" is not a valid number: too long (more than 15 digits)`,
		"+800 1234 567":      `"+800 1234 567" is not a valid number: too short for country code 800`,
		"+12":                `"+12" is not a valid number: too short`,
	} {
		_, err := Parse(in)
		if err == nil || err.Error() != want {
			t.Errorf("Parse(%q) error %v\n\twant %s", in, err, want)
		}
	}
}
