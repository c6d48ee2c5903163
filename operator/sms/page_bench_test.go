package sms

import (
	"testing"

	"github.com/mcfed/mcfed/idgw"
)

// BenchmarkCodePage renders the code page as a login shows it: the part
// of a login's CPU its page costs.
func BenchmarkCodePage(b *testing.B) {
	t := messages.In("en")
	p := idgw.Page{Lang: "en", Look: idgw.Look{Name: "Demo Mobile UK", Color: "#0055aa"}, Title: t.S("otp_title"),
		Assets: "/sms" + idgw.AssetsPath}
	data := newOTPData(t, t.S("otp_lead", "Shop", 6, "+44 ••••• •3456"), "", 10, false, "",
		"https://op.example/authorize/continue?session=c2Vzc2lvbi1pZC1zZXNzaW9uLWlk", 5)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := p.Render(otpPage, t, data); err != nil {
			b.Fatal(err)
		}
	}
}
