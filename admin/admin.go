// Package admin is a node's admin REST API: the registry's resources, bulk
// imports, the operator's life in the federation, the cluster's membership
// and status, all behind the admin token, with errors as RFC 9457 problems.
// It sees the node through the small interfaces below, never the node
// itself: every write goes through Cluster.Apply (committed, and applied on
// this node before it answers), every read to the local replica, after
// Cluster.ReadIndex when the caller asks for a consistent read.
package admin

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/pprof"
	"github.com/valyala/fasthttp"

	"github.com/mcfed/mcfed/internal/budget"
	"github.com/mcfed/mcfed/internal/clientaddr"
	"github.com/mcfed/mcfed/internal/problem"
	"github.com/mcfed/mcfed/raft"
	"github.com/mcfed/mcfed/registry"
)

// Cluster is the node's Raft server as the handlers use it (*raft.Node).
type Cluster interface {
	// Registry is the local replica, read anew for each request.
	Registry() *registry.Registry
	// Apply is the one write path: committed, and applied on this node,
	// made with the credential the caller presented (the leader
	// authenticates it; the registry judges the write by its author).
	Apply(ctx context.Context, p raft.Presented, cmd []byte) (uint64, error)
	// ReadIndex makes the next read of the replica linearizable.
	ReadIndex(ctx context.Context) error
	// Update is a read-modify-write at the leader's index.
	Update(ctx context.Context, p raft.Presented, build func(*registry.Registry) ([]byte, error)) (bool, error)
	IsLeader() bool
	Status(maxStaleness time.Duration) raft.Status
	RemoveServer(id string) error
	LeadershipTransfer() error
	// Mount adds the node-to-node endpoints (join, internal forwarding).
	Mount(app fiber.Router, log *slog.Logger)
}

// KeyRotator replaces the keys of the operator the node serves, now, and
// publishes their public halves in the operator's record.
type KeyRotator interface {
	RotateKeys(ctx context.Context, signing, sealing bool) error
}

// Mounter adds routes of its own under /v1 (the operator's subscribers).
type Mounter interface {
	Mount(v1 fiber.Router)
}

// Config is what the admin API is built from.
type Config struct {
	NodeID string
	// OperatorID is the operator the node serves ("": none); Keys rotates
	// its keys.
	OperatorID string
	Keys       KeyRotator
	// NodeSealKey, when set, rotates the node's own seal key (a node with
	// a public listener: discovery seals with it).
	NodeSealKey NodeSealKeyRotator
	// AdminToken is the node's own admin token (credential
	// admin:<NodeID>); tokens the federation admin issued are accepted too
	// (auth.go). Every call but the probes, the join and the node-to-node
	// endpoints needs one.
	AdminToken string
	// MaxStaleness bounds how long a follower may go without hearing from
	// the leader and still call itself ready (Status).
	MaxStaleness time.Duration
	// MaxBodyBytes caps JSON bodies; imports stream and are capped by
	// MaxImportBytes.
	MaxBodyBytes   int
	MaxImportBytes int64
	Cluster        Cluster
	// Subscribers, when set, provisions the operator's subscribers.
	Subscribers Mounter
	// Routing, when set, is the operator's routing policy
	// (/v1/operator/routing...): node-local, like its subscribers.
	Routing Mounter
	// Observe is the first handler of every request (its id, count and
	// log line); Metrics serves /metrics.
	Observe, Metrics fiber.Handler
	Log              *slog.Logger
	// TrustedProxies are the networks (clientaddr.Networks) whose
	// connections name their client in X-Forwarded-For: the address the
	// failure budget is kept under (budget.go).
	TrustedProxies []string
	// AuthFailures is each address's budget of failed admin and join
	// tokens (zero: budget.DefaultAddressFailures); Now its clock
	// (default time.Now; tests refill it without sleeping).
	AuthFailures budget.Throttle
	Now          func() time.Time
	// Warnings, when set, lists the node's misconfigurations, for /readyz.
	Warnings func() []string
	// OpenAPI, when set, is this API's description (api/admin.yaml as
	// JSON), served at /openapi.json.
	OpenAPI []byte
}

type api struct {
	cfg Config
	c   Cluster
	log *slog.Logger
	// failed is the failure budget per client address (budget.go).
	failed *budget.Keyed
}

// New builds the admin API. Bodies are streamed (so bulk imports of
// gigabytes never sit in memory whole), which makes every JSON handler read
// through readJSON and its size cap.
func New(cfg Config) *fiber.App {
	a := &api{cfg: cfg, c: proposing{cfg.Cluster}, log: cfg.Log,
		failed: budget.New(cfg.AuthFailures, budget.DefaultAddressFailures, cfg.Now)}
	fcfg := fiber.Config{
		DisableStartupMessage: true,
		StreamRequestBody:     true,
		BodyLimit:             cfg.MaxBodyBytes,
		// A request has ReadTimeout to arrive whole, bulk imports excepted
		// (importReadTimeout, from the end of their header): a slow or
		// stalled client cannot hold a connection for long. WriteTimeout
		// bounds the answer from its first byte, the audit log's stream
		// included.
		ReadTimeout:  30 * time.Second,
		WriteTimeout: 10 * time.Minute,
		IdleTimeout:  time.Minute,
		ErrorHandler: func(c *fiber.Ctx, err error) error {
			if pe, ok := errors.AsType[*proposedError](err); ok {
				return a.answerProposed(c, pe) // approvals.go
			}
			p := problemFor(err)
			if p.Status == fiber.StatusRequestEntityTooLarge {
				// The rest of the body was not read: the connection cannot
				// carry another request.
				c.Context().SetConnectionClose()
			}
			if p.Status >= 500 {
				a.log.Error("admin request failed", "method", c.Method(), "path", c.Path(), "err", err)
			}
			return writeProblem(c, p)
		},
	}
	clientaddr.FiberConfig(&fcfg, cfg.TrustedProxies)
	app := fiber.New(fcfg)
	app.Server().HeaderReceived = func(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
		path, _, _ := bytes.Cut(h.RequestURI(), []byte("?"))
		if h.IsPost() && bytes.HasSuffix(path, []byte("/import")) {
			return fasthttp.RequestConfig{ReadTimeout: importReadTimeout}
		}
		return fasthttp.RequestConfig{}
	}
	// First, so that every request has an id, a count and a log line.
	app.Use(cfg.Observe)
	app.Use(closeAfterRefusal)
	app.Use(decodePath)
	app.Get("/healthz", Healthz)
	app.Get("/readyz", func(c *fiber.Ctx) error { return Readyz(c, a.c.Status(cfg.MaxStaleness), a.warnings()) })
	app.Get("/metrics", a.requireAdminToken, cfg.Metrics)
	if cfg.OpenAPI != nil {
		// Without the token: the description is the published one (the
		// repository's), and tools read it before they hold a token.
		app.Get("/openapi.json", OpenAPIHandler(cfg.OpenAPI))
	}
	// Go's profiles, for operators chasing a slow node: behind the admin
	// token like everything that is not a probe.
	app.Use("/debug/pprof", a.requireAdminToken, pprof.New())

	// Authenticated by their own credentials: a join token, a member's
	// node credential. Join refusals spend the failure budget.
	app.Post(pathJoin, a.budgetJoin)
	a.c.Mount(app, a.log)

	v1 := app.Group("/v1", a.requireAdminToken)
	v1.Get("/cluster/status", a.getStatus)
	v1.Post("/cluster/join-tokens", a.postJoinToken)
	v1.Delete("/cluster/nodes/:id", a.deleteNode)
	a.voterRoutes(v1)
	a.registryRoutes(v1)
	a.credentialRoutes(v1)
	a.disputeRoutes(v1)
	a.approvalRoutes(v1)
	a.nodeKeyRoutes(v1)
	v1.Get("/audit", a.getAudit)
	v1.Get("/audit/retention", a.getAuditRetention)
	v1.Put("/audit/retention", a.putAuditRetention)
	if cfg.Subscribers != nil {
		// Provisioning of this operator's subscribers: node-local data.
		v1.Use("/subscribers", a.requireOwnOperator)
		cfg.Subscribers.Mount(v1)
	}
	if cfg.Routing != nil {
		v1.Use("/operator/routing", a.requireOwnOperator)
		cfg.Routing.Mount(v1)
	}
	app.Use(func(c *fiber.Ctx) error {
		return newProblem(404, "not-found", "no such endpoint: "+c.Method()+" "+c.Path())
	})
	return app
}

// importReadTimeout is how long a bulk import's body may take to arrive: a
// multi-gigabyte CSV over a slow link.
const importReadTimeout = 10 * time.Minute

// decodePath routes on the percent-decoded path, so that every path
// parameter arrives decoded: /v1/ranges/%2B447401 is /v1/ranges/+447401.
// Not fiber's UnescapePath, which decodes as a query does and would turn
// the '+' of a number into a space.
func decodePath(c *fiber.Ctx) error {
	p, err := url.PathUnescape(c.Path())
	if err != nil {
		return badRequest("the path is not validly percent-encoded: " + err.Error())
	}
	c.Path(p)
	return c.Next()
}

func (a *api) warnings() []string {
	if a.cfg.Warnings == nil {
		return nil
	}
	return a.cfg.Warnings()
}

func bearer(c *fiber.Ctx) string {
	h := c.Get(fiber.HeaderAuthorization)
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return h[7:]
	}
	return ""
}

// closeAfterRefusal keeps the connection in step after an error answer to
// a request with a body. Bodies are streamed, and a request refused before
// its body was read whole (an import stopped at a bad or overlong line, a
// body over its limit) leaves the rest on the connection, where it would
// be read as the next request: a client's next call got a 431 made of the
// previous file's bytes. The rest is read and dropped, up to
// drainOnRefusal, so that a client still sending gets the answer rather
// than a reset, and the connection carries on; a longer rest closes it.
func closeAfterRefusal(c *fiber.Ctx) error {
	err := c.Next()
	if err == nil && c.Response().StatusCode() < 400 || c.Request().Header.ContentLength() == 0 {
		return err
	}
	if s := c.Context().RequestBodyStream(); s != nil {
		if n, derr := io.CopyN(io.Discard, s, drainOnRefusal+1); !errors.Is(derr, io.EOF) || n > drainOnRefusal {
			c.Context().SetConnectionClose()
		}
	}
	return err
}

// drainOnRefusal is how much of a refused request's unread body is read
// and dropped before answering.
const drainOnRefusal = 1 << 20

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
func (a *api) readJSON(c *fiber.Ctx, v any) error {
	b, err := body(c, a.cfg.MaxBodyBytes)
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

// randomToken returns 256 random bits, base64url: the join tokens and client
// secrets the API hands out.
func randomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err))
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// writeProblem answers with a problem+json body.
func writeProblem(c *fiber.Ctx, p problem.Details) error {
	c.Status(p.Status)
	return c.JSON(p, problem.ContentType)
}
