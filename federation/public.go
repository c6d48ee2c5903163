package federation

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/mcfed/mcfed/admin"
	"github.com/mcfed/mcfed/discovery"
	"github.com/mcfed/mcfed/internal/clientaddr"
	"github.com/mcfed/mcfed/raft"
	"github.com/mcfed/mcfed/registry"
)

// publicApp builds the public listener: what SPs and users reach. Discovery
// mounts here; the operator's gateway joins it with its own issue.
func (n *Node) publicApp() (*fiber.App, error) {
	cfg := fiber.Config{
		DisableStartupMessage: true,
		BodyLimit:             publicMaxRequest,
		// A GET carries what a POST may: the SDKs send /authorize as a GET,
		// and the gateway's own limits (2 KiB a parameter, 8 KiB for each
		// of two claims, percent-encoded to up to three times that) must
		// be what answers, not the request line's buffer.
		ReadBufferSize: publicMaxRequest,
		ReadTimeout:    30 * time.Second,
		WriteTimeout:   30 * time.Second,
		IdleTimeout:    2 * time.Minute,
		ErrorHandler:   publicErrorHandler,
	}
	// The gateway's and discovery's failure budgets key on the client's
	// address behind these proxies (internal/clientaddr).
	clientaddr.FiberConfig(&cfg, n.cfg.TrustedProxies)
	app := fiber.New(cfg)
	// First, so that every request has an id, a count and a log line.
	app.Use(n.observe("public"))
	app.Get("/healthz", admin.Healthz)
	app.Get("/readyz", func(c *fiber.Ctx) error { return admin.Readyz(c, n.raft.Status(n.cfg.MaxStaleness), n.warnings()) })
	app.Get("/openapi.json", admin.OpenAPIHandler(n.openapi.public))
	key, err := loadOrCreateKey(n.cfg.DataDir, selectionKeyFile)
	if err != nil {
		return nil, fmt.Errorf("operator-selection key: %w", err)
	}
	sealKey := n.nodeSeal.current() // nodesealkeys.go
	svc, err := discovery.New(discovery.Config{
		SealKey:      &sealKey,
		Registry:     liveRegistry{n.raft},
		PublicURL:    n.PublicURL(),
		Metrics:      n.metrics,
		SelectionKey: key,
		Readiness:    n.raft,
		Log:          n.log,
		Now:          n.cfg.now,
	})
	if err != nil {
		return nil, err
	}
	n.nodeSeal.attach(svc) // with the key a rotation replaced, if any
	svc.Mount(app)
	if n.cfg.OperatorID != "" {
		if err := n.mountGateway(app); err != nil {
			return nil, fmt.Errorf("identity gateway: %w", err)
		}
	}
	return app, nil
}

// publicMaxRequest bounds a public request's head and its body alike.
const publicMaxRequest = 64 << 10

// publicErrorHandler answers what the listener refuses before any handler
// runs (a request head or body over publicMaxRequest, a client too slow to
// send its request) as an OAuth error (RFC 6749 §5.2's JSON), the format
// every client of the public listener reads. Everything else is fiber's
// answer as before.
func publicErrorHandler(c *fiber.Ctx, err error) error {
	var fe *fiber.Error
	if errors.As(err, &fe) {
		var detail string
		switch fe.Code {
		case fiber.StatusRequestHeaderFieldsTooLarge:
			detail = fmt.Sprintf("the request line and headers exceed %d KiB", publicMaxRequest>>10)
		case fiber.StatusRequestEntityTooLarge:
			detail = fmt.Sprintf("the request body exceeds %d KiB", publicMaxRequest>>10)
		case fiber.StatusRequestTimeout:
			detail = "the request did not arrive in time"
		}
		if detail != "" {
			c.Context().SetConnectionClose()
			return c.Status(fe.Code).JSON(fiber.Map{"error": "invalid_request", "error_description": detail})
		}
	}
	return fiber.DefaultErrorHandler(c, err)
}

// liveRegistry is discovery's and the gateway's view of the node's replica: every call reads
// the registry the node holds now, which a snapshot restore replaces whole.
type liveRegistry struct{ node *raft.Node }

func (l liveRegistry) Resolve(num uint64) (registry.Resolution, bool) {
	return l.node.Registry().Resolve(num)
}

func (l liveRegistry) OperatorByNetwork(mcc, mnc string) *registry.Operator {
	return l.node.Registry().OperatorByNetwork(mcc, mnc)
}

func (l liveRegistry) OperatorByIP(a netip.Addr) *registry.Operator {
	return l.node.Registry().OperatorByIP(a)
}

func (l liveRegistry) Operator(id string) *registry.Operator { return l.node.Registry().Operator(id) }

func (l liveRegistry) Operators(after string, limit int) registry.Page[registry.Operator] {
	return l.node.Registry().Operators(after, limit)
}

func (l liveRegistry) Scopes(after string, limit int) registry.Page[registry.Scope] {
	return l.node.Registry().Scopes(after, limit)
}

// Product is the catalogue's product id, or nil.
func (l liveRegistry) Product(id string) *registry.Product { return l.node.Registry().Product(id) }

func (l liveRegistry) ServiceProvider(clientID string) *registry.ServiceProvider {
	return l.node.Registry().ServiceProvider(clientID)
}

// API is the catalogue's API id, or nil: the gateway's per-SP request
// limit at that endpoint (idgw.APIRegistry).
func (l liveRegistry) API(id string) *registry.API { return l.node.Registry().API(id) }
