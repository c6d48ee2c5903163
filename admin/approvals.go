package admin

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/mcfed/mcfed/internal/requestid"
	"github.com/mcfed/mcfed/raft"
	"github.com/mcfed/mcfed/registry"
)

// Approvals of federation-admin acts (registry/approvals.go). When the
// federation requires k > 1 approvals, the registry records a federation
// admin's act as a pending proposal instead of applying it; every handler
// that writes then answers 202 with the proposal, because the write path
// (proposing, below) turns "applied as a proposal" into a proposedError
// that the error handler answers. Federation admins list, read, approve
// and reject proposals here, and set k.

// ApprovalRulesBody is the body of PUT /v1/approval-rules.
type ApprovalRulesBody struct {
	ApprovalsRequired int     `json:"approvals_required"`
	ExpiryHours       float64 `json:"expiry_hours,omitempty"`
}

// ProposalResponse is a proposal as the admin API shows it.
type ProposalResponse struct {
	ID        string   `json:"id"`
	What      string   `json:"what"`
	Keys      []string `json:"keys,omitempty"`
	Operators []string `json:"operators,omitempty"`
	// Body is the command's JSON body, verifiers and hashes left out.
	Body              json.RawMessage         `json:"body,omitempty"`
	Proposer          string                  `json:"proposer"`
	Status            registry.ProposalStatus `json:"status"`
	Approvals         []registry.Vote         `json:"approvals"`
	Rejections        []registry.Vote         `json:"rejections,omitempty"`
	ApprovalsCounted  int                     `json:"approvals_counted"`
	ApprovalsRequired int                     `json:"approvals_required"`
	// Times are the leader's clock, Unix milliseconds.
	ProposedAt int64         `json:"proposed_at"`
	ExpiresAt  int64         `json:"expires_at"`
	DecidedAt  int64         `json:"decided_at,omitempty"`
	Code       registry.Code `json:"code,omitempty"`
	Reason     string        `json:"reason,omitempty"`
}

func proposalView(reg *registry.Registry, p *registry.Proposal) ProposalResponse {
	out := ProposalResponse{ID: p.ID, What: p.What, Keys: p.Keys, Operators: p.Operators, Body: commandBody(p.Command),
		Proposer: p.Proposer, Status: p.Status, Approvals: p.Approvals, Rejections: p.Rejections,
		ApprovalsRequired: reg.ApprovalRules().Required, ProposedAt: p.ProposedAt, ExpiresAt: p.ExpiresAt,
		DecidedAt: p.DecidedAt, Code: p.Code, Reason: p.Reason}
	for _, v := range p.Approvals {
		if c := reg.Credential(v.Credential); c != nil && !c.Revoked && c.Role == registry.RoleFederationAdmin {
			out.ApprovalsCounted++
		}
	}
	return out
}

// commandBody is a command's JSON body (a create's, inside its wrapper),
// without the fields that hold verifiers; nil for a binary body.
func commandBody(cmd []byte) json.RawMessage {
	if len(cmd) >= 4 && registry.CommandType(cmd[0]) == registry.CmdCreate {
		cmd = cmd[2:]
	}
	if len(cmd) < 2 {
		return nil
	}
	var v any
	if json.Unmarshal(cmd[2:], &v) != nil {
		return nil
	}
	b, err := json.Marshal(redact(v))
	if err != nil {
		return nil
	}
	return b
}

// redact drops the members that hold a secret's verifier or hash.
func redact(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			switch k {
			case "verifier", "secret_hash", "hash":
				delete(x, k)
			default:
				x[k] = redact(e)
			}
		}
	case []any:
		for i, e := range x {
			x[i] = redact(e)
		}
	}
	return v
}

// proposedError: the write was recorded as a proposal; the answer is 202.
// once holds what the handler shows once (an issued token), which the
// proposer needs when the act applies.
type proposedError struct {
	p    *registry.Proposal
	once fiber.Map
}

func (e *proposedError) Error() string {
	return "proposal " + e.p.ID + " waits for the federation admins' approvals"
}

// withOnce adds what the handler would have shown once to a proposal's
// answer; other errors pass.
func withOnce(err error, once fiber.Map) error {
	if pe, ok := errors.AsType[*proposedError](err); ok {
		return &proposedError{p: pe.p, once: once}
	}
	return err
}

// answerProposed answers 202 with the proposal.
func (a *api) answerProposed(c *fiber.Ctx, pe *proposedError) error {
	out := fiber.Map{"proposal": proposalView(a.c.Registry(), pe.p),
		"detail": "a federation-admin act needs the approvals of other federation admins: POST /v1/approvals/" + pe.p.ID + "/approve"}
	for k, v := range pe.once {
		if v != "" {
			out[k] = v
		}
	}
	c.Set(fiber.HeaderLocation, "/v1/approvals/"+pe.p.ID)
	c.Status(fiber.StatusAccepted)
	return c.JSON(out)
}

// proposing is the write path as handlers see it: a write the registry
// recorded as a proposal comes back as a proposedError.
type proposing struct{ Cluster }

func (c proposing) Apply(ctx context.Context, p raft.Presented, cmd []byte) (uint64, error) {
	idx, err := c.Cluster.Apply(ctx, p, cmd)
	if err == nil {
		if prop := c.Registry().Proposal(strconv.FormatUint(idx, 10)); prop != nil && prop.CreateIndex == idx {
			return idx, &proposedError{p: prop}
		}
	}
	return idx, err
}

// Update finds its write's proposal by the request's id among those made
// since it began: Update does not tell the index it wrote at.
func (c proposing) Update(ctx context.Context, p raft.Presented, build func(*registry.Registry) ([]byte, error)) (bool, error) {
	before := c.Registry().AppliedIndex()
	written, err := c.Cluster.Update(ctx, p, build)
	rid := requestid.From(ctx)
	if err != nil || !written || rid == "" {
		return written, err
	}
	page := c.Registry().Proposals(registry.ProposalQuery{Status: registry.ProposalPending, After: strconv.FormatUint(before, 10)})
	for _, prop := range page.Items {
		if prop.Proposer == p.Credential && prop.RequestID == rid {
			return false, &proposedError{p: prop}
		}
	}
	return written, nil
}

func (a *api) approvalRoutes(v1 fiber.Router) {
	v1.Get("/approval-rules", func(c *fiber.Ctx) error {
		if err := a.consistent(c); err != nil {
			return err
		}
		reg := a.c.Registry()
		rules := reg.ApprovalRules()
		return c.JSON(fiber.Map{"approvals_required": rules.Required, "expiry_hours": rules.ExpiryHours,
			"federation_admins": reg.FederationAdmins()})
	})
	v1.Put("/approval-rules", func(c *fiber.Ctx) error {
		var body ApprovalRulesBody
		if err := a.readJSON(c, &body); err != nil {
			return err
		}
		n := a.c.Registry().FederationAdmins()
		switch {
		case body.ApprovalsRequired < 1:
			return newProblem(422, "invalid-approvals", "approvals_required must be at least 1")
		case body.ApprovalsRequired > 1 && body.ApprovalsRequired > n:
			return newProblem(422, "invalid-approvals", "approvals_required "+strconv.Itoa(body.ApprovalsRequired)+
				" is more than the "+strconv.Itoa(n)+" active federation admins")
		case body.ExpiryHours < 0 || body.ExpiryHours > registry.MaxProposalHours:
			return newProblem(422, "invalid-approvals", "expiry_hours must be between 0 (the default, 24) and "+strconv.Itoa(registry.MaxProposalHours))
		}
		cmd := registry.MustEncode(registry.CmdPutApprovalRules, registry.ApprovalRules{Required: body.ApprovalsRequired, ExpiryHours: body.ExpiryHours})
		if _, err := a.c.Apply(c.UserContext(), presented(c), cmd); err != nil {
			return err
		}
		rules := a.c.Registry().ApprovalRules()
		return c.JSON(fiber.Map{"approvals_required": rules.Required, "expiry_hours": rules.ExpiryHours})
	})
	v1.Get("/approvals", func(c *fiber.Ctx) error {
		if err := a.readProposals(c); err != nil {
			return err
		}
		reg := a.c.Registry()
		page := reg.Proposals(registry.ProposalQuery{Status: registry.ProposalStatus(c.Query("status")),
			After: c.Query("after"), Limit: c.QueryInt("limit")})
		out := struct {
			Items []ProposalResponse `json:"items"`
			Next  string             `json:"next,omitempty"`
		}{Items: []ProposalResponse{}, Next: page.Next}
		for _, p := range page.Items {
			out.Items = append(out.Items, proposalView(reg, p))
		}
		return c.JSON(out)
	})
	v1.Get("/approvals/:id", func(c *fiber.Ctx) error {
		if err := a.readProposals(c); err != nil {
			return err
		}
		reg := a.c.Registry()
		p := reg.Proposal(c.Params("id"))
		if p == nil {
			return newProblem(404, "not-found", "proposal "+c.Params("id")+" does not exist")
		}
		return c.JSON(proposalView(reg, p))
	})
	v1.Post("/approvals/:id/approve", func(c *fiber.Ctx) error { return a.decideProposal(c, registry.DecideApprove) })
	v1.Post("/approvals/:id/reject", func(c *fiber.Ctx) error { return a.decideProposal(c, registry.DecideReject) })
}

// decideProposal votes; the registry decides whether the caller may (403),
// whether the proposal is still open (404, 409), and applies it when the
// votes reach k.
func (a *api) decideProposal(c *fiber.Ctx, decision string) error {
	id := c.Params("id")
	// Read the proposal as the leader holds it: this replica may not have
	// it yet.
	if err := a.c.ReadIndex(c.UserContext()); err != nil {
		return err
	}
	reg := a.c.Registry()
	var leaving []string
	if p := reg.Proposal(id); p != nil && decision == registry.DecideApprove {
		leaving = membersLeaving(reg, p)
	}
	var promotion *registry.Promotion
	if p := reg.Proposal(id); p != nil && decision == registry.DecideApprove {
		promotion = promotionOf(p)
	}
	if promotion != nil && !a.c.IsLeader() {
		// Its application changes Raft's voters, which the leader does.
		return newProblem(421, "not-leader", "this proposal promotes a node: approve it through the leader's admin API (see /v1/cluster/status)")
	}
	if len(leaving) > 0 {
		// The proposal takes nodes out of the registry; whoever applies
		// it takes them out of Raft too, as DELETE /v1/cluster/nodes
		// and .../leave do: on the leader, which cannot remove itself.
		if !a.c.IsLeader() {
			return newProblem(421, "not-leader", "this proposal removes nodes: approve it through the leader's admin API (see /v1/cluster/status)")
		}
		if slices.Contains(leaving, a.cfg.NodeID) {
			if err := a.c.LeadershipTransfer(); err != nil {
				return err
			}
			c.Set(fiber.HeaderRetryAfter, "2")
			return newProblem(503, "leadership-moved", "this proposal removes this node, which led the cluster: "+
				"it has handed leadership over; approve on the new leader (see /v1/cluster/status)")
		}
	}
	cmd := registry.MustEncode(registry.CmdDecideProposal, registry.ProposalDecision{ID: id, Decision: decision})
	if _, err := a.c.Apply(c.UserContext(), presented(c), cmd); err != nil {
		return err
	}
	reg = a.c.Registry()
	p := reg.Proposal(id)
	if p.Status == registry.ProposalApplied {
		for _, nid := range leaving {
			if err := a.c.RemoveServer(nid); err != nil {
				return err
			}
		}
		if promotion != nil {
			if err := a.carryOutPromotion(*promotion); err != nil {
				return err
			}
		}
	}
	return c.JSON(proposalView(reg, p))
}

// promotionOf is the promotion a proposal makes, or nil.
func promotionOf(p *registry.Proposal) *registry.Promotion {
	var pr registry.Promotion
	if len(p.Command) < 2 || registry.CommandType(p.Command[0]) != registry.CmdPromoteNode || json.Unmarshal(p.Command[2:], &pr) != nil {
		return nil
	}
	return &pr
}

// membersLeaving are the nodes a proposal removes from the registry, whom
// its application must remove from Raft.
func membersLeaving(reg *registry.Registry, p *registry.Proposal) []string {
	if len(p.Command) < 2 {
		return nil
	}
	var k registry.Key
	switch registry.CommandType(p.Command[0]) {
	case registry.CmdDeleteNode:
		if json.Unmarshal(p.Command[2:], &k) == nil && reg.Node(k.Key) != nil {
			return []string{k.Key}
		}
	case registry.CmdRemoveOperator:
		if json.Unmarshal(p.Command[2:], &k) != nil {
			return nil
		}
		var ids []string
		for after := ""; ; {
			page := reg.Nodes(after, 100)
			for _, n := range page.Items {
				if n.Operator == k.Key {
					ids = append(ids, n.ID)
				}
			}
			if page.Next == "" {
				return ids
			}
			after = page.Next
		}
	}
	return nil
}

// noBulkProposals refuses a federation admin's import while its acts need
// approvals: each batch would be a proposal of its own.
func (a *api) noBulkProposals(p raft.Presented) error {
	reg := a.c.Registry()
	cred := reg.Credential(p.Credential)
	if k := reg.ApprovalRules().Required; k > 1 && cred != nil && cred.Role == registry.RoleFederationAdmin {
		return newProblem(409, "approvals-required", "a federation admin's acts need "+strconv.Itoa(k)+
			" approvals, one proposal each: an import is not proposed; import as the operator's admin (ranges) or the porting authority (ported numbers)")
	}
	return nil
}

// readProposals lets federation admins read proposals, consistently when
// they ask.
func (a *api) readProposals(c *fiber.Ctx) error {
	if !a.isFederationAdmin(c) {
		return newProblem(403, "forbidden", "proposals are the federation admins'")
	}
	return a.consistent(c)
}
