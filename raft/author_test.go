package raft

import (
	"context"
	"errors"
	"testing"

	"github.com/mcfed/mcfed/internal/requestid"
	"github.com/mcfed/mcfed/registry"
)

// fakeAuth accepts the presented credentials it knows, as the authors
// they stand for.
type fakeAuth map[Presented]registry.Author

func (f fakeAuth) Authenticate(p Presented) (registry.Author, error) {
	if a, ok := f[p]; ok {
		return a, nil
	}
	return registry.Author{}, ErrUnauthenticated
}

// TestLeaderWrapsEveryWriteWithItsAuthor: the leader commits a write with
// the author it authenticated, its clock and the request id, and the
// registry judges and records it; a credential the leader refuses writes
// nothing; nobody asks a leader to spend a join token or to state an
// author.
func TestLeaderWrapsEveryWriteWithItsAuthor(t *testing.T) {
	node := Presented{Credential: "node:n1", Secret: "node secret"}
	admin := Presented{Credential: "admin:n1", Secret: "admin token"}
	auth := fakeAuth{
		node:  {Credential: "node:n1", Kind: registry.KindNode, Node: "n1"},
		admin: {Credential: "admin:n1", Kind: registry.KindAdmin, Role: registry.RoleFederationAdmin, Node: "n1"},
	}
	c := startCluster(t, 1, func(cfg *Config) { cfg.Authenticator = auth })
	leader := c.waitLeader()
	ctx := requestid.With(context.Background(), "req-42")

	creds := registry.CredentialBatch{Credentials: []registry.Credential{
		{ID: "node:n1", Kind: registry.KindNode, Node: "n1", Verifier: registry.HashSecret("node secret")},
		{ID: "admin:n1", Kind: registry.KindAdmin, Role: registry.RoleFederationAdmin, Node: "n1", Verifier: registry.HashSecret("admin token")},
	}}
	if _, err := leader.Apply(ctx, node, registry.MustEncode(registry.CmdPutCredentials, creds)); err != nil {
		t.Fatal(err)
	}
	if _, err := leader.Apply(ctx, admin, scope("openid")); err != nil {
		t.Fatal(err)
	}
	entries := leader.Registry().Audit(registry.AuditQuery{}).Items
	if len(entries) != 2 {
		t.Fatalf("%d audit entries, want 2", len(entries))
	}
	if e := entries[1]; e.Author.Credential != "admin:n1" || e.Author.Role != registry.RoleFederationAdmin ||
		e.RequestID != "req-42" || e.Time == 0 || e.Outcome != registry.OutcomeApplied {
		t.Fatalf("audit entry %+v", e)
	}

	last := leader.raft.LastIndex()
	for name, tc := range map[string]struct {
		p    Presented
		cmd  []byte
		want func(error) bool
	}{
		"a wrong secret": {Presented{Credential: "admin:n1", Secret: "guess"}, scope("x"),
			func(err error) bool { return errors.Is(err, ErrUnauthenticated) }},
		"a join token spent by a caller": {admin, registry.MustEncode(registry.CmdUseJoinToken, registry.UseJoinToken{Hash: "h", Node: "n9"}),
			func(err error) bool { return registry.CodeOf(err) == registry.CodeInvalid }},
		"an author stated by a caller": {admin, mustAuthored(t, scope("x")),
			func(err error) bool { return registry.CodeOf(err) == registry.CodeInvalid }},
	} {
		if _, err := leader.Apply(ctx, tc.p, tc.cmd); !tc.want(err) {
			t.Errorf("%s: got %v", name, err)
		}
	}
	if leader.raft.LastIndex() != last || leader.Registry().Scope("x") != nil {
		t.Fatal("a refused write reached the log")
	}
}

func mustAuthored(t *testing.T, cmd []byte) []byte {
	b, err := registry.EncodeAuthored(registry.Header{Author: registry.Author{Credential: "admin:n1"}}, cmd)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
