package admin

import (
	"context"

	"github.com/gofiber/fiber/v2"

	"github.com/mcfed/mcfed/registry"
)

// NodeSealKeyRotator replaces the node's own seal key (discovery's
// X25519 key for the symmetric subscriber_id) now and returns the keys its
// record publishes, the current one first.
type NodeSealKeyRotator interface {
	RotateNodeSealKey(ctx context.Context) ([]registry.SealKey, error)
}

// NodeSealKeyResult is the answer to POST /v1/node/seal-key/rotate.
type NodeSealKeyResult struct {
	SealKeys []registry.SealKey `json:"seal_keys"`
}

func (a *api) nodeKeyRoutes(v1 fiber.Router) {
	v1.Post("/node/seal-key/rotate", a.requireOwnNode, a.postRotateNodeSealKey)
}

// requireOwnNode guards the node's own keys: its admin token, an admin of
// the operator it serves or, on a node that serves none, a federation
// admin. A rotation retires the previous key early, so not every holder
// of an admin credential may ask for one.
func (a *api) requireOwnNode(c *fiber.Ctx) error {
	if callerOf(c).own {
		return c.Next()
	}
	cred := a.credential(c)
	ok := cred != nil && !cred.Revoked
	if a.cfg.OperatorID != "" {
		ok = ok && cred.Role == registry.RoleOperatorAdmin && cred.Operator == a.cfg.OperatorID
	} else {
		ok = ok && cred.Role == registry.RoleFederationAdmin
	}
	if !ok {
		who := "a federation admin"
		if a.cfg.OperatorID != "" {
			who = "an admin of operator " + a.cfg.OperatorID
		}
		return newProblem(403, "forbidden", "this node's own keys: its node's admin token or "+who+" only")
	}
	return c.Next()
}

// postRotateNodeSealKey replaces the node's seal key now: the replaced key
// stays published, and opens, until every subscriber_id it sealed has
// expired. A rotation asked before the current key is published only
// publishes it.
func (a *api) postRotateNodeSealKey(c *fiber.Ctx) error {
	if a.cfg.NodeSealKey == nil {
		return newProblem(404, "not-found", "this node answers no discovery (no public listener): it has no seal key")
	}
	keys, err := a.cfg.NodeSealKey.RotateNodeSealKey(c.UserContext())
	if err != nil {
		return err
	}
	return c.JSON(NodeSealKeyResult{SealKeys: keys})
}
