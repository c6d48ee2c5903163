package federation

import (
	"context"
	"strings"
	"testing"

	"github.com/mcfed/mcfed/admin"
	"github.com/mcfed/mcfed/client"
	"github.com/mcfed/mcfed/registry"
)

// servedEverywhere says whether every replica resolves msisdn to op.
func (c *competitors) servedEverywhere(msisdn, op string) bool {
	c.t.Helper()
	c.settle()
	for _, n := range c.nodes {
		var num uint64
		for _, d := range msisdn[1:] {
			num = num*10 + uint64(d-'0')
		}
		if res, ok := n.Raft().Registry().Resolve(num); !ok || res.Operator.ID != op {
			return false
		}
	}
	return true
}

// TestPortingIsADecision: b's request for a's number moves nothing until
// a accepts; a's decline changes nothing; c cannot decide for a; the
// deadline, applied by the leader's clock, ports as the rules say; the
// porting authority's import moves numbers without either operator, which
// an operator admin may not do; every step is in the audit log.
func TestPortingIsADecision(t *testing.T) {
	c := startCompetitors(t)
	ctx := context.Background()
	file := func(hours float64, numbers ...string) registry.PortRequest {
		t.Helper()
		var req registry.PortRequest
		if err := c.as("b").Do(ctx, "POST", "/v1/port-requests", admin.PortRequestBody{Numbers: numbers, DeadlineHours: hours}, &req); err != nil {
			t.Fatal(err)
		}
		if req.Donor != "a" || req.Recipient != "b" || req.Status != registry.PortPending {
			t.Fatalf("filed: %+v", req)
		}
		return req
	}
	wantStatus := func(err error, status int, what string) {
		t.Helper()
		api, ok := err.(*client.APIError)
		if !ok || api.Status != status || api.ContentType != "application/problem+json" {
			t.Fatalf("%s: got %v, want %d problem+json", what, err, status)
		}
	}
	var audited []string

	// Declined: nothing changes.
	declined := file(0, "+447911000001")
	audited = append(audited, declined.ID)
	if !c.servedEverywhere("+447911000001", "a") {
		t.Fatal("a pending request moved the number")
	}
	// a sees what is pending against its numbers.
	var pending registry.Page[registry.PortRequest]
	if err := c.as("a").Do(ctx, "GET", "/v1/port-requests?donor=a&status=pending", nil, &pending); err != nil || len(pending.Items) != 1 || pending.Items[0].ID != declined.ID {
		t.Fatalf("a's pending requests: %+v, %v", pending, err)
	}
	if err := c.as("c").Do(ctx, "GET", "/v1/port-requests", nil, &pending); err != nil || len(pending.Items) != 0 {
		t.Fatalf("c sees requests that do not concern it: %+v, %v", pending, err)
	}
	if err := c.as("a").Do(ctx, "POST", "/v1/port-requests/"+declined.ID+"/decline", nil, nil); err != nil {
		t.Fatal(err)
	}
	if !c.servedEverywhere("+447911000001", "a") {
		t.Fatal("a declined request moved the number")
	}

	// Accepted by a, not by c nor b: the number moves on every replica.
	accepted := file(0, "+447911000001")
	audited = append(audited, accepted.ID)
	wantStatus(c.as("c").Do(ctx, "POST", "/v1/port-requests/"+accepted.ID+"/accept", nil, nil), 403, "c accepts for a")
	wantStatus(c.as("b").Do(ctx, "POST", "/v1/port-requests/"+accepted.ID+"/accept", nil, nil), 403, "b accepts its own request")
	if !c.servedEverywhere("+447911000001", "a") {
		t.Fatal("a refused accept moved the number")
	}
	if err := c.as("a").Do(ctx, "POST", "/v1/port-requests/"+accepted.ID+"/accept", nil, nil); err != nil {
		t.Fatal(err)
	}
	if !c.servedEverywhere("+447911000001", "b") {
		t.Fatal("the accepted request did not port the number everywhere")
	}

	// The deadline: the rules say silence is consent; the leader applies
	// it by its clock once it passes (about a second here).
	c.do(0, "PUT", "/v1/porting-rules", registry.PortingRules{MaxDeadlineHours: 24, OnDeadline: registry.OnDeadlineAccept}, nil)
	c.settle()
	lapsing := file(0.0003, "+447911000002")
	audited = append(audited, lapsing.ID)
	c.waitFor("the deadline to port the number", func() bool {
		req := c.nodes[0].Raft().Registry().PortRequest(lapsing.ID)
		return req != nil && req.Status == registry.PortAccepted && req.DecidedBy == "deadline"
	})
	if !c.servedEverywhere("+447911000002", "b") {
		t.Fatal("the deadline did not port the number everywhere")
	}

	// The porting authority's feed moves numbers without either operator;
	// an operator admin may not write ports directly.
	csv := "msisdn,operator\n+447911000003,c\n"
	wantStatus(c.as("b").Do(ctx, "PUT", "/v1/ported/+447911000003", admin.OperatorRef{Operator: "b"}, nil), 403, "b ports a's number")
	wantStatus(c.as("b").Do(ctx, "POST", "/v1/ported/import", strings.NewReader(csv), nil), 403, "b imports ports")
	wantStatus(c.as("a").Do(ctx, "DELETE", "/v1/ported/+447911000001", nil, nil), 403, "a un-ports a number")
	if !c.servedEverywhere("+447911000003", "a") || !c.servedEverywhere("+447911000001", "b") {
		t.Fatal("an operator admin's port write changed a number")
	}
	authority := &client.Admin{Base: c.node["a"].AdminURL(), Token: c.issue(0, registry.RolePortingAuthority, "")}
	if err := authority.Do(ctx, "POST", "/v1/ported/import", strings.NewReader(csv), nil); err != nil {
		t.Fatal(err)
	}
	if !c.servedEverywhere("+447911000003", "c") {
		t.Fatal("the porting authority's import did not move the number")
	}

	// The audit log names each step: filings, decisions (refused ones
	// too), the deadline, the refused port writes and the import.
	var page registry.Page[registry.AuditEntry]
	c.do(0, "GET", "/v1/audit?limit=1000", nil, &page)
	var got []string
	for _, e := range page.Items {
		if strings.Contains(e.Command, "port") {
			got = append(got, e.Command+" "+e.Outcome+" "+e.Author.Credential)
		}
	}
	want := []string{
		"file_port_request applied admin:node-b",
		"decline_port_request applied admin:node-a",
		"file_port_request applied admin:node-b",
		"accept_port_request refused admin:node-c",
		"accept_port_request refused admin:node-b",
		"accept_port_request applied admin:node-a",
		"put_porting_rules applied ",
		"file_port_request applied admin:node-b",
		"deadline_port_request applied node:" + c.nodes[c.leader()].cfg.NodeID,
		"port_numbers refused admin:node-b",
		"port_numbers refused admin:node-b",
		"port_numbers refused admin:node-a",
		"port_numbers applied ",
	}
	if len(got) != len(want) {
		t.Fatalf("audit log's porting entries:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("audit entry %d: %q, want %q", i, got[i], want[i])
		}
	}
	for _, id := range audited {
		var byID registry.Page[registry.AuditEntry]
		if err := c.as("a").Do(ctx, "GET", "/v1/audit?key="+id, nil, &byID); err != nil || len(byID.Items) < 2 {
			t.Errorf("a's audit entries for request %s: %+v, %v", id, byID.Items, err)
		}
	}
}
