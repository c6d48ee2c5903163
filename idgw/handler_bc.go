package idgw

import (
	"encoding/json"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/mcfed/mcfed/internal/clientaddr"
)

// The HTTP edge of the server-initiated endpoints (handler.go's rules:
// copy the request, run plain Go, write the answer).

// handleSIAuthorize is the Mobile Connect SI endpoint: GET with a query,
// POST with the query and an empty body, a form, or a JSON object.
func (g *Gateway) handleSIAuthorize(c *fiber.Ctx) error {
	args := argsValues(c.Context().QueryArgs())
	if c.Method() == fiber.MethodPost {
		if strings.HasPrefix(strings.ToLower(c.Get(fiber.HeaderContentType)), fiber.MIMEApplicationJSON) && len(c.Body()) > 0 {
			var body map[string]json.RawMessage
			if len(c.Body()) > 64<<10 || json.Unmarshal(c.Body(), &body) != nil {
				return writeError(c, tokenErrors, bcError(CodeInvalidRequest, "the body is not a JSON object"))
			}
			for k, v := range body {
				if s, ok := claimString(k, v); ok {
					args[k] = append(args[k], s)
				}
			}
		} else {
			for k, vs := range argsValues(c.Context().PostArgs()) {
				args[k] = append(args[k], vs...)
			}
		}
	}
	a, e := g.siAuthorize(c.UserContext(), args, clientaddr.Of(c))
	return writeBackchannel(c, a, e)
}

// handleBackchannel is CIBA's backchannel authentication endpoint (POST,
// a form).
func (g *Gateway) handleBackchannel(c *fiber.Ctx) error {
	a, e := g.backchannelAuthorize(c.UserContext(), tokenRequestOf(c))
	return writeBackchannel(c, a, e)
}

func writeBackchannel(c *fiber.Ctx, a *bcAnswer, e *OAuthError) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	if e != nil {
		if e.correlationID != "" {
			c.Locals(errorCodeKey{}, e.Code)
			return c.Status(e.status).JSON(struct {
				errorBody
				CorrelationID string `json:"correlation_id"`
			}{errorBody{e.Code, e.Description}, e.correlationID})
		}
		return writeError(c, tokenErrors, e)
	}
	return c.JSON(a)
}
