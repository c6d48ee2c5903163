package demosp

import (
	"bytes"
	"html/template"
	"net/http"
)

func errorPage(title, detail string) map[string]string {
	return map[string]string{"Title": title, "Detail": detail}
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
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
	w.WriteHeader(status)
	w.Write(b.Bytes())
}

const spStyle = `body{font-family:system-ui,sans-serif;max-width:40em;margin:2em auto;padding:0 1em;line-height:1.4}` +
	`input{font-size:1.3em;width:100%;box-sizing:border-box;padding:.3em}` +
	`button{font-size:1.1em;margin-top:1em;padding:.5em 1em}.error{color:#a00}.hint{color:#556}` +
	`table{border-collapse:collapse;width:100%}th,td{text-align:left;border-bottom:1px solid #ddd;padding:.3em;vertical-align:top}` +
	`td{word-break:break-all;font-family:monospace}`

var spHome = template.Must(template.New("home").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Name}}</title><style>` + spStyle + `</style></head><body>
<h1>{{.Name}}</h1>
{{with .Error}}<p class="error" role="alert">{{.}}</p>{{end}}
<form method="post" action="/login">
<label for="msisdn">Your mobile number</label>
<input id="msisdn" name="msisdn" type="tel" required autocomplete="tel" list="demo-numbers"{{with .Numbers}} placeholder="{{index . 0}}"{{end}} value="{{.MSISDN}}">
<datalist id="demo-numbers">{{range .Numbers}}<option value="{{.}}">{{end}}</datalist>
<p class="hint">Demo numbers: {{range $i, $n := .Numbers}}{{if $i}}, {{end}}<code>{{$n}}</code>{{end}}.
Their SMS arrive on the <a href="{{.Handset}}">simulated handset</a>.</p>
<button type="submit">Log in with Mobile Connect</button>
</form></body></html>
`))

var spResult = template.Must(template.New("result").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Logged in with Mobile Connect</title><style>` + spStyle + `</style></head><body>
<h1>Logged in with Mobile Connect</h1>
<p>{{.Operator}} authenticated you. The ID token's signature was verified with the key {{.Kid}} ({{.Alg}}) of
{{.Issuer}}'s JWKS; iss, aud, exp and nonce match this login.</p>
<h2>ID token claims</h2>
<table id="id-token">{{range .Claims}}<tr><th>{{.Name}}</th><td>{{.Value}}</td></tr>
{{end}}</table>
<h2>userinfo</h2>
<table id="userinfo">{{range .UserInfo}}<tr><th>{{.Name}}</th><td>{{.Value}}</td></tr>
{{end}}</table>
<p><a href="/">Log in again</a></p>
</body></html>
`))

var spError = template.Must(template.New("error").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title><style>` + spStyle + `</style></head><body>
<h1>{{.Title}}</h1><p class="error" role="alert">{{.Detail}}</p><p><a href="/">Start again</a></p>
</body></html>
`))
