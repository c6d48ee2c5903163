package sms

import (
	"net/url"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/mcfed/mcfed/idgw"
)

// Mount serves the package's pages on the node's public router, which
// must be mounted at Config.PublicURL's path:
//
//	GET /sms/otp?return=<URL>&c=<page>  the form for the code, posting field "otp" to URL
//	GET /sms/status?c=<page>            whether the SMS's link was tapped (the code page's script polls it)
//	GET /sms/link/:token                the target of the link in the SMS: what is approved, and a form
//	POST /sms/link/:token               the person's answer on the phone: decision=approve|deny, or pick=<number>
//	GET /assets/<file>                  the pages' stylesheet, favicon and script (idgw.MountAssets)
func (a *Authenticator) Mount(r fiber.Router) {
	r.Get("/sms/otp", a.handleOTPPage)
	r.Get("/sms/status", a.handleStatus)
	r.Get("/sms/link/:token", a.handleLink)
	r.Post("/sms/link/:token", a.handleLinkAnswer)
	idgw.MountAssets(r)
}

// Browsers compile the code field's pattern with the v flag, where a "-" in a
// class must be escaped: "[0-9 -]*" is an invalid expression (a console error)
// that validates nothing.
var otpPage = idgw.NewPageTemplate("otp", `{{define "body"}}
{{with .D.Wrong}}<p class="alert" role="alert">{{.}}</p>{{end}}
<p class="lead">{{.D.Lead}}</p>
<form method="post" action="{{.D.Return}}">
<label for="otp">{{.D.Label}}</label>
<input id="otp" name="otp" type="text" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9 \-]*" maxlength="{{.D.Max}}" autofocus{{if not .D.Link}} required{{end}}>
<button type="submit">{{.D.Continue}}</button>
</form>
{{if .D.Link}}<p class="muted" role="status" id="link-hint">{{if .D.Match}}{{.D.LinkMatch}}</p>
<p class="match"><strong id="match">{{.D.Match}}</strong>{{else}}{{.D.LinkText}}{{end}}</p>{{end}}
<p class="muted">{{.D.Valid}}</p>
{{end}}`)

// otpData is the code page's data: its words looked up here rather than
// by the template (a method call through reflection each), since the
// page is rendered at every login.
type otpData struct {
	Lead, Wrong, Match, Return                  string
	Max                                         int
	Link                                        bool
	Label, Continue, LinkMatch, LinkText, Valid string
}

func newOTPData(t idgw.Texts, lead, wrong string, max int, link bool, match, ret string, minutes int) otpData {
	d := otpData{Lead: lead, Wrong: wrong, Max: max, Link: link, Match: match, Return: ret,
		Label: t.S("otp_label"), Continue: t.S("continue"), Valid: t.S("otp_valid", minutes)}
	if link {
		d.LinkMatch, d.LinkText = t.S("otp_link_match"), t.S("otp_link")
	}
	return d
}

// linkPage is what the link in the SMS opens on the phone: who asks, for
// which SP and number, the SP's binding message as its words, and the
// person's answer. Opening it decides nothing (a link preview fetches it
// too): only the form does. When the login started in a browser, the
// person picks the number that browser shows.
var linkPage = idgw.NewPageTemplate("link", `{{define "body"}}
<p class="lead">{{.T.S "link_lead" .D.Operator .D.SP .D.Number}}</p>
{{with .D.Binding}}<p>{{$.T.S "link_binding" $.D.SP}}</p>
<blockquote id="binding">{{.}}</blockquote>{{end}}
<form method="post" action="{{.D.Action}}">
{{if .D.Choices}}<p>{{.T.S "link_pick"}}</p>
<div class="choices">{{range .D.Choices}}<button type="submit" name="pick" value="{{.}}">{{.}}</button>{{end}}</div>
{{else}}<button type="submit" name="decision" value="approve">{{.T.S "link_confirm"}}</button>{{end}}
<button type="submit" name="decision" value="deny" class="secondary">{{.T.S "link_deny"}}</button>
</form>
{{end}}`)

var messagePage = idgw.NewPageTemplate("msg", `{{define "body"}}
<p class="{{if .D.OK}}done{{else}}alert{{end}}" role="status">{{.D.Text}}</p>
{{end}}`)

func (a *Authenticator) handleOTPPage(c *fiber.Ctx) error {
	ret := c.Query("return")
	if !a.underPublic(ret) {
		return a.page(c, fiber.StatusBadRequest, a.defaultView(c), "bad", false)
	}
	v, ok := a.defaultView(c), false
	var attempts int
	if ch, found := a.challenges.byPage(c.UserContext(), c.Query("c")); found && ch.View.Return == ret {
		v, attempts, ok = ch.View.view(), ch.Attempts, true
	}
	t := messages.In(v.lang)
	lead := t.S("otp_lead_any", a.cfg.CodeLength)
	if ok && v.number != "" {
		lead = t.S("otp_lead", v.sp, a.cfg.CodeLength, v.number)
	}
	var wrong string
	switch left := a.cfg.MaxAttempts - attempts; {
	case attempts == 0:
	case left == 1:
		wrong = t.S("otp_wrong_one")
	default:
		wrong = t.S("otp_wrong_many", left)
	}
	p := a.pageOf(v, t.S("otp_title"))
	link := a.cfg.Mode.hasLink()
	match := ""
	if ok {
		match = v.match
	}
	if ok && link {
		// Moves on by itself once the link is tapped: to the gateway, which
		// then finds the challenge answered.
		p.Watch, p.Next = a.public.Path+"/sms/status?c="+url.QueryEscape(c.Query("c")), ret
	}
	body, csp, err := p.Render(otpPage, t, newOTPData(t, lead, wrong, a.cfg.CodeLength+4, link, match, ret, a.validMinutes()))
	if err != nil {
		return err
	}
	return idgw.WritePage(c, fiber.StatusOK, body, csp)
}

// handleStatus answers the code page's script: {"status":"pending"} until
// the link is tapped or the challenge is over.
func (a *Authenticator) handleStatus(c *fiber.Ctx) error {
	status := "answered"
	if ch, ok := a.challenges.byPage(c.UserContext(), c.Query("c")); ok && !ch.over(a.cfg.Now()) && !ch.Tapped {
		status = "pending"
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(fiber.Map{"status": status})
}

// linkState says what the link of token's challenge c shows or answers
// at now: "" when it can be used, or why not (what, a message page, with
// its status).
func (a *Authenticator) linkState(c *challengeRecord, now time.Time) (status int, what string) {
	switch {
	case !now.Before(c.Expires):
		return fiber.StatusGone, "link_expired"
	case c.Tapped || c.Used:
		return fiber.StatusGone, "link_used"
	case c.Locked:
		return fiber.StatusGone, "link_locked"
	case c.Refusal != "":
		return fiber.StatusGone, "link_denied"
	}
	return fiber.StatusOK, ""
}

// linkChallenge finds the challenge of a link's token, and the view of
// its pages (the default one when there is none).
func (a *Authenticator) linkChallenge(c *fiber.Ctx, token string) (id [16]byte, ch *challengeRecord, v view, ok bool) {
	v = a.defaultView(c)
	if len(token) != 43 {
		return id, nil, v, false
	}
	if id, ch, ok = a.challenges.byLink(c.UserContext(), token, !a.cfg.Mode.hasCode()); ok {
		v = ch.View.view()
	}
	return id, ch, v, ok
}

// handleLink shows what the link approves and asks; it decides nothing.
func (a *Authenticator) handleLink(c *fiber.Ctx) error {
	if c.Method() == fiber.MethodHead {
		setHeaders(c)
		return c.SendStatus(fiber.StatusOK)
	}
	token := c.Params("token")
	_, ch, v, ok := a.linkChallenge(c, token)
	if !ok {
		return a.page(c, fiber.StatusNotFound, v, "link_unknown", false)
	}
	if status, what := a.linkState(ch, a.cfg.Now()); what != "" {
		return a.page(c, status, v, what, false)
	}
	t := messages.In(v.lang)
	body, csp, err := a.pageOf(v, t.S("link_title")).Render(linkPage, t, map[string]any{
		"Operator": v.look.Name, "SP": v.sp, "Number": v.number, "Binding": v.binding,
		"Choices": ch.Choices, "Action": a.public.Path + "/sms/link/" + token,
	})
	if err != nil {
		return err
	}
	return idgw.WritePage(c, fiber.StatusOK, body, csp)
}

// handleLinkAnswer takes the person's answer on the phone: approve (or
// the right number picked) marks the challenge answered; deny, or a wrong
// number, ends it. The answer is one update of the stored challenge: of
// the answers to one link on any of the nodes, one counts.
func (a *Authenticator) handleLinkAnswer(c *fiber.Ctx) error {
	pick, decision := c.FormValue("pick"), c.FormValue("decision")
	token := c.Params("token")
	v := a.defaultView(c)
	if len(token) != 43 {
		return a.page(c, fiber.StatusNotFound, v, "link_unknown", false)
	}
	var status int
	var what string
	answer := func(ch *challengeRecord) bool {
		v = ch.View.view()
		if status, what = a.linkState(ch, a.cfg.Now()); what != "" {
			return false
		}
		match := ch.View.Match
		switch {
		case decision == "deny":
			ch.Refusal = "the person refused the sign-in on the phone"
			status, what = fiber.StatusOK, "link_denied"
		case match != "" && pick == match:
			ch.Tapped = true
			status, what = fiber.StatusOK, "link_ok"
		case match != "" && pick != "":
			ch.Refusal = "the person picked another number on the phone than the one the sign-in page showed"
			status, what = fiber.StatusOK, "link_mismatch"
		case match == "" && decision == "approve":
			ch.Tapped = true
			status, what = fiber.StatusOK, "link_ok"
		default:
			status, what = fiber.StatusBadRequest, "bad"
			return false
		}
		return true
	}
	// The challenge is read by the update alone: by the id its link
	// gives when it has no code, else (or when that finds none: an
	// earlier node's) through its link's record.
	found, err := false, error(nil)
	if !a.cfg.Mode.hasCode() {
		found, err = a.challenges.update(c.UserContext(), challengeIDOfLink(token), answer)
	}
	if !found && err == nil {
		id, ok := a.challenges.idOf(c.UserContext(), kindLink, hashToken(token))
		if !ok {
			return a.page(c, fiber.StatusNotFound, v, "link_unknown", false)
		}
		found, err = a.challenges.update(c.UserContext(), id, answer)
	}
	switch {
	case err != nil:
		a.log.Error("state store: recording an answer to an SMS link failed", "error", err)
		status, what = fiber.StatusServiceUnavailable, "unavailable"
	case !found:
		// Gone between the look-up and the answer.
		status, what = fiber.StatusNotFound, "link_unknown"
	}
	return a.page(c, status, v, what, what == "link_ok")
}

// defaultView is what a page shows when it knows no challenge: the
// configured operator name, in the browser's language.
func (a *Authenticator) defaultView(c *fiber.Ctx) view {
	look := idgw.LookOf(nil)
	if a.cfg.OperatorName != "" {
		look.Name = a.cfg.OperatorName
	}
	return view{look: look, lang: idgw.ChooseLanguage("", c.Get(fiber.HeaderAcceptLanguage))}
}

// pageOf is the layout's page for v.
func (a *Authenticator) pageOf(v view, title string) idgw.Page {
	return idgw.Page{Lang: v.lang, Look: v.look, Title: title, Assets: a.public.Path + idgw.AssetsPath}
}

// page answers a message page: what is catalogue's <what>_title and
// <what>_text, the latter with the SP's name.
func (a *Authenticator) page(c *fiber.Ctx, status int, v view, what string, ok bool) error {
	t := messages.In(v.lang)
	text := t.S(what + "_text")
	if what == "link_ok" {
		text = t.S(what+"_text", v.sp)
	}
	body, csp, err := a.pageOf(v, t.S(what+"_title")).Render(messagePage, t, map[string]any{"Text": text, "OK": ok})
	if err != nil {
		return err
	}
	return idgw.WritePage(c, status, body, csp)
}

// setHeaders are the headers of an answer without a page.
func setHeaders(c *fiber.Ctx) {
	c.Set(fiber.HeaderCacheControl, "no-store")
	// The link's token is in the URL: never send it on as a referrer.
	c.Set(fiber.HeaderReferrerPolicy, "no-referrer")
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	c.Set(fiber.HeaderContentSecurityPolicy, "default-src 'none'; frame-ancestors 'none'; base-uri 'none'")
	c.Set("X-Robots-Tag", "noindex")
}
