package e164

import "testing"

func TestFormat(t *testing.T) {
	for n, want := range map[uint64]string{447911123456: "+447911123456", 12015550123: "+12015550123", 999999999999999: "+999999999999999"} {
		if got := Format(n); got != want {
			t.Errorf("Format(%d) = %q, want %q", n, got, want)
		}
		if v, err := Parse(want); err == nil && v != n {
			t.Errorf("Parse(Format(%d)) = %d", n, v)
		}
	}
}
