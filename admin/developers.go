package admin

import (
	"github.com/gofiber/fiber/v2"

	"github.com/mcfed/mcfed/registry"
)

// developerRoutes mounts the catalogue's developers and APIs
// (registry/developers.go), written by the federation's admins like scopes
// and products, and a developer's suspension and activation: suspending a
// developer suspends every SP it owns at discovery and at every gateway.
func (a *api) developerRoutes(v1 fiber.Router) {
	mount(v1, a, "/developers", "/:id", resource[registry.Developer]{
		name: "developer", keyParam: pathKey("id"),
		keyOf: func(d *registry.Developer) *string { return &d.ID },
		get:   (*registry.Registry).Developer,
		list: func(r *registry.Registry, c *fiber.Ctx) any {
			return r.Developers(c.Query("after"), c.QueryInt("limit"))
		},
		put: registry.CmdPutDeveloper, del: registry.CmdDeleteDeveloper,
		prepare: func(d *registry.Developer) error {
			if d.Status == "" {
				d.Status = registry.StatusActive
			}
			return nil
		},
	})
	v1.Post("/developers/:id/suspend", func(c *fiber.Ctx) error { return a.setDeveloperStatus(c, registry.StatusSuspended) })
	v1.Post("/developers/:id/activate", func(c *fiber.Ctx) error { return a.setDeveloperStatus(c, registry.StatusActive) })
	mount(v1, a, "/apis", "/:id", resource[registry.API]{
		name: "API", keyParam: pathKey("id"),
		keyOf: func(p *registry.API) *string { return &p.ID },
		get:   (*registry.Registry).API,
		list: func(r *registry.Registry, c *fiber.Ctx) any {
			return r.APIs(c.Query("after"), c.QueryInt("limit"))
		},
		put: registry.CmdPutAPI, del: registry.CmdDeleteAPI,
	})
}

// setDeveloperStatus writes the developer back with status. The record is
// read from this node's replica: a concurrent change of its other fields
// may be overwritten, as with any PUT built from a GET.
func (a *api) setDeveloperStatus(c *fiber.Ctx, status registry.Status) error {
	d := a.c.Registry().Developer(c.Params("id"))
	if d == nil {
		return newProblem(404, "not-found", "developer "+c.Params("id")+" does not exist")
	}
	next := *d
	next.Status = status
	if _, err := a.c.Apply(c.UserContext(), presented(c), registry.MustEncode(registry.CmdPutDeveloper, &next)); err != nil {
		return err
	}
	return c.JSON(a.c.Registry().Developer(next.ID))
}
