package federation

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/mcfed/mcfed/client"
	"github.com/mcfed/mcfed/raft"
	"github.com/mcfed/mcfed/registry"
)

// TestNonVoterReplicatesButNeverLeads: a join token with "voter": false
// admits a non-voting member. It replicates, forwards writes and shows as
// a non-voter in the cluster status; when the voters' leader stops, a
// voter takes over, never the non-voter, which keeps replicating.
func TestNonVoterReplicatesButNeverLeads(t *testing.T) {
	f := startFed(t, 3)
	var tok struct {
		Token string `json:"token"`
		Voter bool   `json:"voter"`
	}
	if err := client.Retry(context.Background(), func() error {
		return f.admin(0).Do(context.Background(), "POST", "/v1/cluster/join-tokens", map[string]any{"node_id": "n4", "voter": false}, &tok)
	}); err != nil {
		t.Fatal(err)
	}
	if tok.Voter {
		t.Fatal(`a token asked with "voter": false says it admits a voter`)
	}
	cfg := testNodeConfig(t, "n4", filepath.Join(t.TempDir(), "n4"))
	cfg.Join, cfg.JoinToken = f.nodes[0].AdminURL(), tok.Token
	n4, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.nodes = append(f.nodes, n4)
	suffrage := func(i int) map[string]bool {
		var st struct {
			Raft raft.Status `json:"raft"`
		}
		f.do(i, "GET", "/v1/cluster/status", nil, &st)
		out := map[string]bool{}
		for _, m := range st.Raft.Members {
			out[m.ID] = m.Voter
		}
		return out
	}
	want := map[string]bool{"n1": true, "n2": true, "n3": true, "n4": false}
	f.waitFor("n4 to see itself a non-voter among three voters", func() bool {
		got := suffrage(3)
		for id, v := range want {
			if g, ok := got[id]; !ok || g != v {
				return false
			}
		}
		return len(got) == 4
	})

	// A write through the non-voter is forwarded to the leader.
	f.do(3, "PUT", "/v1/scopes/through-n4", registry.Scope{Name: "through-n4"}, nil)

	old := f.leader()
	if old == 3 {
		t.Fatal("the non-voter leads")
	}
	f.nodes[old].Close()
	f.nodes[old] = nil
	f.waitFor("a voter to take over", func() bool {
		if n4.Raft().IsLeader() {
			t.Fatal("the non-voter took the leadership")
		}
		l := f.leaderIndex()
		return l >= 0 && l != old
	})
	if l := f.leaderIndex(); l == 3 {
		t.Fatal("the non-voter leads")
	}
	f.do(3, "PUT", "/v1/scopes/after-failover", registry.Scope{Name: "after-failover"}, nil)
	if n4.Raft().Registry().Scope("after-failover") == nil {
		t.Fatal("the non-voter's own write is not on its replica")
	}
	if st := n4.Raft().Status(0); st.State != "Follower" {
		t.Fatalf("the non-voter is %s", st.State)
	}
}
