package admin

import (
	"github.com/gofiber/fiber/v2"

	"github.com/mcfed/mcfed/registry"
)

// operatorRoutes are the operator's life in the federation beyond its
// record: its decisions about SPs, suspension, and leaving.
func (a *api) operatorRoutes(v1 fiber.Router) {
	v1.Get("/operators/:id/sp-policies", func(c *fiber.Ctx) error {
		if err := a.consistent(c); err != nil {
			return err
		}
		return c.JSON(a.c.Registry().SPPolicies(c.Params("id"), c.Query("after"), c.QueryInt("limit")))
	})
	v1.Get("/operators/:id/sp-policies/:client_id", func(c *fiber.Ctx) error {
		if err := a.consistent(c); err != nil {
			return err
		}
		p := a.c.Registry().SPPolicy(c.Params("id"), c.Params("client_id"))
		if p == nil {
			return newProblem(404, "not-found", "operator "+c.Params("id")+" has no policy for "+c.Params("client_id"))
		}
		return c.JSON(p)
	})
	v1.Put("/operators/:id/sp-policies/:client_id", a.putSPPolicy)
	v1.Delete("/operators/:id/sp-policies/:client_id", func(c *fiber.Ctx) error {
		k := registry.PolicyKey{Operator: c.Params("id"), ClientID: c.Params("client_id")}
		if _, err := a.c.Apply(c.UserContext(), presented(c), registry.MustEncode(registry.CmdDeleteSPPolicy, k)); err != nil {
			return err
		}
		return c.SendStatus(fiber.StatusNoContent)
	})
	v1.Post("/operators/:id/suspend", func(c *fiber.Ctx) error { return a.setOperatorStatus(c, registry.StatusSuspended) })
	v1.Post("/operators/:id/activate", func(c *fiber.Ctx) error { return a.setOperatorStatus(c, registry.StatusActive) })
	v1.Post("/operators/:id/leave", a.postLeave)
	v1.Post("/operator/keys/rotate", a.requireOwnOperator, a.postRotateKeys)
}

// RotateRequest chooses which of this node's operator keys to replace now;
// an empty body replaces both kinds.
type RotateRequest struct {
	Signing bool `json:"signing"`
	Sealing bool `json:"sealing"`
}

// postRotateKeys replaces the operator's keys now, on the operator's own
// node (private keys never leave it), and publishes the public halves in
// the operator's record. Signing keys rotate as on the schedule (old ones
// stay published until their tokens expire); the replaced sealing key still
// opens subscriber_ids sealed before the new one reached every replica.
func (a *api) postRotateKeys(c *fiber.Ctx) error {
	if a.cfg.OperatorID == "" || a.cfg.Keys == nil {
		return newProblem(404, "not-found", "this node serves no operator: rotate keys on the operator's own node")
	}
	req := RotateRequest{Signing: true, Sealing: true}
	if len(c.Body()) > 0 {
		req = RotateRequest{}
		if err := a.readJSON(c, &req); err != nil {
			return err
		}
	}
	if err := a.cfg.Keys.RotateKeys(c.UserContext(), req.Signing, req.Sealing); err != nil {
		return err
	}
	o := a.c.Registry().Operator(a.cfg.OperatorID)
	if o == nil {
		return c.JSON(fiber.Map{"rotated": req})
	}
	return c.JSON(fiber.Map{"rotated": req, "jwks": o.JWKS, "sealing_key": o.SealingKey, "seal_keys": o.SealKeys})
}

// putSPPolicy declines an SP ({"declined": true}) or limits its scopes
// ({"scopes": [...]}) at one operator.
func (a *api) putSPPolicy(c *fiber.Ctx) error {
	var p registry.SPPolicy
	if err := a.readJSON(c, &p); err != nil {
		return err
	}
	for name, pair := range map[string][2]string{"operator": {p.Operator, c.Params("id")}, "client_id": {p.ClientID, c.Params("client_id")}} {
		if pair[0] != "" && pair[0] != pair[1] {
			return badRequest("the body's " + name + " " + pair[0] + " differs from the URL's " + pair[1])
		}
	}
	p.Operator, p.ClientID = c.Params("id"), c.Params("client_id")
	existed := a.c.Registry().SPPolicy(p.Operator, p.ClientID) != nil
	if _, err := a.c.Apply(c.UserContext(), presented(c), registry.MustEncode(registry.CmdPutSPPolicy, p)); err != nil {
		return err
	}
	if !existed {
		c.Status(fiber.StatusCreated)
	}
	return c.JSON(a.c.Registry().SPPolicy(p.Operator, p.ClientID))
}

// setOperatorStatus suspends an operator (discovery stops routing to it,
// its gateway refuses logins) or lifts the suspension, leaving the rest of
// its record as it is.
func (a *api) setOperatorStatus(c *fiber.Ctx, status registry.Status) error {
	id := c.Params("id")
	// Read at the leader's index and write only if nobody changed the
	// record since: a key publication racing the suspension cannot undo it.
	_, err := a.c.Update(c.UserContext(), presented(c), func(reg *registry.Registry) ([]byte, error) {
		existing := reg.Operator(id)
		if existing == nil {
			return nil, newProblem(404, "not-found", "operator "+id+" does not exist")
		}
		if existing.Status == status {
			return nil, nil
		}
		u := registry.OperatorUpdate{Operator: *existing, IfIndex: existing.ModifyIndex}
		u.Operator.Status = status
		return registry.MustEncode(registry.CmdUpdateOperator, u), nil
	})
	if err != nil {
		return err
	}
	a.log.Info("operator status changed", "operator", id, "status", status)
	return c.JSON(a.c.Registry().Operator(id))
}

// postLeave takes an operator out of the federation: its records go in one
// command (registry.CmdRemoveOperator), so discovery stops routing to it at
// once, then its nodes leave the Raft cluster. Like removing a node, it
// runs on the leader; and as the leader cannot remove itself, the leaving
// operator's own node must not be leading (it is asked to step down).
func (a *api) postLeave(c *fiber.Ctx) error {
	id := c.Params("id")
	reg := a.c.Registry()
	if reg.Operator(id) == nil {
		return newProblem(404, "not-found", "operator "+id+" does not exist")
	}
	remove := registry.MustEncode(registry.CmdRemoveOperator, registry.Key{Key: id})
	judged, err := a.judgeFirst(c, remove)
	if err != nil {
		return err
	}
	if !a.c.IsLeader() {
		return newProblem(421, "not-leader", "an operator leaves through the leader's admin API (see /v1/cluster/status)")
	}
	var nodes []string
	for after := ""; ; {
		page := reg.Nodes(after, 100)
		for _, rec := range page.Items {
			if rec.Operator == id {
				nodes = append(nodes, rec.ID)
			}
		}
		if page.Next == "" {
			break
		}
		after = page.Next
	}
	for _, nid := range nodes {
		if nid == a.cfg.NodeID && !judged {
			if err := a.c.LeadershipTransfer(); err != nil {
				return err
			}
			c.Set(fiber.HeaderRetryAfter, "2")
			return newProblem(503, "leadership-moved", "this node is the leaving operator's and led the cluster: "+
				"it has handed leadership over; repeat the call on the new leader (see /v1/cluster/status)")
		}
	}
	if !judged {
		if _, err := a.c.Apply(c.UserContext(), presented(c), remove); err != nil {
			return err
		}
	}
	for _, nid := range nodes {
		if err := a.c.RemoveServer(nid); err != nil {
			return err
		}
	}
	a.log.Info("operator left the federation", "operator", id, "nodes", nodes)
	return c.JSON(fiber.Map{"operator": id, "removed_nodes": nodes})
}
