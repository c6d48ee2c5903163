package idgw

import (
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
)

// The gateway's own pages, in the common layout (page.go): waiting for the
// phone, consent, a login that ended, and the page of a request that cannot
// go back to its SP.

var waitingPage = NewPageTemplate("wait", `{{define "body"}}
<div class="spinner" role="presentation"></div>
<p class="lead">{{.T.S "wait_text" .D.SP .D.Number}}</p>
{{with .D.Match}}<p class="match" id="match">{{$.T.S "wait_match"}} <strong>{{.}}</strong></p>{{end}}
<p class="muted" role="status">{{.T.S "wait_auto"}}</p>
<noscript><p>{{.T.S "wait_noscript"}}</p>
<a class="button" href="{{.P.Next}}">{{.T.S "continue"}}</a></noscript>
{{end}}`)

var consentPage = NewPageTemplate("consent", `{{define "body"}}
<p class="lead">{{.T.S "consent_intro" .D.SP .P.Look.Name}}</p>
<ul class="share">{{range .D.Items}}<li>{{.}}</li>{{end}}</ul>
<p class="muted">{{.T.S "consent_note" .D.SP}}</p>
<form method="post" action="{{.D.Action}}" class="actions">
<button type="submit" name="decision" value="deny" class="secondary">{{.T.S "consent_deny"}}</button>
<button type="submit" name="decision" value="allow">{{.T.S "consent_allow"}}</button>
</form>
{{end}}`)

var endedPage = NewPageTemplate("ended", `{{define "body"}}
<p class="alert" role="alert">{{.D.Text}}</p>
{{with .D.Retry}}<p>{{.}}</p>{{end}}
<a class="button" href="{{.D.Back}}">{{.T.S "back_to" .D.SP}}</a>
<details><summary>{{.T.S "error_detail"}}</summary>
<p>{{.T.S "error_code"}}: <code>{{.D.Code}}</code></p>
<p><code>{{.D.Description}}</code></p></details>
{{end}}`)

var errorPage = NewPageTemplate("error", `{{define "body"}}
<p class="alert" role="alert">{{.D.Description}}</p>
<p>{{.T.S "error_what"}}</p>
<details open><summary>{{.T.S "error_detail"}}</summary>
<p>{{.T.S "error_code"}}: <code>{{.D.Code}}</code></p>
{{with .D.CorrelationID}}<p>{{$.T.S "error_ref"}}: <code>{{.}}</code></p>{{end}}
</details>
{{end}}`)

var logoutPage = NewPageTemplate("logout", `{{define "body"}}
<p class="lead">{{.T.S "logout_text" .P.Look.Name}}</p>
<form method="post" action="{{.D.Action}}" class="actions">
<input type="hidden" name="l" value="{{.D.ID}}">
<button type="submit" name="decision" value="stay" class="secondary">{{.T.S "logout_stay"}}</button>
<button type="submit" name="decision" value="logout">{{.T.S "logout_confirm"}}</button>
</form>
{{end}}`)

var signedOutPage = NewPageTemplate("signed-out", `{{define "body"}}
<p class="{{if .D.Kept}}lead{{else}}done{{end}}" role="status">{{.D.Text}}</p>
{{end}}`)

var servicesPage = NewPageTemplate("services", `{{define "body"}}
{{with .D.Notice}}<p class="done" role="status">{{.}}</p>{{end}}
<p class="lead">{{.T.S "services_intro" .D.Number}}</p>
{{range .D.Items}}<section class="service">
<h2>{{.SP}}</h2>
<ul class="share">{{range .Lines}}<li>{{.}}</li>{{end}}</ul>
<p class="muted">{{.Since}}</p>
<form method="post" action="{{$.D.Action}}">
<input type="hidden" name="action" value="withdraw">
<input type="hidden" name="client_id" value="{{.ClientID}}">
<input type="hidden" name="csrf" value="{{$.D.CSRF}}">
<button type="submit" class="secondary">{{$.T.S "services_withdraw"}}</button>
</form></section>
{{else}}<p>{{.T.S "services_none"}}</p>{{end}}
{{if .D.Items}}<p class="muted">{{.T.S "services_note"}}</p>{{end}}
{{if .D.Passkeys}}<section class="service passkeys">
<h2>{{.T.S "services_passkeys"}}</h2>
<p>{{.T.S "services_passkeys_text"}}</p>
<form method="post" action="{{.D.Action}}">
<input type="hidden" name="action" value="passkeys">
<input type="hidden" name="csrf" value="{{.D.CSRF}}">
<button type="submit">{{.T.S "services_passkey_add"}}</button>
<button type="submit" class="secondary">{{.T.S "services_passkeys_manage"}}</button>
</form></section>{{end}}
{{end}}`)

var servicesSignInPage = NewPageTemplate("services-signin", `{{define "body"}}
{{with .D.Error}}<p class="alert" role="alert">{{.}}</p>{{end}}
<p class="lead">{{.T.S "services_signin"}}</p>
<form method="post" action="{{.D.Action}}">
<input type="hidden" name="action" value="signin">
<label for="number">{{.T.S "services_number"}}</label>
<input type="tel" id="number" name="number" autocomplete="tel" inputmode="tel" required>
<button type="submit">{{.T.S "continue"}}</button>
</form>
{{end}}`)

// page is the common layout's Page for a page of this gateway.
func (g *Gateway) page(pc pageContext, title string) Page {
	return Page{Lang: pc.lang, Look: pc.look, Title: title, Assets: g.assetsPath()}
}

// assetsPath is where Mount serves the static files: a path on the
// issuer's origin, so that the pages name no other address.
func (g *Gateway) assetsPath() string {
	p := "/"
	if u, err := url.Parse(g.cfg.Issuer); err == nil && u.Path != "" {
		p = u.Path
	}
	return strings.TrimRight(p, "/") + AssetsPath
}

// writeWaitingPage is shown while an out-of-band authenticator waits for
// the person: its script polls the login's status and goes on to the
// continue URL once the person answered; without script, Continue does.
// A headless SDK re-polls the authorize URL instead and ignores it.
func (g *Gateway) writeWaitingPage(c *fiber.Ctx, continueURL string, pc pageContext) error {
	t := messages.In(pc.lang)
	p := g.page(pc, t.S("wait_title"))
	p.Next = continueURL
	if u, err := url.Parse(continueURL); err == nil {
		p.Watch = g.paths.status + "?session=" + url.QueryEscape(u.Query().Get("session"))
	}
	body, csp, err := p.Render(waitingPage, t, struct{ SP, Number, Match string }{pc.sp, pc.number, pc.match})
	if err != nil {
		return err
	}
	return WritePage(c, fiber.StatusOK, body, csp)
}

// writeConsentPage asks the person whether the SP may have what it asked
// for.
func (g *Gateway) writeConsentPage(c *fiber.Ctx, id string, pc *pendingConsent) error {
	t := messages.In(pc.page.lang)
	p := g.page(pc.page, t.S("consent_title", pc.page.sp))
	body, csp, err := p.Render(consentPage, t, struct {
		SP, Action string
		Items      []string
	}{pc.page.sp, g.consentURL(id), g.consentItems(pc.grant.req.Scopes, t, pc.page)})
	if err != nil {
		return err
	}
	return WritePage(c, fiber.StatusOK, body, csp)
}

// writeLogoutConfirm asks the person whether to sign out (a logout the
// gateway cannot tie to the browser's session).
func (g *Gateway) writeLogoutConfirm(c *fiber.Ctx, p Page, id string) error {
	t := messages.In(p.Lang)
	p.Title = t.S("logout_title")
	body, csp, err := p.Render(logoutPage, t, struct{ Action, ID string }{g.paths.logoutConfirm, id})
	if err != nil {
		return err
	}
	return WritePage(c, fiber.StatusOK, body, csp)
}

// writeSignedOut says the person is signed out, or still signed in (kept).
func (g *Gateway) writeSignedOut(c *fiber.Ctx, p Page, kept bool) error {
	t := messages.In(p.Lang)
	text := t.S("logged_out_text", p.Look.Name)
	p.Title = t.S("logged_out_title")
	if kept {
		p.Title, text = t.S("logout_kept_title"), t.S("logout_kept_text")
	}
	body, csp, err := p.Render(signedOutPage, t, struct {
		Text string
		Kept bool
	}{text, kept})
	if err != nil {
		return err
	}
	return WritePage(c, fiber.StatusOK, body, csp)
}

// serviceItem is one SP on the connected-services page.
type serviceItem struct {
	ClientID, SP, Since string
	Lines               []string
}

// writeServices shows the connected-services page, or its sign-in form.
func (g *Gateway) writeServices(c *fiber.Ctx, a servicesAnswer) error {
	t := messages.In(a.lang)
	op, _ := g.operator()
	p := Page{Lang: a.lang, Look: LookOf(op), Title: t.S("services_title"), Assets: g.assetsPath()}
	action := g.paths.services + "?ui_locales=" + url.QueryEscape(a.lang)
	var body []byte
	var csp string
	var err error
	if a.signin {
		body, csp, err = p.Render(servicesSignInPage, t, struct{ Error, Action string }{a.errText, action})
	} else {
		pc := pageContext{look: p.Look, lang: a.lang}
		items := make([]serviceItem, 0, len(a.consents))
		for _, cs := range a.consents {
			var scopes []string
			for _, s := range cs.Scopes {
				scopes = append(scopes, s.Scope)
			}
			lines := g.consentItems(scopes, t, pc)
			if len(lines) == 0 {
				lines = []string{t.S("services_signin_only")}
			}
			items = append(items, serviceItem{ClientID: cs.ClientID, SP: cs.SPName, Lines: lines,
				Since: t.S("services_since", cs.FirstGranted.UTC().Format(time.DateOnly), cs.LastUsed.UTC().Format(time.DateOnly))})
		}
		body, csp, err = p.Render(servicesPage, t, struct {
			Notice, Number, Action, CSRF string
			Items                        []serviceItem
			Passkeys                     bool
		}{a.notice, MaskNumber(a.session.msisdn), action, a.csrf, items, a.passkeys})
	}
	if err != nil {
		return err
	}
	return WritePage(c, fiber.StatusOK, body, csp)
}

// writeEndedPage tells the person why the login ended and what to do, with
// the way back to the SP: the redirect that tells the SP e.
func (g *Gateway) writeEndedPage(c *fiber.Ctx, e *OAuthError, end *ending, pc pageContext) error {
	t := messages.In(pc.lang)
	var title, text, retry string
	switch {
	case end.limit != nil:
		title = t.S("ended_limit_title")
		text = t.S("ended_limit_text", pc.number, pc.look.Name, end.limit.Limit, int(end.limit.Window/time.Minute))
		mins := int((end.limit.RetryAt.Sub(g.now()) + time.Minute - 1) / time.Minute)
		retry = t.S("ended_limit_retry", max(mins, 1), pc.sp)
	case end.down:
		title, text = t.S("ended_down_title"), t.S("ended_down_text", pc.look.Name, pc.sp)
	default:
		kind := map[Failure]string{FailureExpired: "expired", FailureTooManyAttempts: "locked",
			FailureUsed: "used", FailureRefused: "refused"}[end.failure]
		if kind == "" {
			kind = "other"
		}
		title, text = t.S("ended_"+kind+"_title"), t.S("ended_"+kind+"_text", pc.sp)
	}
	body, csp, err := g.page(pc, title).Render(endedPage, t, struct {
		Text, Retry, SP, Back, Code, Description string
	}{text, retry, pc.sp, e.ErrorRedirectURL(), string(e.Code), e.Description})
	if err != nil {
		return err
	}
	c.Locals(errorCodeKey{}, e.Code)
	return WritePage(c, fiber.StatusOK, body, csp)
}

// renderErrorPage is the 400 page of a non-redirectable error in p's
// language and look: every value escaped by html/template, no address but
// the node's own static files.
func renderErrorPage(e *OAuthError, p Page) ([]byte, string) {
	t := messages.In(p.Lang)
	p.Title = t.S("error_title")
	data := struct{ Code, Description, CorrelationID string }{string(e.Code), e.Description, e.correlationID}
	body, csp, err := p.Render(errorPage, t, data)
	if err != nil {
		return []byte("Bad request"), "default-src 'none'"
	}
	return body, csp
}
