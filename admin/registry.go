package admin

import (
	"github.com/gofiber/fiber/v2"

	"github.com/mcfed/mcfed/internal/e164"
	"github.com/mcfed/mcfed/registry"
)

// resource describes one registry entity kind for the generic CRUD handlers.
type resource[T any] struct {
	name string // for messages: "operator"
	// keyParam reads the entity's key from the path; setKey puts it into a
	// body, so a PUT cannot write under another key than its URL's.
	keyParam func(c *fiber.Ctx) string
	keyOf    func(*T) *string
	get      func(r *registry.Registry, key string) *T
	list     func(r *registry.Registry, c *fiber.Ctx) any
	put, del registry.CommandType
	// prepare fills defaults and checks what the registry cannot (nil: none).
	prepare func(v *T) error
}

func pathKey(name string) func(*fiber.Ctx) string {
	return func(c *fiber.Ctx) string { return c.Params(name) }
}

func (a *api) registryRoutes(v1 fiber.Router) {
	mount(v1, a, "/operators", "/:id", resource[registry.Operator]{
		name: "operator", keyParam: pathKey("id"),
		keyOf: func(o *registry.Operator) *string { return &o.ID },
		get:   (*registry.Registry).Operator,
		list: func(r *registry.Registry, c *fiber.Ctx) any {
			return r.Operators(c.Query("after"), c.QueryInt("limit"))
		},
		put: registry.CmdPutOperator, del: registry.CmdDeleteOperator,
		prepare: func(o *registry.Operator) error {
			if o.Status == "" {
				o.Status = registry.StatusActive
			}
			return nil
		},
	})
	mount(v1, a, "/ip-ranges", "/:addr/:bits", resource[registry.IPRange]{
		name: "IP range",
		keyParam: func(c *fiber.Ctx) string {
			return c.Params("addr") + "/" + c.Params("bits")
		},
		keyOf: func(r *registry.IPRange) *string { return &r.CIDR },
		get:   (*registry.Registry).IPRange,
		list: func(r *registry.Registry, c *fiber.Ctx) any {
			return r.IPRanges(c.Query("operator"), c.Query("after"), c.QueryInt("limit"))
		},
		put: registry.CmdPutIPRange, del: registry.CmdDeleteIPRange,
	})
	mount(v1, a, "/scopes", "/:name", resource[registry.Scope]{
		name: "scope", keyParam: pathKey("name"),
		keyOf: func(s *registry.Scope) *string { return &s.Name },
		get:   (*registry.Registry).Scope,
		list: func(r *registry.Registry, c *fiber.Ctx) any {
			return r.Scopes(c.Query("after"), c.QueryInt("limit"))
		},
		put: registry.CmdPutScope, del: registry.CmdDeleteScope,
	})
	mount(v1, a, "/products", "/:id", resource[registry.Product]{
		name: "product", keyParam: pathKey("id"),
		keyOf: func(p *registry.Product) *string { return &p.ID },
		get:   (*registry.Registry).Product,
		list: func(r *registry.Registry, c *fiber.Ctx) any {
			return r.Products(c.Query("after"), c.QueryInt("limit"))
		},
		put: registry.CmdPutProduct, del: registry.CmdDeleteProduct,
	})
	a.developerRoutes(v1)
	a.spRoutes(v1)
	a.operatorRoutes(v1)
	a.rangeRoutes(v1)
	a.portedRoutes(v1)
	a.portRequestRoutes(v1)
	v1.Get("/resolve/:msisdn", a.getResolve)
}

// mount registers list, create, read, replace and delete for a resource:
// GET and POST on base, GET, PUT and DELETE on base+item.
func mount[T any](v1 fiber.Router, a *api, base, item string, res resource[T]) {
	v1.Get(base, func(c *fiber.Ctx) error {
		if err := a.consistent(c); err != nil {
			return err
		}
		return c.JSON(res.list(a.c.Registry(), c))
	})
	v1.Get(base+item, func(c *fiber.Ctx) error {
		if err := a.consistent(c); err != nil {
			return err
		}
		key := res.keyParam(c)
		v := res.get(a.c.Registry(), key)
		if v == nil {
			return newProblem(404, "not-found", res.name+" "+key+" does not exist")
		}
		return c.JSON(v)
	})
	write := func(c *fiber.Ctx, key string, create bool) error {
		var v T
		if err := a.readJSON(c, &v); err != nil {
			return err
		}
		if key != "" {
			if k := res.keyOf(&v); *k != "" && *k != key {
				return badRequest("the body names " + *k + " but the URL names " + key)
			}
			*res.keyOf(&v) = key
		}
		key = *res.keyOf(&v)
		existed := res.get(a.c.Registry(), key) != nil
		if create && existed {
			return newProblem(409, "conflict", res.name+" "+key+" already exists; PUT replaces it")
		}
		if res.prepare != nil {
			if err := res.prepare(&v); err != nil {
				return err
			}
		}
		cmd := registry.MustEncode(res.put, &v)
		if create {
			// Decided in the registry: of two concurrent creates, one wins.
			cmd = registry.Create(cmd)
		}
		if _, err := a.c.Apply(c.UserContext(), presented(c), cmd); err != nil {
			return err
		}
		if !existed {
			c.Status(fiber.StatusCreated)
		}
		return c.JSON(res.get(a.c.Registry(), key))
	}
	v1.Post(base, func(c *fiber.Ctx) error { return write(c, "", true) })
	v1.Put(base+item, func(c *fiber.Ctx) error { return write(c, res.keyParam(c), false) })
	v1.Delete(base+item, func(c *fiber.Ctx) error {
		if _, err := a.c.Apply(c.UserContext(), presented(c), registry.MustEncode(res.del, registry.Key{Key: res.keyParam(c)})); err != nil {
			return err
		}
		return c.SendStatus(fiber.StatusNoContent)
	})
}

func (a *api) getResolve(c *fiber.Ctx) error {
	num, err := e164.Parse(c.Params("msisdn"))
	if err != nil {
		return badRequest(err.Error())
	}
	if err := a.consistent(c); err != nil {
		return err
	}
	res, ok := a.c.Registry().Resolve(num)
	if !ok {
		return newProblem(404, "not-found", e164.Format(num)+" is in no operator's range")
	}
	return c.JSON(fiber.Map{"msisdn": e164.Format(num), "operator": res.Operator.ID, "ported": res.Ported})
}
