package fido

import (
	"embed"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"unicode"

	"github.com/gofiber/fiber/v2"

	"github.com/mcfed/mcfed/idgw"
	"github.com/mcfed/mcfed/internal/problem"
)

//go:embed assets/fido.js
var scripts embed.FS

// cookieName holds the passkeys page session's secret.
const cookieName = "mcfed_fido"

// maxBody bounds a posted credential: a few kilobytes in practice.
const maxBody = 64 << 10

// Mount serves the package's pages and the ceremonies' endpoints on the
// node's public router, which must be mounted at Config.PublicURL's path
// (the gateway's origin: the RP's):
//
//	GET  /fido/login?c=<token>           the login page: runs navigator.credentials.get, then back to the gateway
//	GET  /fido/login/options?c=<token>   the options for navigator.credentials.get (JSON)
//	POST /fido/login/finish?c=<token>    the assertion (JSON, the browser's or the phone's); 204, or a problem+json
//	GET  /fido/login/status?c=<token>    {"status": "pending"|"over"}: the page waiting for the phone
//	POST /fido/phone/decline?c=<token>   the phone's "not me"; 204, or a problem+json
//	GET  /fido/passkeys?t=<ticket>       Enrol's URL: swaps the ticket for a session cookie, then redirects
//	GET  /fido/passkeys                  the subscriber's passkeys: list, remove, add
//	POST /fido/passkeys/remove           form field id: removes a passkey
//	POST /fido/register/begin            a registration ceremony's id and options (JSON)
//	POST /fido/register/finish?r=<id>    the attestation (JSON); the passkey, or a problem+json
//	GET  /fido/fido.js                   the pages' script
//	GET  /assets/<file>                  the pages' stylesheet and favicon (idgw.MountAssets)
func (a *Authenticator) Mount(r fiber.Router) {
	r.Get("/fido/login", a.handleLoginPage)
	r.Get("/fido/login/options", a.handleLoginOptions)
	r.Post("/fido/login/finish", a.handleLoginFinish)
	r.Get("/fido/login/status", a.handleLoginStatus)
	r.Post("/fido/phone/decline", a.handleDecline)
	r.Get("/fido/passkeys", a.handlePasskeys)
	r.Post("/fido/passkeys/remove", a.handleRemove)
	r.Post("/fido/register/begin", a.handleRegisterBegin)
	r.Post("/fido/register/finish", a.handleRegisterFinish)
	r.Get("/fido/fido.js", handleScript)
	idgw.MountAssets(r)
}

var loginPage = idgw.NewPageTemplate("fido-login", `{{define "body"}}
{{if .D.Phone}}<p class="lead">{{.T.S "phone_lead" .D.SP .D.Number}}</p>
{{else}}<p class="lead">{{if .D.SP}}{{.T.S "login_lead" .D.SP .D.Number}}{{else}}{{.T.S "login_lead_any"}}{{end}}</p>{{end}}
<div id="fido" data-mode="{{if .D.Phone}}phone{{else}}login{{end}}" data-options="{{.D.Options}}" data-finish="{{.D.Finish}}" data-status="{{.D.Status}}">
{{if .D.Phone}}<p class="muted" role="status" data-msg id="fido-phone">{{.T.S "phone_waiting"}}</p>{{end}}
<p class="muted" role="status" data-msg id="fido-working"{{if .D.Phone}} hidden{{end}}>{{.T.S "login_working"}}</p>
<p class="alert" role="alert" data-msg id="fido-cancelled" hidden>{{.T.S "login_cancelled"}}</p>
<p class="alert" role="alert" data-msg id="fido-refused" hidden>{{.T.S "login_refused"}}</p>
<p class="alert" role="alert" data-msg id="fido-unsupported" hidden>{{.T.S "unsupported"}}</p>
<p class="done" role="status" data-msg id="fido-ok" hidden>{{.T.S "login_ok"}}</p>
<div id="fido-again"><button type="button" id="fido-start"{{if .D.Phone}} class="secondary"{{end}}>{{if .D.Phone}}{{.T.S "phone_here"}}{{else}}{{.T.S "login_button"}}{{end}}</button></div>
</div>
<form method="post" action="{{.D.Return}}" id="fido-done"><input type="hidden" name="fido" value="done">{{if .D.Phone}}<noscript><button type="submit">{{.T.S "phone_continue"}}</button></noscript>{{end}}</form>
<form method="post" action="{{.D.Return}}"><button type="submit" name="fido" value="cancel" class="secondary">{{.T.S "login_other"}}</button></form>
<noscript><p class="alert">{{.T.S "noscript"}}</p></noscript>
<script src="{{.D.Script}}" defer></script>
{{end}}`)

var passkeysPage = idgw.NewPageTemplate("fido-passkeys", `{{define "body"}}
{{with .D.Flash}}<p class="done" role="status">{{.}}</p>{{end}}
<p class="lead">{{.T.S "keys_lead" .D.Number}}</p>
{{if .D.Keys}}<ul class="share" id="passkeys">{{range .D.Keys}}<li>
<strong>{{$.T.S "key_name" .Created}}</strong><br>
<span class="muted">{{if .LastUsed}}{{$.T.S "key_used" .LastUsed}}{{else}}{{$.T.S "key_unused"}}{{end}}</span>
<form method="post" action="{{$.D.Remove}}"><input type="hidden" name="id" value="{{.ID}}"><button type="submit" class="secondary">{{$.T.S "key_remove"}}</button></form>
</li>{{end}}</ul>
{{else}}<p id="no-passkeys">{{.T.S "keys_none"}}</p>{{end}}
<div id="fido" data-mode="register" data-begin="{{.D.Begin}}" data-finish="{{.D.Finish}}" data-next="{{.D.Self}}">
<p class="alert" role="alert" data-msg id="fido-cancelled" hidden>{{.T.S "add_cancelled"}}</p>
<p class="alert" role="alert" data-msg id="fido-refused" hidden>{{.T.S "add_refused"}}</p>
<p class="alert" role="alert" data-msg id="fido-unsupported" hidden>{{.T.S "unsupported"}}</p>
<p class="muted" role="status" data-msg id="fido-working" hidden>{{.T.S "add_working"}}</p>
<div id="fido-again"><button type="button" id="fido-start">{{.T.S "add_button"}}</button></div>
</div>
{{with .D.Back}}<a class="button secondary" href="{{.}}">{{$.T.S "done"}}</a>{{end}}
<noscript><p class="alert">{{.T.S "noscript"}}</p></noscript>
<script src="{{.D.Script}}" defer></script>
{{end}}`)

var messagePage = idgw.NewPageTemplate("fido-msg", `{{define "body"}}
<p class="alert" role="alert">{{.D.Text}}</p>
{{end}}`)

func (a *Authenticator) handleLoginPage(c *fiber.Ctx) error {
	token := c.Query("c")
	id, ok := parseToken(token)
	if !ok {
		return a.messagePage(c, fiber.StatusBadRequest, a.browserView(c), "bad")
	}
	rec, err := a.challenge(c.UserContext(), id)
	switch {
	case errors.Is(err, ErrNoChallenge):
		return a.messagePage(c, fiber.StatusOK, a.browserView(c), "expired")
	case err != nil:
		return err
	}
	v := rec.View
	t := messages.In(v.Lang)
	if !a.cfg.Now().Before(rec.Expires) {
		return a.messagePage(c, fiber.StatusOK, v, "expired")
	}
	q := "?c=" + url.QueryEscape(token)
	body, csp, err := a.pageOf(v, t.S("login_title")).Render(loginPage, t, map[string]any{
		"SP": v.SP, "Number": v.Number, "Return": v.Return, "Script": a.public.Path + "/fido/fido.js",
		"Options": a.public.Path + "/fido/login/options" + q, "Finish": a.public.Path + "/fido/login/finish" + q,
		"Status": a.public.Path + "/fido/login/status" + q, "Phone": rec.Phone,
	})
	if err != nil {
		return err
	}
	return idgw.WritePage(c, fiber.StatusOK, body, csp)
}

func (a *Authenticator) handleLoginOptions(c *fiber.Ctx) error {
	opts, err := a.LoginOptions(c.UserContext(), c.Query("c"))
	if err != nil {
		return writeProblem(c, err)
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	return c.Send(opts)
}

func (a *Authenticator) handleLoginFinish(c *fiber.Ctx) error {
	if err := a.checkPost(c, true); err != nil {
		return writeProblem(c, err)
	}
	body := append([]byte(nil), c.Body()...) // fasthttp reuses the buffer
	if err := a.FinishLogin(c.UserContext(), c.Query("c"), body); err != nil {
		return writeProblem(c, err)
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.SendStatus(fiber.StatusNoContent)
}

func (a *Authenticator) handleLoginStatus(c *fiber.Ctx) error {
	s, err := a.LoginStatus(c.UserContext(), c.Query("c"))
	if err != nil {
		return writeProblem(c, err)
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(fiber.Map{"status": s})
}

func (a *Authenticator) handleDecline(c *fiber.Ctx) error {
	if err := a.checkPost(c, false); err != nil {
		return writeProblem(c, err)
	}
	if err := a.Decline(c.UserContext(), c.Query("c")); err != nil {
		return writeProblem(c, err)
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.SendStatus(fiber.StatusNoContent)
}

// handlePasskeys opens a session from Enrol's ticket (then redirects to
// itself without it), or shows the session's passkeys.
func (a *Authenticator) handlePasskeys(c *fiber.Ctx) error {
	self := a.public.Path + "/fido/passkeys"
	if t := c.Query("t"); t != "" {
		secret, err := a.openTicket(c.UserContext(), t)
		if errors.Is(err, ErrCeremonyOver) {
			return a.messagePage(c, fiber.StatusOK, a.browserView(c), "ticket")
		}
		if err != nil {
			return err
		}
		c.Cookie(&fiber.Cookie{Name: cookieName, Value: secret, Path: a.public.Path + "/fido/",
			MaxAge: int(a.cfg.ManageTTL.Seconds()), HTTPOnly: true, Secure: a.public.Scheme == "https",
			// Lax: the page is reached by a top-level navigation from the
			// gateway's; a cross-site post never carries it.
			SameSite: fiber.CookieSameSiteLaxMode})
		c.Set(fiber.HeaderCacheControl, "no-store")
		return c.Redirect(self, fiber.StatusSeeOther)
	}
	m, err := a.manageSession(c.UserContext(), c.Cookies(cookieName))
	if errors.Is(err, ErrCeremonyOver) {
		return a.messagePage(c, fiber.StatusOK, a.browserView(c), "session")
	}
	if err != nil {
		return err
	}
	keys, err := a.Passkeys(c.UserContext(), m.MSISDN)
	if err != nil {
		return err
	}
	t := messages.In(m.View.Lang)
	type key struct{ ID, Created, LastUsed string }
	var list []key
	for _, k := range keys {
		e := key{ID: k.ID, Created: k.Created.UTC().Format("2006-01-02")}
		if !k.LastUsed.IsZero() {
			e.LastUsed = k.LastUsed.UTC().Format("2006-01-02 15:04 MST")
		}
		list = append(list, e)
	}
	var flash string
	switch c.Query("done") {
	case "added":
		flash = t.S("flash_added")
	case "removed":
		flash = t.S("flash_removed")
	}
	body, csp, err := a.pageOf(m.View, t.S("keys_title")).Render(passkeysPage, t, map[string]any{
		"Number": m.View.Number, "Keys": list, "Flash": flash, "Back": m.View.Return, "Self": self,
		"Remove": self + "/remove", "Begin": a.public.Path + "/fido/register/begin",
		"Finish": a.public.Path + "/fido/register/finish", "Script": a.public.Path + "/fido/fido.js",
	})
	if err != nil {
		return err
	}
	return idgw.WritePage(c, fiber.StatusOK, body, csp)
}

func (a *Authenticator) handleRemove(c *fiber.Ctx) error {
	if err := a.checkPost(c, false); err != nil {
		return writeProblem(c, err)
	}
	m, err := a.manageSession(c.UserContext(), c.Cookies(cookieName))
	if errors.Is(err, ErrCeremonyOver) {
		return a.messagePage(c, fiber.StatusOK, a.browserView(c), "session")
	}
	if err != nil {
		return err
	}
	if err := a.RemovePasskey(c.UserContext(), m.MSISDN, c.FormValue("id")); err != nil && !errors.Is(err, ErrNoPasskey) {
		return err
	}
	// Removed, or gone already (a second tab): the list says which.
	return c.Redirect(a.public.Path+"/fido/passkeys?done=removed", fiber.StatusSeeOther)
}

func (a *Authenticator) handleRegisterBegin(c *fiber.Ctx) error {
	if err := a.checkPost(c, false); err != nil {
		return writeProblem(c, err)
	}
	m, err := a.manageSession(c.UserContext(), c.Cookies(cookieName))
	if err != nil {
		return writeProblem(c, err)
	}
	cer, err := a.BeginRegistration(c.UserContext(), m.MSISDN)
	if err != nil {
		return writeProblem(c, err)
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(cer)
}

func (a *Authenticator) handleRegisterFinish(c *fiber.Ctx) error {
	if err := a.checkPost(c, true); err != nil {
		return writeProblem(c, err)
	}
	m, err := a.manageSession(c.UserContext(), c.Cookies(cookieName))
	if err != nil {
		return writeProblem(c, err)
	}
	body := append([]byte(nil), c.Body()...)
	pk, err := a.FinishRegistration(c.UserContext(), m.MSISDN, c.Query("r"), body)
	if err != nil {
		return writeProblem(c, err)
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Status(fiber.StatusCreated).JSON(fiber.Map{"id": pk.ID, "format": pk.Format})
}

func handleScript(c *fiber.Ctx) error {
	b, err := scripts.ReadFile("assets/fido.js")
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, "text/javascript; charset=utf-8")
	c.Set(fiber.HeaderCacheControl, "public, max-age=3600")
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	return c.Send(b)
}

// errForeignOrigin: a post from a page of another origin (a cross-site
// form), or a JSON endpoint posted something else than JSON.
var (
	errForeignOrigin = errors.New("fido: a request from another origin")
	errNotJSON       = errors.New("fido: the body must be application/json")
	errTooLarge      = errors.New("fido: the body is too large")
)

// checkPost refuses a post whose Origin header is not one of the RP's
// origins (a browser always sends it on a post), and, for the JSON
// endpoints, a body that is not JSON or is too large.
func (a *Authenticator) checkPost(c *fiber.Ctx, wantJSON bool) error {
	if o := c.Get(fiber.HeaderOrigin); o != "" && !a.ownOrigin(o) {
		return errForeignOrigin
	}
	if wantJSON {
		if !strings.HasPrefix(c.Get(fiber.HeaderContentType), fiber.MIMEApplicationJSON) {
			return errNotJSON
		}
		if len(c.Body()) > maxBody {
			return errTooLarge
		}
	}
	return nil
}

func (a *Authenticator) ownOrigin(o string) bool {
	for _, x := range a.cfg.Origins {
		if strings.EqualFold(o, x) {
			return true
		}
	}
	return strings.EqualFold(o, a.public.Scheme+"://"+a.public.Host)
}

// writeProblem answers a JSON endpoint's error as problem+json. Its
// "type" tells the script what to say: the passkey refused (try again),
// the ceremony over (go back to the gateway, which decides), a bad
// request.
func writeProblem(c *fiber.Ctx, err error) error {
	var ae *AssertionError
	var p *problem.Error
	switch {
	case errors.As(err, &ae):
		p = problem.New(fiber.StatusBadRequest, "fido-refused", "the passkey was not accepted")
	case errors.Is(err, ErrCounter):
		p = problem.New(fiber.StatusBadRequest, "fido-refused", "the passkey was not accepted: its signature counter did not advance")
	case errors.Is(err, ErrNoPasskey):
		p = problem.New(fiber.StatusBadRequest, "fido-refused", "the passkey is not registered")
	case errors.Is(err, ErrChallengeOver), errors.Is(err, ErrNoChallenge), errors.Is(err, ErrCeremonyOver):
		p = problem.New(fiber.StatusGone, "fido-over", err.Error())
	case errors.Is(err, ErrAlreadyRegistered), errors.Is(err, ErrTooManyPasskeys):
		p = problem.New(fiber.StatusConflict, "fido-conflict", err.Error())
	case errors.Is(err, errForeignOrigin):
		p = problem.New(fiber.StatusForbidden, "forbidden", err.Error())
	case errors.Is(err, errNotJSON):
		p = problem.New(fiber.StatusUnsupportedMediaType, "bad-request", err.Error())
	case errors.Is(err, errTooLarge):
		p = problem.New(fiber.StatusRequestEntityTooLarge, "bad-request", err.Error())
	default:
		return err
	}
	b, _ := json.Marshal(p.Problem)
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set(fiber.HeaderContentType, problem.ContentType)
	return c.Status(p.Problem.Status).Send(b)
}

// browserView is what a page shows when it knows no challenge: the
// configured operator, in the browser's language.
func (a *Authenticator) browserView(c *fiber.Ctx) view {
	return view{Look: a.defaultLook(), Lang: idgw.ChooseLanguage("", c.Get(fiber.HeaderAcceptLanguage))}
}

func (a *Authenticator) pageOf(v view, title string) idgw.Page {
	return idgw.Page{Lang: v.Lang, Look: v.Look, Title: title, Assets: a.public.Path + idgw.AssetsPath}
}

// messagePage answers a page that only says something: the catalogue's
// msg_<what>_title and msg_<what>_text.
func (a *Authenticator) messagePage(c *fiber.Ctx, status int, v view, what string) error {
	t := messages.In(v.Lang)
	body, csp, err := a.pageOf(v, t.S("msg_"+what+"_title")).Render(messagePage, t, map[string]any{"Text": t.S("msg_" + what + "_text")})
	if err != nil {
		return err
	}
	return idgw.WritePage(c, status, body, csp)
}

// clean makes s one line of at most n runes with no control characters.
func clean(s string, n int) string {
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool {
		return unicode.IsControl(r) || unicode.IsSpace(r)
	}), " ")
	if r := []rune(s); len(r) > n {
		s = string(r[:n-3]) + "..."
	}
	return s
}
