package idgw

import (
	"html/template"
	"math"
	"strconv"
	"strings"

	"github.com/nyaruka/phonenumbers"

	"github.com/mcfed/mcfed/internal/e164"
	"github.com/mcfed/mcfed/registry"
)

// Look is how an operator's pages look to the person: its display name,
// its logo and its brand colour. LookOf fills what the operator's record
// leaves out.
type Look struct {
	// Name is the operator's display name (its registry record's name).
	Name string
	// Logo is an https or data:image URL, or "" for none.
	Logo string
	// Color is the brand colour, #rrggbb.
	Color string
}

// defaultColor is the pages' colour for an operator that registered none:
// a dark blue that white text reads well on.
const defaultColor = "#1d4f91"

// LookOf is the look of operator o's pages (o may be nil: the default
// look, with a generic name).
func LookOf(o *registry.Operator) Look {
	l := Look{Name: "Mobile Connect", Color: defaultColor}
	if o == nil {
		return l
	}
	if strings.TrimSpace(o.Name) != "" {
		l.Name = o.Name
	}
	if isImageURL(o.Logo) {
		l.Logo = o.Logo
	}
	if len(o.Color) == 7 && o.Color[0] == '#' {
		if _, err := strconv.ParseUint(o.Color[1:], 16, 32); err == nil {
			l.Color = strings.ToLower(o.Color)
		}
	}
	return l
}

// isImageURL: the logo URLs the registry accepts (an https URL, a data:
// image URL); anything else is not shown.
func isImageURL(s string) bool {
	return strings.HasPrefix(s, "https://") || strings.HasPrefix(s, "data:image/")
}

// LogoURL is the logo as a URL html/template puts in src as it is (it
// refuses data: URLs otherwise); the registry validated it.
func (l Look) LogoURL() template.URL {
	if !isImageURL(l.Logo) {
		return ""
	}
	return template.URL(l.Logo)
}

// OnColor is the text colour, black or white, that reads best on Color
// (the larger WCAG 2 contrast ratio).
func (l Look) OnColor() string {
	v, err := strconv.ParseUint(strings.TrimPrefix(l.Color, "#"), 16, 32)
	if err != nil {
		return "#ffffff"
	}
	lum := 0.2126*channel(v>>16) + 0.7152*channel(v>>8) + 0.0722*channel(v)
	// Contrast with white (1.05/(lum+.05)) against black ((lum+.05)/.05).
	if 1.05/(lum+0.05) >= (lum+0.05)/0.05 {
		return "#ffffff"
	}
	return "#000000"
}

// channel is the linear value of an sRGB channel (the low byte of v).
func channel(v uint64) float64 {
	c := float64(v&0xff) / 255
	if c <= 0.04045 {
		return c / 12.92
	}
	return math.Pow((c+0.055)/1.055, 2.4)
}

// MaskNumber is the subscriber's number as the pages show it: the country
// code and the last four digits, the rest hidden ("+44 ••••• •3456"), so
// that the person recognises their number and an onlooker learns little.
// Its spaces do not break, so a page never wraps a number.
func MaskNumber(msisdn uint64) string {
	if msisdn == 0 {
		return ""
	}
	full := e164.Format(msisdn)
	cc, national := "", strings.TrimPrefix(full, "+")
	// The country code is the one prefix of 1 to 3 digits that is one
	// (they are prefix-free), as a parse finds it; the number was
	// validated when it was read, and each login masks it once.
	codes := phonenumbers.GetSupportedCallingCodes()
	for l := 1; l <= 3 && l < len(national); l++ {
		if c, err := strconv.Atoi(national[:l]); err == nil && codes[c] {
			cc, national = national[:l], national[l:]
			break
		}
	}
	const shown = 4
	if len(national) <= shown {
		return full
	}
	hidden := len(national) - shown
	var b strings.Builder
	if cc != "" {
		b.WriteString("+" + cc + "\u00a0")
	}
	for i := range len(national) {
		if i == 5 {
			b.WriteString("\u00a0")
		}
		if i < hidden {
			b.WriteString("•")
		} else {
			b.WriteByte(national[i])
		}
	}
	return b.String()
}
