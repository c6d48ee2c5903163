package idgw

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"github.com/mcfed/mcfed/internal/clientaddr"
	"github.com/mcfed/mcfed/registry"
)

// The gateway's HTTP edge: each handler copies what it needs of the
// request into a plain value, runs the endpoint's plain Go, and writes the
// answer it returns. Nothing below the handlers sees fiber.

// PageServer is an authenticator that serves pages of its own on the
// gateway's public listener (SMS's code form and the target of its link):
// the gateway's Mount mounts them with its own routes, so the node needs to
// know nothing of an authenticator's pages.
type PageServer interface {
	Mount(r fiber.Router)
}

// Mount registers the gateway's endpoints on the public app at the default
// paths under the issuer (registry.Operator.URLs with no endpoint
// overridden), which is what discovery and the metadata announce for an
// operator that registers only its issuer. The operator's record may be
// written later: handlers read it per request. The authenticators that
// are PageServers mount their pages here too.
func (g *Gateway) Mount(app fiber.Router) error {
	u := (&registry.Operator{Issuer: g.cfg.Issuer}).URLs()
	// endpoint names the OAuth endpoints for the observer; the metadata
	// and the JWKS are documents, not observed.
	routes := []struct {
		method, url, endpoint string
		h                     fiber.Handler
	}{
		{fiber.MethodGet, u.OpenIDConfiguration, "", g.handleMetadata},
		{fiber.MethodGet, u.JWKS, "", g.handleJWKS},
		{fiber.MethodGet, u.Authorization, endpointAuthorize, g.handleAuthorize},
		{fiber.MethodPost, u.Authorization, endpointAuthorize, g.handleAuthorize},
		{fiber.MethodGet, g.paths.continueURL, endpointAuthorizeContinue, g.handleContinue},
		{fiber.MethodPost, u.Token, endpointToken, g.handleToken},
		{fiber.MethodPost, u.Revocation, endpointRevoke, g.handleRevoke},
		{fiber.MethodGet, u.UserInfo, endpointUserInfo, g.handleUserInfo(endpointUserInfo)},
		{fiber.MethodPost, u.UserInfo, endpointUserInfo, g.handleUserInfo(endpointUserInfo)},
		{fiber.MethodGet, u.PremiumInfo, endpointPremiumInfo, g.handleUserInfo(endpointPremiumInfo)},
		{fiber.MethodPost, u.PremiumInfo, endpointPremiumInfo, g.handleUserInfo(endpointPremiumInfo)},
		{fiber.MethodPost, g.paths.introspection, endpointIntrospect, g.handleIntrospect},
		{fiber.MethodPost, g.paths.continueURL, endpointAuthorizeContinue, g.handleContinue},
		{fiber.MethodGet, g.paths.status, "", g.handleStatus},
		{fiber.MethodGet, g.paths.consent, "", g.handleConsentPage},
		{fiber.MethodPost, g.paths.consent, endpointAuthorizeContinue, g.handleConsent},
		{fiber.MethodGet, g.paths.logout, "", g.handleLogout},
		{fiber.MethodPost, g.paths.logout, "", g.handleLogout},
		{fiber.MethodPost, g.paths.logoutConfirm, "", g.handleLogoutConfirm},
		{fiber.MethodGet, g.paths.services, "", g.handleServices},
		{fiber.MethodPost, g.paths.services, "", g.handleServices},
		// Server-initiated login (handler_bc.go).
		{fiber.MethodGet, u.SIAuthorization, endpointSIAuthorize, g.handleSIAuthorize},
		{fiber.MethodPost, u.SIAuthorization, endpointSIAuthorize, g.handleSIAuthorize},
		{fiber.MethodPost, g.backchannelURL(), endpointBackchannel, g.handleBackchannel},
	}
	for _, r := range routes {
		p, err := pathOf(r.url)
		if err != nil {
			return err
		}
		h := r.h
		if r.endpoint != "" {
			h = g.observed(r.endpoint, h)
		}
		app.Add(r.method, p, h)
	}
	// The authenticators' own pages (SMS's code form and link target).
	for _, a := range g.cfg.Router.auths {
		if p, ok := optional[PageServer](a.impl); ok {
			p.Mount(app)
		}
	}
	assets := app
	if p := strings.TrimSuffix(g.assetsPath(), AssetsPath); p != "" {
		assets = app.Group(p)
	}
	MountAssets(assets)
	return nil
}

// pathOf is the path part of an endpoint URL, where the gateway mounts it.
func pathOf(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Path == "" {
		return "", fmt.Errorf("idgw: endpoint %q has no path", raw)
	}
	return "/" + strings.TrimLeft(u.Path, "/"), nil
}

// handleAuthorize is the authorization endpoint (GET, or POST with a form).
func (g *Gateway) handleAuthorize(c *fiber.Ctx) error {
	args := argsValues(c.Context().QueryArgs())
	if c.Method() == fiber.MethodPost {
		for k, vs := range argsValues(c.Context().PostArgs()) {
			args[k] = append(args[k], vs...)
		}
	}
	cookies := g.cookiesOf(c)
	a := g.authorize(c.UserContext(), authorizeRequest{args: args, cookies: cookies, acceptLanguage: c.Get(fiber.HeaderAcceptLanguage),
		source: clientaddr.Of(c), network: g.networkOf(c)})
	return g.writeAuthorize(c, a, cookies.navigate)
}

// handleContinue is where an authenticator's page sends the browser back,
// and what the waiting page polls.
func (g *Gateway) handleContinue(c *fiber.Ctx) error {
	answer := argsValues(c.Context().PostArgs())
	cookies := g.cookiesOf(c)
	return g.writeAuthorize(c, g.check(c.UserContext(), c.Query("session"), answer, &cookies), cookies.navigate)
}

// handleStatus is what the waiting page's script polls: {"status":
// "pending"} until there is something new to show (loginStatus).
func (g *Gateway) handleStatus(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(fiber.Map{"status": g.loginStatus(c.UserContext(), c.Query("session"))})
}

// handleConsentPage shows the consent page of a login that waits for it.
func (g *Gateway) handleConsentPage(c *fiber.Ctx) error {
	id := c.Query("c")
	p := g.pendingConsentOf(c.UserContext(), id)
	if p == nil {
		return g.writeAuthorize(c, failed(ErrInvalidRequest("the sign-in session has expired or is unknown").WithoutRedirect()), true)
	}
	return g.writeConsentPage(c, id, p)
}

// handleConsent takes the person's answer on the consent page.
func (g *Gateway) handleConsent(c *fiber.Ctx) error {
	allow := string(c.Context().PostArgs().Peek("decision")) == "allow"
	cookies := g.cookiesOf(c)
	return g.writeAuthorize(c, g.decideConsent(c.UserContext(), c.Query("c"), allow, cookies), false)
}

// handleLogout is the end_session_endpoint (RP-Initiated Logout 1.0).
func (g *Gateway) handleLogout(c *fiber.Ctx) error {
	args := argsValues(c.Context().QueryArgs())
	if c.Method() == fiber.MethodPost {
		for k, vs := range argsValues(c.Context().PostArgs()) {
			args[k] = append(args[k], vs...)
		}
	}
	a := g.logout(c.UserContext(), logoutRequest{args: args, cookies: g.cookiesOf(c), acceptLanguage: c.Get(fiber.HeaderAcceptLanguage)})
	return g.writeLogout(c, a)
}

// handleLogoutConfirm takes the person's answer on the sign-out page.
func (g *Gateway) handleLogoutConfirm(c *fiber.Ctx) error {
	form := c.Context().PostArgs()
	yes := string(form.Peek("decision")) == "logout"
	return g.writeLogout(c, g.confirmLogout(c.UserContext(), string(form.Peek("l")), yes, g.cookiesOf(c)))
}

// writeLogout writes an answer of the end_session_endpoint: the session
// cookie cleared when the session ended, then an error page, the
// confirmation page, the redirect to the SP, or the signed-out page.
func (g *Gateway) writeLogout(c *fiber.Ctx, a logoutAnswer) error {
	if a.clear {
		c.Cookie(&fiber.Cookie{Name: g.cookie.name, Value: "", Path: g.cookie.path, MaxAge: -1,
			Expires: time.Unix(0, 0), Secure: g.cookie.secure, HTTPOnly: true, SameSite: fiber.CookieSameSiteLaxMode})
	}
	op, _ := g.operator()
	p := Page{Lang: a.lang, Look: LookOf(op), Assets: g.assetsPath()}
	if p.Lang == "" {
		p.Lang = ChooseLanguage("", c.Get(fiber.HeaderAcceptLanguage))
	}
	switch {
	case a.err != nil:
		return writeErrorPage(c, a.err, p)
	case a.confirm != "":
		return g.writeLogoutConfirm(c, p, a.confirm)
	case a.redirect != "":
		c.Set(fiber.HeaderCacheControl, "no-store")
		return c.Redirect(a.redirect, fiber.StatusFound)
	}
	return g.writeSignedOut(c, p, a.cancel)
}

// handleServices is the connected-services page (GET), its sign-in and
// its withdrawals (POST).
func (g *Gateway) handleServices(c *fiber.Ctx) error {
	cookies := g.cookiesOf(c)
	r := servicesRequest{cookies: cookies, lang: ChooseLanguage(c.Query("ui_locales"), c.Get(fiber.HeaderAcceptLanguage))}
	if c.Method() == fiber.MethodPost {
		r.form = argsValues(c.Context().PostArgs())
		r.authorize = authorizeRequest{args: r.form, cookies: cookies, acceptLanguage: c.Get(fiber.HeaderAcceptLanguage)}
	}
	a := g.services(c.UserContext(), r)
	if a.login != nil {
		return g.writeAuthorize(c, *a.login, true)
	}
	return g.writeServices(c, a)
}

func (g *Gateway) cookiesOf(c *fiber.Ctx) browserCookies {
	return browserCookies{session: c.Cookies(g.cookie.name), binding: c.Cookies(g.cookie.binding),
		navigate: c.Get("Sec-Fetch-Mode") == "navigate"}
}

// writeAuthorize writes an answer of the authorization endpoint, with its
// cookies. A person's browser (navigate) is shown why a login ended before
// it goes back to the SP; anything else is sent back at once.
func (g *Gateway) writeAuthorize(c *fiber.Ctx, a authorizeAnswer, navigate bool) error {
	if a.binding != "" {
		c.Cookie(&fiber.Cookie{
			Name: g.cookie.binding, Value: a.binding, Path: g.cookie.path,
			MaxAge: int(sessionTTL / time.Second), Secure: g.cookie.secure, HTTPOnly: true,
			// Lax: the continue URL is reached by top-level navigation or
			// a same-site form post from the operator's own authenticator
			// page.
			SameSite: fiber.CookieSameSiteLaxMode,
		})
	}
	if a.session != "" {
		c.Cookie(&fiber.Cookie{
			Name: g.cookie.name, Value: a.session, Path: g.cookie.path,
			MaxAge: int(browserSessionTTL / time.Second), Secure: g.cookie.secure, HTTPOnly: true,
			// Lax: sent when an SP's page navigates the browser to
			// /authorize, not on cross-site subrequests or form posts.
			SameSite: fiber.CookieSameSiteLaxMode,
		})
	}
	switch {
	case a.err != nil && a.ending != nil && navigate && a.err.Redirects():
		return g.writeEndedPage(c, a.err, a.ending, a.page)
	case a.err != nil && !a.err.Redirects():
		op, _ := g.operator()
		p := Page{Lang: ChooseLanguage("", c.Get(fiber.HeaderAcceptLanguage)), Look: LookOf(op), Assets: g.assetsPath()}
		return writeErrorPage(c, a.err, p)
	case a.err != nil:
		return writeError(c, authorizeErrors, a.err)
	case a.redirect != "":
		c.Set(fiber.HeaderCacheControl, "no-store")
		return c.Redirect(a.redirect, fiber.StatusFound)
	}
	return g.writeWaitingPage(c, a.wait, a.page)
}

// tokenRequestOf is what the token, revocation and introspection
// endpoints read: the form and the Authorization header.
func tokenRequestOf(c *fiber.Ctx) tokenRequest {
	return tokenRequest{form: argsValues(c.Context().PostArgs()), authorization: c.Get(fiber.HeaderAuthorization), source: clientaddr.Of(c)}
}

// handleToken is the token endpoint.
func (g *Gateway) handleToken(c *fiber.Ctx) error {
	r, e := g.token(c.UserContext(), tokenRequestOf(c))
	if e != nil {
		return writeError(c, tokenErrors, e)
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set("Pragma", "no-cache")
	return c.JSON(r)
}

// handleRevoke is the revocation endpoint (RFC 7009).
func (g *Gateway) handleRevoke(c *fiber.Ctx) error {
	if e := g.revoke(c.UserContext(), tokenRequestOf(c)); e != nil {
		return writeError(c, tokenErrors, e)
	}
	return c.SendStatus(fiber.StatusOK)
}

// handleIntrospect is the introspection endpoint (RFC 7662).
func (g *Gateway) handleIntrospect(c *fiber.Ctx) error {
	out, e := g.introspect(c.UserContext(), tokenRequestOf(c))
	if e != nil {
		return writeError(c, tokenErrors, e)
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(out)
}

// handleUserInfo serves userinfo or premiuminfo (endpoint).
func (g *Gateway) handleUserInfo(endpoint string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		r := bearerRequest{authorization: c.Get(fiber.HeaderAuthorization)}
		if c.Method() == fiber.MethodPost {
			r.formToken = argsValues(c.Context().PostArgs())["access_token"]
		}
		out, e := g.userInfo(c.UserContext(), endpoint, r)
		if e != nil {
			return writeError(c, bearerErrors, e)
		}
		c.Set(fiber.HeaderCacheControl, "no-store")
		return c.JSON(out)
	}
}

func (g *Gateway) handleMetadata(c *fiber.Ctx) error {
	m, err := g.metadata()
	if err != nil {
		// JSON, as every answer of the gateway's: an SDK reads the error.
		return writeError(c, tokenErrors, errOperatorUnregistered(err))
	}
	// Served without authentication (the Java SDK fetches it before it has
	// any credential for this operator), cacheable for a short while.
	c.Set(fiber.HeaderCacheControl, "public, max-age=300")
	return c.JSON(m)
}

func (g *Gateway) handleJWKS(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, "application/jwk-set+json")
	c.Set(fiber.HeaderCacheControl, "public, max-age=300")
	return c.Send(g.cfg.Keys.JWKS(g.now()))
}

// errorCodeKey is the request local under which writeError leaves the code
// it answered, for observed.
type errorCodeKey struct{}

// AnsweredError is the OAuth error the gateway answered c with ("" when it
// answered none): an error redirected to the SP is a 302 like a success,
// and the node's request log tells them apart by it.
func AnsweredError(c *fiber.Ctx) ErrorCode {
	e, _ := c.Locals(errorCodeKey{}).(ErrorCode)
	return e
}

// observed runs h as endpoint and tells the observer how it answered.
func (g *Gateway) observed(endpoint string, h fiber.Handler) fiber.Handler {
	if g.cfg.Observer == nil {
		return h
	}
	return func(c *fiber.Ctx) error {
		o := Observation{Endpoint: endpoint}
		if endpoint == endpointToken {
			o.GrantType = grantTypeLabel(string(c.Request().PostArgs().Peek("grant_type")))
		}
		err := h(c)
		o.Status = c.Response().StatusCode()
		if err != nil {
			// The app's error handler answers it, as fiber's default does.
			o.Status = fiber.StatusInternalServerError
			var fe *fiber.Error
			if errors.As(err, &fe) {
				o.Status = fe.Code
			}
		}
		o.Error, _ = c.Locals(errorCodeKey{}).(ErrorCode)
		g.cfg.Observer.ObserveOAuth(o)
		return err
	}
}

// errorStyle is how an endpoint answers its errors.
type errorStyle uint8

const (
	// authorizeErrors: a 302 to the validated redirect URI when the error
	// may be redirected, else a 400 HTML page (authorize and its continue
	// URL).
	authorizeErrors errorStyle = iota
	// tokenErrors: a JSON body with the error's status (RFC 6749 §5.2:
	// token, revocation, introspection).
	tokenErrors
	// bearerErrors: a JSON body, with a Bearer challenge for a missing or
	// bad token (RFC 6750 §3: userinfo, premiuminfo).
	bearerErrors
)

// errorBody is the JSON of an error answer; a struct, so the members come
// in this order.
type errorBody struct {
	Error       ErrorCode `json:"error"`
	Description string    `json:"error_description"`
}

// writeError answers e as an endpoint of style does: the one place that
// picks redirect, page, JSON or challenge. The code is left for the
// observer (observed).
func writeError(c *fiber.Ctx, style errorStyle, e *OAuthError) error {
	c.Locals(errorCodeKey{}, e.Code)
	switch style {
	case authorizeErrors:
		c.Set(fiber.HeaderCacheControl, "no-store")
		c.Set("Pragma", "no-cache")
		if loc := e.ErrorRedirectURL(); loc != "" {
			c.Set(fiber.HeaderLocation, loc)
			return c.SendStatus(fiber.StatusFound)
		}
		return writeErrorPage(c, e, Page{Lang: DefaultLanguage, Look: LookOf(nil), Assets: AssetsPath})
	case tokenErrors:
		c.Set(fiber.HeaderCacheControl, "no-store")
		c.Set("Pragma", "no-cache")
		if e.basicChallenge {
			c.Set(fiber.HeaderWWWAuthenticate, `Basic realm="token"`)
		}
		if e.retryAfter > 0 {
			c.Set(fiber.HeaderRetryAfter, strconv.Itoa(int(math.Ceil(e.retryAfter.Seconds()))))
		}
		return c.Status(e.status).JSON(errorBody{e.Code, e.Description})
	}
	// bearerErrors. The Java SDK reads the challenge, which a missing
	// token gets too, with 401.
	status := e.status
	switch e.Code {
	case CodeInvalidRequest, CodeInvalidToken:
		status = fiber.StatusUnauthorized
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer error="`+string(e.Code)+`", error_description="`+e.Description+`"`)
		c.Set(fiber.HeaderCacheControl, "no-store")
	case CodeSlowDown:
		// A refusal to come back later, not an answer to keep: no
		// Cache-Control, as it has always been sent.
	default:
		c.Set(fiber.HeaderCacheControl, "no-store")
	}
	if e.retryAfter > 0 {
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(int(math.Ceil(e.retryAfter.Seconds()))))
	}
	return c.Status(status).JSON(errorBody{e.Code, e.Description})
}

// writeErrorPage answers a non-redirectable error of the authorization
// endpoint: a 400 page in p's language and look.
func writeErrorPage(c *fiber.Ctx, e *OAuthError, p Page) error {
	c.Locals(errorCodeKey{}, e.Code)
	c.Response().Header.Del(fiber.HeaderLocation)
	c.Set("Pragma", "no-cache")
	body, csp := renderErrorPage(e, p)
	return WritePage(c, fiber.StatusBadRequest, body, csp)
}

// argsValues copies fasthttp arguments (a query string or a form body)
// into url.Values, keeping repeated names.
func argsValues(args *fasthttp.Args) url.Values {
	v := url.Values{}
	args.VisitAll(func(k, val []byte) {
		key := string(k)
		v[key] = append(v[key], string(val))
	})
	return v
}
