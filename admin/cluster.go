package admin

import (
	"context"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/mcfed/mcfed/raft"
	"github.com/mcfed/mcfed/registry"
)

func (a *api) getStatus(c *fiber.Ctx) error {
	st := a.c.Status(a.cfg.MaxStaleness)
	reg := a.c.Registry()
	return c.JSON(fiber.Map{
		"raft":     st,
		"registry": fiber.Map{"applied_index": reg.AppliedIndex(), "ported_numbers": reg.PortedCount()},
		"voters":   voterRulesBody(reg.VoterRules()),
	})
}

// joinTokenRequest asks for a join token that admits node NodeID, valid
// for TTLSeconds (default one hour, at most a week). The node's admin
// token will be operator admin of Operator, or federation admin with
// FederationAdmin (neither: it holds no role). Voter false admits it as a
// non-voting member (nil: a voter). AdditionalGateway admits a further
// gateway node of an operator that has one (high availability).
type joinTokenRequest struct {
	NodeID          string `json:"node_id"`
	Operator        string `json:"operator"`
	FederationAdmin bool   `json:"federation_admin"`
	TTLSeconds      int64  `json:"ttl_seconds"`
	Voter           *bool  `json:"voter"`
	// AdditionalGateway: see registry.JoinToken.
	AdditionalGateway bool `json:"additional_gateway"`
}

func (a *api) postJoinToken(c *fiber.Ctx) error {
	var req joinTokenRequest
	if len(c.Request().Header.ContentType()) > 0 {
		if err := a.readJSON(c, &req); err != nil {
			return err
		}
	}
	if req.NodeID == "" {
		return badRequest("node_id is required: a join token admits the node it names")
	}
	if req.AdditionalGateway && req.Operator == "" {
		return badRequest("additional_gateway needs operator: it admits a further gateway node of that operator")
	}
	if req.TTLSeconds == 0 {
		req.TTLSeconds = 3600
	}
	if req.TTLSeconds < 0 || req.TTLSeconds > 7*24*3600 {
		return badRequest("ttl_seconds must be between 1 and 604800")
	}
	token := randomToken()
	expires := time.Now().Add(time.Duration(req.TTLSeconds) * time.Second).Unix()
	t := registry.JoinToken{Hash: registry.HashSecret(token), ExpiresAt: expires, Node: req.NodeID,
		Operator: req.Operator, FederationAdmin: req.FederationAdmin, NonVoter: req.Voter != nil && !*req.Voter,
		AdditionalGateway: req.AdditionalGateway}
	if _, err := a.c.Apply(c.UserContext(), presented(c), registry.MustEncode(registry.CmdPutJoinToken, t)); err != nil {
		return withOnce(err, fiber.Map{"token": token, "expires_at": expires, "node_id": req.NodeID})
	}
	c.Status(fiber.StatusCreated)
	return c.JSON(fiber.Map{"token": token, "expires_at": expires, "node_id": req.NodeID, "voter": !t.NonVoter})
}

// deleteNode removes a node's record from the registry, then the server
// from Raft: the registry decides first whether the caller may (and
// records the attempt either way). It runs on the leader.
func (a *api) deleteNode(c *fiber.Ctx) error {
	id := c.Params("id")
	if a.c.Registry().Node(id) == nil {
		return newProblem(404, "not-found", "node "+id+" is not a member")
	}
	cmd := registry.MustEncode(registry.CmdDeleteNode, registry.Key{Key: id})
	judged, err := a.judgeFirst(c, cmd)
	if err != nil {
		return err
	}
	if !a.c.IsLeader() {
		return newProblem(421, "not-leader", "remove a node through the leader's admin API (see /v1/cluster/status)")
	}
	if id == a.cfg.NodeID {
		return newProblem(409, "conflict", "the leader cannot remove itself; remove it from another node after a new election")
	}
	if !judged {
		if _, err := a.c.Apply(c.UserContext(), presented(c), cmd); err != nil {
			return err
		}
	}
	if err := a.c.RemoveServer(id); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// Healthz answers the liveness probe (of the admin and the public
// listener): the process answers.
func Healthz(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"status": "ok"})
}

// Readyz answers the readiness probe with st, the node's status: ready
// when its replica can serve discovery (raft.Node.Ready: not halted, a
// leader is known and was heard from within the node's MaxStaleness, and
// the replica has caught up with the leader's commit index since start).
// warnings are what the node found wrong with its settings that does not
// stop it serving (a gateway with no authenticator logs nobody in): they
// do not make the node unready, since its discovery still serves.
func Readyz(c *fiber.Ctx, st raft.Status, warnings []string) error {
	if !st.Fresh {
		c.Status(fiber.StatusServiceUnavailable)
	}
	body := fiber.Map{"ready": st.Fresh, "reason": st.Reason, "applied_index": st.AppliedIndex,
		"since_leader_contact_ms": st.SinceLeaderContact.Milliseconds()}
	if len(warnings) > 0 {
		body["warnings"] = warnings
	}
	return c.JSON(body)
}

// consistent makes the next read linearizable when the caller asked for it
// with ?consistent=true.
func (a *api) consistent(c *fiber.Ctx) error {
	if c.QueryBool("consistent") {
		ctx, cancel := context.WithTimeout(c.UserContext(), 10*time.Second)
		defer cancel()
		return a.c.ReadIndex(ctx)
	}
	return nil
}
