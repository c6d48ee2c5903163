package federation

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/mcfed/mcfed/idgw"
	"github.com/mcfed/mcfed/internal/problem"
)

// routingAPI is the operator's routing policy on its admin API (under
// /v1, behind the operator-admin check, like its subscribers): the
// authenticators its gateway runs, in the configured order, and the rules
// that replace that order for every SP (the default) or for one SP. The
// rules are node-local operator data (idgw.RoutingRules, in the state
// store), never in the registry.
//
//	GET    /operator/routing                    the authenticators and the default rule
//	PUT    /operator/routing/default            {"authenticators": ["sim-pin", "sms-otp"]}
//	DELETE /operator/routing/default
//	GET    /operator/routing/sps?after=&limit=  the SPs' rules, by client_id
//	GET    /operator/routing/sps/:client_id
//	PUT    /operator/routing/sps/:client_id     {"authenticators": [...]}
//	DELETE /operator/routing/sps/:client_id
type routingAPI struct{ n *Node }

func (r routingAPI) Mount(v1 fiber.Router) {
	v1.Get("/operator/routing", r.overview)
	v1.Put("/operator/routing/default", r.put(false))
	v1.Delete("/operator/routing/default", r.delete(false))
	v1.Get("/operator/routing/sps", r.list)
	v1.Get("/operator/routing/sps/:client_id", r.get)
	v1.Put("/operator/routing/sps/:client_id", r.put(true))
	v1.Delete("/operator/routing/sps/:client_id", r.delete(true))
}

// rules are the gateway's, once the public listener has built it.
func (r routingAPI) rules() (*idgw.RoutingRules, error) {
	g := r.n.gateway.Load()
	if g == nil {
		return nil, problem.New(fiber.StatusServiceUnavailable, "no-gateway", "this node's gateway is not running (yet)")
	}
	return g.RoutingRules(), nil
}

func (r routingAPI) overview(c *fiber.Ctx) error {
	rules, err := r.rules()
	if err != nil {
		return err
	}
	out := idgw.RoutingOverview{Authenticators: []idgw.RoutingAuthenticator{}}
	for _, a := range rules.Authenticators() {
		out.Authenticators = append(out.Authenticators, idgw.RoutingAuthenticator{Name: a.Name, LoA: a.LoA, AMR: a.AMR, Enrolment: a.Enrolment})
	}
	switch d, err := rules.Get(c.UserContext(), ""); {
	case err == nil:
		out.Default = &d
	case !errors.Is(err, idgw.ErrNoRule):
		return err
	}
	return c.JSON(out)
}

// clientID is the path's SP, which must be registered: a rule for a
// client_id nobody has is a typo, said now rather than never applied.
func (r routingAPI) clientID(c *fiber.Ctx, mustExist bool) (string, error) {
	id := string([]byte(c.Params("client_id")))
	if id == "" {
		return "", problem.New(fiber.StatusBadRequest, "invalid", "a client_id is required")
	}
	if mustExist && r.n.raft.Registry().ServiceProvider(id) == nil {
		return "", problem.New(fiber.StatusNotFound, "not-found", "no service provider "+strconv.Quote(id)+" is registered")
	}
	return id, nil
}

func (r routingAPI) put(perSP bool) fiber.Handler {
	return func(c *fiber.Ctx) error {
		rules, err := r.rules()
		if err != nil {
			return err
		}
		var rule idgw.RoutingRule
		if perSP {
			if rule.ClientID, err = r.clientID(c, true); err != nil {
				return err
			}
		}
		var body struct {
			Authenticators []string `json:"authenticators"`
		}
		if err := strictJSON(c.Body(), &body); err != nil {
			return problem.New(fiber.StatusBadRequest, "invalid", `want {"authenticators": ["<name>", ...]}: `+err.Error())
		}
		rule.Authenticators = body.Authenticators
		stored, err := rules.Put(c.UserContext(), rule)
		var re *idgw.RuleError
		if errors.As(err, &re) {
			p := problem.New(fiber.StatusBadRequest, "invalid", re.Detail)
			p.Problem.Field = "authenticators"
			return p
		}
		if err != nil {
			return err
		}
		r.n.log.Info("routing rule set", "client_id", rule.ClientID, "authenticators", rule.Authenticators)
		return c.JSON(stored)
	}
}

func (r routingAPI) delete(perSP bool) fiber.Handler {
	return func(c *fiber.Ctx) error {
		rules, err := r.rules()
		if err != nil {
			return err
		}
		id := ""
		if perSP {
			if id, err = r.clientID(c, false); err != nil {
				return err
			}
		}
		if err := rules.Delete(c.UserContext(), id); errors.Is(err, idgw.ErrNoRule) {
			return problem.New(fiber.StatusNotFound, "not-found", "no routing rule is set")
		} else if err != nil {
			return err
		}
		r.n.log.Info("routing rule deleted", "client_id", id)
		return c.SendStatus(fiber.StatusNoContent)
	}
}

func (r routingAPI) get(c *fiber.Ctx) error {
	rules, err := r.rules()
	if err != nil {
		return err
	}
	id, err := r.clientID(c, false)
	if err != nil {
		return err
	}
	rule, err := rules.Get(c.UserContext(), id)
	if errors.Is(err, idgw.ErrNoRule) {
		return problem.New(fiber.StatusNotFound, "not-found", "no routing rule for "+strconv.Quote(id)+": the operator's order applies")
	}
	if err != nil {
		return err
	}
	return c.JSON(rule)
}

func (r routingAPI) list(c *fiber.Ctx) error {
	rules, err := r.rules()
	if err != nil {
		return err
	}
	limit := 100
	if s := c.Query("limit"); s != "" {
		if limit, err = strconv.Atoi(s); err != nil || limit < 1 || limit > 1000 {
			return problem.New(fiber.StatusBadRequest, "invalid", "limit is 1 to 1000")
		}
	}
	page, err := rules.List(c.UserContext(), c.Query("after"), limit+1)
	if err != nil {
		return err
	}
	out := idgw.RoutingRulePage{Rules: page}
	if len(page) > limit {
		out.Rules = page[:limit]
		out.Next = page[limit-1].ClientID
	}
	return c.JSON(out)
}

// strictJSON decodes a request body into v, refusing fields v has not (a
// typo is said, not ignored).
func strictJSON(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	return d.Decode(v)
}
