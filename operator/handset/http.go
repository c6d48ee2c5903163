package handset

import (
	"bytes"
	"errors"
	"html/template"
	"net/http"
	"sort"
	"strconv"

	"github.com/gofiber/fiber/v2"
)

// Mount adds the handset's routes under /handset:
//
//	GET  /handset                                 HTML list of inboxes
//	GET  /handset/:msisdn                         HTML inbox (auto-refreshing)
//	GET  /handset/:msisdn/messages                JSON inbox, newest first
//	POST /handset/:msisdn/messages/:id/tap?link=N GET link N (0-based) of the message; JSON TapResult
func (h *Handset) Mount(r fiber.Router) {
	g := r.Group("/handset")
	g.Get("/", h.index)
	g.Get("/:msisdn", h.page)
	g.Get("/:msisdn/messages", h.list)
	g.Post("/:msisdn/messages/:id/tap", h.tap)
}

func problem(c *fiber.Ctx, status int, detail string) error {
	c.Set(fiber.HeaderContentType, "application/problem+json")
	return c.Status(status).JSON(fiber.Map{"type": "about:blank", "title": http.StatusText(status), "status": status, "detail": detail})
}

func (h *Handset) msisdn(c *fiber.Ctx) (string, error) {
	return NormalizeMSISDN(c.Params("msisdn"))
}

func (h *Handset) list(c *fiber.Ctx) error {
	d, err := h.msisdn(c)
	if err != nil {
		return problem(c, fiber.StatusBadRequest, err.Error())
	}
	msgs := h.Messages(d)
	if msgs == nil {
		msgs = []Message{}
	}
	return c.JSON(fiber.Map{"msisdn": d, "messages": msgs})
}

func (h *Handset) tap(c *fiber.Ctx) error {
	d, err := h.msisdn(c)
	if err != nil {
		return problem(c, fiber.StatusBadRequest, err.Error())
	}
	id := string([]byte(c.Params("id")))
	n := 0
	if s := c.Query("link"); s != "" {
		if n, err = strconv.Atoi(s); err != nil {
			return problem(c, fiber.StatusBadRequest, "link must be a number")
		}
	}
	res, err := h.Tap(c.UserContext(), d, id, n)
	switch {
	case errors.Is(err, ErrNoMessage), errors.Is(err, ErrNoLink):
		return problem(c, fiber.StatusNotFound, err.Error())
	case err != nil:
		return problem(c, fiber.StatusBadGateway, err.Error())
	}
	return c.JSON(res)
}

var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="{{.Refresh}}">
<title>{{if .MSISDN}}+{{.MSISDN}} — {{end}}mcfed handset</title>
<style>
body{margin:0;background:#ddd;font:15px/1.4 system-ui,sans-serif}
.phone{max-width:380px;min-height:100vh;margin:0 auto;background:#f7f7f9;box-shadow:0 0 8px #999}
header{background:#223;color:#fff;padding:12px 16px;font-weight:600}
ul{list-style:none;margin:0;padding:8px}
li.sms{background:#fff;border-radius:12px;padding:10px 12px;margin:8px 0;box-shadow:0 1px 2px #bbb}
.meta{color:#667;font-size:12px;margin-bottom:4px}
.text{white-space:pre-wrap;word-wrap:break-word}
form{display:inline}button{margin:6px 6px 0 0;font-size:12px}
.empty{color:#667;padding:16px}
a{color:#0645ad}
</style></head><body><div class="phone">
{{if .MSISDN}}<header>+{{.MSISDN}}</header>
<ul>{{range .Messages}}<li class="sms"><div class="meta">from {{.From}} · {{.ReceivedAt.Format "15:04:05"}} · {{.ID}}</div>
<div class="text">{{.Text}}</div>
{{$id := .ID}}{{range $i, $l := .Links}}<div><a href="{{$l}}" target="_blank" rel="noopener">{{$l}}</a>
<form method="post" action="/handset/{{$.MSISDN}}/messages/{{$id}}/tap?link={{$i}}"><button>tap (as the phone)</button></form></div>{{end}}
</li>{{else}}<li class="empty">No messages yet.</li>{{end}}</ul>
{{else}}<header>mcfed handset</header>
<ul>{{range .Numbers}}<li class="sms"><a href="/handset/{{.}}">+{{.}}</a></li>{{else}}<li class="empty">No messages yet.</li>{{end}}</ul>{{end}}
</div></body></html>
`))

type pageData struct {
	MSISDN   string
	Messages []Message
	Numbers  []string
	Refresh  int
}

func (h *Handset) render(c *fiber.Ctx, d pageData) error {
	d.Refresh = int(h.opt.Refresh.Seconds())
	if d.Refresh < 1 {
		d.Refresh = 1
	}
	var b bytes.Buffer
	if err := pageTmpl.Execute(&b, d); err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	c.Set("Cache-Control", "no-store")
	c.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'")
	return c.Send(b.Bytes())
}

func (h *Handset) page(c *fiber.Ctx) error {
	d, err := h.msisdn(c)
	if err != nil {
		return problem(c, fiber.StatusBadRequest, err.Error())
	}
	return h.render(c, pageData{MSISDN: d, Messages: h.Messages(d)})
}

func (h *Handset) index(c *fiber.Ctx) error {
	nums := h.MSISDNs()
	sort.Strings(nums)
	return h.render(c, pageData{Numbers: nums})
}
