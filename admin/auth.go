package admin

import (
	"context"
	"crypto/subtle"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/mcfed/mcfed/internal/clientaddr"
	"github.com/mcfed/mcfed/raft"
	"github.com/mcfed/mcfed/registry"
)

// Who calls the admin API. Two kinds of bearer token are accepted: the
// node's own --admin-token (credential admin:<node id>, whose role the
// registry holds), and tokens the federation admin issued
// ("mcfed_<id>_<secret>", checked against the registry's verifier). A
// write passes the token on to Cluster.Apply as it was presented: the
// leader authenticates it again and the registry judges the write by its
// author, so what this node concludes here decides reads and node-local
// actions only.

// caller is the authenticated caller of a request.
type caller struct {
	presented raft.Presented
	// own: the node's own admin token.
	own bool
}

type callerKey struct{}

func (a *api) requireAdminToken(c *fiber.Ctx) error {
	addr := clientaddr.Of(c)
	if err := a.overBudget(c, addr); err != nil {
		return err
	}
	tok := bearer(c)
	if tok != "" && a.cfg.AdminToken != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(a.cfg.AdminToken)) == 1 {
		c.Locals(callerKey{}, caller{presented: raft.Presented{Credential: registry.AdminCredentialID(a.cfg.NodeID), Secret: tok}, own: true})
		return c.Next()
	}
	if id, ok := registry.ParseIssuedToken(tok); ok {
		cred := a.c.Registry().Credential(id)
		if cred == nil {
			// Issued a moment ago through another node, perhaps: read
			// at the leader's index before refusing it.
			ctx, cancel := context.WithTimeout(c.UserContext(), 5*time.Second)
			if a.c.ReadIndex(ctx) == nil {
				cred = a.c.Registry().Credential(id)
			}
			cancel()
		}
		if cred != nil && !cred.Revoked && cred.Kind == registry.KindAdmin && cred.CheckSecret(tok) {
			c.Locals(callerKey{}, caller{presented: raft.Presented{Credential: id, Secret: tok}})
			return c.Next()
		}
	}
	a.authFailed(c, addr, "admin token")
	c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="mcfed-admin"`)
	return newProblem(401, "unauthorized", "a valid admin token is required (Authorization: Bearer ...)")
}

func callerOf(c *fiber.Ctx) caller {
	v, _ := c.Locals(callerKey{}).(caller)
	return v
}

// presented is the credential the request was made with, for Apply.
func presented(c *fiber.Ctx) raft.Presented { return callerOf(c).presented }

// credential is the caller's credential as this node's replica holds it
// (nil for a node's own token that holds no role).
func (a *api) credential(c *fiber.Ctx) *registry.Credential {
	return a.c.Registry().Credential(callerOf(c).presented.Credential)
}

// isFederationAdmin reports whether the caller is a federation admin.
func (a *api) isFederationAdmin(c *fiber.Ctx) bool {
	cred := a.credential(c)
	return cred != nil && !cred.Revoked && cred.Role == registry.RoleFederationAdmin
}

// requireOwnOperator guards what lives on this node alone and belongs to
// the operator it serves (its subscribers, its keys): the node's own admin
// token, or an admin of that operator. A federation admin has no business
// with an operator's customers.
func (a *api) requireOwnOperator(c *fiber.Ctx) error {
	if callerOf(c).own || a.cfg.OperatorID == "" {
		return c.Next() // without an operator there is nothing of one here
	}
	if cred := a.credential(c); a.cfg.OperatorID != "" && cred != nil && cred.Role == registry.RoleOperatorAdmin && cred.Operator == a.cfg.OperatorID {
		return c.Next()
	}
	return newProblem(403, "forbidden", "this node's operator's own data: its node's admin token or an admin of operator "+a.cfg.OperatorID+" only")
}

// judgeFirst has the registry judge cmd, for a caller who is not a
// federation admin, before the handler changes what the registry cannot
// undo (Raft's membership): the registry refuses it, and records that the
// caller tried, before anything moves. judged says cmd was applied (the
// registry let the caller, so the handler must not apply it again).
func (a *api) judgeFirst(c *fiber.Ctx, cmd []byte) (judged bool, err error) {
	if a.isFederationAdmin(c) {
		return false, nil
	}
	_, err = a.c.Apply(c.UserContext(), presented(c), cmd)
	return err == nil, err
}
