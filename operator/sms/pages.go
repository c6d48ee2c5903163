package sms

import (
	"bytes"
	"html/template"

	"github.com/gofiber/fiber/v2"
)

// Mount serves the package's pages on the node's public router, which
// must be mounted at Config.PublicURL's path:
//
//	GET /sms/otp?return=<URL>  the form for the code, posting field "otp" to URL
//	GET /sms/link/:token       the target of the link in the SMS
func (a *Authenticator) Mount(r fiber.Router) {
	r.Get("/sms/otp", a.handleOTPPage)
	r.Get("/sms/link/:token", a.handleLink)
}

var pageStyle = template.CSS(`body{font-family:system-ui,sans-serif;max-width:24em;margin:2em auto;padding:0 1em;line-height:1.4}` +
	`input{font-size:1.6em;letter-spacing:.2em;width:100%;box-sizing:border-box;padding:.3em;text-align:center}` +
	`button{font-size:1.2em;width:100%;margin-top:1em;padding:.5em}`)

// Browsers compile the code field's pattern with the v flag, where a "-" in a
// class must be escaped: "[0-9 -]*" is an invalid expression (a console error)
// that validates nothing.
var otpPage = template.Must(template.New("otp").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{with .Operator}}{{.}}: {{end}}enter your code</title>
<style>{{.Style}}</style>
</head><body>
<h1>Enter your code</h1>
<p>We sent a {{.Length}}-digit code by SMS to your phone.{{if .Link}} You can also tap the link in that SMS, then press Continue.{{end}}</p>
<form method="post" action="{{.Return}}">
<label for="otp">Code</label>
<input id="otp" name="otp" type="text" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9 \-]*" maxlength="{{.Max}}" autofocus{{if not .Link}} required{{end}}>
<button type="submit">Continue</button>
</form>
</body></html>
`))

var messagePage = template.Must(template.New("msg").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>{{.Style}}</style>
</head><body><h1>{{.Title}}</h1><p>{{.Text}}</p></body></html>
`))

func (a *Authenticator) handleOTPPage(c *fiber.Ctx) error {
	ret := c.Query("return")
	if !a.underPublic(ret) {
		return a.page(c, fiber.StatusBadRequest, "This page cannot be used",
			"The sign-in request is not valid. Go back to the app or site and start again.")
	}
	var b bytes.Buffer
	err := otpPage.Execute(&b, map[string]any{
		"Operator": a.cfg.OperatorName, "Style": pageStyle, "Length": a.cfg.CodeLength,
		"Max": a.cfg.CodeLength + 4, "Link": a.cfg.Mode.hasLink(), "Return": ret,
	})
	if err != nil {
		return err
	}
	return a.send(c, fiber.StatusOK, b.Bytes())
}

func (a *Authenticator) handleLink(c *fiber.Ctx) error {
	if c.Method() == fiber.MethodHead {
		// A link preview must not use the link up.
		setHeaders(c)
		return c.SendStatus(fiber.StatusOK)
	}
	token := c.Params("token")
	if len(token) != 43 {
		return a.page(c, fiber.StatusNotFound, "Unknown link", "This sign-in link is not valid.")
	}
	h := hashToken(token)
	now := a.cfg.Now()
	a.st.mu.Lock()
	l, ok := a.st.links[h]
	var ch *challengeEntry
	if ok {
		ch = a.st.challenges[l.challenge]
	}
	var status int
	var title, text string
	switch {
	case !ok:
		status, title, text = fiber.StatusNotFound, "Unknown link", "This sign-in link is not valid."
	case !now.Before(l.expires):
		status, title, text = fiber.StatusGone, "Link expired", "This sign-in link has expired. Start again in the app or site."
	case l.tapped || ch == nil || ch.used:
		status, title, text = fiber.StatusGone, "Link already used", "This sign-in link has already been used. Start again in the app or site if you need to."
	case ch.locked:
		status, title, text = fiber.StatusGone, "Sign-in ended", "This sign-in was stopped after too many wrong codes. Start again in the app or site."
	default:
		l.tapped = true
		status, title, text = fiber.StatusOK, "You are signed in", "You are signed in to "+l.spName+". Return to the app or site to continue."
	}
	a.st.mu.Unlock()
	return a.page(c, status, title, text)
}

func (a *Authenticator) page(c *fiber.Ctx, status int, title, text string) error {
	var b bytes.Buffer
	if err := messagePage.Execute(&b, map[string]any{"Title": title, "Text": text, "Style": pageStyle}); err != nil {
		return err
	}
	return a.send(c, status, b.Bytes())
}

func (a *Authenticator) send(c *fiber.Ctx, status int, body []byte) error {
	setHeaders(c)
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return c.Status(status).Send(body)
}

func setHeaders(c *fiber.Ctx) {
	c.Set(fiber.HeaderCacheControl, "no-store")
	// The link's token is in the URL: never send it on as a referrer.
	c.Set(fiber.HeaderReferrerPolicy, "no-referrer")
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	// No form-action: the code form posts to the gateway's own continue
	// endpoint, which answers with a redirect to the SP's redirect_uri, and
	// Chromium applies form-action to every hop of a form's redirects, so
	// 'self' blocked the last step of every login. The form's target is
	// fixed by the server (underPublic) and the pages run no script.
	c.Set(fiber.HeaderContentSecurityPolicy, "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'")
	c.Set("X-Robots-Tag", "noindex")
}
