package raft

import (
	"context"
	"crypto/subtle"
	"crypto/x509"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/mcfed/mcfed/internal/requestid"
	"github.com/mcfed/mcfed/registry"
)

// Every write carries the credential its caller presented. The leader,
// and only the leader, turns it into an author (Config.Authenticator) and
// wraps the command with it (registry.EncodeAuthored); the registry then
// judges the command by its author, on every replica alike, and records it
// in its audit log. A follower forwards the presented credential with the
// command: the secret travels to the leader alone, over TLS where TLS is
// on.
//
// Nodes authenticate to each other's internal endpoints with their own
// node credential (256 random bits the node made, whose hash the registry
// holds), and, with TLS, a client certificate naming the node.

// Presented is a credential as a caller showed it: the credential's id
// and the secret (the bearer token as given).
type Presented struct {
	Credential string
	Secret     string
}

// Authenticator turns a presented credential into the author the leader
// records, against the leader's replica of the registry's credentials.
type Authenticator interface {
	// Authenticate returns the author, ErrUnauthenticated for a
	// credential it refuses, ErrCredentialsPending while the federation's
	// first node has not registered its credentials yet, or a
	// *registry.Error it decided on (CodeForbidden).
	Authenticate(p Presented) (registry.Author, error)
}

// ErrUnauthenticated: the presented credential is unknown, revoked or its
// secret wrong.
var ErrUnauthenticated = errors.New("the credential presented is not valid")

// ErrCredentialsPending: the federation's first node has not registered
// its credentials yet (a moment after it bootstraps); try again.
var ErrCredentialsPending = errors.New("the federation's first node is registering its credentials")

// ErrNodeAuth: a member refused this node's credential (or its TLS
// certificate).
var ErrNodeAuth = errors.New("the member refused this node's credential")

// Headers of a node-to-node request. The node authenticates with its id
// in nodeHeader and its secret as the bearer; a write forwarded on behalf
// of another credential carries it in the two presented headers.
const (
	nodeHeader             = "Mcfed-Node"
	presentedHeader        = "Mcfed-Presented-Credential"
	presentedSecretHeader  = "Mcfed-Presented-Secret"
	nodeCredentialIDPrefix = "node:"
)

// SetNodeSecret gives the node the secret of its own credential, which it
// keeps in its data directory.
func (n *Node) SetNodeSecret(s string) { n.secret.Store(&s) }

func (n *Node) nodeSecret() string {
	if s := n.secret.Load(); s != nil {
		return *s
	}
	return ""
}

// Self is the node's own credential: what the node presents for the writes
// it makes itself (its record, its operator's onboarding, key rotation).
func (n *Node) Self() Presented {
	return Presented{Credential: registry.NodeCredentialID(n.cfg.ID), Secret: n.nodeSecret()}
}

// forwardable refuses what no caller may ask a leader to commit: a command
// that already carries an author (only a leader writes one), and the
// spending of a join token (only a leader admitting a node does it, having
// checked the token itself; a member holding the replicated hash must not).
func forwardable(cmd []byte) error {
	if len(cmd) == 0 {
		return nil // Interpretable says why
	}
	switch registry.CommandType(cmd[0]) &^ registry.SkipIfUnknown {
	case registry.CmdAuthored:
		return &registry.Error{Code: registry.CodeInvalid, Message: "a command's author is for the leader to state"}
	case registry.CmdUseJoinToken:
		return &registry.Error{Code: registry.CodeInvalid, Message: "join tokens are spent by /v1/cluster/join only"}
	}
	return nil
}

// propose commits cmd on the leader, wrapped with the author p
// authenticates as, the leader's clock, the request's id and the write's
// id (writeid.go). Without an
// Authenticator (Raft alone, as in this package's tests) the command goes
// in as it is.
func (n *Node) propose(ctx context.Context, p Presented, cmd []byte) (uint64, error) {
	if n.cfg.Authenticator == nil {
		return n.applyLocal(ctx, cmd)
	}
	if !n.IsLeader() {
		return 0, n.notLeader()
	}
	if err := n.caughtUpAsLeader(ctx); err != nil {
		return 0, err
	}
	author, err := n.cfg.Authenticator.Authenticate(p)
	if err != nil {
		return 0, err
	}
	h := registry.Header{Author: author, Time: time.Now().UnixMilli(), RequestID: requestid.From(ctx), WriteID: writeIDFrom(ctx)}
	env, err := registry.EncodeAuthored(h, cmd)
	if err != nil {
		return 0, err
	}
	return n.applyLocal(ctx, env)
}

// requireNode authenticates a member calling an internal endpoint: its
// node credential, and with TLS a client certificate naming it.
func (n *Node) requireNode(c *fiber.Ctx) error {
	id := c.Get(nodeHeader)
	secret := bearer(c.Get(fiber.HeaderAuthorization))
	if id == "" || secret == "" || n.cfg.Authenticator == nil {
		return writeWire(c, toWire(ErrNodeAuth))
	}
	a, err := n.cfg.Authenticator.Authenticate(Presented{Credential: nodeCredentialIDPrefix + id, Secret: secret})
	if err != nil || a.Kind != registry.KindNode || a.Node != id {
		return writeWire(c, toWire(ErrNodeAuth))
	}
	if n.cfg.TLS != nil && !boundCertificate(c, n.Registry().Credential(registry.NodeCredentialID(id)), id) {
		return writeWire(c, toWire(ErrNodeAuth))
	}
	c.Locals(callerKey{}, id)
	return c.Next()
}

type callerKey struct{}

// boundCertificate reports whether the request's client certificate, which
// the federation's CA signed, is the one node id's credential c was bound
// to at its join, and names the node (its common name or a DNS name). A
// credential bound to no certificate (the node joined without TLS) needs
// only the name.
func boundCertificate(c *fiber.Ctx, cred *registry.Credential, id string) bool {
	cert := peerCertificate(c)
	if cert == nil || cred == nil || !certificateNames(cert, id) {
		return false
	}
	return cred.Certificate == "" || subtle.ConstantTimeCompare([]byte(cred.Certificate), []byte(registry.CertificateFingerprint(cert.Raw))) == 1
}

// peerCertificate is the request's verified client certificate, or nil.
func peerCertificate(c *fiber.Ctx) *x509.Certificate {
	st := c.Context().TLSConnectionState()
	if st == nil || len(st.PeerCertificates) == 0 {
		return nil
	}
	return st.PeerCertificates[0]
}

func certificateNames(cert *x509.Certificate, id string) bool {
	return cert.Subject.CommonName == id || slices.Contains(cert.DNSNames, id)
}

// presentedBy is the credential a forwarded write was made with: the one
// the forwarding node passes on, or the node's own.
func presentedBy(c *fiber.Ctx) Presented {
	if id := c.Get(presentedHeader); id != "" {
		return Presented{Credential: id, Secret: c.Get(presentedSecretHeader)}
	}
	return Presented{Credential: nodeCredentialIDPrefix + c.Locals(callerKey{}).(string), Secret: bearer(c.Get(fiber.HeaderAuthorization))}
}

func bearer(h string) string {
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return h[7:]
	}
	return ""
}
