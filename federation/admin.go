package federation

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/pprof"
)

// adminApp builds the admin API. Bodies are streamed (so bulk imports of
// gigabytes never sit in memory whole), which makes every JSON handler read
// through readJSON and its size cap.
func (n *Node) adminApp() *fiber.App {
	app := fiber.New(fiber.Config{
		DisableStartupMessage: true,
		StreamRequestBody:     true,
		BodyLimit:             n.cfg.MaxBodyBytes,
		ReadTimeout:           10 * time.Minute,
		IdleTimeout:           time.Minute,
		ErrorHandler: func(c *fiber.Ctx, err error) error {
			p := problemFor(err)
			if p.Status == fiber.StatusRequestEntityTooLarge {
				// The rest of the body was not read: the connection cannot
				// carry another request.
				c.Context().SetConnectionClose()
			}
			if p.Status >= 500 {
				n.log.Error("admin request failed", "method", c.Method(), "path", c.Path(), "err", err)
			}
			return writeProblem(c, p)
		},
	})
	// First, so that every request has an id, a count and a log line.
	app.Use(n.observe("admin"))
	app.Get("/healthz", n.handleHealthz)
	app.Get("/readyz", n.handleReadyz)
	app.Get("/metrics", n.requireAdminToken, n.metrics.handler())
	// Go's profiles, for operators chasing a slow node: behind the admin
	// token like everything that is not a probe.
	app.Use("/debug/pprof", n.requireAdminToken, pprof.New())

	// Authenticated by their own credentials: a join token, the cluster
	// secret.
	n.cluster.node.Mount(app, n.log)

	v1 := app.Group("/v1", n.requireAdminToken)
	v1.Get("/cluster/status", n.getStatus)
	v1.Post("/cluster/join-tokens", n.postJoinToken)
	v1.Delete("/cluster/nodes/:id", n.deleteNode)
	n.registryRoutes(v1)
	if n.subs != nil {
		// Provisioning of this operator's subscribers: node-local data.
		n.subs.Mount(v1)
	}
	app.Use(func(c *fiber.Ctx) error {
		return newProblem(404, "not-found", "no such endpoint: "+c.Method()+" "+c.Path())
	})
	return app
}

func bearer(c *fiber.Ctx) string {
	h := c.Get(fiber.HeaderAuthorization)
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return h[7:]
	}
	return ""
}

func (n *Node) requireAdminToken(c *fiber.Ctx) error {
	if !checkSecret(bearer(c), n.cfg.AdminToken) {
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="mcfed-admin"`)
		return newProblem(401, "unauthorized", "a valid admin token is required (Authorization: Bearer ...)")
	}
	return c.Next()
}

// body returns a request body of at most limit bytes, or a 413 problem.
func body(c *fiber.Ctx, limit int) ([]byte, error) {
	if cl := c.Request().Header.ContentLength(); cl > limit {
		return nil, newProblem(413, "too-large", "the body is larger than the limit of "+strconv.Itoa(limit)+" bytes")
	}
	var r io.Reader
	if s := c.Context().RequestBodyStream(); s != nil {
		r = s
	} else {
		return c.Body(), nil
	}
	b, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return nil, badRequest("reading the body: " + err.Error())
	}
	if len(b) > limit {
		return nil, newProblem(413, "too-large", "the body is larger than the limit of "+strconv.Itoa(limit)+" bytes")
	}
	return b, nil
}

// readJSON decodes a JSON body into v, refusing unknown fields so that a
// misspelt field is an error rather than silently ignored.
func (n *Node) readJSON(c *fiber.Ctx, v any) error {
	b, err := body(c, n.cfg.MaxBodyBytes)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return badRequest("the body is not valid JSON: " + err.Error())
		}
		return badRequest("the body does not match: " + err.Error())
	}
	if dec.More() {
		return badRequest("the body holds more than one JSON value")
	}
	return nil
}
