package sms

import (
	"testing"

	"github.com/mcfed/mcfed/idgw"
)

// BenchmarkCodePage renders the code page as a login shows it: the part
// of a login's CPU its page costs. With the link (a code and a link, the
// dev federation's mode), the page moves on by itself, with URLs of its
// login's own.
func BenchmarkCodePage(b *testing.B) {
	t := messages.In("en")
	for _, link := range []bool{false, true} {
		name := "code"
		p := idgw.Page{Lang: "en", Look: idgw.Look{Name: "Demo Mobile UK", Color: "#0055aa"}, Title: t.S("otp_title"),
			Assets: "/sms" + idgw.AssetsPath}
		if link {
			name = "link"
			p.Watch, p.Next = "/sms/status?c=cGFnZS10b2tlbi1wYWdlLXRva2Vu", "https://op.example/authorize/continue?session=c2Vzc2lvbi1pZC1zZXNzaW9uLWlk"
		}
		data := newOTPData(t, t.S("otp_lead", "Shop", 6, "+44 ••••• •3456"), "", 10, link, "",
			"https://op.example/authorize/continue?session=c2Vzc2lvbi1pZC1zZXNzaW9uLWlk", 5)
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := p.Render(otpPage, t, data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
