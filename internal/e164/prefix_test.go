package e164

import "testing"

func TestParsePrefix(t *testing.T) {
	ok := []struct {
		in     string
		value  uint64
		digits int
	}{
		{"+4479", 4479, 4},
		{"4479", 4479, 4},
		{"4470", 4470, 4},
		{"44700", 44700, 5},
		{"+1", 1, 1},
		{"44", 44, 2},
		{"358", 358, 3},
		{"+800", 800, 3},
		{"447911123456789", 447911123456789, 15},
	}
	for _, c := range ok {
		v, d, err := ParsePrefix(c.in)
		if err != nil || v != c.value || d != c.digits {
			t.Errorf("ParsePrefix(%q) = %d, %d, %v; want %d, %d", c.in, v, d, err, c.value, c.digits)
		}
	}
	for _, in := range []string{"", "+", "4", "35", "+999", "9991", "0044", "+0", "44 79", "44-79", "4479a", "+4479+", "4479111234567890", "++44", "tel:+44"} {
		if v, d, err := ParsePrefix(in); err == nil {
			t.Errorf("ParsePrefix(%q) = %d, %d, nil; want an error", in, v, d)
		}
	}
	_, _, err := ParsePrefix("+999")
	if want := `"+999" is not a valid number prefix: does not begin with an assigned country calling code`; err == nil || err.Error() != want {
		t.Errorf("ParsePrefix(+999): %v, want %s", err, want)
	}
}
