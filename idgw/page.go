package idgw

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"html/template"
	"mime"
	"path"
	"sync"
	"sync/atomic"

	"github.com/gofiber/fiber/v2"
)

// The one look of every page a person sees on an operator's node: the
// gateway's (waiting, consent, ended, error) and the authenticators' (the
// SMS code page, the link's page). Each page is a body template in the
// common layout, which brings the shared stylesheet, the favicon, the
// operator's name, logo and colour, and, for pages that move on by
// themselves, the waiting script. All are static files served by the node
// (AssetsPath): the pages run no inline script, so their policy allows only
// the node's own script.

// AssetsPath is where the pages' static files are served, under the
// issuer (Gateway.Mount) or an authenticator's public URL (MountAssets).
const AssetsPath = "/assets"

//go:embed assets
var assets embed.FS

// MountAssets serves the pages' static files (stylesheet, favicon, waiting
// script) at AssetsPath on r.
func MountAssets(r fiber.Router) {
	r.Get(AssetsPath+"/:name", func(c *fiber.Ctx) error {
		name := c.Params("name")
		body, err := assets.ReadFile("assets/" + path.Base(name))
		if err != nil {
			return c.SendStatus(fiber.StatusNotFound)
		}
		c.Set(fiber.HeaderContentType, mime.TypeByExtension(path.Ext(name)))
		c.Set(fiber.HeaderCacheControl, "public, max-age=3600")
		c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
		return c.Send(body)
	})
}

// Page is one page in the common layout.
type Page struct {
	// Lang is the page's language ("en", "de", "fr").
	Lang string
	Look Look
	// Title is the page's heading and title.
	Title string
	// Assets is the URL of the static files: a base URL + AssetsPath.
	Assets string
	// Watch, when set, is the URL of a JSON status the waiting script
	// polls ({"status":"pending"} until the person has answered); the page
	// then navigates to Next.
	Watch, Next string
}

// layout is the common layout; a page's template defines "body" and may
// use .P (the Page), .T (its Texts) and .D (its data). Its "head", "main"
// and "tail", all but the body, depend on the Page alone, and only "main"
// on the URLs of Page.Watch and Page.Next: Render makes the others once
// per page template and Page (frames).
var layout = template.Must(template.New("layout").Parse(`{{define "head"}}<!DOCTYPE html>
<html lang="{{.P.Lang}}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{{.P.Title}} · {{.P.Look.Name}}</title>
<link rel="icon" href="{{.P.Assets}}/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="{{.P.Assets}}/gateway.css">
<style>{{.Brand}}</style>
{{- if .P.Watch}}
<script src="{{.P.Assets}}/wait.js" defer></script>{{end}}
</head><body>
<header class="brand">{{with .P.Look.LogoURL}}<img class="logo" src="{{.}}" alt="">{{end}}<span class="operator">{{.P.Look.Name}}</span></header>
{{end}}{{define "main"}}<main{{if .P.Watch}} data-watch="{{.P.Watch}}" data-next="{{.P.Next}}"{{end}}>
<h1>{{.P.Title}}</h1>
{{end}}{{define "tail"}}
</main>
<footer>Mobile Connect · {{.P.Look.Name}}</footer>
</body></html>
{{end}}{{template "head" .}}{{template "main" .}}{{template "body" .}}{{template "tail" .}}`))

// NewPageTemplate is the layout with body, a template that defines
// "body".
func NewPageTemplate(name, body string) *template.Template {
	return template.Must(template.Must(layout.Clone()).New(name).Parse(body))
}

// pageData is what a page's templates are executed with.
type pageData struct {
	P     Page
	T     Texts
	D     any
	Brand template.CSS
}

// Render executes t (from NewPageTemplate) for p with texts and data, and
// returns the page and its Content-Security-Policy. The one inline style,
// the operator's colours, is allowed by its hash.
//
// The page is what "layout" writes, but its frame is kept per page
// template and Page (a login's code page is rendered at every login with
// the same few), and only the body, the login's own words, and a waiting
// page's URLs are executed each time.
func (p Page) Render(t *template.Template, texts Texts, data any) (body []byte, csp string, err error) {
	st := styleOf(p.Look.Color)
	d := pageData{P: p, T: texts, D: data, Brand: st.brand}
	f, err := frameOf(t, &d)
	if err != nil {
		return nil, "", err
	}
	b := bytes.NewBuffer(make([]byte, 0, len(f.head)+len(f.main)+bodySize+len(f.tail)))
	b.Write(f.head)
	if p.Watch != "" {
		err = t.ExecuteTemplate(b, "main", d)
	} else {
		b.Write(f.main)
	}
	if err == nil {
		err = t.ExecuteTemplate(b, "body", d)
	}
	if err != nil {
		return nil, "", err
	}
	b.Write(f.tail)
	return b.Bytes(), st.csp, nil
}

// frame is a page's layout but its body, as "layout" writes it; main is
// empty for a page that moves on by itself (its URLs are the login's).
type frame struct{ head, main, tail []byte }

// frameKey is what a frame depends on: the page template and its Page,
// whose Watch and Next only say whether the page moves on by itself.
type frameKey struct {
	t     *template.Template
	p     Page
	watch bool
}

// frames keeps the frames made, up to maxFrames: a page template's for
// each operator's look, language and title.
var (
	frames     sync.Map // frameKey -> frame
	frameCount atomic.Int32
)

const maxFrames = 1024

func frameOf(t *template.Template, d *pageData) (frame, error) {
	key := frameKey{t: t, p: d.P, watch: d.P.Watch != ""}
	key.p.Watch, key.p.Next = "", ""
	if v, ok := frames.Load(key); ok {
		return v.(frame), nil
	}
	var head, main, tail bytes.Buffer
	if err := t.ExecuteTemplate(&head, "head", d); err != nil {
		return frame{}, err
	}
	if !key.watch {
		if err := t.ExecuteTemplate(&main, "main", d); err != nil {
			return frame{}, err
		}
	}
	if err := t.ExecuteTemplate(&tail, "tail", d); err != nil {
		return frame{}, err
	}
	f := frame{head.Bytes(), main.Bytes(), tail.Bytes()}
	if frameCount.Load() < maxFrames {
		if _, loaded := frames.LoadOrStore(key, f); !loaded {
			frameCount.Add(1)
		}
	}
	return f, nil
}

// bodySize is room for a page's body (the code page's is under 1 kB), so
// that rendering one grows no buffer.
const bodySize = 1 << 10

// pageStyle is the inline style of an operator's colour and the policy
// that allows it.
type pageStyle struct {
	brand template.CSS
	csp   string
}

// styles keeps each colour's pageStyle: a colour is an operator's, a few
// per node, and its style and policy's hash are the same at every page.
var styles sync.Map // Look.Color -> pageStyle

// maxStyles bounds styles: past it (colours changed many times over) a
// style is made per page, as before it was kept.
const maxStyles = 256

var styleCount atomic.Int32

func styleOf(color string) pageStyle {
	if v, ok := styles.Load(color); ok {
		return v.(pageStyle)
	}
	look := Look{Color: color}
	brand := ":root{--brand:" + color + ";--on-brand:" + look.OnColor() + "}"
	sum := sha256.Sum256([]byte(brand))
	st := pageStyle{brand: template.CSS(brand),
		csp: "default-src 'none'; style-src 'self' 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'; " +
			"img-src 'self' https: data:; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"}
	if styleCount.Load() < maxStyles {
		if _, loaded := styles.LoadOrStore(color, st); !loaded {
			styleCount.Add(1)
		}
	}
	return st
}

// WritePage answers c with a rendered page and the headers every page
// gets. A page a person reads on the way of a login is status 200: the
// browser reports any other as an error.
// No form-action: a form on these pages posts to the gateway, which
// redirects to the SP's redirect_uri, and Chromium applies form-action to
// every hop of a form's redirects.
func WritePage(c *fiber.Ctx, status int, body []byte, csp string) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	c.Set(fiber.HeaderContentSecurityPolicy, csp)
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	c.Set(fiber.HeaderXFrameOptions, "DENY")
	c.Set(fiber.HeaderReferrerPolicy, "no-referrer")
	c.Set("X-Robots-Tag", "noindex")
	return c.Status(status).Send(body)
}
