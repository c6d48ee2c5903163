package demosp

import (
	"bytes"
	"embed"
	"html/template"
	"net/http"
	"path"
	"strings"
)

// The SP's pages: server-rendered HTML that works without script, with
// its style sheet and icon served here (static/), so that the CSP allows
// nothing from anywhere else.

//go:embed static
var static embed.FS

var staticTypes = map[string]string{".svg": "image/svg+xml", ".css": "text/css; charset=utf-8"}

func serveStatic(w http.ResponseWriter, r *http.Request) {
	name := path.Base(r.PathValue("file"))
	b, err := static.ReadFile("static/" + name)
	if err != nil || staticTypes[path.Ext(name)] == "" {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", staticTypes[path.Ext(name)])
	w.Header().Set("Cache-Control", "max-age=300")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Write(b)
}

// homeView is the SP's login page.
type homeView struct {
	MSISDN  string
	Choices choices
	Error   string // what the person must fix
	Notice  string // what the person must do next
}

// homeData is homeView with what every home page shows.
type homeData struct {
	homeView
	Name      string
	Numbers   []string
	Handset   string
	Products  []product
	KYCFields []kycField
}

type kycField struct{ Claim, Label, Value string }

func (s *SP) renderHome(w http.ResponseWriter, status int, v homeView) {
	d := homeData{homeView: v, Name: s.cfg.Name, Numbers: s.cfg.DemoNumbers, Handset: s.cfg.HandsetURL, Products: products}
	for _, f := range kycFields {
		d.KYCFields = append(d.KYCFields, kycField{Claim: f.Claim, Label: f.Label, Value: v.Choices.KYC[f.Claim]})
	}
	s.render(w, status, spHome, d)
}

func (s *SP) render(w http.ResponseWriter, status int, t *template.Template, data any) {
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		http.Error(w, "page error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	// The login form posts here, and the answer sends the browser to an
	// operator's gateway or the selection page: form-action would block
	// that redirect in Chromium, so it is left out.
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	w.Write(b.Bytes())
}

var funcs = template.FuncMap{"hasSuffix": strings.HasSuffix}

const pageHead = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="/static/icon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/static/sp.css">
`

const brand = `<p class="brand"><img src="/static/icon.svg" alt=""> Demo Shop</p>`

var spHome = template.Must(template.New("home").Funcs(funcs).Parse(pageHead + `<title>Log in · {{.Name}}</title></head><body><main>
` + brand + `
<div class="card">
<h1>Log in to {{.Name}}</h1>
<p class="muted">This shop is the demo federation's service provider. It does what an SP integrating Mobile Connect does: discovery, the operator's login, then the ID token and the answers, shown to you at the end.</p>
{{with .Error}}<p class="error" role="alert" id="error">{{.}}</p>{{end}}
{{with .Notice}}<p class="notice" role="status" id="notice">{{.}}</p>{{end}}
<form method="post" action="/login">
<div class="field">
<label for="msisdn">Your mobile number <span class="muted">(optional)</span></label>
<input id="msisdn" name="msisdn" type="tel" autocomplete="tel" list="demo-numbers" aria-describedby="msisdn-hint"{{with .Numbers}} placeholder="{{index . 0}}"{{end}} value="{{.MSISDN}}">
<datalist id="demo-numbers">{{range .Numbers}}<option value="{{.}}">{{end}}</datalist>
<p class="muted" id="msisdn-hint">Leave it empty to choose your operator instead. Demo numbers: {{range $i, $n := .Numbers}}{{if $i}}, {{end}}<code>{{$n}}</code>{{end}}.
Their SMS arrive on the <a href="{{.Handset}}">simulated handset</a>.</p>
</div>
<fieldset><legend>What the shop asks for</legend>
{{$chosen := .Choices.Product.ID}}{{range .Products}}<div class="option"><input type="radio" name="product" id="product-{{.ID}}" value="{{.ID}}"{{if eq .ID $chosen}} checked{{end}} aria-describedby="product-{{.ID}}-hint">
<label for="product-{{.ID}}">{{.Label}}<span class="muted" id="product-{{.ID}}-hint">{{.Hint}} · <code>{{range $i, $s := .Scopes}}{{if $i}} {{end}}{{$s}}{{end}}</code></span></label></div>
{{end}}</fieldset>
<details{{if eq $chosen "kyc"}} open{{end}}><summary>KYC match: what the shop holds about you</summary>
<div class="cols">{{range .KYCFields}}<div class="field"><label for="kyc_{{.Claim}}">{{.Label}}</label>
<input type="text" id="kyc_{{.Claim}}" name="kyc_{{.Claim}}" value="{{.Value}}"></div>{{end}}</div>
</details>
<details{{if eq $chosen "authz"}} open{{end}}><summary>Authorisation: what you approve</summary>
<div class="field"><label for="context">What you authorise</label>
<input type="text" id="context" name="context" maxlength="256" value="{{.Choices.Context}}"></div>
<div class="field"><label for="binding_message">Binding message <span class="muted">(shown on both screens)</span></label>
<input type="text" id="binding_message" name="binding_message" maxlength="128" value="{{.Choices.Binding}}"></div>
</details>
<fieldset><legend>Level of assurance</legend>
<div class="option"><input type="radio" name="acr" id="acr-2" value="2"{{if eq .Choices.ACR "2"}} checked{{end}}>
<label for="acr-2">2: you have the phone <span class="muted">an SMS code or link</span></label></div>
<div class="option"><input type="radio" name="acr" id="acr-3" value="3"{{if eq .Choices.ACR "3"}} checked{{end}}>
<label for="acr-3">3: you have the phone and know its PIN, or use your passkey <span class="muted">only where the operator's metadata offers it, and the subscriber has such an authenticator</span></label></div>
</fieldset>
<button class="go" type="submit">Log in with Mobile Connect</button>
</form></div>
</main></body></html>
`))

var spResult = template.Must(template.New("result").Funcs(funcs).Parse(pageHead + `<title>Logged in · Demo Shop</title></head><body><main>
` + brand + `
<div class="card">
<h1>Logged in with Mobile Connect</h1>
<p class="ok" role="status">{{.Operator}} authenticated you at level {{.ACR}} for <strong>{{.Product.Label}}</strong>.</p>
<p class="muted">The ID token's signature was verified with the key <code>{{.Kid}}</code> ({{.Alg}}) of {{.Issuer}}'s JWKS; iss, aud, exp and nonce match this login.</p>
<h2>ID token claims</h2>
<table id="id-token">{{range .Claims}}<tr><th scope="row">{{.Name}}</th><td>{{.Value}}</td></tr>
{{end}}</table>
<details><summary>The ID token as received</summary><pre>{{.Header}}</pre><pre>{{.IDToken}}</pre></details>
<h2>userinfo</h2>
<table id="userinfo">{{range .UserInfo}}<tr><th scope="row">{{.Name}}</th><td>{{.Value}}</td></tr>
{{end}}</table>
{{if .Product.Premium}}<h2>premiuminfo</h2>
<table id="premiuminfo">{{range .PremiumInfo}}<tr><th scope="row">{{.Name}}</th><td{{if hasSuffix .Name "_match"}} class="match-{{.Value}}"{{end}}>{{.Value}}</td></tr>
{{else}}<tr><td>nothing released</td></tr>{{end}}</table>{{end}}
<p><a href="/">Log in again</a></p>
</div></main></body></html>
`))

var spError = template.Must(template.New("error").Parse(pageHead + `<title>{{.Title}} · Demo Shop</title></head><body><main>
` + brand + `
<div class="card">
<h1>{{.Title}}</h1><p class="error" role="alert" id="error">{{.Message}}</p>
{{with .Detail}}<details><summary>What happened (for developers)</summary><pre>{{.}}</pre></details>{{end}}
<p><a href="/">Start again</a></p>
</div></main></body></html>
`))
