package federation

import (
	"github.com/gofiber/fiber/v2"

	"github.com/mcfed/mcfed/admin"
)

// The probes are the admin API's, and the public listener answers them
// too.

func (n *Node) handleHealthz(c *fiber.Ctx) error { return admin.Healthz(c) }

func (n *Node) handleReadyz(c *fiber.Ctx) error {
	return admin.Readyz(c, n.cluster.node.Status(n.cfg.MaxStaleness))
}
