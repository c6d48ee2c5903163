package admin

import (
	"github.com/gofiber/fiber/v2"

	"github.com/mcfed/mcfed/registry"
)

// SettleBody is the body of POST /v1/disputes/{id}/settle: the operator
// the disputed range is awarded to, its claimant or its holder.
type SettleBody struct {
	Award string `json:"award"`
}

// disputeRoutes: the range disputes (registry/disputes.go). The federation
// admin sees them all and settles them; an operator admin sees those its
// operator is party to.
func (a *api) disputeRoutes(v1 fiber.Router) {
	v1.Get("/disputes", func(c *fiber.Ctx) error {
		q := registry.DisputeQuery{Status: registry.DisputeStatus(c.Query("status")), Operator: c.Query("operator"),
			After: c.Query("after"), Limit: c.QueryInt("limit")}
		op, err := a.disputeReader(c)
		if err != nil {
			return err
		}
		if op != "" {
			if q.Operator != "" && q.Operator != op {
				return newProblem(403, "forbidden", "an operator admin sees the disputes its own operator is party to")
			}
			q.Operator = op
		}
		if err := a.consistent(c); err != nil {
			return err
		}
		return c.JSON(a.c.Registry().Disputes(q))
	})
	v1.Get("/disputes/:id", func(c *fiber.Ctx) error {
		op, err := a.disputeReader(c)
		if err != nil {
			return err
		}
		if err := a.consistent(c); err != nil {
			return err
		}
		d := a.c.Registry().Dispute(c.Params("id"))
		if d == nil || op != "" && d.Claimant != op && d.Holder != op {
			return newProblem(404, "not-found", "dispute "+c.Params("id")+" does not exist")
		}
		return c.JSON(d)
	})
	v1.Post("/disputes/:id/settle", func(c *fiber.Ctx) error {
		var body SettleBody
		if err := a.readJSON(c, &body); err != nil {
			return err
		}
		id := c.Params("id")
		cmd := registry.MustEncode(registry.CmdSettleDispute, registry.Settlement{ID: id, Award: body.Award})
		if _, err := a.c.Apply(c.UserContext(), presented(c), cmd); err != nil {
			return err
		}
		return c.JSON(a.c.Registry().Dispute(id))
	})
}

// disputeReader is whose disputes the caller may read: "" for all (the
// federation admin), an operator admin's operator.
func (a *api) disputeReader(c *fiber.Ctx) (string, error) {
	cred := a.credential(c)
	switch {
	case cred == nil || cred.Revoked:
		return "", newProblem(403, "forbidden", "this credential holds no role")
	case cred.Role == registry.RoleFederationAdmin:
		return "", nil
	case cred.Role == registry.RoleOperatorAdmin && cred.Operator != "":
		return cred.Operator, nil
	}
	return "", newProblem(403, "forbidden", "disputes are read by the federation admin and the operators' admins")
}
