package admin

import (
	"github.com/gofiber/fiber/v2"

	"github.com/mcfed/mcfed/internal/e164"
	"github.com/mcfed/mcfed/registry"
)

// PortRequestBody is the body of POST /v1/port-requests: the numbers the
// caller's operator wants, and the time the donor has to decide (at most
// the federation's porting rules' maximum; 0 or absent takes it).
type PortRequestBody struct {
	Numbers       []string `json:"numbers"`
	DeadlineHours float64  `json:"deadline_hours"`
}

// portRequestRoutes: a recipient operator's admin files a request, the
// donor's accepts or declines it (registry/portrequests.go says who may
// do what); both, and the federation admin, see the requests that concern
// them.
func (a *api) portRequestRoutes(v1 fiber.Router) {
	v1.Post("/port-requests", a.filePortRequest)
	v1.Get("/port-requests", func(c *fiber.Ctx) error {
		q := registry.PortRequestQuery{Donor: c.Query("donor"), Recipient: c.Query("recipient"),
			Status: registry.PortRequestStatus(c.Query("status")), After: c.Query("after"), Limit: c.QueryInt("limit")}
		op, err := a.portRequestReader(c)
		if err != nil {
			return err
		}
		q.Operator = op
		if err := a.consistent(c); err != nil {
			return err
		}
		return c.JSON(a.c.Registry().PortRequests(q))
	})
	v1.Get("/port-requests/:id", func(c *fiber.Ctx) error {
		op, err := a.portRequestReader(c)
		if err != nil {
			return err
		}
		if err := a.consistent(c); err != nil {
			return err
		}
		req := a.c.Registry().PortRequest(c.Params("id"))
		if req == nil || op != "" && req.Donor != op && req.Recipient != op {
			return newProblem(404, "not-found", "port request "+c.Params("id")+" does not exist")
		}
		return c.JSON(req)
	})
	for _, d := range []string{registry.DecideAccept, registry.DecideDecline, registry.DecideWithdraw, registry.DecideCancel} {
		v1.Post("/port-requests/:id/"+d, func(c *fiber.Ctx) error {
			id := c.Params("id")
			cmd := registry.MustEncode(registry.CmdDecidePortRequest, registry.PortDecision{ID: id, Decision: d})
			if _, err := a.c.Apply(c.UserContext(), presented(c), cmd); err != nil {
				return err
			}
			return c.JSON(a.c.Registry().PortRequest(id))
		})
	}
	v1.Get("/porting-rules", func(c *fiber.Ctx) error {
		if err := a.consistent(c); err != nil {
			return err
		}
		return c.JSON(a.c.Registry().PortingRules())
	})
	v1.Put("/porting-rules", func(c *fiber.Ctx) error {
		var rules registry.PortingRules
		if err := a.readJSON(c, &rules); err != nil {
			return err
		}
		if _, err := a.c.Apply(c.UserContext(), presented(c), registry.MustEncode(registry.CmdPutPortingRules, rules)); err != nil {
			return err
		}
		return c.JSON(a.c.Registry().PortingRules())
	})
}

// filePortRequest files a request for the caller's operator: the
// recipient is who the credential acts for, the donor who serves the
// numbers.
func (a *api) filePortRequest(c *fiber.Ctx) error {
	var body PortRequestBody
	if err := a.readJSON(c, &body); err != nil {
		return err
	}
	cred := a.credential(c)
	if cred == nil || cred.Revoked || cred.Role != registry.RoleOperatorAdmin || cred.Operator == "" {
		return newProblem(403, "forbidden", "a port request is filed by the recipient operator's admin")
	}
	f := registry.PortRequestFiling{Recipient: cred.Operator, DeadlineHours: body.DeadlineHours}
	for _, s := range body.Numbers {
		n, err := e164.Parse(s)
		if err != nil {
			return badRequest(err.Error())
		}
		f.Numbers = append(f.Numbers, n)
	}
	idx, err := a.c.Apply(c.UserContext(), presented(c), registry.MustEncode(registry.CmdFilePortRequest, f))
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(a.c.Registry().PortRequest(registry.PortRequestID(idx)))
}

// portRequestReader is whose requests the caller may read: "" for all (the
// federation admin, the porting authority), an operator admin's operator.
func (a *api) portRequestReader(c *fiber.Ctx) (string, error) {
	cred := a.credential(c)
	switch {
	case cred == nil || cred.Revoked:
		return "", newProblem(403, "forbidden", "this credential holds no role")
	case cred.Role == registry.RoleFederationAdmin || cred.Role == registry.RolePortingAuthority:
		return "", nil
	case cred.Role == registry.RoleOperatorAdmin:
		return cred.Operator, nil
	}
	return "", newProblem(403, "forbidden", "port requests are read by the operators' admins, the federation admin and the porting authority")
}
