package federation

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/mcfed/mcfed/admin"
	"github.com/mcfed/mcfed/client"
	"github.com/mcfed/mcfed/raft"
	"github.com/mcfed/mcfed/registry"
)

const testAdminToken = "test-admin-token-0123456789"

// The admin API's wire types, as the tests write and read them.
type (
	operatorRef  = admin.OperatorRef
	portedNumber = admin.PortedNumber
	importResult = admin.ImportResult
	spResponse   = admin.SPResponse
)

type testFed struct {
	t     testing.TB
	nodes []*Node
	dirs  []string
	// fedToken is a federation admin credential issued by the first
	// node's admin, accepted by every node; "" until issued.
	fedToken string
	// httpc calls the admin APIs (nil: plain HTTP; with TLS, one that
	// trusts the test CA).
	httpc *http.Client
}

func testNodeConfig(t testing.TB, id, dir string) Config {
	return Config{
		NodeID: id, DataDir: dir, AdminToken: testAdminToken,
		RaftAddr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0",
		Raft: raft.Config{
			HeartbeatTimeout: 200 * time.Millisecond, ElectionTimeout: 200 * time.Millisecond,
		},
		MaxStaleness: 2 * time.Second,
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		// The admin token's verifier at a test's cost, not a production
		// one (which the race detector makes seconds long).
		adminTokenIterations: 1000,
	}
}

// startFed starts n real nodes on loopback: the first bootstraps, each other
// joins through the first's admin API with a token issued by it.
func startFed(t testing.TB, n int) *testFed { return startFedWith(t, n, nil) }

// startFedWith is startFed with every node's config changed by tweak.
func startFedWith(t testing.TB, n int, tweak func(*Config)) *testFed {
	return (&testFed{t: t}).start(n, tweak)
}

// start starts f's n nodes, each config changed by tweak.
func (f *testFed) start(n int, tweak func(*Config)) *testFed {
	t := f.t
	t.Cleanup(func() {
		for _, n := range f.nodes {
			if n != nil {
				n.Close()
			}
		}
	})
	for i := range n {
		dir := filepath.Join(t.TempDir(), fmt.Sprint(i))
		cfg := testNodeConfig(t, fmt.Sprintf("n%d", i+1), dir)
		if i == 0 {
			cfg.Bootstrap = true
		}
		if tweak != nil {
			tweak(&cfg)
		}
		if i > 0 {
			cfg.Join, cfg.JoinToken = f.nodes[0].AdminURL(), f.joinToken(0, cfg.NodeID, cfg.OperatorID)
		}
		node, err := Start(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		f.nodes = append(f.nodes, node)
		f.dirs = append(f.dirs, dir)
	}
	// The first node seeds the standard catalogue as it starts: a test
	// begins once it is done, so that no seed write meets the test's own
	// (approvals turned on mid-seed made a seed write a proposal).
	waitCatalogue(t, f.nodes[0])
	f.fedToken = f.issue(0, registry.RoleFederationAdmin, "")
	for _, node := range f.nodes {
		f.waitFor("every node to know every member and the federation admin", func() bool {
			for _, m := range f.nodes {
				if node.Raft().Registry().Node(m.cfg.NodeID) == nil {
					return false
				}
			}
			id, _ := registry.ParseIssuedToken(f.fedToken)
			return node.Raft().Registry().Credential(id) != nil
		})
	}
	return f
}

// issue has node i's own admin token issue a credential and returns its
// token.
func (f *testFed) issue(i int, role registry.Role, operator string) string {
	f.t.Helper()
	var out admin.CredentialResponse
	own := &client.Admin{Base: f.nodes[i].AdminURL(), Token: testAdminToken, HTTP: f.httpc}
	req := admin.CredentialRequest{Role: role, Operator: operator, Name: "test " + string(role)}
	if err := client.Retry(context.Background(), func() error {
		return own.Do(context.Background(), "POST", "/v1/credentials", req, &out)
	}); err != nil {
		f.t.Fatal(err)
	}
	return out.Token
}

// admin calls node i's admin API as the federation admin, once there is
// one (the first node's own token until then).
func (f *testFed) admin(i int) *client.Admin {
	token := f.fedToken
	if token == "" {
		token = testAdminToken
	}
	return &client.Admin{Base: f.nodes[i].AdminURL(), Token: token, HTTP: f.httpc}
}

// joinToken has node i issue a join token admitting node, whose admin
// token becomes operator admin of operator ("": no role).
func (f *testFed) joinToken(i int, node, operator string) string {
	f.t.Helper()
	var out struct {
		Token string `json:"token"`
	}
	req := map[string]string{"node_id": node, "operator": operator}
	if err := client.Retry(context.Background(), func() error {
		return f.admin(i).Do(context.Background(), "POST", "/v1/cluster/join-tokens", req, &out)
	}); err != nil {
		f.t.Fatal(err)
	}
	return out.Token
}

func (f *testFed) leaderIndex() int {
	for i, n := range f.nodes {
		if n != nil && n.Raft().IsLeader() {
			return i
		}
	}
	return -1
}

// leader waits for a leader and returns its index.
func (f *testFed) leader() int {
	f.t.Helper()
	f.waitFor("a leader", func() bool { return f.leaderIndex() >= 0 })
	return f.leaderIndex()
}

func (f *testFed) follower() int {
	f.waitFor("a leader", func() bool { return f.leaderIndex() >= 0 })
	l := f.leaderIndex()
	for i, n := range f.nodes {
		if n != nil && i != l {
			return i
		}
	}
	return -1
}

func (f *testFed) waitFor(what string, cond func() bool) {
	f.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	f.t.Fatalf("timed out waiting for %s", what)
}

// waitApplied waits until node i's replica has applied index: a write
// another node answered is read on node i after it.
func (f *testFed) waitApplied(i int, index uint64) {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := f.nodes[i].Raft().WaitApplied(ctx, index); err != nil {
		f.t.Fatalf("node %d: %v", i, err)
	}
}

// do calls node i's admin API and fails the test on an error.
func (f *testFed) do(i int, method, path string, body, out any) {
	f.t.Helper()
	if err := f.admin(i).Do(context.Background(), method, path, body, out); err != nil {
		f.t.Fatalf("%s %s on node %d: %v", method, path, i, err)
	}
}

// problemOf calls node i's admin API expecting a problem answer.
func (f *testFed) problemOf(i int, method, path string, body any) *client.APIError {
	f.t.Helper()
	err := f.admin(i).Do(context.Background(), method, path, body, nil)
	api, ok := err.(*client.APIError)
	if !ok {
		f.t.Fatalf("%s %s: got %v, want a problem answer", method, path, err)
	}
	if api.ContentType != "application/problem+json" {
		f.t.Fatalf("%s %s: problem served as %q", method, path, api.ContentType)
	}
	return api
}

func demoOperator(id, network string) registry.Operator {
	return registry.Operator{ID: id, Name: "Operator " + id, Country: "GB", Currency: "GBP",
		Networks: []string{network}, Issuer: "https://" + id + ".example/"}
}
