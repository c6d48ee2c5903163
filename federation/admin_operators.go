package federation

import (
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/mcfed/mcfed/registry"
)

// operatorRoutes are the operator's life in the federation beyond its
// record: its decisions about SPs, suspension, and leaving.
func (n *Node) operatorRoutes(v1 fiber.Router) {
	v1.Get("/operators/:id/sp-policies", func(c *fiber.Ctx) error {
		if err := n.consistent(c); err != nil {
			return err
		}
		return c.JSON(n.cluster.node.Registry().SPPolicies(c.Params("id"), c.Query("after"), c.QueryInt("limit")))
	})
	v1.Get("/operators/:id/sp-policies/:client_id", func(c *fiber.Ctx) error {
		if err := n.consistent(c); err != nil {
			return err
		}
		p := n.cluster.node.Registry().SPPolicy(c.Params("id"), c.Params("client_id"))
		if p == nil {
			return newProblem(404, "not-found", "operator "+c.Params("id")+" has no policy for "+c.Params("client_id"))
		}
		return c.JSON(p)
	})
	v1.Put("/operators/:id/sp-policies/:client_id", n.putSPPolicy)
	v1.Delete("/operators/:id/sp-policies/:client_id", func(c *fiber.Ctx) error {
		k := registry.PolicyKey{Operator: c.Params("id"), ClientID: c.Params("client_id")}
		if _, err := n.cluster.node.Apply(c.UserContext(), registry.MustEncode(registry.CmdDeleteSPPolicy, k)); err != nil {
			return err
		}
		return c.SendStatus(fiber.StatusNoContent)
	})
	v1.Post("/operators/:id/suspend", func(c *fiber.Ctx) error { return n.setOperatorStatus(c, registry.StatusSuspended) })
	v1.Post("/operators/:id/activate", func(c *fiber.Ctx) error { return n.setOperatorStatus(c, registry.StatusActive) })
	v1.Post("/operators/:id/leave", n.postLeave)
	v1.Post("/operator/keys/rotate", n.postRotateKeys)
}

// rotateRequest chooses which of this node's operator keys to replace now;
// an empty body replaces both kinds.
type rotateRequest struct {
	Signing bool `json:"signing"`
	Sealing bool `json:"sealing"`
}

// postRotateKeys replaces the operator's keys now, on the operator's own
// node (private keys never leave it), and publishes the public halves in
// the operator's record. Signing keys rotate as on the schedule (old ones
// stay published until their tokens expire); the replaced sealing key still
// opens subscriber_ids sealed before the new one reached every replica.
func (n *Node) postRotateKeys(c *fiber.Ctx) error {
	if n.cfg.OperatorID == "" {
		return newProblem(404, "not-found", "this node serves no operator: rotate keys on the operator's own node")
	}
	req := rotateRequest{Signing: true, Sealing: true}
	if len(c.Body()) > 0 {
		req = rotateRequest{}
		if err := n.readJSON(c, &req); err != nil {
			return err
		}
	}
	if req.Sealing {
		// Rotate only once the previous rotation's key is the registered
		// one: rotating twice before publishing would leave the registry
		// naming a key that is neither current nor previous here, and no
		// subscriber_id from discovery would open.
		current, _, err := n.sealing.publicPEMs()
		if err != nil {
			return err
		}
		if o := n.cluster.node.Registry().Operator(n.cfg.OperatorID); o == nil || o.SealingKey == current {
			if err := n.sealing.rotate(); err != nil {
				return err
			}
		}
	}
	if req.Signing {
		// A period of zero makes every active key due.
		if err := n.rotateKeys(c.UserContext(), time.Now(), 0); err != nil {
			return err
		}
	}
	if err := n.publishOperator(c.UserContext()); err != nil {
		return err
	}
	o := n.cluster.node.Registry().Operator(n.cfg.OperatorID)
	if o == nil {
		return c.JSON(fiber.Map{"rotated": req})
	}
	return c.JSON(fiber.Map{"rotated": req, "jwks": o.JWKS, "sealing_key": o.SealingKey})
}

// putSPPolicy declines an SP ({"declined": true}) or limits its scopes
// ({"scopes": [...]}) at one operator.
func (n *Node) putSPPolicy(c *fiber.Ctx) error {
	var p registry.SPPolicy
	if err := n.readJSON(c, &p); err != nil {
		return err
	}
	for name, pair := range map[string][2]string{"operator": {p.Operator, c.Params("id")}, "client_id": {p.ClientID, c.Params("client_id")}} {
		if pair[0] != "" && pair[0] != pair[1] {
			return badRequest("the body's " + name + " " + pair[0] + " differs from the URL's " + pair[1])
		}
	}
	p.Operator, p.ClientID = c.Params("id"), c.Params("client_id")
	existed := n.cluster.node.Registry().SPPolicy(p.Operator, p.ClientID) != nil
	if _, err := n.cluster.node.Apply(c.UserContext(), registry.MustEncode(registry.CmdPutSPPolicy, p)); err != nil {
		return err
	}
	if !existed {
		c.Status(fiber.StatusCreated)
	}
	return c.JSON(n.cluster.node.Registry().SPPolicy(p.Operator, p.ClientID))
}

// setOperatorStatus suspends an operator (discovery stops routing to it,
// its gateway refuses logins) or lifts the suspension, leaving the rest of
// its record as it is.
func (n *Node) setOperatorStatus(c *fiber.Ctx, status registry.Status) error {
	id := c.Params("id")
	_, err := n.updateOperator(c.UserContext(), id, func(existing *registry.Operator) (*registry.Operator, error) {
		if existing == nil {
			return nil, newProblem(404, "not-found", "operator "+id+" does not exist")
		}
		rec := *existing
		rec.Status = status
		return &rec, nil
	})
	if err != nil {
		return err
	}
	n.log.Info("operator status changed", "operator", id, "status", status)
	return c.JSON(n.cluster.node.Registry().Operator(id))
}

// postLeave takes an operator out of the federation: its records go in one
// command (registry.CmdRemoveOperator), so discovery stops routing to it at
// once, then its nodes leave the Raft cluster. Like removing a node, it
// runs on the leader; and as the leader cannot remove itself, the leaving
// operator's own node must not be leading (it is asked to step down).
func (n *Node) postLeave(c *fiber.Ctx) error {
	id := c.Params("id")
	reg := n.cluster.node.Registry()
	if reg.Operator(id) == nil {
		return newProblem(404, "not-found", "operator "+id+" does not exist")
	}
	if !n.cluster.node.IsLeader() {
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
		if nid == n.cfg.NodeID {
			if err := n.cluster.node.LeadershipTransfer(); err != nil {
				return err
			}
			c.Set(fiber.HeaderRetryAfter, "2")
			return newProblem(503, "leadership-moved", "this node is the leaving operator's and led the cluster: "+
				"it has handed leadership over; repeat the call on the new leader (see /v1/cluster/status)")
		}
	}
	if _, err := n.cluster.node.Apply(c.UserContext(), registry.MustEncode(registry.CmdRemoveOperator, registry.Key{Key: id})); err != nil {
		return err
	}
	for _, nid := range nodes {
		if err := n.cluster.node.RemoveServer(nid); err != nil {
			return err
		}
	}
	n.log.Info("operator left the federation", "operator", id, "nodes", nodes)
	return c.JSON(fiber.Map{"operator": id, "removed_nodes": nodes})
}
