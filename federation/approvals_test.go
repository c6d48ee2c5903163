package federation

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/mcfed/mcfed/admin"
	"github.com/mcfed/mcfed/client"
	"github.com/mcfed/mcfed/registry"
)

// rawCall calls node i's admin API with token and returns the status and
// the body: a 202 is an answer the client's Do does not tell apart.
func (f *testFed) rawCall(i int, token, method, path string, body any) (int, []byte) {
	f.t.Helper()
	data, err := json.Marshal(body)
	if err != nil {
		f.t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, f.nodes[i].AdminURL()+path, bytes.NewReader(data))
	if err != nil {
		f.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out bytes.Buffer
	if _, err := out.ReadFrom(resp.Body); err != nil {
		f.t.Fatal(err)
	}
	return resp.StatusCode, out.Bytes()
}

// TestApprovalsAcrossNodes: with two approvals required, a federation
// admin's SP create answers 202 with the proposal and creates nothing on
// any node; a second federation admin approves it through another node,
// and the SP exists on every node, with the secret the 202 showed; the
// audit log names both admins. Bad k, a stranger's vote, an unknown
// proposal and a decided one are problems.
func TestApprovalsAcrossNodes(t *testing.T) {
	f := startFed(t, 3)
	fed1 := f.fedToken
	fed2 := f.issue(0, registry.RoleFederationAdmin, "")
	porting := f.issue(0, registry.RolePortingAuthority, "")
	f.do(0, "PUT", "/v1/scopes/openid", registry.Scope{Name: "openid"}, nil)
	f.do(0, "POST", "/v1/operators", demoOperator("x", "234_99"), nil)
	// Three federation admins: node n1's own admin token, fed1 and fed2.
	if p := f.problemOf(1, "PUT", "/v1/approval-rules", admin.ApprovalRulesBody{ApprovalsRequired: 4}); p.Status != 422 {
		t.Fatalf("k=4 of 3 admins: %d, want 422", p.Status)
	}
	f.do(1, "PUT", "/v1/approval-rules", admin.ApprovalRulesBody{ApprovalsRequired: 2}, nil)

	sp := map[string]any{"client_id": "shop", "name": "Shop",
		"redirect_uris": []string{"https://shop.example/cb"}, "scopes": []string{"openid"}}
	status, body := f.rawCall(0, fed1, "POST", "/v1/service-providers", sp)
	var proposed struct {
		Proposal     admin.ProposalResponse `json:"proposal"`
		ClientSecret string                 `json:"client_secret"`
	}
	if err := json.Unmarshal(body, &proposed); err != nil || status != http.StatusAccepted {
		t.Fatalf("SP create with k=2: %d %s, want 202 with the proposal", status, body)
	}
	p := proposed.Proposal
	if p.What != "create_sp" || p.Status != registry.ProposalPending || p.ApprovalsCounted != 1 ||
		p.ApprovalsRequired != 2 || p.ExpiresAt <= p.ProposedAt || proposed.ClientSecret == "" {
		t.Fatalf("the 202's proposal: %s", body)
	}
	// A suspension (a conditional update) waits for approvals too.
	if status, body := f.rawCall(1, fed1, "POST", "/v1/operators/x/suspend", nil); status != http.StatusAccepted ||
		!bytes.Contains(body, []byte(`"what":"update_operator"`)) {
		t.Fatalf("suspension with k=2: %d %s, want 202 with the proposal", status, body)
	}
	leader := f.leader()
	idx := f.nodes[leader].Raft().Registry().AppliedIndex()
	for i := range f.nodes {
		f.waitApplied(i, idx)
		if r := f.nodes[i].Raft().Registry(); r.ServiceProvider("shop") != nil || r.Operator("x").Status != registry.StatusActive {
			t.Fatalf("node %d holds the SP, or operator x suspended, before approval", i)
		}
	}

	fed2Admin := func(i int) *client.Admin { return &client.Admin{Base: f.nodes[i].AdminURL(), Token: fed2} }
	var list struct {
		Items []admin.ProposalResponse `json:"items"`
	}
	if err := fed2Admin(1).Do(context.Background(), "GET", "/v1/approvals?status=pending&consistent=true", nil, &list); err != nil ||
		len(list.Items) != 2 || list.Items[0].ID != p.ID {
		t.Fatalf("pending proposals as the second admin: %+v, %v", list, err)
	}
	wantProblem := func(token, path string, status int) {
		t.Helper()
		code, body := f.rawCall(2, token, "POST", path, nil)
		var pr client.Problem
		if code != status || json.Unmarshal(body, &pr) != nil || pr.Detail == "" {
			t.Fatalf("POST %s: %d %s, want a %d problem", path, code, body, status)
		}
	}
	wantProblem(porting, "/v1/approvals/"+p.ID+"/approve", 403)
	wantProblem(fed1, "/v1/approvals/"+p.ID+"/approve", 409) // its proposer, again
	wantProblem(fed2, "/v1/approvals/999999/approve", 404)

	var approved admin.ProposalResponse
	if err := fed2Admin(2).Do(context.Background(), "POST", "/v1/approvals/"+p.ID+"/approve", nil, &approved); err != nil {
		t.Fatal(err)
	}
	if approved.Status != registry.ProposalApplied || approved.ApprovalsCounted != 2 {
		t.Fatalf("after the second approval: %+v", approved)
	}
	wantProblem(fed1, "/v1/approvals/"+p.ID+"/reject", 409) // decided
	for i := range f.nodes {
		f.waitFor("the approved SP on every node", func() bool { return f.nodes[i].Raft().Registry().ServiceProvider("shop") != nil })
		if got := f.nodes[i].Raft().Registry().ServiceProvider("shop"); !got.CheckSecret(proposed.ClientSecret) {
			t.Fatalf("node %d: the SP's secret is not the one its proposal showed", i)
		}
	}

	var audit registry.Page[registry.AuditEntry]
	f.do(0, "GET", "/v1/audit?key=shop&consistent=true", nil, &audit)
	id1, _ := registry.ParseIssuedToken(fed1)
	id2, _ := registry.ParseIssuedToken(fed2)
	var proposer, approver string
	for _, e := range audit.Items {
		switch {
		case e.Outcome == registry.OutcomeProposed:
			proposer = e.Author.Credential
		case e.Outcome == registry.OutcomeApplied && e.Command == "approve_proposal:create_sp":
			approver = e.Author.Credential
		}
	}
	if proposer != id1 || approver != id2 {
		t.Fatalf("the audit log names %q as proposer and %q as approver, want %q and %q", proposer, approver, id1, id2)
	}
}

// TestApprovedNodeRemoval: with two approvals required, removing a node
// is a proposal; the approval that applies it is made on the leader (a
// follower answers 421), and takes the node out of Raft as well as out of
// the registry.
func TestApprovedNodeRemoval(t *testing.T) {
	f := startFed(t, 3)
	fed2 := f.issue(0, registry.RoleFederationAdmin, "")
	f.do(0, "PUT", "/v1/approval-rules", admin.ApprovalRulesBody{ApprovalsRequired: 2}, nil)
	l, fi := f.leader(), f.follower()
	id := f.nodes[fi].cfg.NodeID
	status, body := f.rawCall(l, f.fedToken, "DELETE", "/v1/cluster/nodes/"+id, nil)
	var proposed struct {
		Proposal admin.ProposalResponse `json:"proposal"`
	}
	if err := json.Unmarshal(body, &proposed); err != nil || status != http.StatusAccepted || proposed.Proposal.What != "delete_node" {
		t.Fatalf("node removal with k=2: %d %s, want 202 with the proposal", status, body)
	}
	path := "/v1/approvals/" + proposed.Proposal.ID + "/approve"
	if status, body := f.rawCall(fi, fed2, "POST", path, nil); status != 421 {
		t.Fatalf("approval of a removal through a follower: %d %s, want 421", status, body)
	}
	if status, body := f.rawCall(l, fed2, "POST", path, nil); status != http.StatusOK {
		t.Fatalf("approval through the leader: %d %s", status, body)
	}
	var st struct {
		Raft struct{ Members []struct{ ID string } }
	}
	f.do(l, "GET", "/v1/cluster/status", nil, &st)
	for _, m := range st.Raft.Members {
		if m.ID == id {
			t.Fatalf("%s is still a member after its approved removal", id)
		}
	}
	if f.nodes[l].Raft().Registry().Node(id) != nil {
		t.Fatal("the removed node's record is still in the registry")
	}
}

// TestProposalsExpireByTheLeader: a proposal nobody approves is expired
// by the leader once its clock passes the expiry, and then takes no
// approval.
func TestProposalsExpireByTheLeader(t *testing.T) {
	f := startFed(t, 1)
	// Two federation admins: the node's own admin token and f.fedToken.
	f.do(0, "PUT", "/v1/approval-rules", admin.ApprovalRulesBody{ApprovalsRequired: 2, ExpiryHours: 0.0005}, nil)
	status, body := f.rawCall(0, f.fedToken, "PUT", "/v1/scopes/x-proposed", registry.Scope{Name: "x-proposed"})
	var proposed struct {
		Proposal admin.ProposalResponse `json:"proposal"`
	}
	if err := json.Unmarshal(body, &proposed); err != nil || status != http.StatusAccepted {
		t.Fatalf("scope write with k=2: %d %s, want 202", status, body)
	}
	id := proposed.Proposal.ID
	reg := func() *registry.Registry { return f.nodes[0].Raft().Registry() }
	f.waitFor("the leader to expire the proposal", func() bool { return reg().Proposal(id).Status == registry.ProposalExpired })
	if p := reg().Proposal(id); p.DecidedAt < p.ExpiresAt {
		t.Fatalf("expired at %d, before its expiry %d", p.DecidedAt, p.ExpiresAt)
	}
	if status, body := f.rawCall(0, testAdminToken, "POST", "/v1/approvals/"+id+"/approve", nil); status != 409 {
		t.Fatalf("approval of an expired proposal: %d %s, want 409", status, body)
	}
	if reg().Scope("x-proposed") != nil {
		t.Fatal("the expired proposal applied")
	}
}
