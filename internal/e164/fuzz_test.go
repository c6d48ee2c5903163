package e164

import "testing"

// FuzzFastCheck: for any bulk field, the fast validator and phonenumbers
// (Parse) agree on whether it is a valid number and on its value, and
// neither panics.
func FuzzFastCheck(f *testing.F) {
	for _, s := range []string{"+447400123456", "447700900123", "+390612345678", "+12015550123", "0044", "+", "", "+99912345", "4407911123456"} {
		f.Add(s)
	}
	v := FastValidator()
	f.Fuzz(func(t *testing.T, s string) {
		got, fastErr := v.Check([]byte(s))
		for _, c := range []byte(s) {
			if (c < '0' || c > '9') && c != '+' {
				return // not a bulk field: only the fast path must not panic
			}
		}
		want, slowErr := Parse(s)
		if (fastErr == nil) != (slowErr == nil) || got != want {
			t.Fatalf("%q: fast path (%d, %v), phonenumbers (%d, %v)", s, got, fastErr, want, slowErr)
		}
	})
}
