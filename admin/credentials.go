package admin

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"

	"github.com/gofiber/fiber/v2"

	"github.com/mcfed/mcfed/registry"
)

// CredentialRequest asks the federation admin's node for an admin
// credential: a role, the operator an operator admin is bound to, and a
// name saying whom it is for.
type CredentialRequest struct {
	Role     registry.Role `json:"role"`
	Operator string        `json:"operator,omitempty"`
	Name     string        `json:"name,omitempty"`
}

// CredentialResponse shows an issued credential, and its token once, when
// it is made: only its verifier is kept.
type CredentialResponse struct {
	ID       string         `json:"id"`
	Kind     string         `json:"kind"`
	Role     registry.Role  `json:"role,omitempty"`
	Operator string         `json:"operator,omitempty"`
	Node     string         `json:"node,omitempty"`
	Name     string         `json:"name,omitempty"`
	Revoked  bool           `json:"revoked,omitempty"`
	Token    string         `json:"token,omitempty"`
	Meta     *registry.Meta `json:"meta,omitempty"`
}

func credentialView(c *registry.Credential) CredentialResponse {
	return CredentialResponse{ID: c.ID, Kind: string(c.Kind), Role: c.Role, Operator: c.Operator, Node: c.Node,
		Name: c.Name, Revoked: c.Revoked, Meta: &c.Meta}
}

func (a *api) credentialRoutes(v1 fiber.Router) {
	v1.Get("/credentials", func(c *fiber.Ctx) error {
		if err := a.consistent(c); err != nil {
			return err
		}
		page := a.c.Registry().Credentials(c.Query("after"), c.QueryInt("limit"))
		out := struct {
			Items []CredentialResponse `json:"items"`
			Next  string               `json:"next,omitempty"`
		}{Items: []CredentialResponse{}, Next: page.Next}
		for _, cred := range page.Items {
			out.Items = append(out.Items, credentialView(cred))
		}
		return c.JSON(out)
	})
	v1.Post("/credentials", a.postCredential)
	v1.Delete("/credentials/:id", func(c *fiber.Ctx) error {
		cmd := registry.MustEncode(registry.CmdRevokeCredential, registry.Key{Key: c.Params("id")})
		if _, err := a.c.Apply(c.UserContext(), presented(c), cmd); err != nil {
			return err
		}
		return c.SendStatus(fiber.StatusNoContent)
	})
}

// postCredential issues an admin credential (the registry lets only a
// federation admin): a random id and 256-bit secret, the token
// "mcfed_<id>_<secret>" shown once, its SHA-256 kept.
func (a *api) postCredential(c *fiber.Ctx) error {
	var req CredentialRequest
	if err := a.readJSON(c, &req); err != nil {
		return err
	}
	idb := make([]byte, 8)
	if _, err := rand.Read(idb); err != nil {
		return fmt.Errorf("credential id: %w", err)
	}
	id := hex.EncodeToString(idb)
	token := registry.IssuedToken(id, randomToken())
	cred := registry.Credential{ID: id, Kind: registry.KindAdmin, Role: req.Role, Operator: req.Operator,
		Name: req.Name, Verifier: registry.HashSecret(token)}
	if err := cred.Validate(); err != nil {
		return err
	}
	if req.Operator != "" && a.c.Registry().Operator(req.Operator) == nil {
		return newProblem(404, "not-found", "operator "+req.Operator+" does not exist")
	}
	cmd := registry.MustEncode(registry.CmdPutCredentials, registry.CredentialBatch{Credentials: []registry.Credential{cred}})
	if _, err := a.c.Apply(c.UserContext(), presented(c), cmd); err != nil {
		return withOnce(err, fiber.Map{"id": id, "token": token})
	}
	out := credentialView(a.c.Registry().Credential(id))
	out.Token = token
	c.Status(fiber.StatusCreated)
	return c.JSON(out)
}
