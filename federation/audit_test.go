package federation

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/mcfed/mcfed/admin"
	"github.com/mcfed/mcfed/client"
	"github.com/mcfed/mcfed/registry"
)

// TestAuditLogThroughTheAdminAPI: filters, pages, the JSON lines export,
// and who reads what: an operator admin reads what concerns its operator,
// nothing else; a node token without a role reads nothing.
func TestAuditLogThroughTheAdminAPI(t *testing.T) {
	c := startCompetitors(t)
	if err := c.as("b").Do(context.Background(), "DELETE", "/v1/ranges/+447911", nil, nil); err == nil {
		t.Fatal("b deleted a's range")
	}
	c.settle()

	var all registry.Page[registry.AuditEntry]
	c.do(0, "GET", "/v1/audit?limit=1000", nil, &all)
	var byA registry.Page[registry.AuditEntry]
	if err := c.as("a").Do(context.Background(), "GET", "/v1/audit?limit=1000", nil, &byA); err != nil {
		t.Fatal(err)
	}
	if len(byA.Items) == 0 || len(byA.Items) >= len(all.Items) {
		t.Fatalf("a reads %d of %d entries, want only and all those concerning a", len(byA.Items), len(all.Items))
	}
	sawAttempt := false
	for _, e := range byA.Items {
		if !slices.Contains(e.Operators, "a") {
			t.Fatalf("a reads an entry that does not concern it: %+v", e)
		}
		sawAttempt = sawAttempt || e.Outcome == registry.OutcomeRefused && e.Author.Operator == "b"
	}
	if !sawAttempt {
		t.Fatal("a does not see b's attempt on its range")
	}
	if err := c.as("a").Do(context.Background(), "GET", "/v1/audit?operator=b", nil, nil); statusOf(err) != 403 {
		t.Fatalf("a reading b's entries: %v", err)
	}

	// Filters and pages.
	var byKey registry.Page[registry.AuditEntry]
	c.do(0, "GET", "/v1/audit?key=%2B447911", nil, &byKey)
	if len(byKey.Items) != 2 || byKey.Items[1].Outcome != registry.OutcomeRefused {
		t.Fatalf("entries for +447911: %+v", byKey.Items)
	}
	last := all.Items[len(all.Items)-1]
	var since registry.Page[registry.AuditEntry]
	c.do(0, "GET", fmt.Sprintf("/v1/audit?since=%d", last.Time), nil, &since)
	if len(since.Items) == 0 || since.Items[len(since.Items)-1].Index != last.Index {
		t.Fatalf("entries since the last: %+v", since.Items)
	}
	var first registry.Page[registry.AuditEntry]
	c.do(0, "GET", "/v1/audit?limit=2", nil, &first)
	if len(first.Items) != 2 || first.Next == "" {
		t.Fatalf("a first page of 2: %+v", first)
	}

	// The export: every entry, one JSON object a line.
	req, _ := http.NewRequest("GET", c.nodes[0].AdminURL()+"/v1/audit", nil)
	req.Header.Set("Authorization", "Bearer "+c.fedToken)
	req.Header.Set("Accept", "application/x-ndjson")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("export: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	lines := 0
	for sc := bufio.NewScanner(resp.Body); sc.Scan(); lines++ {
		var e registry.AuditEntry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil || e.Index == 0 {
			t.Fatalf("export line %d: %q", lines+1, sc.Text())
		}
	}
	if lines < len(all.Items) {
		t.Fatalf("the export holds %d entries, the log at least %d", lines, len(all.Items))
	}
}

// TestIssuedCredentials: the federation admin issues a credential, its
// token shown once and accepted on every node; a listing shows no
// verifier; once revoked the token opens nothing.
func TestIssuedCredentials(t *testing.T) {
	c := startCompetitors(t)
	var out admin.CredentialResponse
	c.do(0, "POST", "/v1/credentials", admin.CredentialRequest{Role: registry.RoleOperatorAdmin, Operator: "c", Name: "c's ops team"}, &out)
	if !strings.HasPrefix(out.Token, registry.IssuedTokenPrefix+out.ID+"_") || out.Role != registry.RoleOperatorAdmin {
		t.Fatalf("issued %+v", out)
	}
	cops := &client.Admin{Base: c.node["a"].AdminURL(), Token: out.Token}
	if err := cops.Do(context.Background(), "PUT", "/v1/operators/c/sp-policies/shop", map[string]bool{"declined": true}, nil); err != nil {
		t.Fatalf("c's issued credential through a's node: %v", err)
	}
	if err := cops.Do(context.Background(), "PUT", "/v1/operators/a/sp-policies/shop", map[string]bool{"declined": true}, nil); statusOf(err) != 403 {
		t.Fatalf("c's issued credential deciding for a: %v", err)
	}
	var list struct {
		Items []map[string]any `json:"items"`
	}
	c.do(1, "GET", "/v1/credentials", nil, &list)
	for _, item := range list.Items {
		if _, ok := item["verifier"]; ok {
			t.Fatalf("the listing shows a verifier: %v", item)
		}
		if _, ok := item["token"]; ok {
			t.Fatalf("the listing shows a token: %v", item)
		}
	}
	c.do(0, "DELETE", "/v1/credentials/"+out.ID, nil, nil)
	c.settle()
	if err := cops.Do(context.Background(), "GET", "/v1/operators", nil, nil); statusOf(err) != 401 {
		t.Fatalf("a revoked token: %v", err)
	}
	if err := c.as("b").Do(context.Background(), "DELETE", "/v1/credentials/admin:node-a", nil, nil); statusOf(err) != 403 {
		t.Fatalf("b revoking a's node token: %v", err)
	}
}

// TestAuditRetentionThroughTheAdminAPI: the audit log's retention is the
// federation's: an operator's admin may not shorten it (403, and the
// refusal is audited), a value out of bounds is a 400 problem, and the
// federation admin's setting reaches every node.
func TestAuditRetentionThroughTheAdminAPI(t *testing.T) {
	c := startCompetitors(t)
	ctx := context.Background()
	var got struct {
		RetentionDays int `json:"retention_days"`
		MinDays       int `json:"min_days"`
	}
	if err := c.as("b").Do(ctx, "GET", "/v1/audit/retention", nil, &got); err != nil || got.RetentionDays != registry.DefaultAuditRetentionDays {
		t.Fatalf("the default retention as b reads it: %+v %v", got, err)
	}
	short := admin.AuditRetentionBody{RetentionDays: got.MinDays}
	if err := c.as("b").Do(ctx, "PUT", "/v1/audit/retention", short, nil); statusOf(err) != 403 {
		t.Fatalf("b shortening the audit log's retention: %v, want 403", err)
	}
	err := c.admin(0).Do(ctx, "PUT", "/v1/audit/retention", admin.AuditRetentionBody{RetentionDays: 7}, nil)
	if api, ok := err.(*client.APIError); !ok || api.Status != 400 || api.ContentType != "application/problem+json" ||
		!strings.Contains(api.Problem.Detail, "retention_days must be between") {
		t.Fatalf("a retention of 7 days: %v, want a 400 problem naming the bounds", err)
	}
	if err := c.admin(0).Do(ctx, "PUT", "/v1/audit/retention", short, nil); err != nil {
		t.Fatal(err)
	}
	c.settle()
	for _, n := range c.nodes {
		if days := n.Raft().Registry().AuditRules().RetentionDays; days != got.MinDays {
			t.Fatalf("node %s keeps audit entries %d days, want %d", n.cfg.NodeID, days, got.MinDays)
		}
	}
	var page registry.Page[registry.AuditEntry]
	c.do(0, "GET", "/v1/audit?limit=1000", nil, &page)
	var refused, applied int
	for _, e := range page.Items {
		if e.Command != "put_audit_rules" {
			continue
		}
		switch {
		case e.Outcome == registry.OutcomeRefused && e.Author.Operator == "b" && e.Code == registry.CodeForbidden:
			refused++
		case e.Outcome == registry.OutcomeApplied:
			applied++
		}
	}
	if refused != 1 || applied != 1 {
		t.Fatalf("the audit log holds %d refused and %d applied retention changes, want 1 and 1", refused, applied)
	}
}
