package federation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mcfed/mcfed/admin"
	"github.com/mcfed/mcfed/client"
	"github.com/mcfed/mcfed/internal/testca"
	"github.com/mcfed/mcfed/raft"
	"github.com/mcfed/mcfed/registry"
)

// startTLSFed starts n nodes with mutual TLS between them, as a
// federation of operators runs.
func startTLSFed(t *testing.T, n int) (*testFed, *testca.CA) {
	ca := testca.New(t)
	f := &testFed{t: t, httpc: &http.Client{Transport: &http.Transport{TLSClientConfig: ca.NodeTLS(t, "admin", ca.Pool)}}}
	f.start(n, func(c *Config) { c.RaftTLS = ca.NodeTLS(t, c.NodeID, ca.Pool) })
	return f, ca
}

// addNode joins node id to f with a default join token (no "voter"), with
// a certificate of ca if set, and returns its index.
func (f *testFed) addNode(ca *testca.CA, id string) int {
	f.t.Helper()
	cfg := testNodeConfig(f.t, id, filepath.Join(f.t.TempDir(), id))
	if ca != nil {
		cfg.RaftTLS = ca.NodeTLS(f.t, id, ca.Pool)
	}
	cfg.Join, cfg.JoinToken = f.nodes[0].AdminURL(), f.joinToken(0, id, "")
	n, err := Start(context.Background(), cfg)
	if err != nil {
		f.t.Fatal(err)
	}
	f.nodes = append(f.nodes, n)
	return len(f.nodes) - 1
}

// suffrage is the Raft configuration as node i sees it: voter or not, by id.
func (f *testFed) suffrage(i int) map[string]bool {
	out := map[string]bool{}
	for _, m := range f.nodes[i].Raft().Status(0).Members {
		out[m.ID] = m.Voter
	}
	return out
}

func (f *testFed) waitSuffrage(i int, want map[string]bool) {
	f.t.Helper()
	f.waitFor(fmt.Sprintf("node %d to see suffrage %v", i, want), func() bool {
		got := f.suffrage(i)
		if len(got) != len(want) {
			return false
		}
		for id, v := range want {
			if g, ok := got[id]; !ok || g != v {
				return false
			}
		}
		return true
	})
}

// TestPromotionByAdmin: once the federation admin named three voters, a
// node joining with a voter's token joins as a non-voter; the federation
// admin promotes it in place of a voter, which becomes a non-voter. The
// promotion is refused with a problem for an unknown node, a voter, a
// node the leader cannot hear, another role than federation admin, and on
// a follower (421). With TLS, the
// promoted node's connections count: it leads and commits, also to a
// non-voter that was away while it was promoted.
func TestPromotionByAdmin(t *testing.T) {
	f, ca := startTLSFed(t, 3)
	var rules admin.VoterRulesBody
	f.do(0, "PUT", "/v1/cluster/voters", map[string]any{"voters": []string{"n1", "n2", "n3"}}, &rules)
	if !rules.Configured || rules.PromoteAfterSeconds != registry.DefaultPromoteAfterSeconds || len(rules.Standby) != 0 {
		t.Fatalf("rules: %+v", rules)
	}
	if p := f.problemOf(0, "PUT", "/v1/cluster/voters", map[string]any{"voters": []string{}}); p.Status != 400 {
		t.Fatalf("empty voters: %d %s", p.Status, p.Problem.Detail)
	}
	n4 := f.addNode(ca, "n4")
	n5 := f.addNode(ca, "n5")
	want := map[string]bool{"n1": true, "n2": true, "n3": true, "n4": false, "n5": false}
	f.waitSuffrage(n4, want)
	f.waitSuffrage(n5, want) // its log holds the configuration: it restarts a member

	promote := func(id string, body any) *client.APIError {
		t.Helper()
		err := f.admin(f.leader()).Do(context.Background(), "POST", "/v1/cluster/members/"+id+"/promote", body, nil)
		if err == nil {
			return nil
		}
		var api *client.APIError
		if !errors.As(err, &api) || api.ContentType != "application/problem+json" {
			t.Fatalf("promote %s: %v, want a problem", id, err)
		}
		return api
	}
	for _, c := range []struct {
		id, kind string
		status   int
	}{{"nx", "unknown-member", 404}, {"n2", "already-voter", 409}} {
		if p := promote(c.id, nil); p == nil || p.Status != c.status || !strings.HasSuffix(p.Problem.Type, c.kind) {
			t.Fatalf("promote %s: %+v, want %d %s", c.id, p, c.status, c.kind)
		}
	}
	// Only the leader knows how far the followers are: a follower says
	// where to go.
	f.waitFor("a follower to answer a promotion 421", func() bool {
		err := f.admin(f.follower()).Do(context.Background(), "POST", "/v1/cluster/members/n1/promote", nil, nil)
		return statusOf(err) == 421
	})
	// Another role may not.
	opToken := f.issue(0, registry.RolePortingAuthority, "")
	err := (&client.Admin{Base: f.nodes[f.leader()].AdminURL(), Token: opToken, HTTP: f.httpc}).Do(context.Background(), "POST", "/v1/cluster/members/n4/promote", nil, nil)
	if statusOf(err) != 403 {
		t.Fatalf("the porting authority's promotion: %v", err)
	}
	// A non-voter the leader no longer hears from is not caught up.
	n5cfg := f.nodes[n5].cfg
	n5cfg.Join, n5cfg.JoinToken = "", ""
	n5cfg.RaftAddr, n5cfg.AdminAddr = f.nodes[n5].Raft().Addr(), strings.TrimPrefix(f.nodes[n5].AdminURL(), "https://")
	f.nodes[n5].Close()
	f.nodes[n5] = nil
	f.waitFor("the stopped non-voter to count as not caught up", func() bool {
		return errors.Is(f.nodes[f.leader()].Raft().CheckPromotion("n5", ""), raft.ErrNotCaughtUp)
	})
	if p := promote("n5", nil); p == nil || p.Status != 409 || !strings.HasSuffix(p.Problem.Type, "not-caught-up") {
		t.Fatalf("promote n5, stopped: %+v, want 409 not-caught-up", p)
	}

	// n4 in place of a voter that is not the leader (asked again if the
	// leadership moved meanwhile: 421, or the leader named; or if a busy
	// machine delayed heartbeats past the window: not caught up).
	var replaced string
	f.waitFor("n4 promoted in place of a follower", func() bool {
		replaced = "n3"
		if f.leader() == 2 {
			replaced = "n2"
		}
		p := promote("n4", admin.PromoteBody{Replaces: replaced})
		if p != nil && p.Status != 421 && !strings.HasSuffix(p.Problem.Type, "quorum-at-risk") && !strings.HasSuffix(p.Problem.Type, "not-caught-up") {
			t.Fatalf("promote n4: %d %s", p.Status, p.Problem.Detail)
		}
		return p == nil
	})
	want = map[string]bool{"n1": true, "n2": true, "n3": true, "n4": true, "n5": false}
	want[replaced] = false
	for i, n := range f.nodes {
		if n != nil {
			f.waitSuffrage(i, want)
		}
	}
	var st struct {
		Raft   raft.Status          `json:"raft"`
		Voters admin.VoterRulesBody `json:"voters"`
	}
	f.do(n4, "GET", "/v1/cluster/status", nil, &st)
	if !slices.Contains(st.Voters.Voters, "n4") || !slices.Equal(st.Voters.Standby, []string{replaced}) {
		t.Fatalf("the rules after the promotion: %+v", st.Voters)
	}
	for _, m := range st.Raft.Members {
		if m.ID == replaced && (m.Voter || !m.Standby) {
			t.Fatalf("the replaced voter: %+v", m)
		}
	}
	var audit registry.Page[registry.AuditEntry]
	f.do(n4, "GET", "/v1/audit?key=n4&consistent=true", nil, &audit)
	var found bool
	for _, e := range audit.Items {
		found = found || e.Command == "promote_node" && e.Outcome == registry.OutcomeApplied && e.Author.Role == registry.RoleFederationAdmin
	}
	if !found {
		t.Fatalf("no applied promote_node by the federation admin in the audit log: %+v", audit.Items)
	}

	// The promoted node leads: its Raft connections (certificate bound at
	// its join as a non-voter) are a voter's now.
	f.waitFor("n4 to lead", func() bool {
		if f.nodes[n4].Raft().IsLeader() {
			return true
		}
		if l := f.leaderIndex(); l >= 0 && l != n4 {
			_ = f.nodes[l].Raft().LeadershipTransferTo("n4")
		}
		return false
	})
	f.do(n4, "PUT", "/v1/scopes/led-by-n4", registry.Scope{Name: "led-by-n4"}, nil)
	// n5 was away while n4 was promoted: its configuration says n4 does
	// not vote, so it takes a member's word that n4 leads.
	restarted, err := Start(context.Background(), n5cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.nodes[n5] = restarted
	for i, n := range f.nodes {
		if n != nil {
			f.waitFor(fmt.Sprintf("node %d to apply n4's write", i), func() bool { return n.Raft().Registry().Scope("led-by-n4") != nil })
		}
	}
}

// TestLostVoterReplacedByStandby: with three voters and a standby named,
// the leader's loss makes the new leader, once the voter has been out of
// contact for the rules' interval, promote the standby in its place (the
// lost voter demoted, the voter count kept), recorded in the audit log by
// the leader's node and counted; a non-voter that is no standby stays one.
// No change is made that would leave the voters without a quorum in
// contact.
func TestLostVoterReplacedByStandby(t *testing.T) {
	f, ca := startTLSFed(t, 3)
	f.do(0, "PUT", "/v1/cluster/voters", map[string]any{"voters": []string{"n1", "n2", "n3"}, "standby": []string{"n4"}, "promote_after_seconds": 1}, nil)
	n4 := f.addNode(ca, "n4")
	n5 := f.addNode(ca, "n5")
	f.waitSuffrage(n5, map[string]bool{"n1": true, "n2": true, "n3": true, "n4": false, "n5": false})

	old := f.leader()
	lost := f.nodes[old].cfg.NodeID
	f.nodes[old].Close()
	f.nodes[old] = nil
	want := map[string]bool{"n1": true, "n2": true, "n3": true, "n4": true, "n5": false}
	want[lost] = false
	f.waitSuffrage(n5, want)
	f.waitSuffrage(n4, want)
	rules := f.nodes[n5].Raft().Registry().VoterRules()
	if !slices.Contains(rules.Voters, "n4") || !slices.Equal(rules.Standby, []string{lost}) || rules.LastPromotion == 0 {
		t.Fatalf("the rules after the promotion: %+v", rules)
	}
	// Counted by the leader that made each change, once: a change whose
	// leader lost the leadership before it was committed is committed by
	// the next, uncounted (a busy machine makes leaders come and go).
	var automatic, demotions uint64
	for _, n := range f.nodes {
		if n != nil {
			m := n.Raft().Metrics()
			automatic, demotions = automatic+m.AutomaticPromotions, demotions+m.Demotions
		}
	}
	if automatic > 1 || demotions > 1 || automatic+demotions == 0 {
		t.Fatalf("the leaders counted %d automatic promotions and %d demotions, want 1 and 1", automatic, demotions)
	}
	var audit registry.Page[registry.AuditEntry]
	f.do(n5, "GET", "/v1/audit?key=n4&consistent=true", nil, &audit)
	var by []string
	for _, e := range audit.Items {
		if e.Command == "promote_node" && e.Outcome == registry.OutcomeApplied {
			by = append(by, e.Author.Credential)
		}
	}
	if len(by) != 1 || !strings.HasPrefix(by[0], "node:") || by[0] == registry.NodeCredentialID(lost) || by[0] == registry.NodeCredentialID("n4") {
		t.Fatalf("the promotion's authors in the audit log: %q, want one, the node of a voter that stayed", by)
	}
	f.do(n5, "PUT", "/v1/scopes/after-promotion", registry.Scope{Name: "after-promotion"}, nil)

	// Of the voters now, stop the promoted one: demoting the follower
	// that stays would leave one voter in contact of two.
	f.nodes[n4].Close()
	f.nodes[n4] = nil
	var lead int
	var other string
	f.waitFor("a demotion to be refused for the quorum", func() bool {
		lead = f.leader()
		for id, v := range want {
			if v && id != "n4" && id != f.nodes[lead].cfg.NodeID {
				other = id
			}
		}
		return errors.Is(f.nodes[lead].Raft().CheckDemotion(other), raft.ErrQuorumAtRisk)
	})
	if err := f.nodes[lead].Raft().Demote(other); !errors.Is(err, raft.ErrQuorumAtRisk) && !errors.Is(err, raft.ErrNotLeader) {
		t.Fatalf("demoting %s with a voter out of contact: %v", other, err)
	}
	if !f.suffrage(n5)[other] {
		t.Fatalf("%s was demoted with a voter out of contact", other)
	}
}

// TestPromotionUnderApprovals: with two approvals required, the federation
// admin's promotion is a proposal (202) that changes no vote; the second
// admin's approval on the leader carries it out.
func TestPromotionUnderApprovals(t *testing.T) {
	f := startFed(t, 3)
	f.do(0, "PUT", "/v1/cluster/voters", map[string]any{"voters": []string{"n1", "n2", "n3"}}, nil)
	n4 := f.addNode(nil, "n4")
	f.waitSuffrage(n4, map[string]bool{"n1": true, "n2": true, "n3": true, "n4": false})
	fed2 := f.issue(0, registry.RoleFederationAdmin, "")
	f.do(0, "PUT", "/v1/approval-rules", admin.ApprovalRulesBody{ApprovalsRequired: 2}, nil)

	l := f.leader()
	status, body := f.rawCall(l, f.fedToken, "POST", "/v1/cluster/members/n4/promote", map[string]any{})
	var proposed struct {
		Proposal admin.ProposalResponse `json:"proposal"`
	}
	if err := json.Unmarshal(body, &proposed); err != nil || status != http.StatusAccepted || proposed.Proposal.What != "promote_node" {
		t.Fatalf("a promotion with k=2: %d %s, want 202 with the proposal", status, body)
	}
	if f.suffrage(l)["n4"] {
		t.Fatal("a proposed promotion made n4 a voter")
	}
	l = f.leader()
	if status, body := f.rawCall(l, fed2, "POST", "/v1/approvals/"+proposed.Proposal.ID+"/approve", nil); status != http.StatusOK {
		t.Fatalf("approving the promotion: %d %s", status, body)
	}
	for i := range f.nodes {
		f.waitSuffrage(i, map[string]bool{"n1": true, "n2": true, "n3": true, "n4": true})
	}
}
