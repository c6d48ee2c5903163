package registry

import (
	"errors"
	"testing"
)

// The operator's look is optional; when given, the logo is an https or
// data:image URL and the colour #rrggbb, so a page can use them as they are.
func TestOperatorLookIsValidated(t *testing.T) {
	for _, c := range []struct {
		logo, color string
		ok          bool
	}{
		{"", "", true},
		{"https://op.example/logo.svg", "#E60000", true},
		{"data:image/png;base64,iVBORw0KGgo=", "#00a0e0", true},
		{"data:image/svg+xml;base64,PHN2Zy8+", "", true},
		{"http://op.example/logo.png", "", false},
		{"javascript:alert(1)", "", false},
		{"data:text/html;base64,PGI+", "", false},
		{"data:image/png,raw", "", false},
		{"https://user@op.example/logo.png", "", false},
		{"", "red", false},
		{"", "#e600", false},
		{"", "#e60000;x", false},
	} {
		o := op("look", "234_10")
		o.Logo, o.Color = c.logo, c.color
		err := o.Validate()
		var e *Error
		if c.ok != (err == nil) || err != nil && (!errors.As(err, &e) || e.Code != CodeInvalid) {
			t.Errorf("logo %q color %q: %v, want ok=%v", c.logo, c.color, err, c.ok)
		}
	}
}
