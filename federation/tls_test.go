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
