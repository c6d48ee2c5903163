package federation

import (
	"time"

	"github.com/gofiber/fiber/v2"
)

// publicApp builds the public listener: what SPs and users reach. Discovery
// and the operator's gateway mount here as they are built.
func (n *Node) publicApp() *fiber.App {
	app := fiber.New(fiber.Config{
		DisableStartupMessage: true,
		BodyLimit:             64 << 10,
		ReadTimeout:           30 * time.Second,
		IdleTimeout:           2 * time.Minute,
	})
	app.Get("/healthz", n.handleHealthz)
	app.Get("/readyz", n.handleReadyz)
	return app
}
