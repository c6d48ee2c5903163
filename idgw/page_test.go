package idgw

import (
	"bytes"
	"testing"
)

// TestRenderIsTheLayout: a page rendered from its kept head and tail is
// byte for byte what executing the whole layout writes, the first time
// and again, with a logo, pages that move on by themselves (each its own
// URLs), and names that must be escaped.
func TestRenderIsTheLayout(t *testing.T) {
	tp := NewPageTemplate("test", `{{define "body"}}<p title="{{.D}}">{{.T.S "continue"}} {{.D}}</p>{{end}}`)
	texts := Texts{Lang: "en", c: Catalogue{"en": {"continue": "Go on"}}}
	for _, p := range []Page{
		{Lang: "en", Title: "Code", Assets: "/sms/assets", Look: Look{Name: "Red", Color: "#aa0000"}},
		{Lang: "de", Title: "Code <1>", Assets: "/sms/assets", Look: Look{Name: `R&D "Mobile"`, Color: "#aa0000", Logo: "https://red.example/logo.svg"}},
		{Lang: "fr", Title: "Attente", Assets: "/assets", Look: Look{Name: "Red", Color: "#ffffff"},
			Watch: "/authorize/status?session=a&b", Next: "/authorize/continue?session=a"},
		// Another login's waiting page: its own URLs, in the same frame.
		{Lang: "fr", Title: "Attente", Assets: "/assets", Look: Look{Name: "Red", Color: "#ffffff"},
			Watch: "/authorize/status?session=c\"d", Next: "/authorize/continue?session=c"},
	} {
		for _, data := range []string{"one <b>", "two & three"} {
			st := styleOf(p.Look.Color)
			var want bytes.Buffer
			if err := tp.ExecuteTemplate(&want, "layout", pageData{P: p, T: texts, D: data, Brand: st.brand}); err != nil {
				t.Fatal(err)
			}
			got, csp, err := p.Render(tp, texts, data)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want.Bytes()) {
				t.Fatalf("rendered\n%s\nthe layout writes\n%s", got, want.Bytes())
			}
			if csp != st.csp {
				t.Fatalf("policy %q, want %q", csp, st.csp)
			}
		}
	}
}
