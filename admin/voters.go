package admin

import (
	"errors"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/mcfed/mcfed/raft"
	"github.com/mcfed/mcfed/registry"
)

// The federation's Raft voters (registry/voters.go, raft/voters.go): the
// federation admin names the voters and the standby non-voters, and
// promotes a non-voter by hand; the leader does the rest.

// VoterRulesBody is the body of PUT /v1/cluster/voters and the answer of
// its GET. Configured is false while the federation has named no voters
// (join tokens alone decide, and nobody is promoted automatically).
type VoterRulesBody struct {
	Voters              []string `json:"voters"`
	Standby             []string `json:"standby"`
	PromoteAfterSeconds int      `json:"promote_after_seconds"`
	LastPromotion       int64    `json:"last_promotion,omitempty"`
	Configured          bool     `json:"configured"`
}

// PromoteBody is the optional body of POST /v1/cluster/members/{id}/promote:
// the voter the promoted node replaces, which becomes a non-voter.
type PromoteBody struct {
	Replaces string `json:"replaces,omitempty"`
}

// MembershipChanger is the part of the node's Raft server that changes
// suffrage (*raft.Node); it must run on the leader.
type MembershipChanger interface {
	CheckPromotion(id, replaces string) error
	Promote(id string) error
	Demote(id string) error
}

func (a *api) voterRoutes(v1 fiber.Router) {
	v1.Get("/cluster/voters", a.getVoters)
	v1.Put("/cluster/voters", a.putVoters)
	v1.Post("/cluster/members/:id/promote", a.promote)
}

func voterRulesBody(r *registry.VoterRules) VoterRulesBody {
	if r == nil {
		return VoterRulesBody{Voters: []string{}, Standby: []string{}}
	}
	return VoterRulesBody{Voters: r.Voters, Standby: r.Standby, PromoteAfterSeconds: r.PromoteAfterSeconds,
		LastPromotion: r.LastPromotion, Configured: true}
}

func (a *api) getVoters(c *fiber.Ctx) error {
	if err := a.consistent(c); err != nil {
		return err
	}
	return c.JSON(voterRulesBody(a.c.Registry().VoterRules()))
}

// putVoters sets the rules: a federation admin's act (with k of n
// approvals on, a proposal), judged in the registry. The leader brings
// the Raft configuration to them in the following seconds.
func (a *api) putVoters(c *fiber.Ctx) error {
	var body VoterRulesBody
	if err := a.readJSON(c, &body); err != nil {
		return err
	}
	if body.LastPromotion != 0 || body.Configured {
		return badRequest("last_promotion and configured are the node's to say, not to set")
	}
	rules := registry.VoterRules{Voters: body.Voters, Standby: body.Standby, PromoteAfterSeconds: body.PromoteAfterSeconds}
	if _, err := a.c.Apply(c.UserContext(), presented(c), registry.MustEncode(registry.CmdPutVoterRules, rules)); err != nil {
		return err
	}
	return c.JSON(voterRulesBody(a.c.Registry().VoterRules()))
}

// promote makes a non-voting member a voter, in place of the voter the
// body names if any: the registry judges and records it first (federation
// admin only), then the leader changes Raft's configuration. It runs on
// the leader, which alone knows whether the node has caught up.
func (a *api) promote(c *fiber.Ctx) error {
	id := c.Params("id")
	var body PromoteBody
	if len(c.Request().Header.ContentType()) > 0 {
		if err := a.readJSON(c, &body); err != nil {
			return err
		}
	}
	mc, ok := a.cfg.Cluster.(MembershipChanger)
	if !ok {
		return newProblem(501, "not-implemented", "this node cannot change Raft's membership")
	}
	cmd := registry.MustEncode(registry.CmdPromoteNode, registry.Promotion{Node: id, Replaces: body.Replaces, Now: time.Now().Unix()})
	if !a.isFederationAdmin(c) {
		_, err := a.c.Apply(c.UserContext(), presented(c), cmd) // refused, and recorded
		if err == nil {
			err = newProblem(403, "forbidden", "promoting a node is the federation admin's")
		}
		return err
	}
	if a.c.Registry().Node(id) == nil {
		return newProblem(404, "unknown-member", "node "+id+" is not a member")
	}
	if !a.c.IsLeader() {
		return newProblem(421, "not-leader", "promote a node through the leader's admin API (see /v1/cluster/status)")
	}
	if err := mc.CheckPromotion(id, body.Replaces); err != nil {
		return err
	}
	if _, err := a.c.Apply(c.UserContext(), presented(c), cmd); err != nil {
		return err // a proposal, with k of n approvals: carried out when approved
	}
	if err := a.carryOutPromotion(registry.Promotion{Node: id, Replaces: body.Replaces}); err != nil {
		return err
	}
	st := a.c.Status(a.cfg.MaxStaleness)
	return c.JSON(fiber.Map{"promoted": id, "replaces": body.Replaces, "members": st.Members})
}

// carryOutPromotion changes Raft's configuration as a promotion the
// registry applied says, on the leader: what is done already is not an
// error (the leader's reconciliation may have been first).
func (a *api) carryOutPromotion(p registry.Promotion) error {
	mc, ok := a.cfg.Cluster.(MembershipChanger)
	if !ok {
		return newProblem(501, "not-implemented", "this node cannot change Raft's membership")
	}
	if err := mc.Promote(p.Node); err != nil && !errors.Is(err, raft.ErrAlreadyVoter) {
		return err
	}
	if p.Replaces != "" {
		if err := mc.Demote(p.Replaces); err != nil && !errors.Is(err, raft.ErrNotVoter) {
			return err
		}
	}
	return nil
}
