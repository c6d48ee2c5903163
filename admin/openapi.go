package admin

import "github.com/gofiber/fiber/v2"

// OpenAPIHandler answers a listener's OpenAPI description (JSON, converted
// once at start from the embedded YAML of package api).
func OpenAPIHandler(doc []byte) fiber.Handler {
	return func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
		c.Set(fiber.HeaderCacheControl, "no-cache")
		return c.Send(doc)
	}
}
