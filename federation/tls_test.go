package federation

import (
	"context"
	"crypto/tls"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mcfed/mcfed/client"
	"github.com/mcfed/mcfed/internal/testca"
	"github.com/mcfed/mcfed/registry"
)

// TestMutualTLSFederation: with certificates, nodes join, forward writes
// and replicate over TLS only; the admin API refuses plain HTTP, and a node
// whose certificate another CA signed cannot join.
func TestMutualTLSFederation(t *testing.T) {
	ca := testca.New(t)
	cfg1 := testNodeConfig(t, "n1", t.TempDir())
	cfg1.Bootstrap, cfg1.RaftTLS = true, ca.NodeTLS(t, "n1", ca.Pool)
	n1, err := Start(context.Background(), cfg1)
	if err != nil {
		t.Fatal(err)
	}
	defer n1.Close()
	if !strings.HasPrefix(n1.AdminURL(), "https://") {
		t.Fatalf("admin URL %s is not https", n1.AdminURL())
	}
	admin := &client.Admin{Base: n1.AdminURL(), Token: testAdminToken,
		HTTP: &http.Client{Transport: &http.Transport{TLSClientConfig: ca.NodeTLS(t, "admin", ca.Pool)}}}
	var tok struct{ Token string }
	if err := client.Retry(context.Background(), func() error {
		return admin.Do(context.Background(), "POST", "/v1/cluster/join-tokens", map[string]string{"node_id": "n2"}, &tok)
	}); err != nil {
		t.Fatal(err)
	}

	// Plain HTTP to a TLS admin listener gets nowhere.
	plain := &client.Admin{Base: strings.Replace(n1.AdminURL(), "https://", "http://", 1), Token: testAdminToken}
	if err := plain.Do(context.Background(), "GET", "/v1/cluster/status", nil, nil); err == nil {
		t.Fatal("the admin API answered plain HTTP")
	}

	// A stranger with another CA's certificate cannot even reach the join
	// endpoint: it does not trust the member, and the member's certificate
	// check refuses it.
	other := testca.New(t)
	bad := testNodeConfig(t, "stranger", t.TempDir())
	bad.Join, bad.JoinToken, bad.RaftTLS = n1.AdminURL(), tok.Token, other.NodeTLS(t, "stranger", other.Pool)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if s, err := Start(ctx, bad); err == nil {
		s.Close()
		t.Fatal("a node with a foreign certificate joined")
	}

	cfg2 := testNodeConfig(t, "n2", t.TempDir())
	cfg2.Join, cfg2.JoinToken, cfg2.RaftTLS = n1.AdminURL(), tok.Token, ca.NodeTLS(t, "n2", ca.Pool)
	n2, err := Start(context.Background(), cfg2)
	if err != nil {
		t.Fatal(err)
	}
	defer n2.Close()
	// A write through the follower is forwarded to the leader over TLS.
	if !n1.Raft().IsLeader() {
		t.Fatal("the bootstrap node lost leadership in a healthy two-node cluster")
	}
	// n2 joined without an operator: its own admin token has no role; the
	// federation admin writes through it.
	var issued struct{ Token string }
	if err := admin.Do(context.Background(), "POST", "/v1/credentials", map[string]string{"role": "federation-admin"}, &issued); err != nil {
		t.Fatal(err)
	}
	admin2 := &client.Admin{Base: n2.AdminURL(), Token: issued.Token, HTTP: admin.HTTP}
	if err := client.Retry(context.Background(), func() error {
		return admin2.Do(context.Background(), "PUT", "/v1/scopes/openid", registry.Scope{Name: "openid"}, nil)
	}); err != nil {
		t.Fatal(err)
	}
	// A member's credential counts only with the certificate it joined
	// with (TestJoinBindsTheCertificate: not another one naming it).
	secret := nodeSecretOf(t, cfg2.DataDir)
	scope := registry.MustEncode(registry.CmdPutScope, registry.Scope{Name: "x"})
	for name, tc := range map[string]struct {
		tls    *tls.Config
		status int
	}{"another node's certificate": {ca.NodeTLS(t, "n3", ca.Pool), 401}, "its own certificate": {cfg2.RaftTLS.Clone(), 403}} {
		client := &http.Client{Transport: &http.Transport{TLSClientConfig: tc.tls}}
		if status, _ := internalApply(t, client, n1.AdminURL(), "n2", secret, "", scope); status != tc.status {
			t.Errorf("n2's credential with %s: %d, want %d", name, status, tc.status)
		}
	}
	for _, n := range []*Node{n1, n2} {
		wctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := n.Raft().WaitApplied(wctx, n2.Raft().Registry().AppliedIndex())
		cancel()
		if err != nil || n.Raft().Registry().Scope("openid") == nil {
			t.Fatalf("%s did not apply the write: %v", n.cfg.NodeID, err)
		}
	}
}

// TestMutualTLSJoinFailoverRestart: with TLS, where every Raft connection
// must carry the certificate bound to a member, a node joins through a
// follower (which vouches for the leader it has never met), the members
// elect a new leader when the first stops, and the first, restarted
// without a snapshot (an empty registry until the leader says how far to
// apply), takes the new leader by the certificates it pinned.
func TestMutualTLSJoinFailoverRestart(t *testing.T) {
	ca := testca.New(t)
	httpClient := &http.Client{Transport: &http.Transport{TLSClientConfig: ca.NodeTLS(t, "admin", ca.Pool)}}
	start := func(cfg Config) *Node {
		t.Helper()
		n, err := Start(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Close() })
		return n
	}
	cfgs := make([]Config, 3)
	for i := range cfgs {
		id := []string{"n1", "n2", "n3"}[i]
		cfgs[i] = testNodeConfig(t, id, t.TempDir())
		cfgs[i].RaftTLS = ca.NodeTLS(t, id, ca.Pool)
	}
	cfgs[0].Bootstrap = true
	n1 := start(cfgs[0])
	admin1 := &client.Admin{Base: n1.AdminURL(), Token: testAdminToken, HTTP: httpClient}
	do := func(a *client.Admin, method, path string, body, out any) {
		t.Helper()
		if err := client.Retry(context.Background(), func() error { return a.Do(context.Background(), method, path, body, out) }); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
	}
	var fed struct{ Token string }
	do(admin1, "POST", "/v1/credentials", map[string]string{"role": "federation-admin"}, &fed)
	nodes := []*Node{n1}
	for i := 1; i < 3; i++ {
		var tok struct{ Token string }
		do(admin1, "POST", "/v1/cluster/join-tokens", map[string]string{"node_id": cfgs[i].NodeID}, &tok)
		// n3 joins through n2, a follower.
		cfgs[i].Join, cfgs[i].JoinToken = nodes[i-1].AdminURL(), tok.Token
		nodes = append(nodes, start(cfgs[i]))
	}
	applied := func(name string, ns ...*Node) {
		t.Helper()
		for _, n := range ns {
			deadline := time.Now().Add(10 * time.Second)
			for n.Raft().Registry().Scope(name) == nil {
				if time.Now().After(deadline) {
					t.Fatalf("%s did not apply %s", n.cfg.NodeID, name)
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
	}
	do(admin1, "PUT", "/v1/scopes/joined", registry.Scope{Name: "joined"}, nil)
	applied("joined", nodes...)

	// The leader stops; the other two elect one of them.
	if !n1.Raft().IsLeader() {
		t.Fatal("the bootstrap node lost leadership in a healthy cluster")
	}
	addr, adminAddr := n1.Raft().Addr(), strings.TrimPrefix(n1.AdminURL(), "https://")
	n1.Close()
	admin2 := &client.Admin{Base: nodes[1].AdminURL(), Token: fed.Token, HTTP: httpClient}
	do(admin2, "PUT", "/v1/scopes/failed-over", registry.Scope{Name: "failed-over"}, nil)
	applied("failed-over", nodes[1], nodes[2])

	cfg := cfgs[0]
	cfg.Bootstrap, cfg.RaftAddr, cfg.AdminAddr = false, addr, adminAddr
	again := start(cfg)
	applied("failed-over", again)
	// Neither the node that joined through the leader nor the restarted
	// one ever refused a member.
	for _, n := range []*Node{nodes[1], again} {
		if got := n.Raft().Metrics().RefusedPeers; got != 0 {
			t.Errorf("%s refused %d connections from members", n.cfg.NodeID, got)
		}
	}
}
