package admin

import (
	"github.com/gofiber/fiber/v2"

	"github.com/mcfed/mcfed/internal/e164"
	"github.com/mcfed/mcfed/registry"
)

// OperatorRef is the body of a PUT on a range or a ported number.
type OperatorRef struct {
	Operator string `json:"operator"`
}

func (a *api) rangeRoutes(v1 fiber.Router) {
	v1.Get("/ranges", func(c *fiber.Ctx) error {
		if err := a.consistent(c); err != nil {
			return err
		}
		return c.JSON(a.c.Registry().Ranges(c.Query("operator"), c.Query("after"), c.QueryInt("limit")))
	})
	v1.Get("/ranges/:prefix", func(c *fiber.Ctx) error {
		if err := a.consistent(c); err != nil {
			return err
		}
		rg := a.c.Registry().Range(c.Params("prefix"))
		if rg == nil {
			return newProblem(404, "not-found", "range "+c.Params("prefix")+" does not exist")
		}
		return c.JSON(rg)
	})
	v1.Put("/ranges/:prefix", func(c *fiber.Ctx) error {
		var ref OperatorRef
		if err := a.readJSON(c, &ref); err != nil {
			return err
		}
		v, _, err := e164.ParsePrefix(c.Params("prefix"))
		if err != nil {
			return badRequest(err.Error())
		}
		prefix := e164.Format(v)
		existed := a.c.Registry().Range(prefix) != nil
		batch := registry.RangeBatch{Ranges: []registry.Range{{Prefix: prefix, Operator: ref.Operator}}}
		if _, err := a.c.Apply(c.UserContext(), presented(c), registry.MustEncode(registry.CmdPutRanges, batch)); err != nil {
			return err
		}
		if !existed {
			c.Status(fiber.StatusCreated)
		}
		return c.JSON(a.c.Registry().Range(prefix))
	})
	v1.Delete("/ranges/:prefix", func(c *fiber.Ctx) error {
		cmd := registry.MustEncode(registry.CmdDeleteRanges, registry.Keys{Keys: []string{c.Params("prefix")}})
		if _, err := a.c.Apply(c.UserContext(), presented(c), cmd); err != nil {
			return err
		}
		return c.SendStatus(fiber.StatusNoContent)
	})
	v1.Post("/ranges/import", a.importRanges)
}

// PortedNumber is how the admin API shows a ported number.
type PortedNumber struct {
	MSISDN   string `json:"msisdn"`
	Operator string `json:"operator"`
}

func (a *api) portedRoutes(v1 fiber.Router) {
	v1.Get("/ported/:msisdn", func(c *fiber.Ctx) error {
		num, err := e164.Parse(c.Params("msisdn"))
		if err != nil {
			return badRequest(err.Error())
		}
		if err := a.consistent(c); err != nil {
			return err
		}
		o := a.c.Registry().Ported(num)
		if o == nil {
			return newProblem(404, "not-found", e164.Format(num)+" is not ported")
		}
		return c.JSON(PortedNumber{MSISDN: e164.Format(num), Operator: o.ID})
	})
	v1.Put("/ported/:msisdn", func(c *fiber.Ctx) error {
		var ref OperatorRef
		if err := a.readJSON(c, &ref); err != nil {
			return err
		}
		if ref.Operator == "" {
			return badRequest("operator is required; DELETE un-ports a number")
		}
		return a.port(c, ref.Operator)
	})
	v1.Delete("/ported/:msisdn", func(c *fiber.Ctx) error { return a.port(c, "") })
	v1.Post("/ported/import", a.importPorted)
}

// port ports the number in the path to operator ("" un-ports it), with
// phonenumbers' full validation: single writes can afford it.
func (a *api) port(c *fiber.Ctx, operator string) error {
	num, err := e164.Parse(c.Params("msisdn"))
	if err != nil {
		return badRequest(err.Error())
	}
	reg := a.c.Registry()
	if !reg.InRange(num) {
		return badRequest(e164.Format(num) + " is in no operator's range: add the range first")
	}
	prev := reg.Ported(num)
	if operator == "" && prev == nil {
		return newProblem(404, "not-found", e164.Format(num)+" is not ported")
	}
	cmd, err := registry.EncodePorts([]registry.Port{{Number: num, Operator: operator}})
	if err != nil {
		return badRequest(err.Error())
	}
	if _, err := a.c.Apply(c.UserContext(), presented(c), cmd); err != nil {
		return err
	}
	if operator == "" {
		return c.SendStatus(fiber.StatusNoContent)
	}
	if prev == nil {
		c.Status(fiber.StatusCreated)
	}
	return c.JSON(PortedNumber{MSISDN: e164.Format(num), Operator: operator})
}
