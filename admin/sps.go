package admin

import (
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/mcfed/mcfed/internal/spsecret"
	"github.com/mcfed/mcfed/registry"
)

// SPRequest is an SP as the admin API takes it: the registry's fields, and
// the plaintext client secret, from which the node derives the public key
// it stores (registry.ServiceProvider.SecretKey); the secret itself is
// never stored or logged. Without one, a new SP gets a generated secret; a
// given one must pass registry.CheckGivenSecret.
type SPRequest struct {
	registry.ServiceProvider
	ClientSecret string `json:"client_secret,omitempty"`
	// AuthMethod "private_key_jwt" registers an SP with keys (jwks or
	// jwks_uri) and no secret: it authenticates to gateways with signed
	// assertions only. Discovery authenticates SPs with their secret, so
	// such an SP cannot call it; an SP with keys and a secret can use both.
	AuthMethod string `json:"token_endpoint_auth_method,omitempty"`
}

// SPResponse shows the client secret once, when it was made or changed.
type SPResponse struct {
	*registry.ServiceProvider
	ClientSecret string `json:"client_secret,omitempty"`
}

func (a *api) spRoutes(v1 fiber.Router) {
	v1.Get("/service-providers", func(c *fiber.Ctx) error {
		if err := a.consistent(c); err != nil {
			return err
		}
		if c.QueryBool("redirect_check") {
			// The migration check: SPs registered before the redirect URI
			// rule whose URIs it now refuses. Their next write must fix them.
			return c.JSON(a.c.Registry().RedirectChecks(c.Query("after"), c.QueryInt("limit")))
		}
		return c.JSON(a.c.Registry().ServiceProviders(c.Query("after"), c.QueryInt("limit")))
	})
	v1.Get("/service-providers/:id", func(c *fiber.Ctx) error {
		if err := a.consistent(c); err != nil {
			return err
		}
		sp := a.c.Registry().ServiceProviderRecord(c.Params("id"))
		if sp == nil {
			return newProblem(404, "not-found", "service provider "+c.Params("id")+" does not exist")
		}
		return c.JSON(sp)
	})
	v1.Post("/service-providers", func(c *fiber.Ctx) error { return a.writeSP(c, "") })
	v1.Post("/service-providers/:id/secret", a.rotateSPSecret)
	v1.Put("/service-providers/:id", func(c *fiber.Ctx) error { return a.writeSP(c, c.Params("id")) })
	v1.Delete("/service-providers/:id", func(c *fiber.Ctx) error {
		cmd := registry.MustEncode(registry.CmdDeleteSP, registry.Key{Key: c.Params("id")})
		if _, err := a.c.Apply(c.UserContext(), presented(c), cmd); err != nil {
			return err
		}
		return c.SendStatus(fiber.StatusNoContent)
	})
}

// writeSP creates (POST, id "") or creates-or-replaces (PUT) an SP.
func (a *api) writeSP(c *fiber.Ctx, id string) error {
	var req SPRequest
	if err := a.readJSON(c, &req); err != nil {
		return err
	}
	sp := req.ServiceProvider
	if id != "" {
		if sp.ClientID != "" && sp.ClientID != id {
			return badRequest("the body names " + sp.ClientID + " but the URL names " + id)
		}
		sp.ClientID = id
	}
	if sp.SecretHash != "" || sp.SecretKey != "" {
		return badRequest("send client_secret, not secret_hash or secret_key: the node derives what it stores, or leave all out to have a secret generated")
	}
	// Checked here, for new writes only, not in the registry's apply: a
	// log written before the rule must still replay its SPs.
	if err := sp.CheckRedirectURIs(); err != nil {
		return err
	}
	existing := a.c.Registry().ServiceProviderRecord(sp.ClientID)
	if id == "" && existing != nil {
		return newProblem(409, "conflict", "service provider "+sp.ClientID+" already exists; PUT replaces it")
	}
	secret := req.ClientSecret
	switch req.AuthMethod {
	case "", "client_secret_basic", "client_secret_post":
	case "private_key_jwt":
		if secret != "" {
			return badRequest("token_endpoint_auth_method private_key_jwt registers no secret: leave client_secret out")
		}
		if len(sp.JWKS) == 0 && sp.JWKSURI == "" {
			return badRequest("private_key_jwt needs the SP's public keys: give jwks or jwks_uri")
		}
	default:
		return badRequest("token_endpoint_auth_method: use client_secret_basic, client_secret_post or private_key_jwt")
	}
	switch {
	case req.AuthMethod == "private_key_jwt":
		// keys only: no secret, and a replaced SP loses the one it had
	case secret != "":
		if err := registry.CheckGivenSecret(secret); err != nil {
			return err
		}
	case existing != nil:
		// keep the current secret, in whichever form it is: a legacy SP
		// stays legacy until its secret is rotated
		sp.SecretKey, sp.SecretHash = existing.SecretKey, existing.SecretHash
	default:
		secret = randomToken()
	}
	if len(sp.Scopes) == 0 {
		return a.noScopes()
	}
	if secret != "" {
		sp.SecretKey = spsecret.PublicKey(secret)
	}
	if sp.Status == "" {
		sp.Status = registry.StatusActive
	}
	if len(sp.Operators) == 0 {
		sp.Operators = []string{registry.AllOperators}
	}
	cmd := registry.MustEncode(registry.CmdPutSP, &sp)
	if id == "" {
		// Decided in the registry: of two concurrent creates, one wins,
		// and only its secret is ever handed out.
		cmd = registry.Create(cmd)
	}
	if _, err := a.c.Apply(c.UserContext(), presented(c), cmd); err != nil {
		return withOnce(err, fiber.Map{"client_secret": secret})
	}
	if existing == nil {
		c.Status(fiber.StatusCreated)
	}
	return c.JSON(SPResponse{ServiceProvider: a.c.Registry().ServiceProviderRecord(sp.ClientID), ClientSecret: secret})
}

// rotateSPSecret gives an SP a new generated secret, in the per-operator
// form, and shows it once: how anyone rotates a secret, and how a legacy SP
// (one secret everywhere) moves to per-operator secrets. Every secret
// derived from the old one stops working as the change reaches each node.
func (a *api) rotateSPSecret(c *fiber.Ctx) error {
	existing := a.c.Registry().ServiceProviderRecord(c.Params("id"))
	if existing == nil {
		return newProblem(404, "not-found", "service provider "+c.Params("id")+" does not exist")
	}
	sp := *existing
	secret := randomToken()
	sp.SecretKey, sp.SecretHash = spsecret.PublicKey(secret), ""
	sp.Meta = registry.Meta{}
	if _, err := a.c.Apply(c.UserContext(), presented(c), registry.MustEncode(registry.CmdPutSP, &sp)); err != nil {
		// With approvals on, the new secret takes effect when approved:
		// the proposal's answer is the one place it is ever shown.
		return withOnce(err, fiber.Map{"client_secret": secret})
	}
	return c.JSON(SPResponse{ServiceProvider: a.c.Registry().ServiceProviderRecord(sp.ClientID), ClientSecret: secret})
}

// noScopes refuses an SP without scopes, naming the catalogue's: an SP
// with none could be registered but never log anybody in, and no default
// is given, since which products an SP may use is the federation's
// agreement with it, not something to grant by omission. Checked here,
// for new writes only, as the redirect URIs are.
func (a *api) noScopes() error {
	const shown = 50
	page := a.c.Registry().Scopes("", shown)
	if len(page.Items) == 0 {
		return badRequest("an SP needs at least one scope (\"scopes\": [\"openid\", ...]), and the catalogue has none: put the scopes first (PUT /v1/scopes/{name})")
	}
	names := make([]string, 0, len(page.Items))
	for _, sc := range page.Items {
		names = append(names, sc.Name)
	}
	more := ""
	if page.Next != "" {
		more = ", ... (GET /v1/scopes lists them all)"
	}
	return badRequest("an SP needs at least one scope (\"scopes\": [\"openid\", ...]); the catalogue holds: " + strings.Join(names, ", ") + more)
}
