package raft

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/mcfed/mcfed/internal/problem"
	"github.com/mcfed/mcfed/registry"
)

// Paths of the node-to-node endpoints on a member's admin API.
const (
	// pathJoin is where a new node asks to join; its join token is its
	// credential, and it is answered like the rest of the admin API.
	pathJoin = "/v1/cluster/join"
	// The internal endpoints take a member's node credential and answer
	// failures with a wireError.
	pathApply        = "/v1/internal/apply"
	pathReadIndex    = "/v1/internal/read-index"
	pathInternalJoin = "/v1/internal/join"
)

// maxCommandBytes bounds one forwarded command: the largest a batch of the
// bulk import builds, with room to spare.
const maxCommandBytes = 8 << 20

// maxJoinBytes bounds a join request: four short strings.
const maxJoinBytes = 64 << 10

// Mount adds the node-to-node endpoints to the node's admin app, before the
// admin's own routes (they take other credentials). Join failures are
// returned to the app's error handler; the internal endpoints answer their
// own. log receives the admissions.
func (n *Node) Mount(app fiber.Router, log *slog.Logger) {
	app.Post(pathJoin, func(c *fiber.Ctx) error {
		req, err := readJoin(c)
		if errors.Is(err, errTooLarge) {
			return fiber.NewError(fiber.StatusRequestEntityTooLarge, err.Error())
		}
		if err != nil {
			return err
		}
		// What the joining node presented, as this member saw it: with TLS
		// the certificate must name the node, and it is bound to it.
		req.Certificate = ""
		if n.cfg.TLS != nil {
			cert := peerCertificate(c)
			if cert == nil || !certificateNames(cert, req.ID) {
				return &joinRefusal{"with TLS, a node joins presenting a certificate that names it (" + req.ID + ")"}
			}
			req.Certificate = registry.CertificateFingerprint(cert.Raw)
		}
		resp, err := n.handleJoin(c.UserContext(), req)
		if err != nil {
			return err
		}
		log.Info("node joined", "joined", req.ID, "raft", req.RaftAddr)
		return c.JSON(resp)
	})
	internal := app.Group("/v1/internal", n.requireNode)
	internal.Post(strings.TrimPrefix(pathApply, "/v1/internal"), func(c *fiber.Ctx) error {
		cmd, err := readBody(c, maxCommandBytes)
		if err == nil {
			err = forwardable(cmd)
		}
		ctx := c.UserContext()
		if id := c.Get(writeIDHeader); err == nil && id != "" {
			// Every try of the write carries it: a try the leader
			// committed is not applied again (writeid.go).
			err = validWriteID(id)
			ctx = withWriteID(ctx, id)
		}
		if err != nil {
			return wireFail(c, log, err)
		}
		// The follower has already validated the command and fixed its
		// hashes and times; the registry checks it again, and judges it by
		// the author this leader authenticates, when it is applied. The
		// leader applies it itself: a forwarded write is not forwarded
		// again.
		idx, err := n.propose(ctx, presentedBy(c), cmd)
		if err != nil {
			return wireFail(c, log, err)
		}
		return c.JSON(fiber.Map{"index": idx})
	})
	internal.Get(strings.TrimPrefix(pathReadIndex, "/v1/internal"), func(c *fiber.Ctx) error {
		idx, err := n.leaderReadIndex()
		if err != nil {
			return wireFail(c, log, err)
		}
		return c.JSON(fiber.Map{"index": idx})
	})
	internal.Get(strings.TrimPrefix(pathMembers, "/v1/internal"), func(c *fiber.Ctx) error {
		return c.JSON(fiber.Map{"members": n.Peers()})
	})
	internal.Post(strings.TrimPrefix(pathInternalJoin, "/v1/internal"), func(c *fiber.Ctx) error {
		req, err := readJoin(c)
		if err != nil {
			return wireFail(c, log, err)
		}
		if !n.IsLeader() {
			return wireFail(c, log, n.notLeader())
		}
		resp, err := n.admit(c.UserContext(), req)
		if err != nil {
			return wireFail(c, log, err)
		}
		log.Info("node joined", "joined", req.ID, "raft", req.RaftAddr)
		return c.JSON(resp)
	})
}

// wireFail answers an internal request that failed with its typed code.
func wireFail(c *fiber.Ctx, log *slog.Logger, err error) error {
	w := toWire(err)
	if w.Code == codeInternal {
		log.ErrorContext(c.UserContext(), "internal request failed", "path", c.Path(), "err", err)
	}
	return writeWire(c, w)
}

func writeWire(c *fiber.Ctx, w wireError) error {
	return c.Status(w.Status).JSON(w, problem.ContentType)
}

// readBody returns a request body of at most limit bytes. The admin app
// streams bodies, so it is read from the stream when there is one.
func readBody(c *fiber.Ctx, limit int) ([]byte, error) {
	if c.Request().Header.ContentLength() > limit {
		return nil, errTooLarge
	}
	s := c.Context().RequestBodyStream()
	if s == nil {
		// fasthttp reuses the buffer after the handler returns.
		return bytes.Clone(c.Body()), nil
	}
	b, err := io.ReadAll(io.LimitReader(s, int64(limit)+1))
	if err != nil {
		return nil, &registry.Error{Code: registry.CodeInvalid, Message: "reading the body: " + err.Error()}
	}
	if len(b) > limit {
		return nil, errTooLarge
	}
	return b, nil
}

// readJoin decodes a join request, refusing unknown fields.
func readJoin(c *fiber.Ctx) (JoinRequest, error) {
	var req JoinRequest
	b, err := readBody(c, maxJoinBytes)
	if err != nil {
		return req, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return req, &registry.Error{Code: registry.CodeInvalid, Message: "the body does not match a join request: " + err.Error()}
	}
	return req, nil
}
