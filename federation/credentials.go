package federation

// The node's credentials: its own node credential (a secret it made,
// kept in its data directory, whose hash the registry holds) and the
// --admin-token it was started with, registered as admin:<node id> with a
// slow verifier; and the authenticator the leader checks every presented
// credential with.

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/mcfed/mcfed/raft"
	"github.com/mcfed/mcfed/registry"
)

// nodeSecretFile holds the secret of the node's own credential. It is
// written once the node belongs to a federation (bootstrapped, or
// admitted), so a node whose first join failed joins again.
const nodeSecretFile = "node-secret"

func readNodeSecret(dir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, nodeSecretFile))
	if err != nil {
		return "", err
	}
	s := strings.TrimSpace(string(b))
	if len(s) < 43 {
		return "", fmt.Errorf("%s does not hold a node secret", filepath.Join(dir, nodeSecretFile))
	}
	return s, nil
}

func writeNodeSecret(dir, s string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, nodeSecretFile), []byte(s+"\n"), 0o600)
}

// authenticator checks presented credentials against the node's replica
// of the registry: a leader authenticates every write with it, and every
// member the nodes calling its internal endpoints.
type authenticator struct {
	node *Node
	mu   sync.Mutex
	// slow remembers tokens whose PBKDF2 check passed: SHA-256 of the
	// credential id and the token, to the verifier it matched. An entry
	// counts only while the credential still has that verifier.
	slow map[[32]byte]string
}

var _ raft.Authenticator = (*authenticator)(nil)

func newAuthenticator(n *Node) *authenticator {
	return &authenticator{node: n, slow: map[[32]byte]string{}}
}

// Authenticate turns a presented credential into its author.
func (a *authenticator) Authenticate(p raft.Presented) (registry.Author, error) {
	reg := a.node.raft.Registry()
	// Whether the registry held no credential is read before the lookup:
	// read after, it could see the first node's credentials registered
	// between the two reads, and refuse its admin token as holding no
	// role instead of answering that they are pending.
	empty := len(reg.Credentials("", 1).Items) == 0
	c := reg.Credential(p.Credential)
	if c == nil {
		return a.unregistered(p, empty)
	}
	if c.Revoked || !a.check(c, p.Secret) {
		return registry.Author{}, fmt.Errorf("credential %s: %w", p.Credential, raft.ErrUnauthenticated)
	}
	return registry.AuthorOf(c), nil
}

// unregistered answers for a credential the registry does not hold
// (empty: it held none at all): the node's own, while the federation it
// bootstraps has no credential yet (its first write registers it); the
// node's admin token, which waits for that; and any other, refused.
func (a *authenticator) unregistered(p raft.Presented, empty bool) (registry.Author, error) {
	id := a.node.cfg.NodeID
	switch {
	case empty && p == a.node.raft.Self():
		return registry.Author{Credential: p.Credential, Kind: registry.KindNode, Node: id, Operator: a.node.cfg.OperatorID}, nil
	case empty:
		return registry.Author{}, raft.ErrCredentialsPending
	case strings.HasPrefix(p.Credential, "admin:"):
		return registry.Author{}, &registry.Error{Code: registry.CodeForbidden, Message: "credential " + p.Credential +
			" holds no role: its node joined with a token granting none; write with a credential the federation admin issues (POST /v1/credentials)"}
	}
	return registry.Author{}, fmt.Errorf("credential %s is not registered: %w", p.Credential, raft.ErrUnauthenticated)
}

// check verifies secret against c, running a slow verifier once per token.
func (a *authenticator) check(c *registry.Credential, secret string) bool {
	if strings.HasPrefix(c.Verifier, "sha256:") {
		return c.CheckSecret(secret)
	}
	key := sha256.Sum256([]byte(c.ID + "\x00" + secret))
	a.mu.Lock()
	known := a.slow[key] == c.Verifier
	a.mu.Unlock()
	if known {
		return true
	}
	if !c.CheckSecret(secret) {
		return false
	}
	a.mu.Lock()
	a.slow[key] = c.Verifier
	a.mu.Unlock()
	return true
}

// joinRequest is what this node sends to join: verifiers of its secret
// and of its admin token, and the operator it serves. The role its admin
// token gets is the join token's (none, if the token grants none).
func (n *Node) joinRequest(secret string) (raft.JoinRequest, error) {
	req := raft.JoinRequest{Token: n.cfg.JoinToken, AdminURL: n.AdminURL(),
		NodeVerifier: registry.HashSecret(secret), Operator: n.cfg.OperatorID}
	v, err := registry.SlowVerifier(n.cfg.AdminToken, n.cfg.adminTokenIterations)
	if err != nil {
		return req, err
	}
	req.AdminVerifier = v
	return req, nil
}

// ownCertificate is the fingerprint of the certificate this node presents
// to its peers ("" without TLS): the bootstrap node binds its credential
// to it, as a leader does for a node it admits.
func (n *Node) ownCertificate() string {
	if n.cfg.RaftTLS == nil || len(n.cfg.RaftTLS.Certificates) == 0 || len(n.cfg.RaftTLS.Certificates[0].Certificate) == 0 {
		return ""
	}
	return registry.CertificateFingerprint(n.cfg.RaftTLS.Certificates[0].Certificate[0])
}

// registerSelf records the bootstrap node in the registry once it leads:
// its credentials, while the registry holds none (its admin token as
// federation admin: it started the federation), then its node record, so
// that followers can forward writes to its admin API. Joining nodes are
// recorded by the leader that admits them.
func (n *Node) registerSelf(ctx context.Context) {
	n.untilDone(ctx, func(ctx context.Context) error {
		reg := n.raft.Registry()
		if reg.Credential(registry.NodeCredentialID(n.cfg.NodeID)) == nil {
			v, err := registry.SlowVerifier(n.cfg.AdminToken, n.cfg.adminTokenIterations)
			if err != nil {
				return err
			}
			batch := registry.CredentialBatch{Credentials: []registry.Credential{
				{ID: registry.NodeCredentialID(n.cfg.NodeID), Kind: registry.KindNode, Node: n.cfg.NodeID,
					Operator: n.cfg.OperatorID, Verifier: registry.HashSecret(n.raft.Self().Secret), Certificate: n.ownCertificate()},
				{ID: registry.AdminCredentialID(n.cfg.NodeID), Kind: registry.KindAdmin, Role: registry.RoleFederationAdmin,
					Node: n.cfg.NodeID, Verifier: v, Name: "the admin token of the federation's first node"},
			}}
			if _, err := n.raft.Apply(ctx, n.raft.Self(), registry.MustEncode(registry.CmdPutCredentials, batch)); err != nil {
				return err
			}
		}
		existing := reg.Node(n.cfg.NodeID)
		if existing != nil && existing.AdminURL == n.AdminURL() && existing.RaftAddr == n.raft.Addr() {
			return nil
		}
		rec := registry.Node{ID: n.cfg.NodeID, RaftAddr: n.raft.Addr(), AdminURL: n.AdminURL()}
		if existing != nil {
			rec.Operator, rec.SealKeys = existing.Operator, existing.SealKeys
		}
		_, err := n.raft.Apply(ctx, n.raft.Self(), registry.MustEncode(registry.CmdPutNode, rec))
		return err
	})
}

// refreshAdminToken registers a changed --admin-token: only its verifier
// changes, never its role. A node whose token has no credential (one that
// joined without --operator) has nothing to refresh.
func (n *Node) refreshAdminToken(ctx context.Context) {
	n.untilDone(ctx, func(ctx context.Context) error {
		c := n.raft.Registry().Credential(registry.AdminCredentialID(n.cfg.NodeID))
		if c == nil || c.Revoked || n.auth.check(c, n.cfg.AdminToken) {
			return nil
		}
		v, err := registry.SlowVerifier(n.cfg.AdminToken, n.cfg.adminTokenIterations)
		if err != nil {
			return err
		}
		next := *c
		next.Verifier = v
		batch := registry.CredentialBatch{Credentials: []registry.Credential{next}}
		_, err = n.raft.Apply(ctx, n.raft.Self(), registry.MustEncode(registry.CmdPutCredentials, batch))
		if err == nil {
			n.log.Info("admin token changed: its new verifier is registered", "credential", c.ID)
		}
		return err
	})
}

// untilDone runs step until it succeeds, is refused by the registry
// (logged; final), or ctx ends: at start the cluster may be electing.
func (n *Node) untilDone(ctx context.Context, step func(context.Context) error) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		actx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := step(actx)
		cancel()
		if err == nil {
			return
		}
		if registry.CodeOf(err) != "" {
			n.log.Error("the node's own write was refused", "err", err)
			return
		}
		if errors.Is(err, context.Canceled) && ctx.Err() != nil {
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}
