package federation

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/mcfed/mcfed/client"
	"github.com/mcfed/mcfed/raft"
	"github.com/mcfed/mcfed/registry"
)

func TestWriteThroughFollowerIsReadEverywhere(t *testing.T) {
	f := startFed(t, 3)
	fi := f.follower()
	f.do(fi, "PUT", "/v1/operators/red", demoOperator("red", "234_10"), nil)
	f.do(fi, "PUT", "/v1/ranges/+447911", operatorRef{Operator: "red"}, nil)
	// The follower reads its own write at once: it waited for it.
	var res struct{ Operator string }
	f.do(fi, "GET", "/v1/resolve/+447911123456", nil, &res)
	if res.Operator != "red" {
		t.Fatalf("the follower resolves to %q right after its write", res.Operator)
	}
	for i := range f.nodes {
		var got registry.Operator
		f.do(i, "GET", "/v1/operators/red?consistent=true", nil, &got)
		if got.ID != "red" || got.Slot == 0 {
			t.Fatalf("node %d: consistent read gave %+v", i, got)
		}
	}
}

func TestLeaderLossWritesContinue(t *testing.T) {
	f := startFed(t, 3)
	l := f.leaderIndex()
	f.do(l, "PUT", "/v1/scopes/openid", registry.Scope{Name: "openid"}, nil)
	f.nodes[l].Close()
	f.nodes[l] = nil
	f.waitFor("a new leader", func() bool { return f.leaderIndex() >= 0 })
	// Write through whichever node is left that is not leader, if any, so
	// the write is forwarded to the new leader.
	fi := f.follower()
	if err := client.Retry(context.Background(), func() error {
		return f.admin(fi).Do(context.Background(), "PUT", "/v1/scopes/x-written", registry.Scope{Name: "x-written"}, nil)
	}); err != nil {
		t.Fatal(err)
	}
	for i, n := range f.nodes {
		if n != nil {
			f.waitFor("the write on every live node", func() bool { return n.Raft().Registry().Scope("x-written") != nil })
			_ = i
		}
	}
}

func TestJoinNeedsAValidToken(t *testing.T) {
	f := startFed(t, 1)
	bad := testNodeConfig(t, "intruder", t.TempDir())
	bad.Join, bad.JoinToken = f.nodes[0].AdminURL(), "not-a-token"
	if _, err := Start(context.Background(), bad); err == nil || !strings.Contains(err.Error(), "join token is not valid") {
		t.Fatalf("joining with a wrong token: %v", err)
	}
	// A token is spent by its node: another node cannot reuse it.
	token := f.joinToken(0, "n2", "")
	ok := testNodeConfig(t, "n2", t.TempDir())
	ok.Join, ok.JoinToken = f.nodes[0].AdminURL(), token
	n2, err := Start(context.Background(), ok)
	if err != nil {
		t.Fatal(err)
	}
	defer n2.Close()
	again := testNodeConfig(t, "n3", t.TempDir())
	again.Join, again.JoinToken = f.nodes[0].AdminURL(), token
	if _, err := Start(context.Background(), again); err == nil {
		t.Fatal("a spent token admitted a second node")
	}
	var st struct {
		Raft struct{ Members []struct{ ID string } }
	}
	f.do(0, "GET", "/v1/cluster/status", nil, &st)
	if len(st.Raft.Members) != 2 {
		t.Fatalf("members after one good and two bad joins: %+v", st.Raft.Members)
	}
}

func TestRestartedNodeRejoinsWithItsState(t *testing.T) {
	f := startFed(t, 3)
	fi := f.follower()
	f.do(fi, "PUT", "/v1/scopes/openid", registry.Scope{Name: "openid"}, nil)
	cfg := f.nodes[fi].cfg
	f.nodes[fi].Close()
	f.nodes[fi] = nil
	l := f.leaderIndex()
	f.do(l, "PUT", "/v1/scopes/x-written", registry.Scope{Name: "x-written"}, nil)

	// Same data directory, same raft address; no join flags needed.
	cfg.Join, cfg.JoinToken, cfg.RaftAddr = "", "", f.memberAddr(l, cfg.NodeID)
	n, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.nodes[fi] = n
	f.waitFor("the restarted node to catch up", func() bool { return n.Raft().Registry().Scope("x-written") != nil })
}

// memberAddr is the raft address the cluster knows node id by.
func (f *testFed) memberAddr(i int, id string) string {
	for _, m := range f.nodes[i].Raft().Status(0).Members {
		if m.ID == id {
			return m.Addr
		}
	}
	f.t.Fatalf("%s is not a member", id)
	return ""
}

func TestReadinessFollowsLeaderContact(t *testing.T) {
	f := startFed(t, 3)
	ready := func(i int) int {
		resp, err := http.Get(f.nodes[i].AdminURL() + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	fi := f.follower()
	if got := ready(fi); got != 200 {
		t.Fatalf("a follower of a healthy cluster answers readyz %d", got)
	}
	// The follower loses both peers: no leader can be elected, and once it
	// has not heard from one for longer than MaxStaleness it is not ready.
	for i := range f.nodes {
		if i != fi {
			f.nodes[i].Close()
			f.nodes[i] = nil
		}
	}
	f.waitFor("the isolated follower to report itself not ready", func() bool { return ready(fi) == 503 })
	// Liveness is not readiness: the process still answers healthz.
	resp, err := http.Get(f.nodes[fi].AdminURL() + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz of a live node: %v %v", resp, err)
	}
	resp.Body.Close()
}

func TestRemoveNode(t *testing.T) {
	f := startFed(t, 3)
	fi := f.follower()
	l := f.leader()
	id := f.nodes[fi].cfg.NodeID
	if api := f.problemOf(fi, "DELETE", "/v1/cluster/nodes/"+id, nil); api.Status != 421 {
		t.Fatalf("removal through a follower: %d", api.Status)
	}
	f.do(l, "DELETE", "/v1/cluster/nodes/"+id, nil, nil)
	var st struct {
		Raft struct{ Members []struct{ ID string } }
	}
	f.do(l, "GET", "/v1/cluster/status", nil, &st)
	for _, m := range st.Raft.Members {
		if m.ID == id {
			t.Fatalf("%s is still a member after its removal", id)
		}
	}
	if f.nodes[l].Raft().Registry().Node(id) != nil {
		t.Fatal("the removed node's record is still in the registry")
	}
	// Its credential opens nothing more.
	scope := registry.MustEncode(registry.CmdPutScope, registry.Scope{Name: "x"})
	if status, _ := internalApply(t, http.DefaultClient, f.nodes[l].AdminURL(), id, nodeSecretOf(t, f.dirs[fi]), "", scope); status != 401 {
		t.Fatalf("the removed node's credential at the leader: %d", status)
	}
	// The cluster of two keeps taking writes.
	f.do(l, "PUT", "/v1/scopes/openid", registry.Scope{Name: "openid"}, nil)
}

func TestBadJoinTokensWriteNothing(t *testing.T) {
	f := startFed(t, 1)
	f.joinToken(0, "x", "")
	before := f.nodes[0].Raft().Registry().AppliedIndex()
	for i := range 20 {
		api := f.problemOf(0, "POST", "/v1/cluster/join", raft.JoinRequest{ID: "x", RaftAddr: "127.0.0.1:1", AdminURL: "http://127.0.0.1:2", Token: strings.Repeat("g", i+1)})
		if api.Status != 403 {
			t.Fatalf("a guessed token got %d", api.Status)
		}
	}
	if after := f.nodes[0].Raft().Registry().AppliedIndex(); after != before {
		t.Fatalf("20 guessed tokens wrote %d log entries", after-before)
	}
}
