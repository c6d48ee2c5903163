package federation

import (
	"context"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcfed/mcfed/client"
	"github.com/mcfed/mcfed/internal/testca"
	"github.com/mcfed/mcfed/raft"
	"github.com/mcfed/mcfed/registry"
)

// membership is the Raft configuration as node i sees it: "id@addr" of
// every server, sorted.
func (f *testFed) membership(i int) []string {
	var out []string
	for _, m := range f.nodes[i].Raft().Status(0).Members {
		out = append(out, m.ID+"@"+m.Addr)
	}
	slices.Sort(out)
	return out
}

// refusedJoin posts req to node i's join endpoint and checks it is refused
// with status and a detail containing detail, and that neither the Raft
// configuration nor the registry changed.
func (f *testFed) refusedJoin(i int, req raft.JoinRequest, status int, detail string) {
	f.t.Helper()
	members, applied := f.membership(i), f.nodes[i].Raft().Registry().AppliedIndex()
	api := f.problemOf(i, "POST", "/v1/cluster/join", req)
	if api.Status != status || !strings.Contains(api.Problem.Detail, detail) {
		f.t.Fatalf("join of %s: %d %q, want %d with %q", req.ID, api.Status, api.Problem.Detail, status, detail)
	}
	if got := f.membership(i); !slices.Equal(got, members) {
		f.t.Fatalf("a refused join changed the configuration: %v, was %v", got, members)
	}
	if got := f.nodes[i].Raft().Registry().AppliedIndex(); got != applied {
		f.t.Fatalf("a refused join wrote %d log entries", got-applied)
	}
}

func (f *testFed) issueJoinToken(i int, req map[string]any) string {
	f.t.Helper()
	var out struct{ Token string }
	f.do(i, "POST", "/v1/cluster/join-tokens", req, &out)
	return out.Token
}

// TestJoinTokenAdmitsItsNodeOnce: a token admits the node it names, once,
// with the role the token grants; a replay, a token shown by another node
// id, a join naming a member's address and a token for a member are
// refused without a trace in the configuration or the registry. A node
// restarted on its data directory never joins again; a removed node comes
// back with a new token.
func TestJoinTokenAdmitsItsNodeOnce(t *testing.T) {
	f := startFed(t, 2)
	l := f.leader()
	token := f.issueJoinToken(l, map[string]any{"node_id": "n3", "federation_admin": true})
	cfg := testNodeConfig(t, "n3", filepath.Join(t.TempDir(), "n3"))
	cfg.Join, cfg.JoinToken = f.nodes[l].AdminURL(), token
	n3, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { n3.Close() }()
	reg := f.nodes[l].Raft().Registry()
	if c := reg.Credential(registry.AdminCredentialID("n3")); c == nil || c.Role != registry.RoleFederationAdmin {
		t.Fatalf("n3's admin token is %+v, want the token's role, federation admin", c)
	}
	n3Addr := f.memberAddr(l, "n3")

	// The same token by the same node, from elsewhere: refused, n3 stays.
	replay := raft.JoinRequest{ID: "n3", RaftAddr: "127.0.0.1:1", AdminURL: "http://127.0.0.1:2", Token: token,
		NodeVerifier: registry.HashSecret("an intruder's secret")}
	f.refusedJoin(l, replay, 403, "already used")
	if c := reg.Credential(registry.NodeCredentialID("n3")); !c.CheckSecret(nodeSecretOf(t, cfg.DataDir)) {
		t.Fatal("a replayed join replaced n3's verifier")
	}
	// Through a follower, the same.
	f.refusedJoin(1-l, replay, 403, "already used")

	// A token shown by another node id.
	other := f.issueJoinToken(l, map[string]any{"node_id": "n4"})
	f.refusedJoin(l, raft.JoinRequest{ID: "n5", RaftAddr: "127.0.0.1:1", AdminURL: "http://127.0.0.1:2", Token: other,
		NodeVerifier: registry.HashSecret("s")}, 403, "issued for another node")
	// A join naming a member's raft address, with a good token.
	f.refusedJoin(l, raft.JoinRequest{ID: "n4", RaftAddr: n3Addr, AdminURL: "http://127.0.0.1:2", Token: other,
		NodeVerifier: registry.HashSecret("s")}, 409, "is member n3's")
	// No token for a member.
	if api := f.problemOf(l, "POST", "/v1/cluster/join-tokens", map[string]any{"node_id": "n3"}); api.Status != 409 {
		t.Fatalf("a join token for a member: %d %s", api.Status, api.Problem.Detail)
	}

	// Restarted on its data directory, with its join flags still set, n3
	// uses its saved identity and joins nothing.
	members := f.membership(l)
	n3.Close()
	cfg.RaftAddr = n3Addr
	if n3, err = Start(context.Background(), cfg); err != nil {
		t.Fatalf("n3's restart: %v", err)
	}
	f.waitFor("n3 back in the cluster", func() bool { return n3.Raft().Status(0).LeaderID != "" })
	if got := f.membership(l); !slices.Equal(got, members) {
		t.Fatalf("a restart changed the configuration: %v, was %v", got, members)
	}

	// Removed, then admitted again with a new token for its id, through
	// whichever node leads now (n3's restart may have moved leadership).
	n3.Close()
	l = f.leader()
	f.do(l, "DELETE", "/v1/cluster/nodes/n3", nil, nil)
	again := testNodeConfig(t, "n3", filepath.Join(t.TempDir(), "n3-again"))
	again.Join, again.JoinToken = f.nodes[l].AdminURL(), f.issueJoinToken(l, map[string]any{"node_id": "n3", "operator": "green"})
	again.OperatorID = ""
	if _, err := Start(context.Background(), again); err == nil || !strings.Contains(err.Error(), `for operator "green"`) {
		t.Fatalf("a node not serving the token's operator joined: %v", err)
	}
	again.JoinToken = f.issueJoinToken(l, map[string]any{"node_id": "n3"})
	if n3, err = Start(context.Background(), again); err != nil {
		t.Fatalf("n3's admission after its removal: %v", err)
	}
	if c := reg.Credential(registry.NodeCredentialID("n3")); c.Revoked || !c.CheckSecret(nodeSecretOf(t, again.DataDir)) {
		t.Fatalf("n3's credential after its new admission: %+v", c)
	}
}

// TestJoinBindsTheCertificate: with TLS the leader binds a node's
// credential to the certificate it joined with; another certificate with
// the same name from the same CA (a forged identity) opens nothing, and a
// node cannot join with a certificate naming another node.
func TestJoinBindsTheCertificate(t *testing.T) {
	ca := testca.New(t)
	cfg1 := testNodeConfig(t, "n1", t.TempDir())
	cfg1.Bootstrap, cfg1.RaftTLS = true, ca.NodeTLS(t, "n1", ca.Pool)
	n1, err := Start(context.Background(), cfg1)
	if err != nil {
		t.Fatal(err)
	}
	defer n1.Close()
	admin := &client.Admin{Base: n1.AdminURL(), Token: testAdminToken,
		HTTP: &http.Client{Transport: &http.Transport{TLSClientConfig: ca.NodeTLS(t, "admin", ca.Pool)}}}
	token := func(node string) string {
		var tok struct{ Token string }
		if err := client.Retry(context.Background(), func() error {
			return admin.Do(context.Background(), "POST", "/v1/cluster/join-tokens", map[string]string{"node_id": node}, &tok)
		}); err != nil {
			t.Fatal(err)
		}
		return tok.Token
	}

	// A certificate naming n4 does not admit n3.
	bad := testNodeConfig(t, "n3", t.TempDir())
	bad.Join, bad.JoinToken, bad.RaftTLS = n1.AdminURL(), token("n3"), ca.NodeTLS(t, "n4", ca.Pool)
	if s, err := Start(context.Background(), bad); err == nil || !strings.Contains(err.Error(), "certificate that names it") {
		if s != nil {
			s.Close()
		}
		t.Fatalf("n3 joining with n4's certificate: %v", err)
	}
	if len(n1.Raft().Status(0).Members) != 1 || n1.Raft().Registry().Node("n3") != nil {
		t.Fatal("a refused join changed the cluster")
	}

	cfg2 := testNodeConfig(t, "n2", t.TempDir())
	cfg2.Join, cfg2.JoinToken, cfg2.RaftTLS = n1.AdminURL(), token("n2"), ca.NodeTLS(t, "n2", ca.Pool)
	n2, err := Start(context.Background(), cfg2)
	if err != nil {
		t.Fatal(err)
	}
	defer n2.Close()
	want := registry.CertificateFingerprint(cfg2.RaftTLS.Certificates[0].Certificate[0])
	if c := n1.Raft().Registry().Credential(registry.NodeCredentialID("n2")); c == nil || c.Certificate != want {
		t.Fatalf("n2's credential is %+v, want bound to %s", c, want)
	}
	if c := n1.Raft().Registry().Credential(registry.NodeCredentialID("n1")); c == nil ||
		c.Certificate != registry.CertificateFingerprint(cfg1.RaftTLS.Certificates[0].Certificate[0]) {
		t.Fatalf("the bootstrap node's credential is %+v, want bound to its certificate", c)
	}

	// n2's secret with a forged certificate (same name, same CA, another
	// key) is refused; with its own it is n2 (a node may not write a scope).
	secret := nodeSecretOf(t, cfg2.DataDir)
	scope := registry.MustEncode(registry.CmdPutScope, registry.Scope{Name: "x"})
	members := len(n1.Raft().Status(0).Members)
	for name, tc := range map[string]struct {
		tls    *http.Client
		status int
	}{
		"a forged certificate": {&http.Client{Transport: &http.Transport{TLSClientConfig: ca.NodeTLS(t, "n2", ca.Pool)}}, 401},
		"its own certificate":  {&http.Client{Transport: &http.Transport{TLSClientConfig: cfg2.RaftTLS.Clone()}}, 403},
	} {
		// Sent to the leader: on a busy machine the two nodes may trade
		// leadership, and a node between leaders answers 503; polled for
		// an answer that is not that, not slept on.
		status := http.StatusServiceUnavailable
		for deadline := time.Now().Add(20 * time.Second); status == http.StatusServiceUnavailable && time.Now().Before(deadline); {
			lead := n1
			if n2.Raft().IsLeader() {
				lead = n2
			}
			if status, _ = internalApply(t, tc.tls, lead.AdminURL(), "n2", secret, "", scope); status == http.StatusServiceUnavailable {
				time.Sleep(50 * time.Millisecond)
			}
		}
		if status != tc.status {
			t.Errorf("n2's credential with %s: %d, want %d", name, status, tc.status)
		}
	}
	if len(n1.Raft().Status(0).Members) != members || n1.Raft().Registry().Scope("x") != nil {
		t.Fatal("a forged identity changed the cluster")
	}
}
