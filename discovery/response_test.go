package discovery

import (
	"encoding/json"
	"strings"
	"testing"
)

// FuzzJSONString: the hand-written escaping decodes to what encoding/json's
// does for any bytes (invalid UTF-8 included), and escapes what
// encoding/json escapes for HTML.
func FuzzJSONString(f *testing.F) {
	var all []byte
	for c := range 256 {
		all = append(all, byte(c))
	}
	for _, s := range []string{"", "plain", `"\<>&`, "\u2028\u2029", "\xff\xfe", string(all), "X3mkxRVsC_kbbDOHKp4HW1_r0f-aZqt0GIK"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := appendJSONString(nil, s)
		if string(appendJSONString(nil, []byte(s))) != string(got) {
			t.Fatalf("string and []byte disagree on %q", s)
		}
		want, _ := json.Marshal(s)
		var g, w string
		if err := json.Unmarshal(got, &g); err != nil {
			t.Fatalf("%q rendered as %s: %v", s, got, err)
		}
		if err := json.Unmarshal(want, &w); err != nil || g != w {
			t.Fatalf("%q decodes to %q, encoding/json's to %q", s, g, w)
		}
		if strings.ContainsAny(string(got), "<>&") {
			t.Fatalf("%q: HTML characters left unescaped: %s", s, got)
		}
	})
}
