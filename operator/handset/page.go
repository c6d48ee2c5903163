package handset

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"net/url"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
)

// The handset's pages: a phone-sized inbox per number that updates itself,
// with the messages' links wrapped to the screen and a "tap (as the
// phone)" button that comes back to the inbox with what the tap got.
// Everything they load is served here (static/): CSP allows nothing else.

//go:embed static
var static embed.FS

var staticTypes = map[string]string{".svg": "image/svg+xml", ".css": "text/css; charset=utf-8",
	".js": "text/javascript; charset=utf-8"}

func serveStatic(c *fiber.Ctx) error {
	name := c.Params("file")
	b, err := static.ReadFile("static/" + path.Base(name))
	if err != nil || staticTypes[path.Ext(name)] == "" {
		return problem(c, fiber.StatusNotFound, "no such file")
	}
	c.Set(fiber.HeaderContentType, staticTypes[path.Ext(name)])
	c.Set(fiber.HeaderCacheControl, "max-age=300")
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	return c.Send(b)
}

var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{if .MSISDN}}+{{.MSISDN}} · {{end}}Simulated handset</title>
<link rel="icon" href="/handset/static/icon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/handset/static/handset.css">
<noscript><meta http-equiv="refresh" content="{{.NoScriptRefresh}}"></noscript>
<script src="/handset/static/handset.js" defer></script>
</head><body data-state="{{.State}}" data-refresh="{{.Refresh}}"><div class="phone">
{{if .MSISDN}}<header><h1>+{{.MSISDN}}</h1><p>Simulated handset · <a href="/handset">all numbers</a></p></header>
<main>
{{with .Tapped}}<p class="result banner" role="status" id="tap-result">{{.}}</p>{{end}}
{{with .FIDODone}}<p class="result banner" role="status" id="fido-result">{{.}}</p>{{end}}
{{with .FIDO}}<section class="sim" id="fido-prompt" aria-label="Passkey request"><p class="meta"><span>{{if .Operator}}{{.Operator}} app{{else}}Operator app{{end}} · passkey</span></p>
<p class="text"><strong>{{.SPName}}</strong> asks you to sign in{{if .Message}}: “{{.Message}}”{{end}}. Confirm with your fingerprint to use your passkey.</p>
<form method="post" action="/handset/{{$.MSISDN}}/fido/answer"><button type="submit" name="action" value="confirm" id="fido-confirm">Confirm with fingerprint (simulated)</button>
<button type="submit" name="action" value="decline" id="fido-decline">Not me</button></form></section>{{end}}
{{with .SIM}}<section class="sim" id="sim-prompt" aria-label="SIM prompt"><p class="meta"><span>SIM applet</span></p>
<p class="text"><strong>{{.SPName}}</strong> asks you to sign in{{if .Message}}: “{{.Message}}”{{end}}. {{if .PIN}}Enter your SIM PIN to confirm.{{else}}Press OK to confirm.{{end}}</p>
{{with .Error}}<p class="result bad" role="alert">{{.}}: {{$.SIM.TriesLeft}} tries left</p>{{end}}
<form method="post" action="/handset/{{$.MSISDN}}/sim/answer">{{if .PIN}}<label>PIN <input name="pin" type="password" inputmode="numeric" autocomplete="off" required></label>
<button type="submit" name="action" value="pin">OK</button>{{else}}<button type="submit" name="action" value="ok">OK</button>{{end}}
<button type="submit" name="action" value="cancel" formnovalidate>Cancel</button></form></section>{{end}}
<ul aria-label="Messages">{{range .Messages}}<li class="sms{{if .Expired}} expired{{end}}" id="{{.ID}}">
<p class="meta"><span>from <strong>{{.From}}</strong></span><span>{{.ReceivedAt.Format "15:04:05"}}</span>{{if .Expired}}<span class="tag">expired</span>{{end}}</p>
<p class="text">{{.Text}}</p>
{{$m := .}}{{range $i, $l := .Links}}<p class="link"><a href="{{$l}}" target="_blank" rel="noopener">{{$l}}</a></p>
<form method="post" action="/handset/{{$.MSISDN}}/tap"><input type="hidden" name="message" value="{{$m.ID}}"><input type="hidden" name="link" value="{{$i}}">
<button type="submit" aria-label="Tap link {{$i}} as the phone">tap (as the phone)</button></form>{{end}}
{{with .Result}}<p class="result{{if .Bad}} bad{{end}}" role="status">{{.Text}}</p>{{end}}
</li>{{else}}<li class="empty">No messages yet. They appear here by themselves.</li>{{end}}</ul>
</main>
{{else}}<header><h1>Simulated handset</h1><p>The demo numbers' SMS</p></header>
<main><ul class="numbers" aria-label="Numbers">{{range .Numbers}}<li><a href="/handset/{{.}}">+{{.}}</a></li>{{else}}<li class="empty">No messages yet. Numbers appear here when their first SMS arrives or their SIM is added.</li>{{end}}</ul></main>{{end}}
</div></body></html>
`))

type pageData struct {
	MSISDN   string
	Messages []messageView
	Numbers  []string
	Tapped   string      // what the tap just made said, at the top
	SIM      *SIMPrompt  // the SIM applet's prompt, when it shows one
	FIDO     *FIDOPrompt // a login pushed to the phone's passkey, when one shows
	FIDODone string      // what answering the last one did, at the top
	State    string      // changes whenever the page would show something else
	Refresh  int         // seconds between the script's looks
	// NoScriptRefresh is slower: a full reload loses the place on the page.
	NoScriptRefresh int
}

// messageView is a message as the page shows it.
type messageView struct {
	Message
	Expired bool
	Result  *tapView
}

type tapView struct {
	Text string
	Bad  bool
}

// describeTap says in words what a tap got: the heading of the page the
// phone's browser showed, or why it showed none.
func describeTap(r *TapResult) *tapView {
	switch {
	case r == nil:
		return nil
	case r.Error != "":
		return &tapView{Text: "Tapped: the link could not be opened (" + r.Error + ").", Bad: true}
	case r.Title != "":
		return &tapView{Text: fmt.Sprintf("Tapped: the phone shows “%s” (HTTP %d).", r.Title, r.Status), Bad: r.Status >= 400}
	}
	return &tapView{Text: fmt.Sprintf("Tapped: the page answered HTTP %d.", r.Status), Bad: r.Status >= 400}
}

func (h *Handset) render(c *fiber.Ctx, d pageData) error {
	d.Refresh = max(int(h.opt.Refresh.Seconds()), 1)
	d.NoScriptRefresh = 5 * d.Refresh
	var b bytes.Buffer
	if err := pageTmpl.Execute(&b, d); err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	c.Set(fiber.HeaderContentSecurityPolicy, "default-src 'none'; script-src 'self'; connect-src 'self'; "+
		"style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	return c.Send(b.Bytes())
}

func (h *Handset) page(c *fiber.Ctx) error {
	d, err := h.msisdn(c)
	if err != nil {
		return problem(c, fiber.StatusBadRequest, err.Error())
	}
	now := time.Now()
	data := pageData{MSISDN: d}
	var state strings.Builder
	for _, m := range h.Messages(d) {
		v := messageView{Message: m, Expired: now.Sub(m.ReceivedAt) >= h.opt.Expiry, Result: describeTap(m.Tapped)}
		fmt.Fprintf(&state, "%s:%t:%t;", m.ID, v.Expired, m.Tapped != nil)
		if m.ID == c.Query("tapped") && v.Result != nil {
			// Said once, at the top, where the person looks after the tap.
			data.Tapped, v.Result = v.Result.Text, nil
		}
		data.Messages = append(data.Messages, v)
	}
	if p, ok := h.FIDOPrompt(d); ok {
		data.FIDO = &p
		fmt.Fprintf(&state, "fido:%s;", p.ID)
	}
	data.FIDODone = fidoDone[c.Query("fido")]
	if p, ok := h.SIMPrompt(d); ok {
		data.SIM = &p
		fmt.Fprintf(&state, "sim:%s:%d;", p.ID, p.TriesLeft)
	}
	data.State = state.String()
	return h.render(c, data)
}

// fidoDone says what answering a pushed login did.
var fidoDone = map[string]string{
	"signed":   "Passkey used: the gateway accepted it.",
	"declined": "You said no: the gateway was told.",
	"refused":  "The gateway did not accept the passkey.",
	"over":     "That sign-in had already ended.",
}

func (h *Handset) index(c *fiber.Ctx) error {
	nums := h.MSISDNs()
	sort.Strings(nums)
	return h.render(c, pageData{Numbers: nums, State: strings.Join(nums, ",")})
}

// tapForm taps a link as the phone would, for the page's button, and goes
// back to the inbox, where the message shows what the tap got.
func (h *Handset) tapForm(c *fiber.Ctx) error {
	d, err := h.msisdn(c)
	if err != nil {
		return problem(c, fiber.StatusBadRequest, err.Error())
	}
	id := c.FormValue("message")
	n, err := strconv.Atoi(c.FormValue("link"))
	if err != nil {
		return problem(c, fiber.StatusBadRequest, "link must be a number")
	}
	// A failed tap is recorded on the message too: the inbox says why.
	if _, err := h.Tap(c.UserContext(), d, id, n); errors.Is(err, ErrNoMessage) || errors.Is(err, ErrNoLink) {
		return problem(c, fiber.StatusNotFound, err.Error())
	}
	return c.Redirect("/handset/"+d+"?tapped="+url.QueryEscape(id)+"#"+url.QueryEscape(id), fiber.StatusSeeOther)
}
